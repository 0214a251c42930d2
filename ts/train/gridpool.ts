// Where grid-search trials (combination x fold) run: in a pool of worker_threads (Node) or module
// Web Workers (browsers), each handed the one compiled WASM module and instantiating its own
// memory, or all in this thread. The worker side is gridworker.ts; both sides call runTrial.

import type { JoinMessage } from './parallel.js';
import { TorchletError } from '../core/errors.js';
import {
  BCELoss,
  CrossEntropyLoss,
  LogSoftmaxCrossEntropy,
  type Loss,
  type LossOptions,
  MSELoss,
  type Reduction,
} from '../core/loss.js';
import type { Module } from '../core/module.js';
import { defaultRng, manualSeed } from '../core/rng.js';
import { Tensor } from '../core/tensor.js';
import { backend, compiledModule } from '../core/wasm.js';
import type * as TorchletNamespace from '../index.js';
import {
  type FoldCurves,
  type GridMetric,
  type GridParams,
  type GridTrainOptions,
  type LossName,
  TRAIN_KEYS,
  foldAt,
} from './grid.js';
import { METRICS, evaluateLoss } from './metrics.js';
import { type WorkerPort, type WorkerSource, workerSource } from './gridspawn.js';
import { fit } from './fit.js';
import { type History, type SgdOptions, sgd } from './train.js';

/** The torchlet module namespace, handed to `buildNet` inside each worker. */
export type Torchlet = typeof TorchletNamespace;
/**
 * Builds a fresh network for one combination. It runs inside the workers, rebuilt there from its
 * source text (`Function.prototype.toString`), so it must be self-contained: use only its
 * arguments (`t.Linear`, `t.ReLU`, … from the namespace `t`), no outer variables or imports.
 * It must be an arrow or a `function` expression: a method shorthand (`{ build(p, t) {…} }.build`),
 * a bound function or a class has no source text that rebuilds it, and `gridSearch` refuses it.
 */
export type BuildNet = (params: GridParams, t: Torchlet) => Module;

/** The data and settings every trial of a search shares. @internal */
export interface TrialData {
  x: Float32Array;
  xShape: number[];
  y: Float32Array;
  yShape: number[];
  /** The shuffled row order the folds are cut from (`foldOrder`). */
  order: Uint32Array;
  /** Number of folds. */
  folds: number;
  loss: LossName;
  reduction: Reduction;
  metric: GridMetric;
  train: GridTrainOptions;
}

/** What a pool worker needs once: the shared data and `buildNet`'s source text. @internal */
export interface TrialContext extends TrialData {
  buildSource: string;
}

/**
 * Makes a trial's network from its combination, drawing from the seeded `defaultRng`: `buildNet`
 * with the namespace (the pool), or `fromArchitecture` (queue workers). @internal
 */
export type MakeNet = (params: GridParams) => Module;

/** One combination on one fold. @internal */
export interface TrialJob {
  id: number;
  params: GridParams;
  /** Which fold of `TrialContext.order` (its rows are cut where the trial runs). */
  fold: number;
  seed: number;
}

/** A trial's outcome. @internal */
export type TrialResult =
  | { id: number; score: number; curves: FoldCurves; error?: undefined }
  | { id: number; error: string };

/** Main thread -> worker. @internal */
export type ToWorker =
  | { kind: 'init'; module: WebAssembly.Module; ctx: TrialContext }
  | { kind: 'job'; job: TrialJob }
  | { kind: 'ping' }
  | JoinMessage;
/** Worker -> main thread. @internal */
export type FromWorker =
  | { kind: 'ready' }
  | { kind: 'pong' }
  | { kind: 'result'; result: TrialResult }
  | { kind: 'fatal'; message: string };

