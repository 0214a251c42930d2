// Module: the base of every layer, and the layer contract (Lua Torch nn's, three verbs).
// A layer writes `updateOutput(call)`, `updateGradInput(call, delta, gradInput)` and, when it has
// parameters, `accGradParameters(call, delta, beta)` (beta 0 overwrites the gradients, 1 adds).
// Public methods validate first (shapes, finiteness, liveness, that the backward pairs with its
// forward) and only then call the hooks, so a throw changes nothing. What one call saw and
// produced lives in a Frame owned by whoever ran the forward: the module itself for a direct
// call, the container for each of its positions, so a module used twice keeps both.

import { TorchletError, fmtShape } from './errors.js';
import type { Rng } from './rng.js';
import { Tensor, sameShape, seamChanged, seamVersion } from './tensor.js';
import { checkedBytes, kernels, memory, MEMORY_LIMIT } from './wasm.js';

/** A trainable tensor and its gradient (same shape). */
export interface Parameter {
  /** Dotted name, e.g. `0.weight` inside a Sequential. */
  name: string;
  /** The values. */
  value: Tensor;
  /** The accumulated gradient. */
  grad: Tensor;
}

/** A constructor argument's value as stored in a layer description (and a model file). */
export type ArgValue = number | string | readonly number[];
/** Constructor arguments by name. */
export type Args = Readonly<Record<string, ArgValue>>;

/** One constructor argument of a layer, as its description declares it. */
export interface ArgSpec<M = Module> {
  /** The argument's name, which is also the layer's field holding it. */
  readonly name: keyof M & string;
  /**
   * `'int'`: a positive integer; `'ints'`: a list of 1 to 8 positive integers; `'fraction'`: a
   * number in [0, 1); a list of strings: one of them.
   */
  readonly kind: 'int' | 'ints' | 'fraction' | readonly string[];
  /** The value when omitted; `toString` leaves trailing defaults out. */
  readonly default?: ArgValue;
}

/**
 * A layer's one description: its type name, constructor arguments and parameter shapes. Model
 * files, `describeArchitecture`/`fromArchitecture`, `toString` and parameter counts derive from
 * it. A class publishes it as `static readonly spec`; `register(Class)` makes its files loadable.
 */
export interface LayerSpec<M extends Module = Module> {
  /** Stable type name (messages and model files; never minified). */
  readonly type: string;
  /** Constructor arguments in order. */
  readonly args: readonly ArgSpec<M>[];
  /** Parameter shapes by name, in `parameters()` order, for these arguments. */
  readonly params?: (args: Args) => Readonly<Record<string, readonly number[]>>;
  /** Containers: child names (`'index'`: any number, named 0, 1, …). */
  readonly children?: 'index' | readonly string[];
  /** Builds the module from checked arguments (children for containers; `rng` draws init weights). */
  readonly build: (args: Args, children: Module[], rng: Rng) => M;
}

/** A class with a description (what `register` takes). */
export interface LayerClass<M extends Module = Module> {
  /** The class's description (`static readonly spec`). */
  readonly spec: LayerSpec<M>;
  /** The prototype of its instances (so a class of `M`s is a `LayerClass<M>`). */
  readonly prototype: M;
}

/** What the hooks see of one call: the input, the output the forward writes, its saved state. */
export interface Call {
  /** The input of the forward. */
  readonly input: Tensor;
  /** The output (the forward writes it; the backward reads it). */
  readonly output: Tensor;
  /** The `savedSize` floats the forward may keep for the backward (null when it keeps none). */
  readonly saved: Tensor | null;
}

const NO_RANGES: readonly number[] = [];
// What a layer's children() returns: one frozen array, not a new one per call (the liveness check
// of every step walks the children).
const NO_CHILDREN: readonly Module[] = Object.freeze([]);
// checkTensor's options at the hot call sites, built once.
const NOT_FINITE = Object.freeze({ finite: false });

/** Bytes `alloc` takes for `floats` (16-byte blocks), as a Number: exact far past 2^32. */
function blockBytes(floats: number): number {
  return Math.max(16, Math.ceil((Math.max(floats, 1) * 4) / 16) * 16);
}

// Every BufferSlot's memory, [lo, hi) in bytes, sorted by lo (blocks never overlap). A tensor
// outside all of them shares memory with no buffer a run writes, so the steady-state call skips
// the check of each buffer (Reservation.reads); inside one, the exact check runs.
const blockLo: number[] = [];
const blockHi: number[] = [];

/** Index of the first block starting at or after `lo`. */
function blockAt(lo: number): number {
  let [a, b] = [0, blockLo.length];
  while (a < b) {
    const m = (a + b) >> 1;
    if (blockLo[m]! < lo) a = m + 1;
    else b = m;
  }
  return a;
}

function addBlock(lo: number, hi: number): void {
  // Entries this block overlaps belong to slots dropped undisposed (the finalizer freed their
  // memory): replace them, so entries never overlap and one binary search answers mayShare.
  let i = blockAt(lo);
  if (i > 0 && blockHi[i - 1]! > lo) i -= 1;
  let j = i;
  while (j < blockLo.length && blockLo[j]! < hi) j++;
  blockLo.splice(i, j - i, lo);
  blockHi.splice(i, j - i, hi);
  seamChanged();
}

function removeBlock(lo: number): void {
  const i = blockAt(lo);
  if (blockLo[i] === lo) {
    blockLo.splice(i, 1);
    blockHi.splice(i, 1);
  }
  seamChanged();
}

