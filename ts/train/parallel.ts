// Data-parallel steps: one batch split over N participants (this thread and N - 1 worker threads,
// each with its own WASM memory and a copy of the network), gradients all-reduced in a fixed order.
//
// For a batch of c rows split into rows [s_w, s_w + c_w), w = 0..N-1 (this thread's first):
//   participant w scales its loss gradient dL_w/dyhat by a_w = c_w / c (1 for 'sum') and
//   backpropagates it, giving a_w · g_w; the step's gradient is g = Σ_w a_w · g_w, added in order
//   w = 0, 1, …, N - 1 (sgd_update with step -1, an exact add). The loss is Σ_w a_w · L_w.
// This thread owns the weights and the optimiser: before each step it copies the weights into
// shared memory, the workers copy them in, compute, and write their gradients back; this thread
// adds them to its own and the caller's Optim updates as with one participant. So the optimiser's
// state, save/load, early stopping and everything else that reads or writes the weights between
// steps works unchanged, and the result depends only on the batch, the weights and N
// (bit-identical run to run; against N = 1 it differs by float32 rounding of the split sums).
//
// Synchronisation is one SharedArrayBuffer per team: a step counter the workers wait on
// (Atomics.wait) and a done counter this thread waits on. No WASM memory is shared (the toolchain
// has no wasm32 atomics), so the weights, each worker's rows and each worker's gradients cross
// through the shared buffer: O(parameters + batch) copies per step, against O(batch · parameters)
// arithmetic.

import { TorchletError, type ErrorCode } from '../core/errors.js';
import {
  BCELoss,
  CrossEntropyLoss,
  LogSoftmaxCrossEntropy,
  type Loss,
  MSELoss,
} from '../core/loss.js';
import { Module, type Parameter } from '../core/module.js';
import { Rng } from '../core/rng.js';
import { MODULE_TYPES } from '../core/registry.js';
import { type ArchitectureNode, describeArchitecture } from '../core/serialize.js';
import { Tensor } from '../core/tensor.js';
import { type Ptr, compiledModule, kernels } from '../core/wasm.js';
import type { FromWorker } from './gridpool.js';
import { type WorkerPort, resolveWorkerUrl, workerSource } from './gridspawn.js';
import { checkOptionKeys } from './options.js';

/**
 * How long a waiting thread spins before it blocks: a futex wake-up costs tens of microseconds
 * (up to a millisecond when a VM has halted the idle core), a sizeable part of a small step, and
 * the gap between two steps is usually shorter than this. Longer spins hurt when other processes
 * hold a core (the two threads then share one): 5 ms made that case several times slower.
 * @internal
 */
export const SPIN_MS = 0.5;
/** Most participants (this thread included) one `Optim` trains with. */
export const MAX_WORKERS = 64;

/**
 * The cost model `'auto'` decides with (a step's time on the critical path, in nanoseconds, for
 * n participants), measured on a 2-core AVX-512 machine of the project's kind:
 *   t(n) = FLOP_NS · flops / n                      the split forward and backward
 *        + (n > 1) · (SPLIT_NS · params + SYNC_NS)  weights out and in, gradients out, a wake-up
 *        + (n - 1) · REDUCE_NS · params              this thread adds each worker's gradients
 * 'auto' takes the n in [1, cores] with the smallest t(n), and no fewer than AUTO_MIN_ROWS rows
 * per participant. The reduction is serial on this thread, so wide machines stop gaining where
 * (n - 1) · params outgrows flops / n. @internal
 */
export const COST = Object.freeze({
  FLOP_NS: 0.0155,
  SPLIT_NS: 0.5,
  SYNC_NS: 20_000,
  REDUCE_NS: 0.25,
});

/** Fewest rows per participant `'auto'` gives (smaller slices run the kernels inefficiently). */
export const AUTO_MIN_ROWS = 8;

// Control words (Int32 indices).
const SEQ = 0; // bumped by this thread for each command
const DONE = 1; // bumped by each worker when its command is done
const CMD = 2; // the command: STEP or RELEASE
const TRAINING = 3; // 1: training mode (Dropout drops)
const READY = 4; // bumped by each worker once its network is built
const BATCH = 5; // rows of the whole batch (a worker scales its loss gradient by rows / BATCH)
const CTRL = 8; // per-worker words start here: 8 per worker
const W_ROWS = 0; // rows of this step (0: idle this step)
const W_STATUS = 1; // what the worker found (STATUS_*)
const W_INDEX = 2; // flat index of the first non-finite output value
const W_CODE = 3; // error: index into ERROR_CODES
const W_LEN = 4; // error: message bytes