const LOSSES: Readonly<Record<LossName, (o: LossOptions) => Loss>> = Object.freeze({
  LogSoftmaxCrossEntropy: (o) => new LogSoftmaxCrossEntropy(o),
  MSELoss: (o) => new MSELoss(o),
  BCELoss: (o) => new BCELoss(o),
  CrossEntropyLoss: (o) => new CrossEntropyLoss(o),
});

function rowsOf(data: Float32Array, shape: number[], idx: Uint32Array): Tensor {
  const cols = data.length / shape[0]!;
  const out = new Float32Array(idx.length * cols);
  idx.forEach((r, i) => out.set(data.subarray(r * cols, (r + 1) * cols), i * cols));
  return Tensor.from(out, [idx.length, ...shape.slice(1)]);
}

/**
 * Rebuilds `buildNet` from its source text; run in the calling thread first, so that a function
 * whose text is not an expression (method shorthand, bound, native, class) is refused before any
 * worker starts. @internal
 */
export function compileBuildNet(source: string): BuildNet {
  const refuse = (why: string): TorchletError => {
    const text = source.length > 80 ? `${source.slice(0, 77)}...` : source;
    return new TorchletError(
      'BAD_ARGUMENT',
      'gridSearch: expected buildNet to be a self-contained function expression or arrow ' +
        '(`(p, t) => ...` or `function (p, t) {...}`: it is rebuilt from its source text in ' +
        `each worker), got ${why}: ${JSON.stringify(text)}`,
    );
  };
  if (source.includes('[native code]')) throw refuse('a bound or native function');
  if (/^class\b/.test(source)) throw refuse('a class');
  let f: unknown;
  try {
    // NOTE: evaluating source is the documented contract of gridSearch's buildNet (it cannot be
    // cloned to a worker); the text comes from the caller's own function, never from a file.
    // Evaluating the expression only creates the function; nothing of it runs here.
    f = new Function(`"use strict"; return (${source}\n);`)() as unknown;
  } catch (e) {
    const what = e instanceof SyntaxError ? 'a method shorthand or other non-expression' : 'text';
    throw refuse(`${what} (${e instanceof Error ? e.message : String(e)})`);
  }
  if (typeof f !== 'function') throw refuse(`a ${typeof f}`);
  return f as BuildNet;
}

/** Longest error message a trial reports (a row keeps it; it is copied from the worker). */
const MAX_ERROR_CHARS = 2000;

/** A trial's error as its row reports it: the message, cut at `MAX_ERROR_CHARS`. @internal */
export function trialError(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  return message.length > MAX_ERROR_CHARS ? `${message.slice(0, MAX_ERROR_CHARS)}...` : message;
}

/** Refuses what `buildNet` returned unless it is a Module. @internal */
export function checkBuilt(net: unknown): Module {
  if (net === null || typeof net !== 'object' || typeof (net as Module).forward !== 'function') {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `gridSearch: expected buildNet to return a Module, got ${typeof net}`,
    );
  }
  return net as Module;
}

/** A trial's fold, loss and network, ready to train. */
interface Trial {
  net: Module;
  data: { x: Tensor; y: Tensor };
  validation: { x: Tensor; y: Tensor };
  loss: Loss;
  options: SgdOptions;
}

/**
 * Builds one trial: cuts the fold, seeds `defaultRng` with the job's seed and makes the network
 * with `make`; what it allocates goes on `made`, for the caller to free even when this throws.
 */