/** Whether t's bytes overlap any BufferSlot's memory, or one of `grads` ([lo, hi) pairs). */
function mayShare(t: Tensor, grads: readonly number[]): boolean {
  const lo = t.ptr >>> 0;
  const hi = lo + t.size * 4;
  for (let i = 0; i < grads.length; i += 2) if (grads[i]! < hi && lo < grads[i + 1]!) return true;
  const i = blockAt(hi) - 1; // the last block starting before hi
  return i >= 0 && blockHi[i]! > lo;
}

/**
 * A grow-only buffer for a layer's outputs and scratch (as `Slot`), whose growth a Reservation
 * makes ahead of a run: `get(shape)` returns a tensor over its memory (the same one while the shape
 * stays), for scratch that never leaves the layer; `next(shape, writer)` a new one each time,
 * marking the one before overwritten by `writer`, for results handed to callers.
 */
export class BufferSlot {
  private base: Tensor | null = null;
  private current: Tensor | null = null;
  // The base's address and size, kept as numbers: the hot path reads them every call.
  private at = 0;
  private floats = 0;

  /** Floats it holds without growing. */
  get capacity(): number {
    return this.floats;
  }

  /** Whether its memory overlaps the bytes [lo, hi). */
  overlaps(lo: number, hi: number): boolean {
    return this.floats > 0 && this.at < hi && lo < this.at + this.floats * 4;
  }

  /** @internal Takes `block` (from a Reservation) as its memory and frees the old one. */
  install(block: Tensor, writer: string): void {
    this.current?.markOverwritten(writer);
    this.current = null;
    if (this.base !== null) removeBlock(this.at);
    this.base?.dispose();
    this.base = block;
    this.at = block.ptr >>> 0;
    this.floats = block.size;
    addBlock(this.at, this.at + this.floats * 4);
  }

  /** A tensor of `shape` over this slot's memory (contents unspecified). */
  get(shape: readonly number[]): Tensor {
    const cur = this.current;
    if (cur !== null && cur.intact && sameShape(cur.shape, shape)) return cur;
    return this.next(shape, 'write');
  }

  /** A new tensor of `shape` over this memory; the one handed out before reads as overwritten. */
  next(shape: readonly number[], writer: string): Tensor {
    let size = 1;
    for (let i = 0; i < shape.length; i++) size *= shape[i]!;
    // Runs reserve first, so this grows only for a caller that did not (it frees the old memory).
    // A zero-size request still needs a block (a valid address) the first time.
    if (this.base === null || this.capacity < size) {
      this.install(Tensor.zeros([Math.max(size, 1)]), writer);
    }
    this.current?.markOverwritten(writer);
    this.current = this.base!.carve(shape);
    return this.current;
  }

  /** Frees the memory. */
  dispose(): void {
    if (this.base !== null) removeBlock(this.at);
    this.base?.dispose();
    this.base = null;
    this.current = null;
    this.at = 0;
    this.floats = 0;
  }
}

/**
 * Phase one of a run (validate, reserve, then compute): every buffer a forward or backward will
 * write is declared with `need`, then `commit` allocates all the growth at once, or nothing: sizes
 * past WASM memory throw `OUT_OF_MEMORY` before any allocation, and a failed allocation frees the
 * blocks made before it. Only then do the old blocks go, so a throw leaves every frame, output and
 * gradient as it was. When nothing grows (every training step after the first) it allocates nothing.
 */
export class Reservation {
  private readonly slots: BufferSlot[] = [];
  private readonly floats: number[] = [];
  // The caller's tensors the run reads: no buffer it writes may hold them.
  private readonly readNames: string[] = [];
  private readonly readLo: number[] = [];
  private readonly readHi: number[] = [];
  private where = '';

  private static shared: Reservation | null = null;

  /**
   * An empty reservation for the public call `where` (`Sequential.forward`), for messages and
   * the outputs it overwrites. One instance is reused: a run commits before any kernel runs, so
   * nested runs (a layer calling another's forward) begin only after it is spent.
   */
  static begin(where: string): Reservation {
    const r = (Reservation.shared ??= new Reservation());
    r.where = where;
    r.slots.length = 0;
    r.floats.length = 0;
    r.readNames.length = 0;
    r.readLo.length = 0;
    r.readHi.length = 0;
    return r;
  }

  /**
   * Declares a caller's tensor the run reads (`what`: 'an input', 'a delta'): a buffer declared
   * by `need` or `writes` that holds it (a kept output fed back, a delta that is the last dL/dx)
   * throws `BAD_ARGUMENT` before anything runs, instead of being overwritten while read.
   */
  reads(t: Tensor, what: string): void {
    const lo = t.ptr >>> 0;
    this.readNames.push(what);
    this.readLo.push(lo);
    this.readHi.push(lo + t.size * 4);
  }

  /** Declares bytes [lo, hi) the run writes in place (a parameter gradient). */
  writes(lo: number, hi: number, what: string): void {
    this.checkReads(lo, hi, what);
  }

  private checkReads(lo: number, hi: number, what: string): void {
    for (let i = 0; i < this.readLo.length; i++) {
      if (this.readLo[i]! < hi && lo < this.readHi[i]!) {
        throw new TorchletError(
          'BAD_ARGUMENT',
          `${this.where}: expected ${this.readNames[i]!} this call does not write, got one sharing memory with ${what} it writes; pass a copy (clone())`,
        );
      }
    }
  }

