// Where grid-search trials (combination x fold) run: in a pool of worker_threads (Node) or module
// Web Workers (browsers), each handed the one compiled WASM module and instantiating its own
// memory, or all in this thread. The worker side is gridworker.ts; both sides call runTrial.

import { TorchletError } from '../core/errors.js';
import {
  BCELoss,
  CrossEntropyLoss,
  LogSoftmaxCrossEntropy,
  type Loss,
  MSELoss,
} from '../core/loss.js';
import type { Module } from '../core/module.js';
import { manualSeed } from '../core/rng.js';
import { Tensor } from '../core/tensor.js';
import { compiledModule } from '../core/wasm.js';
import type * as TorchletNamespace from '../index.js';
import {
  type FoldCurves,
  type GridMetric,
  type GridParams,
  type GridTrainOptions,
  type LossName,
  TRAIN_KEYS,
} from './grid.js';
import { METRICS, evaluateLoss } from './metrics.js';
import { type SgdOptions, sgd } from './train.js';

/** The torchlet module namespace, handed to `buildNet` inside each worker. */
export type Torchlet = typeof TorchletNamespace;
/**
 * Builds a fresh network for one combination. It runs inside the workers, rebuilt there from its
 * source text (`Function.prototype.toString`), so it must be self-contained: use only its
 * arguments (`t.Linear`, `t.ReLU`, … from the namespace `t`), no outer variables or imports.
 */
export type BuildNet = (params: GridParams, t: Torchlet) => Module;

/** What a worker needs once. @internal */
export interface TrialContext {
  x: Float32Array;
  xShape: number[];
  y: Float32Array;
  yShape: number[];
  buildSource: string;
  loss: LossName;
  metric: GridMetric;
  train: GridTrainOptions;
}

/** One combination on one fold. @internal */
export interface TrialJob {
  id: number;
  params: GridParams;
  train: Uint32Array;
  validation: Uint32Array;
  seed: number;
}

/** A trial's outcome. @internal */
export type TrialResult =
  | { id: number; score: number; curves: FoldCurves; error?: undefined }
  | { id: number; error: string };

/** Main thread -> worker. @internal */
export type ToWorker =
  { kind: 'init'; module: WebAssembly.Module; ctx: TrialContext } | { kind: 'job'; job: TrialJob };
/** Worker -> main thread. @internal */
export type FromWorker =
  { kind: 'ready' } | { kind: 'result'; result: TrialResult } | { kind: 'fatal'; message: string };

const LOSSES: Readonly<Record<LossName, () => Loss>> = Object.freeze({
  LogSoftmaxCrossEntropy: () => new LogSoftmaxCrossEntropy(),
  MSELoss: () => new MSELoss(),
  BCELoss: () => new BCELoss(),
  CrossEntropyLoss: () => new CrossEntropyLoss(),
});

function rowsOf(data: Float32Array, shape: number[], idx: Uint32Array): Tensor {
  const cols = data.length / shape[0]!;
  const out = new Float32Array(idx.length * cols);
  idx.forEach((r, i) => out.set(data.subarray(r * cols, (r + 1) * cols), i * cols));
  return Tensor.from(out, [idx.length, ...shape.slice(1)]);
}

/** Rebuilds `buildNet` from its source text. @internal */
export function compileBuildNet(source: string): BuildNet {
  // NOTE: evaluating source is the documented contract of gridSearch's buildNet (it cannot be
  // cloned to a worker); the text comes from the caller's own function, never from a file.
  const f = new Function(`"use strict"; return (${source});`)() as unknown;
  if (typeof f !== 'function') {
    const got = typeof f;
    throw new TorchletError(
      'BAD_ARGUMENT',
      `gridSearch: expected buildNet to be a function expression, got ${got}`,
    );
  }
  return f as BuildNet;
}

