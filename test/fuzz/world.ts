// The stateful fuzzer's world (issue 12): the real objects a command sequence builds (modules,
// containers, optimisers, user tensors, canaries) beside the model of what they must hold, and
// the checks every command ends with: only TorchletErrors, canaries intact, a throw changed
// nothing (parameters, gradients, optimiser state, RNGs, live bytes), and numbers that match a
// float64 reference. One World serves as both model and real system for fast-check's modelRun.
import { createHash } from 'node:crypto';
import * as torchlet from '../../ts/index.js';
import {
  type ErrorCode,
  type Module,
  Optim,
  Rng,
  Tensor,
  TorchletError,
  defaultRng,
  memory,
} from '../../ts/index.js';
import { type Draw, type ModuleEntry, moduleTable } from '../modules.js';

/** Bytes `alloc` accounts for a tensor of `size` floats (16-byte blocks, at least one). */
export function tensorBytes(size: number): number {
  return Math.max(16, Math.ceil((size * 4) / 16) * 16);
}

const product = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

/** The layers a sequence may build: every table entry, batch varied from its input shape. */
export const ENTRIES: readonly ModuleEntry[] = moduleTable(torchlet);

/** Layers that map `[b, 4]` to `[b, 4]`: they compose into any container, nested or shared. */
export const SQUARE = ['Linear', 'ReLU', 'TanH', 'Sigmoid', 'Dropout'] as const;
export type SquareKind = (typeof SQUARE)[number];
export const WIDTH = 4;

export function makeSquare(kind: SquareKind, rng: Rng): Module {
  switch (kind) {
    case 'Linear':
      return new torchlet.Linear(WIDTH, WIDTH, { rng });
    case 'ReLU':
      return new torchlet.ReLU();
    case 'TanH':
      return new torchlet.TanH();
    case 'Sigmoid':
      return new torchlet.Sigmoid();
    case 'Dropout':
      return new torchlet.Dropout(0.5, { rng });
  }
}

/** A module the sequence made, and what the model knows about it. */
export interface Handle {
  readonly id: number;
  readonly m: Module;
  /** How it was built, for the failure report (`h3 = new Linear(4, 4)`). */
  readonly label: string;
  /** The input shape without the batch dimension. */
  readonly inner: readonly number[];
  readonly draw: Draw;
  /** Maps `[b, 4]` to `[b, 4]` (a square layer or a container of them). */
  readonly square: boolean;
  /** Its output may be a view of its input (Flatten, Reshape). */
  readonly view: boolean;
  /** Every forward needs more than 4 GiB: it must throw OUT_OF_MEMORY. */
  readonly huge: boolean;
  readonly children: readonly Handle[];
  /** The RNG it was built with (Dropout draws from it), hashed with the world. */
  readonly rng: Rng;
  /** `dispose()` was called on it (or on a container holding it). */
  disposedSelf: boolean;
  /** The input of its last direct `forward`, and its values then. */
  /**
   * The input of its last direct `forward`, its values then, and the parameter values then (null
   * when unknown): a backward after the parameters moved mixes old activations with new weights,
   * which no float64 reference models, so the numbers are checked only while they are the same.
   */
  lastX: { t: Tensor; vals: Float32Array; params: Float32Array[] | null } | null;
  /** Every output a direct `forward` returned: the newest is current, older ones overwritten. */
  outputs: { t: Tensor; vals: Float32Array }[];
  optims: Partial<Record<'sgd' | 'adam', Optim>>;
}

export function isDisposed(h: Handle): boolean {
  return h.disposedSelf || h.children.some(isDisposed);
}

/** A user tensor: an input, a clone or a plain allocation, with the values it must keep. */
export interface UserTensor {
  readonly t: Tensor;
  readonly vals: Float32Array;
  disposed: boolean;
}

/** Counts across sequences, for the summary line. */
export const stats = {
  sequences: 0,
  commands: 0,
  threw: {} as Record<string, number>,
  numericChecks: 0,
  /** Outcomes by command kind and code (printed with FUZZ_DEBUG=1). */
  outcomes: {} as Record<string, number>,
};