  /** Declares that `slot` must hold `floats` (a Number: may be past 2^32; commit rejects it). */
  need(slot: BufferSlot, floats: number): void {
    for (let i = 0; i < this.readLo.length; i++) {
      const lo = this.readLo[i]!;
      const hi = this.readHi[i]!;
      if (slot.overlaps(lo, hi)) this.checkReads(lo, hi, 'an output or delta buffer');
    }
    if (floats <= slot.capacity) return;
    const i = this.slots.indexOf(slot);
    if (i >= 0) {
      this.floats[i] = Math.max(this.floats[i]!, floats);
    } else {
      this.slots.push(slot);
      this.floats.push(floats);
    }
  }

  /** Allocates every declared growth, all or nothing. @throws `OUT_OF_MEMORY`, changing nothing. */
  commit(): void {
    if (this.slots.length === 0) return;
    let bytes = 0;
    for (const n of this.floats) bytes += blockBytes(checkedBytes(n, this.where) / 4);
    const live = memory().liveBytes;
    if (!Number.isFinite(bytes) || bytes + live > MEMORY_LIMIT) {
      throw new TorchletError(
        'OUT_OF_MEMORY',
        `${this.where}: expected buffers that fit in 4 GiB of WASM memory, got ${bytes} bytes needed beside ${live} live`,
      );
    }
    const blocks: Tensor[] = [];
    try {
      for (const n of this.floats) blocks.push(Tensor.zeros([Math.max(n, 1)]));
    } catch (e) {
      for (const b of blocks) b.dispose();
      throw e;
    }
    this.slots.forEach((s, i) => s.install(blocks[i]!, this.where));
    this.slots.length = 0;
  }
}

/**
 * Tensors of zeros for `shapes`, all or none: a total past WASM memory throws `OUT_OF_MEMORY`
 * before allocating, and a failed allocation frees those made before it (constructors with
 * several parameters use it, so a throw leaves nothing allocated).
 */
export function allocateAll(where: string, shapes: readonly (readonly number[])[]): Tensor[] {
  let bytes = 0;
  for (const s of shapes)
    bytes += blockBytes(
      checkedBytes(
        s.reduce((a, b) => a * b, 1),
        where,
      ) / 4,
    );
  const live = memory().liveBytes;
  if (!Number.isFinite(bytes) || bytes + live > MEMORY_LIMIT) {
    throw new TorchletError(
      'OUT_OF_MEMORY',
      `${where}: expected parameters that fit in 4 GiB of WASM memory, got ${bytes} bytes needed beside ${live} live`,
    );
  }
  const out: Tensor[] = [];
  try {
    for (const s of shapes) out.push(Tensor.zeros(s));
  } catch (e) {
    for (const t of out) t.dispose();
    throw e;
  }
  return out;
}

/** What a validated backward covered (see Frame.replayBackward). */
interface CheckedBackward {
  readonly inputPtr: number;
  readonly inputShape: readonly number[];
  readonly grads: boolean;
  readonly wantDelta: boolean;
}

/**
 * @internal The last two calls a fast path validated (a training loop's full batches and its
 * last, partial one), each keyed on a tensor's address and shape, with what the path needs to
 * replay it. A validation depends on where a tensor is and on its shape, not on the object (a
 * loop hands out a new tensor over the same buffer); an entry holds while the seam version is the
 * one it was noted at. The caller checks that the tensor is intact first.
 */
export class Validated<T> {
  private ptr0 = -1;
  private shape0: readonly number[] = [];
  private version0 = -1;
  private value0: T | null = null;
  private ptr1 = -1;
  private shape1: readonly number[] = [];
  private version1 = -1;
  private value1: T | null = null;

  /** What was noted for a tensor at t's address of t's shape at this seam version, or null. */
  find(t: Tensor): T | null {
    const ptr = t.ptr;
    if (this.version0 === seamVersion && this.ptr0 === ptr && sameShape(this.shape0, t.shape))
      return this.value0;
    if (this.version1 === seamVersion && this.ptr1 === ptr && sameShape(this.shape1, t.shape))
      return this.value1;
    return null;
  }

  /** Notes `value` for t's address and shape at this seam version (the older entry goes). */
  note(t: Tensor, value: T): void {
    const ptr = t.ptr;
    if (this.ptr0 !== ptr || !sameShape(this.shape0, t.shape)) {
      this.ptr1 = this.ptr0;
      this.shape1 = this.shape0;
      this.version1 = this.version0;
      this.value1 = this.value0;
    }
    this.ptr0 = ptr;
    this.shape0 = t.shape;
    this.version0 = seamVersion;
    this.value0 = value;
  }

  /** Forgets both entries. */
  clear(): void {
    this.version0 = -1;
    this.version1 = -1;
    this.value0 = null;
    this.value1 = null;
  }
}

/**
 * One call site's record: what a module received and produced in its last forward there, and the
 * buffers it writes (output, gradient w.r.t. the input, saved state). Owned by whoever ran the
 * forward; containers hold one per position (and frames of their children inside).
 */