function prepareTrial(
  ctx: TrialData,
  make: MakeNet,
  job: TrialJob,
  onEpoch: ((epoch: number) => void) | undefined,
  made: { dispose(): void }[],
): Trial {
  const fold = foldAt(ctx.order, ctx.folds, job.fold);
  const data = {
    x: rowsOf(ctx.x, ctx.xShape, fold.train),
    y: rowsOf(ctx.y, ctx.yShape, fold.train),
  };
  made.push(data.x, data.y);
  const validation = {
    x: rowsOf(ctx.x, ctx.xShape, fold.validation),
    y: rowsOf(ctx.y, ctx.yShape, fold.validation),
  };
  made.push(validation.x, validation.y);
  const loss = LOSSES[ctx.loss]({ reduction: ctx.reduction });
  made.push(loss);
  manualSeed(job.seed);
  const net = checkBuilt(make(job.params));
  made.push(net);
  const options: SgdOptions = { ...ctx.train, seed: job.seed, validation };
  if (onEpoch !== undefined) options.onEpoch = (epoch) => void onEpoch(epoch);
  for (const key of TRAIN_KEYS) {
    if (Object.hasOwn(job.params, key)) (options as Record<string, unknown>)[key] = job.params[key];
  }
  return { net, data, validation, loss, options };
}

/** A trained trial's score on its validation fold, with its curves. */
function scoreTrial(ctx: TrialData, t: Trial, id: number, history: History): TrialResult {
  const score =
    ctx.metric === 'loss'
      ? evaluateLoss(t.net, t.validation, t.loss)
      : METRICS[ctx.metric].compute(t.net, t.validation);
  return { id, score, curves: { train: history.loss, validation: history.valLoss } };
}

/**
 * Runs one trial: seeds `defaultRng` with the job's seed, makes the network with `make`, trains
 * it on the fold with `sgd` and scores it; `onEpoch` hears each epoch's index (from 0) for
 * progress. Never throws (errors are returned). @internal
 */
export function runTrial(
  ctx: TrialData,
  make: MakeNet,
  job: TrialJob,
  onEpoch?: (epoch: number) => void,
): TrialResult {
  const made: { dispose(): void }[] = [];
  try {
    const t = prepareTrial(ctx, make, job, onEpoch, made);
    return scoreTrial(ctx, t, job.id, sgd(t.net, t.data, t.loss, t.options));
  } catch (e) {
    return { id: job.id, error: trialError(e) };
  } finally {
    for (const m of made) m.dispose();
  }
}

/**
 * `runTrial` with `fit`, sgd's asynchronous form (the same loop; `workers` 1 as in sgd): how a
 * trial trains in this thread on the WebGPU backend, whose values come back asynchronously. Its
 * errors name `fit` where WASM's name `sgd`.
 */
async function runTrialAsync(ctx: TrialData, make: MakeNet, job: TrialJob): Promise<TrialResult> {
  const made: { dispose(): void }[] = [];
  try {
    const t = prepareTrial(ctx, make, job, undefined, made);
    const history = await fit(t.net, t.data, t.loss, { workers: 1, ...t.options });
    return scoreTrial(ctx, t, job.id, history);
  } catch (e) {
    return { id: job.id, error: trialError(e) };
  } finally {
    for (const m of made) m.dispose();
  }
}

/** Worker threads to use by default: the cores Node or the browser reports (2 if neither). */
export function defaultWorkers(): number {
  const os = typeof process === 'undefined' ? undefined : process.getBuiltinModule?.('node:os');
  if (os) return os.availableParallelism();
  return typeof navigator !== 'undefined' ? navigator.hardwareConcurrency || 2 : 2;
}

/** Most worker threads one `gridSearch` starts (each holds a copy of the data). */
export const MAX_GRID_WORKERS = 256;

/** Attempts of one trial whose worker dies under it, each on a fresh worker, before it fails. */
export const MAX_TRIAL_ATTEMPTS = 2;

/** Deaths of a slot's workers with no trial in flight and none finished between, before the slot
 * is given up (a worker that cannot start). */
const MAX_START_FAILURES = 2;

/**
 * Runs every job and reports each result with the worker that ran it (0 = this thread): on
 * `workers` workers (at most one per job) running `workerUrl` (default: gridworker.js beside this
 * module), or in this thread when `workers` is 0. Rejects with the error `onResult` throws, once
 * every worker is terminated, and with a `BAD_FILE` TorchletError naming the worker script when no
 * worker ever starts. In this thread, the shared `defaultRng` that each trial seeds is put back as
 * it was.
 * @internal
 */