/** The kind of the command running (for `stats.outcomes`). */
export const current = { kind: '' };

/** Fails the property with a message that names the command. */
export class FuzzFailure extends Error {}

export function fail(what: string): never {
  throw new FuzzFailure(what);
}

export class World {
  readonly handles: Handle[] = [];
  /** The handle whose forward (or Optim step) ran last. */
  recent: Handle | null = null;
  readonly tensors: UserTensor[] = [];
  readonly canaries: { t: Tensor; vals: Float32Array }[] = [];
  /** Tensors the fuzzer made for one command (deltas, targets): disposed at the sequence's end. */
  readonly scratch: Tensor[] = [];
  readonly baseline: number;
  private nextId = 0;

  constructor() {
    torchlet.manualSeed(0);
    this.baseline = memory().liveBytes;
    this.canary(1);
    this.canary(2);
  }

  newId(): number {
    return this.nextId++;
  }

  /** A canary: a tensor of known values that no command may change. */
  canary(seed: number): void {
    const n = 3 + (seed % 13);
    const vals = Float32Array.from({ length: n }, (_, i) => seed * 1000 + i + 0.25);
    this.canaries.push({ t: Tensor.from(vals, [n]), vals });
  }

  /** A tensor drawn as `draw` says, kept by the world (disposed at the end). */
  input(shape: readonly number[], draw: Draw, seed: number): UserTensor {
    const vals = drawValues(product(shape), draw, new Rng(seed));
    const u: UserTensor = { t: Tensor.from(vals, shape), vals, disposed: false };
    this.tensors.push(u);
    return u;
  }

  /** A scratch tensor (a delta, a target) of uniform values. */
  temp(shape: readonly number[], seed: number): Tensor {
    const vals = drawValues(product(shape), { kind: 'uniform' }, new Rng(seed));
    const t = Tensor.from(vals, shape);
    this.scratch.push(t);
    return t;
  }

  liveHandles(): Handle[] {
    return this.handles.filter((h) => !isDisposed(h));
  }

  /** Every distinct parameter of the world's live modules (shared ones once). */
  params(): torchlet.Parameter[] {
    const seen = new Set<Tensor>();
    const out: torchlet.Parameter[] = [];
    for (const h of this.handles) {
      if (isDisposed(h)) continue;
      for (const p of h.m.parameters()) {
        if (p.value.disposed || seen.has(p.value)) continue;
        seen.add(p.value);
        out.push(p);
      }
    }
    return out;
  }

  /**
   * SHA-256 of every live parameter and gradient, every optimiser's state and step count, every
   * RNG (the default one and each module's) and the live byte count.
   */
  hash(): string {
    const h = createHash('sha256');
    for (const p of this.params()) {
      h.update(p.name);
      h.update(new Uint8Array(p.value.toArray().buffer));
      h.update(new Uint8Array(p.grad.toArray().buffer));
    }
    for (const hd of this.handles) {
      h.update(new Uint8Array(hd.rng.state().buffer));
      for (const o of Object.values(hd.optims)) {
        const opt = o as unknown as { state: Tensor[][] | null; steps: number };
        h.update(String(opt.steps));
        for (const s of opt.state ?? []) for (const t of s) if (!t.disposed) h.update(bytes(t));
      }
    }
    h.update(new Uint8Array(defaultRng.state().buffer));
    h.update(String(memory().liveBytes));
    return h.digest('hex');
  }

  /** Every canary and every live user tensor holds its values. */
  checkIntact(where: string): void {
    for (const c of this.canaries) {
      if (!sameBits(c.t.toArray(), c.vals)) fail(`${where}: a canary tensor changed`);
    }
    for (const u of this.tensors) {
      if (!u.disposed && !sameBits(u.t.toArray(), u.vals))
        fail(`${where}: a user tensor [${u.t.shape.join(',')}] changed`);
    }
  }