export class Frame implements Call {
  private inputValue: Tensor | null = null;
  private outputValue: Tensor | null = null;
  /** The saved state of the last forward, or null. */
  saved: Tensor | null = null;
  /**
   * @internal The input shape whose forward (and backward; with dL/dx when `reservedDelta`) this
   * frame's buffers already hold: slots only grow, so a call of that shape reserves nothing.
   */
  reservedForward: readonly number[] | null = null;
  /** @internal The input shape whose backward this frame's buffers already hold, or null. */
  reservedBackward: readonly number[] | null = null;
  /** @internal Whether they hold dL/dx for that backward too. */
  reservedDelta = false;
  // The public forwards and backwards validated here (see replayForward, replayBackward).
  private readonly forwards = new Validated<readonly number[]>();
  private readonly backwards = new Validated<CheckedBackward>();
  /** The module whose calls this frame records. */
  readonly owner: Module;
  /** Buffers: outputs, deltas, saved state (grow-only; see BufferSlot). */
  readonly outputSlot = new BufferSlot();
  /** The buffer of dL/d(input), the backward's delta to the input. */
  readonly gradInputSlot = new BufferSlot();
  /** The buffer of the forward's saved state (`savedSize` floats). */
  readonly savedSlot = new BufferSlot();
  /** Containers: the frames of their children, by position. */
  readonly children: Frame[] = [];
  /**
   * Whether the output (and the delta to the input) leave the container that owns this frame.
   * Only those need a new Tensor per call (so a kept one reads as overwritten); a container sets
   * them false for the outputs and deltas that pass between its own children.
   */
  outputEscapes = true;
  /** Whether the delta to the input leaves the container (as `outputEscapes`, for the backward). */
  gradInputEscapes = true;

  constructor(owner: Module) {
    this.owner = owner;
  }

  /** The input of the last forward here. @throws `STALE` before any forward. */
  get input(): Tensor {
    if (this.inputValue === null)
      throw new TorchletError(
        'STALE',
        `${this.owner.type}: expected a forward pass first, got none`,
      );
    return this.inputValue;
  }

  /** The output of the last forward here. @throws `STALE` before any forward. */
  get output(): Tensor {
    if (this.outputValue === null)
      throw new TorchletError(
        'STALE',
        `${this.owner.type}: expected a forward pass first, got none`,
      );
    return this.outputValue;
  }

  /** True once a forward ran here. */
  get recorded(): boolean {
    return this.inputValue !== null;
  }

  /**
   * @internal The output shape of a public forward of `x` that may skip its validation and
   * reservation, or null: a forward validated here had a tensor of this shape at this address as
   * input, nothing that could change that validation happened since (no tensor, buffer, frame or
   * module freed, no buffer grown: the seam version is the same), and `x` is intact and finite
   * (its values change between steps: the finiteness kernel runs every time). Any doubt answers
   * null, and the full path then validates (and throws its usual error).
   */
  replayForward(x: Tensor): readonly number[] | null {
    if (!(x instanceof Tensor) || !x.intact) return null;
    const out = this.forwards.find(x);
    if (out === null || kernels().non_finite_count(x.ptr, x.size) > 0) return null;
    return out;
  }

  /** @internal Notes a public forward of `x` (output `shape`) that validated and ran here. */
  checkedForward(x: Tensor, shape: readonly number[]): void {
    this.forwards.note(x, Object.isFrozen(shape) ? shape : Object.freeze([...shape]));
  }

  /**
   * @internal Whether a public backward may skip its validation and reservation: a backward
   * validated here at this seam version had a delta of this shape at this address (a loss hands
   * out a new tensor over the same buffer each step) and an input of this shape at this address,
   * and covered what this call writes (parameter gradients, dL/dx); `input` is the input of the
   * last forward here; input, delta and that forward's output are intact; the delta is finite.
   */
  replayBackward(input: Tensor, delta: Tensor, grads: boolean, wantDelta: boolean): boolean {
    if (input !== this.inputValue || !(delta instanceof Tensor) || !delta.intact) return false;
    const c = this.backwards.find(delta);
    return (
      c !== null &&
      (c.grads || !grads) &&
      (c.wantDelta || !wantDelta) &&
      input.intact &&
      input.ptr === c.inputPtr &&
      sameShape(input.shape, c.inputShape) &&
      this.outputValue!.intact &&
      kernels().non_finite_count(delta.ptr, delta.size) === 0
    );
  }

  /** @internal Notes a public backward that validated and reserved here (what it covered). */
  checkedBackward(input: Tensor, delta: Tensor, grads: boolean, wantDelta: boolean): void {
    const inputPtr = input.ptr;
    const last = this.backwards.find(delta);
    const same =
      last !== null && last.inputPtr === inputPtr && sameShape(last.inputShape, input.shape);
    this.backwards.note(delta, {
      inputPtr,
      inputShape: input.shape,
      grads: grads || (same && last.grads),
      wantDelta: wantDelta || (same && last.wantDelta),
    });
  }

  /** @internal Records a forward. */
  record(input: Tensor, output: Tensor): void {
    this.inputValue = input;
    this.outputValue = output;
  }

  /** The last output, or null before any forward. */
  get lastOutput(): Tensor | null {
    return this.outputValue;
  }

  /** The last input, or null before any forward. */
  get lastInput(): Tensor | null {
    return this.inputValue;
  }

  /** Frees the buffers (and the children's). */
  dispose(): void {
    this.outputSlot.dispose();
    this.gradInputSlot.dispose();
    this.savedSlot.dispose();
    for (const c of this.children) c.dispose();
    this.children.length = 0;
    seamChanged();
    this.reservedForward = null;
    this.reservedBackward = null;
    this.forwards.clear();
    this.backwards.clear();
    this.inputValue = null;
    this.outputValue = null;
    this.saved = null;
  }
}