/** @internal Commands. */
export const STEP = 1;
/** @internal */
export const RELEASE = 2;

/** @internal What a worker reports for a step. */
export const STATUS_OK = 0;
/** @internal */
export const STATUS_OUTPUT = 1;
/** @internal */
export const STATUS_LOSS = 2;
/** @internal */
export const STATUS_ERROR = 3;
/** @internal */
export const STATUS_FATAL = 4;

/** @internal Error codes a worker may relay, by index (a worker writes the index). */
export const ERROR_CODES: readonly ErrorCode[] = Object.freeze([
  'BAD_ARGUMENT',
  'SHAPE_MISMATCH',
  'LABEL_OUT_OF_RANGE',
  'NON_FINITE',
  'EMPTY_BATCH',
  'OUT_OF_MEMORY',
  'OUT_OF_BOUNDS',
]);

const MESSAGE_BYTES = 1024;
/** Longest wait for a worker to start and build its network (it compiles nothing: it is handed the module). */
const START_MS = 60_000;

/**
 * Where everything lives in a team's shared buffer (byte offsets; Float32 regions 16-aligned).
 * @internal
 */
export interface Layout {
  /** Participants, this thread included. */
  n: number;
  /** Floats of every parameter, in `parameters()` order. */
  params: number;
  /** Rows each worker's slot holds. */
  rowCap: number;
  /** The batch shapes (the first dimension is not used). */
  xShape: number[];
  yShape: number[];
  xCols: number;
  yCols: number;
  ctrlBytes: number;
  /** Float64 per worker: its loss. */
  lossAt: number;
  /** MESSAGE_BYTES per worker. */
  messageAt: number;
  weightsAt: number;
  /** Per worker (index w - 1): gradients, then x rows, then y rows. */
  slotAt: number;
  slotBytes: number;
  bytes: number;
}

const align = (b: number): number => Math.ceil(b / 16) * 16;

/** @internal */
export function layoutOf(
  n: number,
  params: number,
  rowCap: number,
  xShape: readonly number[],
  yShape: readonly number[],
): Layout {
  const cols = (shape: readonly number[]): number => shape.slice(1).reduce((a, b) => a * b, 1);
  const [xCols, yCols] = [cols(xShape), cols(yShape)];
  const ctrlBytes = align((CTRL + 8 * n) * 4);
  const lossAt = ctrlBytes;
  const messageAt = align(lossAt + 8 * n);
  const weightsAt = align(messageAt + MESSAGE_BYTES * n);
  const slotAt = align(weightsAt + 4 * params);
  const slotBytes = align(4 * (params + rowCap * (xCols + yCols)));
  return {
    n,
    params,
    rowCap,
    xShape: [...xShape],
    yShape: [...yShape],
    xCols,
    yCols,
    ctrlBytes,
    lossAt,
    messageAt,
    weightsAt,
    slotAt,
    slotBytes,
    bytes: slotAt + slotBytes * (n - 1),
  };
}

/** The views of one shared buffer, for one participant's use. @internal */
export class SharedViews {
  readonly ctrl: Int32Array;
  readonly losses: Float64Array;
  readonly weights: Float32Array;
  constructor(
    readonly sab: SharedArrayBuffer,
    readonly layout: Layout,
  ) {
    this.ctrl = new Int32Array(sab, 0, layout.ctrlBytes / 4);
    this.losses = new Float64Array(sab, layout.lossAt, layout.n);
    this.weights = new Float32Array(sab, layout.weightsAt, layout.params);
  }
  word(w: number, field: number): number {
    return CTRL + 8 * w + field;
  }
  grads(w: number): Float32Array {
    const at = this.layout.slotAt + this.layout.slotBytes * (w - 1);
    return new Float32Array(this.sab, at, this.layout.params);
  }
  x(w: number, rows: number): Float32Array {
    const { slotAt, slotBytes, params, xCols } = this.layout;
    return new Float32Array(this.sab, slotAt + slotBytes * (w - 1) + 4 * params, rows * xCols);
  }
  y(w: number, rows: number): Float32Array {
    const { slotAt, slotBytes, params, xCols, yCols, rowCap } = this.layout;
    const at = slotAt + slotBytes * (w - 1) + 4 * (params + rowCap * xCols);
    return new Float32Array(this.sab, at, rows * yCols);
  }
  /** Writes worker w's error message (UTF-8, truncated to fit). */
  writeMessage(w: number, message: string): void {
    const bytes = new Uint8Array(
      this.sab,
      this.layout.messageAt + MESSAGE_BYTES * w,
      MESSAGE_BYTES,
    );
    const encoded = new TextEncoder().encode(message).subarray(0, MESSAGE_BYTES);
    const copy = new Uint8Array(encoded.length);
    copy.set(encoded);
    bytes.set(copy);
    Atomics.store(this.ctrl, this.word(w, W_LEN), copy.length);
  }
  readMessage(w: number): string {
    const len = Atomics.load(this.ctrl, this.word(w, W_LEN));
    const bytes = new Uint8Array(this.sab, this.layout.messageAt + MESSAGE_BYTES * w, len);
    // TextDecoder refuses views of shared memory: decode a copy.
    return new TextDecoder().decode(bytes.slice());
  }
}