export async function runTrials(
  workers: number,
  ctx: TrialContext,
  jobs: TrialJob[],
  onResult: (r: TrialResult, worker: number) => void,
  workerUrl?: URL,
): Promise<void> {
  if (workers > 0) {
    const source = workerSource(workerUrl);
    return runPool(source, Math.min(workers, jobs.length), ctx, jobs, onResult);
  }
  // NOTE: buildNet's contract hands it the whole public namespace, which holds gridSearch itself,
  // so this one edge back to index.ts stays until a trial's network is data (an ArchitectureNode
  // template). It is taken at call time, when index.ts has long finished loading.
  const t = (await import('../index.js')) as Torchlet;
  const build = compileBuildNet(ctx.buildSource);
  const make: MakeNet = (p) => build(p, t);
  const gpu = backend() === 'webgpu';
  const saved = defaultRng.state();
  try {
    for (const job of jobs)
      onResult(gpu ? await runTrialAsync(ctx, make, job) : runTrial(ctx, make, job), 0);
  } finally {
    restoreDefaultRng(saved);
  }
}

/** Puts back a state of `defaultRng` taken with `state()`. */
function restoreDefaultRng(state: Uint32Array): void {
  defaultRng.setState(state);
}

/** One place in the pool: worker `id` and, after a death, its replacement. */
interface PoolSlot {
  id: number;
  port: WorkerPort | null;
  ready: boolean;
  job: TrialJob | null;
  /** Deaths of this slot's workers with no trial in flight since one last finished a trial. */
  startFailures: number;
  /** Whether this slot's first worker has become ready or died (the first dispatch waits). */
  counted: boolean;
}

/**
 * Runs the jobs on `count` workers; resolves once every job has a result, and rejects with the
 * error `onResult` throws; either way only after every worker is terminated. A worker that dies
 * is replaced; the trial it was running goes back to the front of the queue (a worker that dies
 * just after a trial can take the next one with it) and fails after `MAX_TRIAL_ATTEMPTS`. A slot
 * whose fresh workers keep dying without finishing a trial is given up; when every slot is, the
 * trials left fail with "every worker failed", or, when no worker ever started (a script that
 * does not load, a module that does not instantiate), the search rejects with `notStarted`.
 */