/** Throws `DISPOSED`/`OVERWRITTEN`/`BAD_ARGUMENT`/`EMPTY_BATCH`/`NON_FINITE` for a bad tensor argument. */
export function checkTensor(
  x: unknown,
  where: string,
  what: string,
  opts?: { finite?: boolean; batch?: boolean },
): asserts x is Tensor {
  if (!(x instanceof Tensor)) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${where}: expected ${what} to be a Tensor, got ${describe(x)}`,
    );
  }
  if (x.overwritten) {
    // Re-throw the tensor's own message (it names what overwrote it), prefixed with where.
    try {
      void x.ptr;
    } catch (e) {
      throw new TorchletError(
        'OVERWRITTEN',
        `${where}: ${what}: ${(e as Error).message.replace(/^Tensor: /, '')}`,
      );
    }
  }
  if (x.disposed) {
    throw new TorchletError(
      'DISPOSED',
      `${where}: expected ${what} to be a live tensor, got a disposed one of shape ${fmtShape(x.shape)}`,
    );
  }
  if (opts?.batch !== false && (x.shape.length === 0 || x.shape[0] === 0)) {
    throw new TorchletError(
      'EMPTY_BATCH',
      `${where}: expected ${what} with at least one sample, got shape ${fmtShape(x.shape)}`,
    );
  }
  if (opts?.finite !== false && kernels().non_finite_count(x.ptr, x.size) > 0) {
    const data = x.data;
    const i = data.findIndex((v) => !Number.isFinite(v));
    throw new TorchletError(
      'NON_FINITE',
      `${where}: expected finite ${what}, got ${data[i]} at flat index ${i}`,
    );
  }
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an Array (wrap it with Tensor.from(values, shape))';
  if (ArrayBuffer.isView(x))
    return `a ${x.constructor.name} (wrap it with Tensor.from(values, shape))`;
  return typeof x === 'object' ? `a ${(x as object).constructor?.name ?? 'object'}` : typeof x;
}

/** Throws `SHAPE_MISMATCH` in the standard format. */
export function shapeError(where: string, expected: string, got: readonly number[]): TorchletError {
  return new TorchletError(
    'SHAPE_MISMATCH',
    `${where}: expected ${expected}, got ${fmtShape(got)}`,
  );
}

/** A value as a message shows it: strings quoted, so `'4'` does not read as the number 4. */
export function show(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/** Checks a positive integer constructor argument. */
export function checkPositiveInt(value: unknown, where: string, name: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${where}: expected ${name} to be a positive integer, got ${show(value)}`,
    );
  }
  return value;
}

/**
 * A backward pass's number: a module whose gradients were already written in this pass adds
 * instead of overwriting, so a module used at several positions sums its contributions.
 */
let backwardPass = 0;

/**
 * Base class of all layers (the Lua Torch `nn.Module` contract).
 *
 * To write a layer: give it `outputShape`, `updateOutput`, `updateGradInput` and, when it has
 * parameters, `parameters` and `accGradParameters`; publish a `static readonly spec` to make it
 * savable (see the README's "Write your own layer").
 */
export abstract class Module {
  /** `train()`/`eval()` flag: layers such as Dropout behave differently when false. */
  training = true;
  private frameValue: Frame | null = null;
  private disposedFlag = false;
  private gradPass = -1;
  private parameterCache: readonly Parameter[] | null = null;
  private gradRanges: number[] | null = null;

  /** Stable type name (messages, model files): the description's, else the class name. */
  readonly type: string;

  constructor() {
    this.type = (new.target as Partial<LayerClass>).spec?.type ?? new.target.name;
  }

  /** The layer's description (`static spec` of its class), or undefined for a layer without one. */
  get spec(): LayerSpec | undefined {
    return (this.constructor as Partial<LayerClass>).spec;
  }

  /**
   * The output shape for an input shape.
   * @throws TorchletError `SHAPE_MISMATCH` naming the module, `method`, expected and got.
   */
  abstract outputShape(inputShape: readonly number[], method?: string): number[];

  /** The trainable parameters, in a fixed order, each tensor once. */
  parameters(): Parameter[] {
    return [];
  }

  /** The child modules of a container (none for a layer). */
  children(): readonly Module[] {
    return NO_CHILDREN;
  }

  /** Constructor arguments by name, read from the fields its description names. */
  config(): Args {
    const spec = this.spec;
    if (spec === undefined) return {};
    const fields = this as unknown as Record<string, ArgValue>;
    return Object.fromEntries(
      spec.args.map((a) => {
        const v = fields[a.name]!;
        return [a.name, Array.isArray(v) ? [...(v as number[])] : v];
      }),
    );
  }

  /** Sets `training` on this module and its children (Dropout drops only in training). Returns this. */
  train(mode = true): this {
    this.training = mode;
    for (const c of this.children()) c.train(mode);
    return this;
  }

  /** `train(false)`: evaluation mode. Returns this. */
  eval(): this {
    return this.train(false);
  }

  // ------------------------------------------------------------------------------------------
  // The layer contract: hooks a layer implements. They run after validation, on live tensors of
  // the right shapes; they must write only `call.output` / `gradInput` / `saved` / gradients.

  /** Writes `call.output` from `call.input` (and `call.saved`, for the backward). */
  protected abstract updateOutput(call: Call): void;

  /** Writes dL/d(input) into `gradInput` (overwrites it; never reads it). */
  protected abstract updateGradInput(call: Call, delta: Tensor, gradInput: Tensor): void;

  /**
   * Parameter gradients of this call: `grad = beta·grad + dL/dθ` (beta 0 overwrites, never
   * reading `grad`; 1 adds). Layers without parameters keep this empty default.
   */
  protected accGradParameters(_call: Call, _delta: Tensor, _beta: 0 | 1): void {}