/** @internal Words the worker side needs, by name. */
export const WORDS = { SEQ, DONE, CMD, TRAINING, READY, BATCH, W_ROWS, W_STATUS, W_INDEX, W_CODE };

// ---------------------------------------------------------------------------------------------
// Threads: started once, kept for reuse (unreferenced, so they never keep a process alive).

interface Thread {
  port: WorkerPort;
  /** Set when the thread died or failed: never reused. */
  dead: string | null;
  /** True once the thread answered a ping (its script loaded and runs). */
  started: boolean;
  /** Waiting for the ping's answer (or the thread's death). */
  onStart: (() => void)[];
}

const idle: Thread[] = [];
const all = new Set<Thread>();

/** The worker script `startWorkers({ workerUrl })` named (undefined: gridworker.js beside us). */
let scriptUrl: URL | undefined;

/** Options for `startWorkers`. */
export interface StartWorkersOptions {
  /**
   * The worker script (torchlet's `gridworker.js`), for bundlers that do not follow
   * `new URL('./gridworker.js', import.meta.url)`: a URL, or a string relative to the page (in
   * Node, a file path). It applies to threads started from now on, and idle threads of another
   * script are stopped; `stopWorkers()` forgets it.
   */
  workerUrl?: URL | string;
}

function spawnThread(): Thread {
  const source = workerSource(scriptUrl);
  const url = new URL(source.url);
  const fs = typeof process === 'undefined' ? undefined : process.getBuiltinModule?.('node:fs');
  // Node would report a missing script only to an event loop this thread may be blocking.
  if (url.protocol === 'file:' && fs !== undefined && !fs.existsSync(url)) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `expected the worker script ${source.url} (gridworker.js beside torchlet's bundle), got no such file: a bundler that moved torchlet must copy it there`,
    );
  }
  const thread: Thread = {
    port: undefined as unknown as WorkerPort,
    dead: null,
    started: false,
    onStart: [],
  };
  const settle = (): void => {
    for (const f of thread.onStart.splice(0)) f();
  };
  thread.port = source.spawn(
    (m: FromWorker) => {
      if (m.kind === 'fatal') thread.dead = m.message;
      if (m.kind === 'pong') thread.started = true;
      settle();
    },
    (message) => {
      thread.dead = message;
      settle();
      all.delete(thread);
      const i = idle.indexOf(thread);
      if (i >= 0) idle.splice(i, 1);
    },
  );
  thread.port.unref?.();
  all.add(thread);
  return thread;
}

function takeThreads(count: number): Thread[] {
  const out: Thread[] = [];
  try {
    while (out.length < count) {
      const t = idle.pop();
      if (t === undefined) out.push(spawnThread());
      else if (t.dead === null) out.push(t);
    }
  } catch (e) {
    // The ones already taken stay usable by the next team.
    idle.push(...out);
    throw e;
  }
  return out;
}

/**
 * Starts worker threads for data-parallel training ahead of use, so that `count` participants
 * (this thread and `count - 1` workers) are ready, and resolves once their scripts run. In Node
 * the first step can also start them (it waits, synchronously); a browser page's main thread
 * cannot wait synchronously, so there `sgd` and `Optim.step` with `workers` > 1 need this first
 * (`fit` calls it itself).
 * @param count Participants, this thread included (default: the machine's cores).
 * @param options `workerUrl`: where the worker script is, for bundlers that move it.
 * @returns The participants available: `count`, or 1 where workers cannot run (said once on the
 *   console: a page without cross-origin isolation).
 * @throws TorchletError `BAD_ARGUMENT` for a count that is not an integer from 1 to MAX_WORKERS,
 *   and when a worker's script fails to load.
 * @example await startWorkers(4); sgd(net, data, loss, { workers: 4 });
 */