function runPool(
  source: WorkerSource,
  count: number,
  ctx: TrialContext,
  jobs: TrialJob[],
  onResult: (r: TrialResult, worker: number) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const queue = [...jobs];
    const attempts = new Map<number, number>();
    const slots: PoolSlot[] = [];
    let pending = jobs.length;
    let settled = false;
    let waiting = count;
    let lastDeath = '';
    let lastFatal = false;
    let started = false;
    const end = (error?: { e: unknown }): void => {
      if (settled) return;
      settled = true;
      const ports = slots.flatMap((s) => (s.port === null ? [] : [s.port]));
      for (const s of slots) s.port = null;
      const gone = Promise.allSettled(ports.map((p) => p.terminate()));
      void gone.then(() => (error === undefined ? resolve() : reject(error.e)));
    };
    const finish = (r: TrialResult, worker: number): void => {
      pending -= 1;
      try {
        onResult(r, worker);
      } catch (e) {
        end({ e });
        return;
      }
      if (pending === 0) end();
    };
    const post = (s: PoolSlot, m: ToWorker): void => {
      try {
        s.port!.post(m);
      } catch (e) {
        const why = e instanceof Error ? e.message : String(e);
        const message = `gridSearch: expected data and options a worker can receive, got ${why}`;
        end({ e: new TorchletError('BAD_ARGUMENT', message) });
      }
    };
    const dispatch = (s: PoolSlot): void => {
      if (settled || waiting > 0 || !s.ready || s.job !== null || queue.length === 0) return;
      if (s.port === null) return;
      s.job = queue.shift()!;
      post(s, { kind: 'job', job: s.job });
    };
    const counted = (s: PoolSlot): void => {
      if (s.counted) return;
      s.counted = true;
      waiting -= 1;
      // Dispatch once every first worker is up (or dead), so a slow start does not leave one idle.
      if (waiting === 0) for (const other of slots) dispatch(other);
    };
    const died = (s: PoolSlot, port: WorkerPort, message: string, fatal = false): void => {
      if (settled || s.port !== port) return; // an event of a worker already replaced or stopped
      void port.terminate();
      s.port = null;
      s.ready = false;
      lastDeath = message;
      lastFatal = fatal;
      const job = s.job;
      s.job = null;
      if (job !== null) {
        const tries = (attempts.get(job.id) ?? 0) + 1;
        attempts.set(job.id, tries);
        if (tries < MAX_TRIAL_ATTEMPTS) {
          queue.unshift(job);
          for (const other of slots) dispatch(other);
        } else {
          const error = `worker ${s.id} failed: ${message} (attempt ${tries} of ${MAX_TRIAL_ATTEMPTS})`;
          finish({ id: job.id, error }, s.id);
          if (settled) return;
        }
      } else s.startFailures += 1;
      counted(s);
      if (s.startFailures < MAX_START_FAILURES) start(s);
      else if (slots.every((o) => o.port === null)) {
        if (!started) {
          const e = source
            .explain()
            .then((why) => notStarted(source.url, lastDeath, lastFatal, why));
          void e.then((err) => end({ e: err }));
          return;
        }
        while (queue.length > 0 && !settled) {
          finish({ id: queue.shift()!.id, error: `every worker failed; last: ${lastDeath}` }, s.id);
        }
      }
    };
    const heard = (s: PoolSlot, port: WorkerPort, m: FromWorker): void => {
      if (settled || s.port !== port) return;
      if (m.kind === 'fatal') return died(s, port, m.message, true);
      if (m.kind === 'pong') return;
      if (m.kind === 'ready') {
        started = true;
        s.ready = true;
        counted(s);
      } else if (s.job !== null && m.result.id === s.job.id) {
        s.job = null;
        s.startFailures = 0;
        finish(m.result, s.id);
      }
      dispatch(s);
    };
    const start = (s: PoolSlot): void => {
      try {
        const port: WorkerPort = source.spawn(
          (m) => heard(s, port, m),
          (message) => died(s, port, message),
        );
        s.port = port;
      } catch (e) {
        const why = e instanceof Error ? e.message : String(e);
        end({ e: notStarted(source.url, why, false, '') });
        return;
      }
      post(s, { kind: 'init', module: compiledModule(), ctx });
    };
    for (let id = 1; id <= count && !settled; id++) {
      const s: PoolSlot = {
        id,
        port: null,
        ready: false,
        job: null,
        startFailures: 0,
        counted: false,
      };
      slots.push(s);
      start(s);
    }
  });
}

/**
 * The error of a pool none of whose workers ever started: the script's URL, what the worker said
 * (`death`), what the server says about the script (`probe`), and what to pass instead.
 */
function notStarted(url: string, death: string, fatal: boolean, probe: string): TorchletError {
  if (fatal) {
    return new TorchletError(
      'BAD_WASM',
      `gridSearch: expected the workers (${url}) to start, got: ${death}`,
    );
  }
  const got = [probe, death].filter((w) => w !== '').join('; ');
  return new TorchletError(
    'BAD_FILE',
    `gridSearch: expected the worker script at ${url} to start, got ${got || 'a worker that failed'}. ` +
      "Bundlers that do not follow `new Worker(new URL('./gridworker.js', import.meta.url))` " +
      '(esbuild, rollup without a plugin) need torchlet/dist/gridworker.js copied next to the ' +
      'bundle, or its URL passed: gridSearch(..., { workerUrl }); workers: 0 runs the trials in ' +
      'this thread',
  );
}