  /**
   * Floats of state the forward keeps for the backward (Dropout's mask, MaxPool's arg-max), or
   * null (the default) when it keeps none: then `call.saved` is null.
   */
  protected savedSize(_inputShape: readonly number[]): number | null {
    return null;
  }

  /**
   * The float64 reference of `forward` (plain TS), for gradCheck: the same math on `x` with
   * parameters `params` (in `parameters()` order); `frame` holds the last forward (its saved
   * state, e.g. Dropout's mask). Optional: null means none, and gradCheck then differentiates the
   * float32 forward itself with looser default tolerances.
   */
  referenceForward(
    _x: Float64Array,
    _shape: readonly number[],
    _params: Float64Array[],
    _frame: Frame,
  ): Float64Array | null {
    return null;
  }

  // ------------------------------------------------------------------------------------------
  // The public verbs: validate, then run.

  /** The last forward result of a direct `forward` call (overwritten by the next), or null. */
  get output(): Tensor | null {
    return this.frameValue?.lastOutput ?? null;
  }

  /**
   * Computes the output for a batch.
   * @param x Input tensor, batch first.
   * @returns The output, valid until this module's next `forward` (then reading it throws
   *   `OVERWRITTEN`; keep a copy with `clone()`).
   * @throws TorchletError on a bad shape, a NaN/Inf, an empty batch or a disposed tensor.
   */
  forward(x: Tensor): Tensor {
    // A training loop's step: an input like one validated here before (same address and shape),
    // with nothing changed since (see Frame.replayForward), runs without validating it again.
    const last = this.frameValue;
    const out = last === null ? null : last.replayForward(x);
    if (out !== null) return this.runForward(last!, x, out);
    return this.validatedForward(x);
  }

  /** `forward`'s full path (a method of its own: the replay's caller stays small to optimise). */
  private validatedForward(x: Tensor): Tensor {
    const where = this.writer('forward');
    this.checkLive('forward');
    checkTensor(x, where, 'input');
    const shape = this.outputShape(x.shape, 'forward');
    const frame = this.frame;
    const y = this.forwardIn(frame, x, shape, where);
    frame.checkedForward(x, shape);
    return y;
  }

  /**
   * Computes the parameter gradients of the last forward, `grad = beta·grad + dL/dθ`: by default
   * adds into `grad` (see `zeroGrad`); `beta = 0` overwrites (zeroGrad and add in one pass).
   * @param input The input of this module's last `forward`. @param delta dL/d(output).
   * @throws TorchletError `STALE` when `input` is not the input of the last forward.
   */
  backwardUpdateGradient(input: Tensor, delta: Tensor, beta: 0 | 1 = 1): void {
    if (beta !== 0 && beta !== 1) {
      throw new TorchletError(
        'BAD_ARGUMENT',
        `${this.type}.backwardUpdateGradient: expected beta 0 (overwrite) or 1 (add), got ${String(beta)}`,
      );
    }
    this.validateBackward(input, delta, true, false, 'backwardUpdateGradient');
    backwardPass += 1;
    this.runBackward(this.frame, delta, beta, false);
  }

  /**
   * The gradient of the loss w.r.t. the input of the last forward.
   * @param input The input of this module's last `forward`. @param delta dL/d(output).
   * @returns dL/d(input), valid until the next backward.
   * @throws TorchletError `STALE` when `input` is not the input of the last forward.
   */
  backwardDelta(input: Tensor, delta: Tensor): Tensor {
    this.validateBackward(input, delta, false, true, 'backwardDelta');
    return this.runBackward(this.frame, delta, null, true)!;
  }

  /**
   * `backwardUpdateGradient` then `backwardDelta` on the input of the last `forward`
   * (Lua's `Module:backward`), in one pass. Returns dL/d(input).
   */
  backward(delta: Tensor): Tensor {
    const input = this.frameValue?.lastInput;
    if (input === null || input === undefined) {
      this.checkLive('backward');
      throw new TorchletError(
        'STALE',
        `${this.type}.backward: expected a forward pass first, got none`,
      );
    }
    this.validateBackward(input, delta, true, true, 'backward');
    backwardPass += 1;
    return this.runBackward(this.frame, delta, 1, true)!;
  }

  /** Sets every parameter gradient to zero. */
  zeroGrad(): void {
    this.checkLive('zeroGrad');
    const k = kernels();
    for (const p of this.parameterList()) k.fill_zero(p.grad.ptr, p.grad.size);
  }

  /**
   * One plain gradient step: `value -= lr * grad` for every parameter (each once, even when
   * shared). `gradientStep` is the original design's name of the learning rate.
   * @throws TorchletError `BAD_ARGUMENT` for a non-finite step.
   */
  updateParameters(gradientStep = 1e-3): void {
    const lr = gradientStep;
    if (typeof lr !== 'number' || !Number.isFinite(lr)) {
      throw new TorchletError(
        'BAD_ARGUMENT',
        `${this.type}.updateParameters: expected a finite gradientStep, got ${String(lr)}`,
      );
    }
    this.checkLive('updateParameters');
    const k = kernels();
    for (const p of this.parameterList()) k.sgd_update(p.grad.ptr, p.value.ptr, p.value.size, lr);
  }