export async function startWorkers(
  count: number = availableCores(),
  options: StartWorkersOptions = {},
): Promise<number> {
  if (!Number.isInteger(count) || count < 1 || count > MAX_WORKERS) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `startWorkers: expected an integer from 1 to ${MAX_WORKERS}, got ${String(count)}`,
    );
  }
  checkOptionKeys(options, ['workerUrl'], 'startWorkers');
  if (options.workerUrl !== undefined) {
    let url: URL;
    try {
      url = resolveWorkerUrl(options.workerUrl);
    } catch {
      throw new TorchletError(
        'BAD_ARGUMENT',
        `startWorkers: expected workerUrl to be a URL or a path, got ${JSON.stringify(options.workerUrl)}`,
      );
    }
    if (url.href !== scriptUrl?.href) {
      scriptUrl = url;
      const stale = idle.splice(0);
      for (const t of stale) {
        t.dead = 'stopped';
        all.delete(t);
        void t.port.terminate();
      }
    }
  }
  if (usableWorkers(count) === 1) return 1;
  for (let i = idle.length - 1; i >= 0; i--) if (idle[i]!.dead !== null) idle.splice(i, 1);
  try {
    while (idle.length < count - 1) idle.push(spawnThread());
  } catch (e) {
    throw new TorchletError('BAD_ARGUMENT', `startWorkers: ${(e as Error).message}`);
  }
  await Promise.all(
    idle.map(
      (t) =>
        new Promise<void>((resolve) => {
          if (t.started || t.dead !== null) return resolve();
          t.onStart.push(resolve);
          t.port.post({ kind: 'ping' });
        }),
    ),
  );
  const dead = idle.find((t) => t.dead !== null);
  if (dead !== undefined) {
    const message = dead.dead!;
    for (let i = idle.length - 1; i >= 0; i--) if (idle[i]!.dead !== null) idle.splice(i, 1);
    throw new TorchletError('BAD_ARGUMENT', `startWorkers: a worker failed to start: ${message}`);
  }
  return count;
}

/** Worker threads started for data-parallel training and still alive (idle or in a team). */
export function workerThreads(): number {
  return all.size;
}

/**
 * Stops every worker thread data-parallel training started (they are kept for reuse otherwise,
 * without keeping the process alive). An `Optim` still holding threads gets new ones on its next
 * step.
 */
export async function stopWorkers(): Promise<void> {
  scriptUrl = undefined;
  const threads = [...all];
  all.clear();
  idle.length = 0;
  for (const t of threads) t.dead = 'stopped';
  await Promise.all(threads.map((t) => t.port.terminate()));
}

/** The cores this machine reports (2 when it reports none). */
export function availableCores(): number {
  const os = typeof process === 'undefined' ? undefined : process.getBuiltinModule?.('node:os');
  if (os) return os.availableParallelism();
  return typeof navigator !== 'undefined' ? navigator.hardwareConcurrency || 2 : 2;
}

/** The reasons already said (each once per page or process). */
const warned = new Set<string>();

/**
 * Why this environment cannot run worker threads on shared memory, or null when it can. In a
 * browser that is a page without cross-origin isolation (COOP/COEP headers).
 */
export function parallelUnavailable(): string | null {
  if (typeof SharedArrayBuffer === 'undefined' || typeof Atomics === 'undefined') {
    const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated;
    return isolated === false
      ? 'SharedArrayBuffer needs a cross-origin isolated page (serve it with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp)'
      : 'this environment has no SharedArrayBuffer';
  }
  const wt =
    typeof process === 'undefined' ? undefined : process.getBuiltinModule?.('node:worker_threads');
  if (wt === undefined && typeof Worker === 'undefined') return 'this environment has no workers';
  return null;
}

/** Says why training runs on one thread, once per reason per page or process. @internal */
export function warnOnce(reason: string): void {
  if (warned.has(reason)) return;
  warned.add(reason);
  console.warn(`torchlet: training on 1 worker: ${reason}`);
}

/**
 * True where this thread cannot wait synchronously (a browser page's main thread): there a step
 * can only use threads that `startWorkers` already started. @internal
 */
export function cannotWait(): boolean {
  if (typeof SharedArrayBuffer === 'undefined') return false;
  return !blockingAllowed(new Int32Array(new SharedArrayBuffer(CTRL * 4)));
}

/** Idle threads whose script runs (what a step on a page's main thread can use). @internal */
export function startedThreads(): number {
  return idle.filter((t) => t.started && t.dead === null).length;
}