  /** Disposes everything; live bytes must be back at the baseline. */
  teardown(): void {
    for (const h of this.handles) {
      for (const o of Object.values(h.optims)) {
        o.dispose();
        o.loss.dispose();
      }
      h.m.dispose();
    }
    for (const u of this.tensors) u.t.dispose();
    for (const c of this.canaries) {
      if (!sameBits(c.t.toArray(), c.vals)) fail('teardown: a canary tensor changed');
      c.t.dispose();
    }
    for (const t of this.scratch) t.dispose();
    const live = memory().liveBytes;
    if (live !== this.baseline)
      fail(
        `teardown: live bytes ${live} after disposing everything, expected the baseline ${this.baseline} (leak of ${live - this.baseline})`,
      );
  }
}

export function bytes(t: Tensor): Uint8Array {
  return new Uint8Array(t.toArray().buffer);
}

export function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/** Values drawn as test/modules.ts's `Draw` says. */
export function drawValues(n: number, draw: Draw, rng: Rng): Float32Array {
  if (draw.kind === 'distinct')
    return rng.shuffle(Float32Array.from({ length: n }, (_, i) => (2 * i) / n - 1));
  if (draw.kind === 'unit') return Float32Array.from({ length: n }, () => rng.uniform(0.05, 0.95));
  const { scale = 1, gap = 0 } = draw;
  return Float32Array.from({ length: n }, () => {
    const v = rng.uniform(-scale, scale);
    return Math.abs(v) < gap ? v + Math.sign(v || 1) * gap : v;
  });
}

/**
 * Runs `call` under the contract: it returns, or it throws a TorchletError and the world hash is
 * what it was before. `expect` says which outcome the model predicts: 'ok', a code that must be
 * thrown, or 'either'. Returns the result, or the thrown code.
 */
export function guarded<T>(
  world: World,
  what: string,
  expect: 'ok' | 'either' | ErrorCode | ErrorCode[],
  call: () => T,
): { ok: true; value: T } | { ok: false; code: ErrorCode } {
  const before = world.hash();
  let value: T;
  try {
    value = call();
  } catch (e) {
    if (e instanceof FuzzFailure) throw e;
    if (!(e instanceof TorchletError)) {
      const kind =
        e instanceof WebAssembly.RuntimeError
          ? 'WebAssembly.RuntimeError'
          : String((e as Error)?.constructor?.name);
      fail(`${what}: expected only TorchletErrors, got ${kind}: ${(e as Error)?.message}`);
    }
    stats.threw[e.code] = (stats.threw[e.code] ?? 0) + 1;
    const key = `${current.kind} ${e.code}`;
    stats.outcomes[key] = (stats.outcomes[key] ?? 0) + 1;
    if (expect === 'ok') fail(`${what}: expected success, got ${e.code}: ${e.message}`);
    if (typeof expect === 'string' && expect !== 'either' && e.code !== expect)
      fail(`${what}: expected ${expect}, got ${e.code}: ${e.message}`);
    if (Array.isArray(expect) && !expect.includes(e.code))
      fail(`${what}: expected one of ${expect.join('|')}, got ${e.code}: ${e.message}`);
    const after = world.hash();
    if (after !== before) fail(`${what}: threw ${e.code} and changed state: ${e.message}`);
    return { ok: false, code: e.code };
  }
  const key = `${current.kind} ok`;
  stats.outcomes[key] = (stats.outcomes[key] ?? 0) + 1;
  if (expect !== 'ok' && expect !== 'either')
    fail(`${what}: expected ${Array.isArray(expect) ? expect.join('|') : expect}, it returned`);
  return { ok: true, value };
}

/** Float32 `got` against float64 `want`: |got - want| <= atol + rtol·|want| everywhere. */
export function close(
  what: string,
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  atol: number,
  rtol: number,
): void {
  if (got.length !== want.length) fail(`${what}: ${got.length} values, expected ${want.length}`);
  stats.numericChecks += 1;
  for (let i = 0; i < got.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    if (Number.isNaN(w)) continue; // no derivative there (a kink)
    if (!(Math.abs(g - w) <= atol + rtol * Math.abs(w)))
      fail(
        `${what}: element ${i} is ${g}, the float64 reference says ${w} (atol ${atol}, rtol ${rtol})`,
      );
  }
}