  /** `Type(arg, …)` from the description (trailing defaults left out), e.g. `Linear(64, 100)`. */
  toString(): string {
    const spec = this.spec;
    if (spec === undefined) return `${this.type}()`;
    const config = this.config();
    const values = spec.args.map((a) => config[a.name]!);
    let n = values.length;
    while (
      n > 0 &&
      spec.args[n - 1]!.default !== undefined &&
      sameArg(values[n - 1]!, spec.args[n - 1]!.default!)
    )
      n--;
    const fmt = (v: ArgValue): string =>
      typeof v === 'string' ? `'${v}'` : Array.isArray(v) ? `[${v.join(', ')}]` : String(v);
    return `${this.type}(${values.slice(0, n).map(fmt).join(', ')})`;
  }

  /** Frees this module's parameters and buffers; any later call throws `DISPOSED`. Idempotent. */
  dispose(): void {
    this.disposedFlag = true;
    seamChanged();
    for (const p of this.parameters()) {
      p.value.dispose();
      p.grad.dispose();
    }
    this.frameValue?.dispose();
    this.frameValue = null;
  }

  /** True once `dispose()` ran on this module or on a module inside it. */
  get disposed(): boolean {
    if (this.disposedFlag) return true;
    const children = this.children();
    for (let i = 0; i < children.length; i++) if (children[i]!.disposed) return true;
    return false;
  }

  // ------------------------------------------------------------------------------------------
  // The machinery containers use: run a forward or backward in a frame they own.

  /** @internal A frame for this module at one call site (containers make theirs here). */
  createFrame(): Frame {
    return new Frame(this);
  }

  /** @internal The frame of direct calls (`forward`, `backward`), created on first use. */
  get frame(): Frame {
    if (this.frameValue === null) this.frameValue = this.createFrame();
    return this.frameValue;
  }

  /**
   * @internal A validated forward into `frame`: reserves every buffer it writes (all or nothing,
   * see Reservation), then runs it. A throw leaves the frame's last forward as it was.
   */
  forwardIn(frame: Frame, x: Tensor, outShape: readonly number[], where: string): Tensor {
    // Steady state (a training loop): this frame already holds the buffers for this shape, and x
    // is no buffer a call writes, so there is nothing to reserve or check.
    const reserved = frame.reservedForward;
    if (reserved === null || !sameShape(reserved, x.shape) || mayShare(x, NO_RANGES)) {
      const r = Reservation.begin(where);
      r.reads(x, 'an input');
      this.reserveForward(frame, x.shape, outShape, r);
      r.commit();
      frame.reservedForward = x.shape;
    }
    return this.runForward(frame, x, outShape);
  }

  /**
   * Validates a public backward (checkBackward) and reserves what it writes (reserveBackwardIn),
   * unless it is the backward validated last time with nothing changed since
   * (Frame.canReplayBackward): a training loop's step validates once per shape.
   */
  private validateBackward(
    input: Tensor,
    delta: Tensor,
    grads: boolean,
    wantDelta: boolean,
    method: string,
  ): void {
    const last = this.frameValue;
    if (last !== null && last.replayBackward(input, delta, grads, wantDelta)) return;
    this.checkBackward(input, delta, method);
    const frame = this.frame;
    this.reserveBackwardIn(frame, delta, grads, wantDelta, method);
    frame.checkedBackward(input, delta, grads, wantDelta);
  }

  /** Reserves what a backward through `frame` writes (see Reservation), before any write. */
  private reserveBackwardIn(
    frame: Frame,
    delta: Tensor,
    grads: boolean,
    wantDelta: boolean,
    method: string,
  ): void {
    const input = frame.input;
    const reserved = frame.reservedBackward;
    if (
      reserved !== null &&
      sameShape(reserved, input.shape) &&
      (frame.reservedDelta || !wantDelta) &&
      !mayShare(delta, this.gradRangeList()) &&
      !mayShare(input, this.gradRangeList())
    )
      return;
    const r = Reservation.begin((this.callNames[method] ??= `${this.type}.${method}`));
    r.reads(delta, 'a delta');
    r.reads(input, 'an input');
    this.reserveBackward(frame, grads, wantDelta, r);
    r.commit();
    frame.reservedBackward = input.shape;
    frame.reservedDelta = wantDelta;
  }

  /**
   * @internal Phase one of a forward into `frame`: declares each buffer `runForward` writes (its
   * output, its saved state). Containers declare their children's; view layers nothing.
   */
  reserveForward(
    frame: Frame,
    inShape: readonly number[],
    outShape: readonly number[],
    r: Reservation,
  ): void {
    let n = 1;
    for (const d of outShape) n *= d;
    r.need(frame.outputSlot, n);
    const saved = this.savedSize(inShape);
    if (saved !== null) r.need(frame.savedSlot, saved);
  }

  /**
   * @internal Phase one of a backward through `frame`'s last forward: declares the parameter
   * gradients it writes (when `grads`; they exist since construction), dL/d(input) (when
   * `wantDelta`) and the layer's scratch (`reserveScratch`).
   */
  reserveBackward(frame: Frame, grads: boolean, wantDelta: boolean, r: Reservation): void {
    if (grads) {
      // The gradients' bytes, computed once: parameters never move.
      const ranges = this.gradRangeList();
      for (let i = 0; i < ranges.length; i += 2) {
        r.writes(ranges[i]!, ranges[i + 1]!, 'a parameter gradient');
      }
    }
    if (!wantDelta) return;
    r.need(frame.gradInputSlot, frame.input.size);
    this.reserveScratch(frame, r);
  }