// The main thread of a browser page may not block (Atomics.wait throws there): it spins.
let canBlock: boolean | null = null;
function blockingAllowed(ctrl: Int32Array): boolean {
  if (canBlock === null) {
    try {
      Atomics.wait(ctrl, SEQ, Atomics.load(ctrl, SEQ) + 1, 0);
      canBlock = true;
    } catch {
      canBlock = false;
    }
  }
  return canBlock;
}

/**
 * Waits until ctrl[index] >= target, `ms` pass, or `gaveUp()` (checked at least once a second:
 * a dead worker's mark may have come before the counter was reset); returns whether it got there.
 */
function waitAtLeast(
  ctrl: Int32Array,
  index: number,
  target: number,
  ms: number,
  gaveUp: () => boolean = () => false,
): boolean {
  const end = performance.now() + ms;
  const block = blockingAllowed(ctrl);
  const spinEnd = performance.now() + SPIN_MS;
  while (performance.now() < spinEnd) if (Atomics.load(ctrl, index) >= target) return true;
  for (;;) {
    const v = Atomics.load(ctrl, index);
    if (v >= target) return true;
    const left = end - performance.now();
    if (left <= 0 || gaveUp()) return false;
    if (block) Atomics.wait(ctrl, index, v, Math.min(left, 1000));
  }
}

// ---------------------------------------------------------------------------------------------
// The 'auto' setting

/**
 * Floating-point operations of one sample's forward and backward, estimated from the parameters:
 * 6 per weight (multiply-add forward, two backward) times the positions it slides over (the output
 * positions of a convolution; 1 for a dense layer). @internal
 */
export function flopsPerSample(net: Module, inputShape: readonly number[]): number {
  let total = 0;
  const visit = (m: Module, shape: readonly number[]): readonly number[] => {
    const children = m.children();
    const sequential = m.constructor.name === 'Sequential';
    if (sequential && children.length > 0) {
      let s = shape;
      for (const c of children) s = visit(c, s);
      return s;
    }
    const out = m.outputShape(shape, 'forward');
    if (children.length > 0) {
      for (const c of children) total += 6 * paramCount(c) * positions(out);
    } else {
      total += 6 * paramCount(m) * positions(out);
    }
    return out;
  };
  visit(net, [1, ...inputShape.slice(1)]);
  return total;
}

function paramCount(m: Module): number {
  let n = 0;
  for (const p of m.parameters()) n += p.value.size;
  return n;
}

/** Spatial positions of an output [1, C, ...]: 1 for [1, features]. */
function positions(shape: readonly number[]): number {
  let n = 1;
  for (let i = 2; i < shape.length; i++) n *= shape[i]!;
  return n;
}

/**
 * How many participants `'auto'` uses for batches shaped `inputShape`: the count the cost model
 * (COST) finds fastest on `cores` cores, and 1 where workers cannot run. @internal
 */
export function autoWorkers(net: Module, inputShape: readonly number[], cores: number): number {
  const why = parallelUnavailable();
  if (why !== null) {
    if (cores > 1) warnOnce(why);
    return 1;
  }
  const rows = inputShape[0] ?? 0;
  let flops: number;
  try {
    flops = flopsPerSample(net, inputShape) * rows;
  } catch {
    return 1;
  }
  const params = paramCount(net);
  const most = Math.max(1, Math.min(cores, Math.floor(rows / AUTO_MIN_ROWS), MAX_WORKERS));
  let best = 1;
  let bestTime = stepNs(1, flops, params);
  for (let n = 2; n <= most; n++) {
    const t = stepNs(n, flops, params);
    if (t < bestTime) [best, bestTime] = [n, t];
  }
  return best;
}

/** The cost model's step time for n participants (see COST). @internal */
export function stepNs(n: number, flops: number, params: number): number {
  const split = n > 1 ? COST.SPLIT_NS * params + COST.SYNC_NS : 0;
  return (COST.FLOP_NS * flops) / n + split + (n - 1) * COST.REDUCE_NS * params;
}

// ---------------------------------------------------------------------------------------------
// A team: the threads one Optim trains with.

/** Relayed loss settings: the built-in losses by type. @internal */
export interface LossSpec {
  type: string;
  reduction: string;
}

/** What a worker is told when it joins a team. @internal */
export interface JoinMessage {
  kind: 'parallel';
  module: WebAssembly.Module;
  sab: SharedArrayBuffer;
  layout: Layout;
  index: number;
  architecture: unknown;
  loss: LossSpec;
  seed: number;
}