/** Runs one trial; never throws (errors are returned). @internal */
export function runTrial(
  ctx: TrialContext,
  build: BuildNet,
  t: Torchlet,
  job: TrialJob,
): TrialResult {
  const made: { dispose(): void }[] = [];
  try {
    const data = {
      x: rowsOf(ctx.x, ctx.xShape, job.train),
      y: rowsOf(ctx.y, ctx.yShape, job.train),
    };
    made.push(data.x, data.y);
    const validation = {
      x: rowsOf(ctx.x, ctx.xShape, job.validation),
      y: rowsOf(ctx.y, ctx.yShape, job.validation),
    };
    made.push(validation.x, validation.y);
    const loss = LOSSES[ctx.loss]();
    made.push(loss);
    manualSeed(job.seed);
    const net = build(job.params, t);
    if (net === null || typeof net !== 'object' || typeof (net as Module).forward !== 'function') {
      throw new TorchletError(
        'BAD_ARGUMENT',
        `gridSearch: expected buildNet to return a Module, got ${typeof net}`,
      );
    }
    made.push(net);
    const options: SgdOptions = { ...ctx.train, seed: job.seed, validation };
    for (const key of TRAIN_KEYS) {
      if (Object.hasOwn(job.params, key))
        (options as Record<string, unknown>)[key] = job.params[key];
    }
    const history = sgd(net, data, loss, options);
    const score =
      ctx.metric === 'loss'
        ? evaluateLoss(net, validation, loss)
        : METRICS[ctx.metric].compute(net, validation);
    return { id: job.id, score, curves: { train: history.loss, validation: history.valLoss } };
  } catch (e) {
    return { id: job.id, error: e instanceof Error ? e.message : String(e) };
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

/**
 * Runs every job and reports each result with the worker that ran it (0 = this thread): on
 * `workers` workers (at most one per job), or in this thread when `workers` is 0.
 */
export async function runTrials(
  workers: number,
  ctx: TrialContext,
  jobs: TrialJob[],
  onResult: (r: TrialResult, worker: number) => void,
): Promise<void> {
  if (workers > 0) return runPool(Math.min(workers, jobs.length), ctx, jobs, onResult);
  // NOTE: buildNet's contract hands it the whole public namespace, which holds gridSearch itself,
  // so this one edge back to index.ts stays until a trial's network is data (an ArchitectureNode
  // template). It is taken at call time, when index.ts has long finished loading.
  const t = (await import('../index.js')) as Torchlet;
  const build = compileBuildNet(ctx.buildSource);
  for (const job of jobs) onResult(runTrial(ctx, build, t, job), 0);
}

interface Port {
  post(msg: ToWorker): void;
  terminate(): void;
}

function spawn(onMessage: (m: FromWorker) => void, onExit: (message: string) => void): Port {
  // From the sources (vitest, tsx) the entry is the .ts sibling; from build/lib or dist, the .js.
  const ts = import.meta.url.endsWith('.ts');
  const url = new URL(ts ? './gridworker.ts' : './gridworker.js', import.meta.url);
  const wt =
    typeof process === 'undefined' ? undefined : process.getBuiltinModule?.('node:worker_threads');
  if (wt) {
    const w = ts ? new wt.Worker(tsxBootstrap(url), { eval: true }) : new wt.Worker(url);
    w.on('message', (m: FromWorker) => onMessage(m));
    w.on('error', (e: Error) => onExit(e.message));
    w.on('exit', (code: number) => onExit(`worker exited with code ${code}`));
    return { post: (m) => w.postMessage(m), terminate: () => void w.terminate() };
  }
  if (typeof Worker === 'undefined') {
    throw new TorchletError(
      'BAD_ARGUMENT',
      'gridSearch: expected worker_threads or Web Workers, got neither; pass workers: 0',
    );
  }
  const w = new Worker(url, { type: 'module' });
  w.onmessage = (e: MessageEvent<FromWorker>) => onMessage(e.data);
  w.onerror = (e: ErrorEvent) => onExit(e.message);
  return { post: (m) => w.postMessage(m), terminate: () => w.terminate() };
}

/**
 * Worker source that registers tsx's loader, then imports the .ts entry: used when torchlet runs
 * from its TypeScript sources (vitest, tsx), where `--import tsx` is not applied to workers.
 */
function tsxBootstrap(entry: URL): string {
  const mod = process.getBuiltinModule('node:module');
  const url = process.getBuiltinModule('node:url');
  const fs = process.getBuiltinModule('node:fs');
  // The ESM build of tsx's API, found through its package.json exports (require.resolve would
  // give the CJS build, which cannot register the ESM loader from an eval'd worker).
  const pkgPath = mod.createRequire(import.meta.url).resolve('tsx/package.json');
  type Exports = Record<string, { import: { default: string } }>;
  const pkg = JSON.parse(fs.readFileSync(pkgPath, 'utf8')) as { exports: Exports };
  const api = new URL(pkg.exports['./esm/api']!.import.default, url.pathToFileURL(pkgPath)).href;
  const [apiText, entryText] = [JSON.stringify(api), JSON.stringify(entry.href)];
  return `import(${apiText}).then((m) => { m.register(); return import(${entryText}); });`;
}

/** Runs the jobs on `count` workers; resolves once every job has a result. */
function runPool(
  count: number,
  ctx: TrialContext,
  jobs: TrialJob[],
  onResult: (r: TrialResult, worker: number) => void,
): Promise<void> {
  return new Promise((resolve) => {
    const queue = [...jobs];
    let pending = jobs.length;
    const ports: Port[] = [];
    const busy = new Map<number, TrialJob | null>();
    const ready: number[] = [];
    let expected = count;
    const finish = (r: TrialResult, worker: number): void => {
      onResult(r, worker);
      pending -= 1;
      if (pending === 0) {
        for (const p of ports) p.terminate();
        resolve();
      }
    };
    const next = (w: number): void => {
      const job = queue.shift();
      busy.set(w, job ?? null);
      if (job !== undefined) ports[w - 1]!.post({ kind: 'job', job });
    };
    for (let w = 1; w <= count; w++) {
      let dead = false;
      const port = spawn(
        (m) => {
          if (m.kind === 'ready') {
            // Dispatch once every worker is up, so a slow start does not leave one idle.
            ready.push(w);
            if (ready.length === expected) for (const r of ready) next(r);
          } else if (m.kind === 'result') {
            finish(m.result, w);
            if (pending > 0) next(w);
          } else failWorker(m.message);
        },
        (message) => failWorker(message),
      );
      const failWorker = (message: string): void => {
        if (dead || pending === 0) return;
        dead = true;
        const job = busy.get(w);
        busy.delete(w);
        if (job) finish({ id: job.id, error: `worker ${w} failed: ${message}` }, w);
        else if (!ready.includes(w)) {
          // It died before starting: the others may all be waiting for it.
          expected -= 1;
          if (ready.length === expected) for (const r of ready) if (busy.get(r) === null) next(r);
        }
        if (busy.size === 0) {
          while (queue.length > 0 && pending > 0) {
            finish({ id: queue.shift()!.id, error: `every worker failed; last: ${message}` }, w);
          }
        }
      };
      ports.push(port);
      busy.set(w, null);
      port.post({ kind: 'init', module: compiledModule(), ctx });
    }
  });
}