  /**
   * Declares the scratch `updateGradInput` uses beyond `gradInput` (Conv's workspace), in
   * BufferSlots the layer owns; sizes past 4 GiB are rejected before anything is written.
   */
  protected reserveScratch(_call: Call, _r: Reservation): void {}

  /**
   * @internal Forward without validation into `frame` (the caller validated the input and the
   * shape). Returns the output.
   */
  runForward(frame: Frame, x: Tensor, outShape: readonly number[]): Tensor {
    const y = frame.outputEscapes
      ? frame.outputSlot.next(outShape, this.writer('forward'))
      : frame.outputSlot.get(outShape);
    const n = this.savedSize(x.shape);
    frame.saved = n === null ? null : frame.savedSlot.get([n]);
    frame.record(x, y);
    this.updateOutput(frame);
    return y;
  }

  /**
   * @internal Backward without validation through `frame`'s last forward: parameter gradients
   * with `beta` (null: none), then dL/d(input) when `wantDelta`. Returns it, or null.
   */
  runBackward(frame: Frame, delta: Tensor, beta: 0 | 1 | null, wantDelta: boolean): Tensor | null {
    if (beta !== null && this.parameterList().length > 0) {
      // Overwrite only on this module's first visit in the pass; later visits (reuse) add.
      const b = beta === 0 && this.gradPass !== backwardPass ? 0 : 1;
      this.gradPass = backwardPass;
      this.accGradParameters(frame, delta, b);
    }
    if (!wantDelta) return null;
    const shape = frame.input.shape;
    const dx = frame.gradInputEscapes
      ? frame.gradInputSlot.next(shape, this.writer('backward'))
      : frame.gradInputSlot.get(shape);
    this.updateGradInput(frame, delta, dx);
    return dx;
  }

  /** Every parameter gradient's bytes, [lo, hi) pairs, computed once: parameters never move. */
  private gradRangeList(): readonly number[] {
    return (this.gradRanges ??= this.parameterList().flatMap((p) => {
      const lo = p.grad.ptr >>> 0;
      return [lo, lo + p.grad.size * 4];
    }));
  }

  /**
   * @internal `parameters()` computed once: a module's parameters are fixed at construction, so
   * the hot path (liveness checks, zeroGrad, updates) walks this list and allocates nothing.
   */
  parameterList(): readonly Parameter[] {
    if (this.parameterCache === null) this.parameterCache = Object.freeze(this.parameters());
    return this.parameterCache;
  }

  private writers: { forward: string; backward: string } | null = null;
  // `Type.method` for the backward verbs, built once (reservations name the call).
  private readonly callNames: Record<string, string> = {};

  /** @internal `Type.forward` / `Type.backward`, built once (the hot path names its writes). */
  writer(pass: 'forward' | 'backward'): string {
    this.writers ??= { forward: `${this.type}.forward`, backward: `${this.type}.backward` };
    return this.writers[pass];
  }

  /** Throws `DISPOSED` naming this module when it (or a module inside it) was disposed. */
  protected checkLive(method: string): void {
    if (this.disposed) {
      throw new TorchletError(
        'DISPOSED',
        `${this.type}.${method}: expected a live module, got a disposed one (dispose() freed it or a module inside it)`,
      );
    }
  }

  /** Validates `input` and `delta` for a backward call, and that they pair with the last forward. */
  protected checkBackward(input: Tensor, delta: Tensor, method: string): void {
    const where = (this.callNames[method] ??= `${this.type}.${method}`);
    this.checkLive(method);
    checkTensor(input, where, 'input', NOT_FINITE);
    checkTensor(delta, where, 'delta');
    const outShape = this.outputShape(input.shape, method);
    if (!sameShape(delta.shape, outShape))
      throw shapeError(where, `delta ${fmtShape(outShape)}`, delta.shape);
    const last = this.frameValue?.lastInput ?? null;
    if (last !== input) {
      const got = last === null ? 'no forward yet' : 'another tensor (a later forward replaced it)';
      throw new TorchletError(
        'STALE',
        `${where}: expected the input of this module's last forward, got ${got}; call forward(input) first`,
      );
    }
    const out = this.frameValue!.lastOutput!;
    if (out.overwritten || out.disposed) {
      throw new TorchletError(
        'STALE',
        `${where}: expected the output of the last forward intact, got one that was overwritten or freed; call forward(input) again`,
      );
    }
  }
}

/** Whether two argument values are equal (lists element-wise). */
export function sameArg(a: ArgValue, b: ArgValue): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return sameShape(a as number[], b as number[]);
  return a === b;
}

/**
 * Puts `net` and everything inside it in training (`true`) or evaluation mode and returns the
 * function that restores each module's own mode. Call it in a `finally`, so the modes come back
 * however the work ends (a throw, an async rejection, an abort). @internal
 */
export function enterMode(net: Module, training: boolean): () => void {
  const modes: [Module, boolean][] = [];
  const walk = (m: Module): void => {
    modes.push([m, m.training]);
    m.children().forEach(walk);
  };
  walk(net);
  if (modes.every(([, t]) => t === training)) return () => {};
  net.train(training);
  return () => {
    for (const [m, t] of modes) m.training = t;
  };
}

/**
 * Runs `f` with `net` and everything inside it in training (`true`) or evaluation mode, then
 * restores each module's own mode (the evaluation helpers run in evaluation mode: no dropout).
 * For work that spans several calls or awaits (the training loop), use `enterMode`.
 */
export function withMode<T>(net: Module, training: boolean, f: () => T): T {
  const restore = enterMode(net, training);
  try {
    return f();
  } finally {
    restore();
  }
}