/** The combined result of one data-parallel gradient computation. @internal */
export interface TeamReport {
  loss: number;
  nonFinite: 'network output' | 'loss' | null;
  detail?: string;
}

/** The losses a worker rebuilds by type name (a subclass would lose its overrides). */
const BUILT_IN_LOSSES: Readonly<Record<string, unknown>> = {
  LogSoftmaxCrossEntropy,
  MSELoss,
  BCELoss,
  CrossEntropyLoss,
};

/** @internal */
export class Team {
  readonly n: number;
  private threads: Thread[] = [];
  private views: SharedViews | null = null;
  private readonly params: Parameter[];
  private readonly architecture: unknown;
  private readonly lossSpec: LossSpec;
  /** The workers' gradients, copied into this thread's memory to be added. */
  private incoming: Tensor | null = null;
  private seq = 0;
  private readonly seeds: number[];
  broken: string | null = null;

  constructor(
    readonly net: Module,
    readonly loss: Loss,
    n: number,
    params: Parameter[],
    seeds: number[],
  ) {
    this.n = n;
    this.params = params;
    this.architecture = describeArchitecture(net, 'Optim (workers)');
    this.lossSpec = { type: loss.type, reduction: loss.reduction };
    this.seeds = seeds;
  }

  /**
   * Why worker threads cannot rebuild this net and loss (a module used twice, an unregistered
   * layer, a loss that is not built in), or null when they can.
   */
  static refusal(net: Module, loss: Loss): string | null {
    let architecture: ArchitectureNode;
    try {
      architecture = describeArchitecture(net, 'workers');
    } catch (e) {
      return (e as Error).message.replace(/^workers: /, '');
    }
    // A worker knows the built-in layers; `register(MyLayer)` ran in this thread only.
    const custom = (node: ArchitectureNode): string | null =>
      MODULE_TYPES.includes(node.type)
        ? (node.children ?? []).reduce<string | null>((found, c) => found ?? custom(c), null)
        : node.type;
    const type = custom(architecture);
    if (type !== null) {
      return `a layer registered in this thread only (${type}): worker threads know the built-in layers (${MODULE_TYPES.join(', ')})`;
    }
    if (BUILT_IN_LOSSES[loss.type] !== loss.constructor) {
      return `a loss that is not built in (${Object.keys(BUILT_IN_LOSSES).join(', ')}): ${loss.constructor.name}`;
    }
    return null;
  }

  /** Rows of each participant for a batch of c rows, in batch order (this thread's first). */
  private split(c: number): number[] {
    const base = Math.floor(c / this.n);
    const extra = c % this.n;
    return Array.from({ length: this.n }, (_, w) => base + (w < extra ? 1 : 0));
  }

  /** Starts the workers for batches like x, y now (throws what starting them throws). */
  start(x: Tensor, y: Tensor): void {
    this.ensure(this.split(x.shape[0] ?? 0)[1] ?? 0, x, y);
  }

  /** Starts (or restarts, for larger batches) the workers; synchronous where threads may block. */
  private ensure(rows: number, x: Tensor, y: Tensor): SharedViews {
    const v = this.views;
    if (
      v !== null &&
      this.broken === null &&
      v.layout.rowCap >= rows &&
      sameTail(v.layout.xShape, x.shape) &&
      sameTail(v.layout.yShape, y.shape) &&
      this.threads.every((t) => t.dead === null)
    ) {
      return v;
    }
    this.release();
    this.broken = null;
    let total = 0;
    for (const p of this.params) total += p.value.size;
    const layout = layoutOf(this.n, total, rows, x.shape, y.shape);
    const views = new SharedViews(new SharedArrayBuffer(layout.bytes), layout);
    if (
      !blockingAllowed(views.ctrl) &&
      idle.filter((t) => t.started && t.dead === null).length < this.n - 1
    ) {
      throw new TorchletError(
        'BAD_ARGUMENT',
        `Optim: expected ${this.n - 1} started worker threads for workers ${this.n} on a page's main thread (it cannot wait for them to start), got ${idle.length}: await startWorkers(${this.n}) first (fit does it itself)`,
      );
    }
    this.threads = takeThreads(this.n - 1);
    const module = compiledModule();
    this.threads.forEach((t, i) => {
      const join: JoinMessage = {
        kind: 'parallel',
        module,
        sab: views.sab,
        layout,
        index: i + 1,
        architecture: this.architecture,
        loss: this.lossSpec,
        seed: this.seeds[i]!,
      };
      t.port.post(join as never);
    });
    this.views = views;
    this.seq = 0;
    if (!waitAtLeast(views.ctrl, READY, this.n - 1, START_MS)) {
      const dead = this.threads.find((t) => t.dead !== null)?.dead;
      this.fail(
        dead ??
          `expected ${this.n - 1} worker threads to start within ${START_MS / 1000} s, got ${Atomics.load(views.ctrl, READY)}`,
      );
    }
    for (let w = 1; w < this.n; w++) {
      if (Atomics.load(views.ctrl, views.word(w, WORDS.W_STATUS)) === STATUS_FATAL) {
        this.fail(views.readMessage(w));
      }
    }
    this.incoming ??= Tensor.zeros([total]);
    return views;
  }

  /** Marks the team broken, stops its threads and throws. */
  private fail(message: string): never {
    this.broken = message;
    const threads = this.threads;
    this.threads = [];
    this.views = null;
    for (const t of threads) {
      t.dead = message;
      all.delete(t);
      void t.port.terminate();
    }
    throw new TorchletError('BAD_ARGUMENT', `Optim (workers): a worker failed: ${message}`);
  }

  /**
   * Forward, loss and backward of x, y split over the team; this thread's share runs through
   * `own` (on a view of the first rows). Leaves the reduced gradients in the parameters' grads.
   */
  computeGradients(
    x: Tensor,
    y: Tensor,
    own: (
      x: Tensor,
      y: Tensor,
      scale: number,
    ) => { loss: number; nonFinite: string | null; detail?: string },
  ): TeamReport {
    const c = x.shape[0] ?? 0;
    if (c === 0 || y.shape[0] !== c) {
      // The single-participant path names what is wrong.
      const r = own(x, y, 1);
      return { loss: r.loss, nonFinite: r.nonFinite as TeamReport['nonFinite'], detail: r.detail };
    }
    const n = this.n;
    const counts = this.split(c);
    const xCols = x.size / c;
    const yCols = y.size / c;
    const views = this.ensure(counts[1]!, x, y);
    const { ctrl } = views;
    // Weights out, rows out.
    let at = 0;
    for (const p of this.params) {
      views.weights.set(p.value.data, at);
      at += p.value.size;
    }
    const xs = x.data;
    const ys = y.data;
    let start = counts[0]!;
    let active = 0;
    for (let w = 1; w < n; w++) {
      const rows = counts[w]!;
      Atomics.store(ctrl, views.word(w, WORDS.W_ROWS), rows);
      if (rows > 0) {
        views.x(w, rows).set(xs.subarray(start * xCols, (start + rows) * xCols));
        views.y(w, rows).set(ys.subarray(start * yCols, (start + rows) * yCols));
        active += 1;
      }
      start += rows;
    }
    Atomics.store(ctrl, DONE, 0);
    Atomics.store(ctrl, BATCH, c);
    Atomics.store(ctrl, CMD, STEP);
    Atomics.store(ctrl, TRAINING, this.net.training ? 1 : 0);
    this.seq += 1;
    Atomics.store(ctrl, SEQ, this.seq);
    Atomics.notify(ctrl, SEQ);
    let mine: ReturnType<typeof own>;
    try {
      mine = own(x.rows(0, counts[0]!), y.rows(0, counts[0]!), this.scaleOf(counts[0]!, c));
    } finally {
      // Never return while a worker still writes into the shared buffer.
      const fatal = (): boolean => {
        for (let w = 1; w < n; w++) {
          if (Atomics.load(ctrl, views.word(w, WORDS.W_STATUS)) === STATUS_FATAL) return true;
        }
        return false;
      };
      // Returns early only for a dead worker, whose message the check below throws.
      waitAtLeast(ctrl, DONE, active, Number.POSITIVE_INFINITY, fatal);
    }
    // Errors first (as one participant would have thrown), then non-finite values in row order.
    for (let w = 1; w < n; w++) {
      const status = Atomics.load(ctrl, views.word(w, WORDS.W_STATUS));
      if (counts[w] === 0) continue;
      if (status === STATUS_ERROR) {
        const code = ERROR_CODES[Atomics.load(ctrl, views.word(w, WORDS.W_CODE))] ?? 'BAD_ARGUMENT';
        throw new TorchletError(code, views.readMessage(w));
      }
      if (status === STATUS_FATAL) this.fail(views.readMessage(w));
    }
    const weightOf = (w: number): number => this.scaleOf(counts[w]!, c);
    let loss = weightOf(0) * mine.loss;
    for (let w = 1; w < n; w++) if (counts[w]! > 0) loss += weightOf(w) * views.losses[w]!;
    loss = Math.fround(loss);
    if (mine.nonFinite === 'network output') {
      return { loss: NaN, nonFinite: 'network output', detail: mine.detail };
    }
    let rowStart = counts[0]!;
    for (let w = 1; w < n; w++) {
      const status = Atomics.load(ctrl, views.word(w, WORDS.W_STATUS));
      if (counts[w]! > 0 && status === STATUS_OUTPUT) {
        const outCols = this.outputCols(x);
        const index = Atomics.load(ctrl, views.word(w, WORDS.W_INDEX));
        const value = views.losses[w]!;
        return {
          loss: NaN,
          nonFinite: 'network output',
          detail: `${value} at flat index ${rowStart * outCols + index}`,
        };
      }
      rowStart += counts[w]!;
    }
    if (mine.nonFinite === 'loss' || !Number.isFinite(loss)) return { loss, nonFinite: 'loss' };
    for (let w = 1; w < n; w++) {
      const status = Atomics.load(ctrl, views.word(w, WORDS.W_STATUS));
      if (counts[w]! > 0 && status === STATUS_LOSS) return { loss, nonFinite: 'loss' };
    }
    this.reduce(views, counts);
    return { loss, nonFinite: null };
  }

  private outputCols(x: Tensor): number {
    const out = this.net.outputShape(x.shape, 'forward');
    return out.slice(1).reduce((a, b) => a * b, 1);
  }

  /**
   * The factor a participant's loss gradient is scaled by: its share of the batch (1 for 'sum'),
   * so the gradients it produces are a_w · g_w and the all-reduce is a plain sum.
   */
  private scaleOf(rows: number, batch: number): number {
    return this.loss.reduction === 'sum' ? 1 : rows / batch;
  }

  /**
   * grads = a_0·g_0 + a_1·g_1 + … in order w = 0..N-1: this thread's term is in the grads now;
   * each worker's is copied into `incoming` and added (sgd_update with step -1 is an exact add).
   */
  private reduce(views: SharedViews, counts: number[]): void {
    const k = kernels();
    const incoming = this.incoming!;
    for (let w = 1; w < this.n; w++) {
      if (counts[w] === 0) continue;
      incoming.data.set(views.grads(w));
      let at = 0;
      for (const p of this.params) {
        k.sgd_update((incoming.ptr + 4 * at) as Ptr, p.grad.ptr, p.grad.size, -1);
        at += p.grad.size;
      }
    }
  }

  /** Gives the threads back to the pool (they leave the step loop) and frees the scratch. */
  release(): void {
    const v = this.views;
    if (v !== null && this.broken === null) {
      Atomics.store(v.ctrl, CMD, RELEASE);
      this.seq += 1;
      Atomics.store(v.ctrl, SEQ, this.seq);
      Atomics.notify(v.ctrl, SEQ);
      for (const t of this.threads) if (t.dead === null && all.has(t)) idle.push(t);
    }
    this.threads = [];
    this.views = null;
  }

  dispose(): void {
    this.release();
    this.incoming?.dispose();
    this.incoming = null;
  }
}

function sameTail(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 1; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

let trials = false;

/**
 * Marks this thread as one that runs grid-search trials (a pool worker or a queue worker's trial
 * process): the search already spreads its trials over the cores, so 'auto' uses one thread
 * here. @internal
 */
export function runningTrials(): void {
  trials = true;
}

/** True in a thread that runs grid-search trials (see `runningTrials`). @internal */
export function insideTrials(): boolean {
  return trials;
}

/**
 * Seeds for the workers' generators (their Dropout masks): drawn from the first Dropout's
 * generator when the net has one (so they follow the user's seeding), else fixed. @internal
 */
export function workerSeeds(net: Module, count: number): number[] {
  const find = (m: Module): Rng | null => {
    const rng = (m as unknown as { rng?: unknown }).rng;
    if (m.type === 'Dropout' && rng instanceof Rng) return rng;
    for (const c of m.children()) {
      const r = find(c);
      if (r !== null) return r;
    }
    return null;
  };
  const rng = find(net);
  return Array.from({ length: count }, (_, i) => (rng === null ? i + 1 : rng.nextU32()));
}

/** @internal Says why `workers` > 1 cannot run here, once, and returns 1; else `n`. */
export function usableWorkers(n: number): number {
  if (n <= 1) return 1;
  const why = parallelUnavailable();
  if (why === null) return n;
  warnOnce(why);
  return 1;
}
