// Grid search with k-fold cross-validation: every combination of a parameter grid is trained on
// k seeded, disjoint folds (each sample validated once), scored, and ranked by mean metric.
// Trials (combination x fold) run in worker_threads (Node) or Web Workers (browsers), each with
// its own WASM instance from the one compiled module; the worker side is gridworker.ts.

import { TorchletError } from '../core/errors.js';
import { BCELoss, CrossEntropyLoss, LogSoftmaxCrossEntropy, type Loss, MSELoss } from '../core/loss.js';
import { METRICS, evaluateLoss } from './metrics.js';
import type { Module } from '../core/module.js';
import { lossCurvesSvg } from '../tools/plot.js';
import { Rng, manualSeed } from '../core/rng.js';
import { Tensor } from '../core/tensor.js';
import { type SgdOptions, sgd } from './train.js';
import { compiledModule } from '../core/wasm.js';
import type * as TorchletNamespace from '../index.js';

/** One value of a grid axis. */
export type GridValue = number | string | boolean;
/** The grid: each key maps to the values to try, e.g. `{ step: [1e-3, 1e-2], hidden: [50, 100] }`. */
export type ParamGrid = Record<string, readonly GridValue[]>;
/** One combination of the grid. */
export type GridParams = Record<string, GridValue>;
/** The torchlet module namespace, handed to `buildNet` inside each worker. */
export type Torchlet = typeof TorchletNamespace;
/**
 * Builds a fresh network for one combination. It runs inside the workers, rebuilt there from its
 * source text (`Function.prototype.toString`), so it must be self-contained: use only its
 * arguments (`t.Linear`, `t.ReLU`, … from the namespace `t`), no outer variables or imports.
 */
export type BuildNet = (params: GridParams, t: Torchlet) => Module;

/** Losses `gridSearch` can train with, by class name. */
export type LossName = 'LogSoftmaxCrossEntropy' | 'MSELoss' | 'BCELoss' | 'CrossEntropyLoss';
/** Metrics `gridSearch` can rank by: the built-ins, or the validation `'loss'`. */
export type GridMetric = 'accuracy' | 'mse' | 'loss';

/** Grid keys that set training options rather than (only) the network. */
const TRAIN_KEYS = ['batchSize', 'epochs', 'step', 'optimizer', 'momentum', 'weightDecay', 'epsilon'] as const;

/** Training options a grid search may fix for every trial (grid keys of the same name win). */
export type GridTrainOptions = Pick<SgdOptions, (typeof TRAIN_KEYS)[number] | 'betas'>;

/** Options for `gridSearch`. */
export interface GridSearchOptions {
  /** What to rank by (default `'accuracy'`; `'mse'` and `'loss'` rank lowest first). */
  metric?: GridMetric;
  /** Number of folds (default 3). */
  cv?: number;
  /** The loss to train with (default `'LogSoftmaxCrossEntropy'`). */
  loss?: LossName;
  /** Training options of every trial (default: sgd's defaults); grid keys override them. */
  train?: GridTrainOptions;
  /** Write one SVG of the train/validation loss curves per combination (needs `outDir`; Node). */
  saveLossGraphs?: boolean;
  /** Folder for the SVGs (created if missing). */
  outDir?: string;
  /** Worker threads (default: the number of cores); 0 runs every trial in this thread. */
  workers?: number;
  /** Seed of the folds, of each trial's initial weights and of its shuffling (default 0). */
  seed?: number;
  /** Called as each combination finishes (all its folds), in completion order. */
  onResult?: (row: GridRow) => void;
}

/** The curves of one fold. */
export interface FoldCurves {
  /** Training loss per epoch. */
  train: number[];
  /** Validation loss per epoch. */
  validation: number[];
}

/** One combination's result. */
export interface GridRow {
  /** 1 for the best; failed combinations come last. */
  rank: number;
  /** The combination. */
  params: GridParams;
  /** Mean of `scores` (NaN when the trial failed). */
  mean: number;
  /** Population standard deviation of `scores`. */
  std: number;
  /** The metric on each fold's validation part, in fold order. */
  scores: number[];
  /** Loss curves of each fold. */
  curves: FoldCurves[];
  /** Worker that ran each fold (0 = this thread). */
  workers: number[];
  /** Set when a fold threw: `fold <i>: <message>`. */
  error?: string;
  /** Path of the loss-curve SVG, with `saveLossGraphs`. */
  plot?: string;
}

/** One fold's indices. */
export interface Fold {
  /** Rows to train on. */
  train: Uint32Array;
  /** Rows to validate on. */
  validation: Uint32Array;
}

/**
 * Seeded k-fold split of n rows: one shuffle, then k contiguous parts of the shuffled order (sizes
 * differ by at most one). Validation parts are disjoint and cover every row once.
 * @throws TorchletError `BAD_ARGUMENT` unless 2 <= k <= n.
 */
export function kFold(n: number, k: number, seed = 0): Fold[] {
  if (!Number.isInteger(n) || !Number.isInteger(k) || k < 2 || k > n) {
    throw new TorchletError('BAD_ARGUMENT', `kFold: expected 2 <= k <= n (integers), got k ${k}, n ${n}`);
  }
  const order = new Rng(seed).shuffle(new Uint32Array(n).map((_, i) => i));
  return Array.from({ length: k }, (_, f) => {
    const lo = Math.floor((f * n) / k);
    const hi = Math.floor(((f + 1) * n) / k);
    const train = new Uint32Array(n - (hi - lo));
    train.set(order.subarray(0, lo), 0);
    train.set(order.subarray(hi), lo);
    return { train, validation: order.slice(lo, hi) };
  });
}

/** Every combination of the grid, the first key varying slowest. */
export function gridCombinations(grid: ParamGrid): GridParams[] {
  if (typeof grid !== 'object' || grid === null || Array.isArray(grid)) {
    throw new TorchletError('BAD_ARGUMENT', `gridSearch: expected paramGrid to be an object of arrays, got ${JSON.stringify(grid)}`);
  }
  let combos: GridParams[] = [{}];
  for (const [key, values] of Object.entries(grid)) {
    const ok = Array.isArray(values) && values.length > 0 && values.every((v) => ['number', 'string', 'boolean'].includes(typeof v));
    if (!ok || key === '__proto__') {
      throw new TorchletError('BAD_ARGUMENT', `gridSearch: expected paramGrid.${key} to be a non-empty array of numbers, strings or booleans, got ${JSON.stringify(values)}`);
    }
    combos = combos.flatMap((c) => values.map((v) => ({ ...c, [key]: v })));
  }
  return combos;
}

// ---------------------------------------------------------------------------------------------
// One trial: shared by the workers and the in-thread mode.

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
export type TrialResult = { id: number; score: number; curves: FoldCurves; error?: undefined } | { id: number; error: string };

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
  if (typeof f !== 'function') throw new TorchletError('BAD_ARGUMENT', `gridSearch: expected buildNet to be a function expression, got ${typeof f}`);
  return f as BuildNet;
}

/** Runs one trial; never throws (errors are returned). @internal */
export function runTrial(ctx: TrialContext, build: BuildNet, t: Torchlet, job: TrialJob): TrialResult {
  const made: { dispose(): void }[] = [];
  try {
    const data = { x: rowsOf(ctx.x, ctx.xShape, job.train), y: rowsOf(ctx.y, ctx.yShape, job.train) };
    made.push(data.x, data.y);
    const validation = { x: rowsOf(ctx.x, ctx.xShape, job.validation), y: rowsOf(ctx.y, ctx.yShape, job.validation) };
    made.push(validation.x, validation.y);
    const loss = LOSSES[ctx.loss]();
    made.push(loss);
    manualSeed(job.seed);
    const net = build(job.params, t);
    if (net === null || typeof net !== 'object' || typeof (net as Module).forward !== 'function') {
      throw new TorchletError('BAD_ARGUMENT', `gridSearch: expected buildNet to return a Module, got ${typeof net}`);
    }
    made.push(net);
    const options: SgdOptions = { ...ctx.train, seed: job.seed, validation };
    for (const key of TRAIN_KEYS) if (Object.hasOwn(job.params, key)) (options as Record<string, unknown>)[key] = job.params[key];
    const history = sgd(net, data, loss, options);
    const score = ctx.metric === 'loss' ? evaluateLoss(net, validation, loss) : METRICS[ctx.metric].compute(net, validation);
    return { id: job.id, score, curves: { train: history.loss, validation: history.valLoss } };
  } catch (e) {
    return { id: job.id, error: e instanceof Error ? e.message : String(e) };
  } finally {
    for (const m of made) m.dispose();
  }
}

// ---------------------------------------------------------------------------------------------
// Workers

/** Main thread -> worker. @internal */
export type ToWorker = { kind: 'init'; module: WebAssembly.Module; ctx: TrialContext } | { kind: 'job'; job: TrialJob };
/** Worker -> main thread. @internal */
export type FromWorker = { kind: 'ready' } | { kind: 'result'; result: TrialResult } | { kind: 'fatal'; message: string };

interface Port {
  post(msg: ToWorker): void;
  terminate(): void;
}

function workerUrl(): { url: URL; ts: boolean } {
  const ts = import.meta.url.endsWith('.ts');
  return { url: new URL(ts ? './gridworker.ts' : './gridworker.js', import.meta.url), ts };
}

function spawn(onMessage: (m: FromWorker) => void, onExit: (message: string) => void): Port {
  const { url, ts } = workerUrl();
  const wt = typeof process === 'undefined' ? undefined : process.getBuiltinModule?.('node:worker_threads');
  if (wt) {
    const w = ts ? new wt.Worker(tsxBootstrap(url), { eval: true }) : new wt.Worker(url);
    w.on('message', (m: FromWorker) => onMessage(m));
    w.on('error', (e: Error) => onExit(e.message));
    w.on('exit', (code: number) => onExit(`worker exited with code ${code}`));
    return { post: (m) => w.postMessage(m), terminate: () => void w.terminate() };
  }
  if (typeof Worker === 'undefined') throw new TorchletError('BAD_ARGUMENT', 'gridSearch: expected worker_threads or Web Workers, got neither; pass workers: 0');
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
  const pkg = JSON.parse(fs.readFileSync(pkgPath, 'utf8')) as { exports: Record<string, { import: { default: string } }> };
  const api = new URL(pkg.exports['./esm/api']!.import.default, url.pathToFileURL(pkgPath)).href;
  return `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); });`;
}

function defaultWorkers(): number {
  const os = typeof process === 'undefined' ? undefined : process.getBuiltinModule?.('node:os');
  if (os) return os.availableParallelism();
  return typeof navigator !== 'undefined' ? navigator.hardwareConcurrency || 2 : 2;
}

/** Runs the jobs on `count` workers; resolves with one result per job and the worker of each. */
function runPool(count: number, ctx: TrialContext, jobs: TrialJob[], onResult: (r: TrialResult, worker: number) => void): Promise<void> {
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
          }
          else if (m.kind === 'result') {
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
        if (busy.size === 0) while (queue.length > 0 && pending > 0) finish({ id: queue.shift()!.id, error: `every worker failed; last: ${message}` }, w);
      };
      ports.push(port);
      busy.set(w, null);
      port.post({ kind: 'init', module: compiledModule(), ctx });
    }
  });
}

/**
 * Grid search with k-fold cross-validation, in parallel workers.
 * @param buildNet Builds the network of a combination: `(params, t) => Module`; self-contained
 *   (see `BuildNet`), since it is rebuilt from its source inside each worker.
 * @param paramGrid Values to try per key; keys named like training options (`step`, `batchSize`,
 *   `epochs`, `optimizer`, `momentum`, `weightDecay`, `epsilon`) also set them.
 * @param x Inputs [n, ...]. @param y Targets [n] (class indices) or [n, ...].
 * @returns One row per combination, best first (by mean metric), failed combinations last.
 * @throws TorchletError `BAD_ARGUMENT` for a bad grid or option (before any worker starts).
 * @example
 * const rows = await gridSearch(
 *   (p, t) => new t.Sequential(new t.Linear(64, p.hidden as number), new t.ReLU(), new t.Linear(p.hidden as number, 10)),
 *   { step: [0.01, 0.05], hidden: [50, 100] }, train.x, train.y, { cv: 3, train: { epochs: 5 } },
 * );
 */
export async function gridSearch(
  buildNet: BuildNet, paramGrid: ParamGrid, x: Tensor, y: Tensor, options: GridSearchOptions = {},
): Promise<GridRow[]> {
  const where = 'gridSearch';
  if (typeof buildNet !== 'function') throw new TorchletError('BAD_ARGUMENT', `${where}: expected buildNet to be a function, got ${typeof buildNet}`);
  const combos = gridCombinations(paramGrid);
  if (!(x instanceof Tensor) || !(y instanceof Tensor) || x.shape[0] !== y.shape[0]) {
    throw new TorchletError('BAD_ARGUMENT', `${where}: expected tensors x and y with the same number of rows, got ${x?.shape?.[0]} and ${y?.shape?.[0]}`);
  }
  const metric = options.metric ?? 'accuracy';
  if (metric !== 'loss' && !Object.hasOwn(METRICS, metric)) {
    throw new TorchletError('BAD_ARGUMENT', `${where}: expected metric accuracy, mse or loss, got ${String(metric)}`);
  }
  const loss = options.loss ?? 'LogSoftmaxCrossEntropy';
  if (!Object.hasOwn(LOSSES, loss)) throw new TorchletError('BAD_ARGUMENT', `${where}: expected loss one of ${Object.keys(LOSSES).join(', ')}, got ${String(loss)}`);
  const cv = options.cv ?? 3;
  const seed = options.seed ?? 0;
  const workers = options.workers ?? defaultWorkers();
  if (!Number.isInteger(workers) || workers < 0) throw new TorchletError('BAD_ARGUMENT', `${where}: expected workers to be an integer >= 0, got ${String(workers)}`);
  if (options.saveLossGraphs && typeof options.outDir !== 'string') {
    throw new TorchletError('BAD_ARGUMENT', `${where}: expected outDir with saveLossGraphs, got ${String(options.outDir)}`);
  }
  const folds = kFold(x.shape[0]!, cv, seed);
  const buildSource = buildNet.toString();
  const build = compileBuildNet(buildSource);
  const ctx: TrialContext = {
    x: x.toArray(), xShape: [...x.shape], y: y.toArray(), yShape: [...y.shape],
    buildSource, loss, metric, train: { ...(options.train ?? {}) },
  };
  const jobs: TrialJob[] = combos.flatMap((params, c) => folds.map((f, k) => ({
    id: c * cv + k, params, train: f.train, validation: f.validation, seed: seed + 1000 * c + k,
  })));
  const results = new Map<number, [TrialResult, number]>();
  const rows: GridRow[] = combos.map((params) => ({ rank: 0, params, mean: NaN, std: NaN, scores: [], curves: [], workers: [] }));
  const onResult = (r: TrialResult, worker: number): void => {
    results.set(r.id, [r, worker]);
    const c = Math.floor(r.id / cv);
    if (folds.every((_, k) => results.has(c * cv + k))) {
      completeRow(rows[c]!, folds.map((_, k) => results.get(c * cv + k)!));
      options.onResult?.(rows[c]!);
    }
  };
  if (workers === 0) {
    const t = (await import('../index.js')) as Torchlet;
    for (const job of jobs) onResult(runTrial(ctx, build, t, job), 0);
  } else {
    await runPool(Math.min(workers, jobs.length), ctx, jobs, onResult);
  }
  const higher = metric === 'accuracy';
  const ok = rows.filter((r) => r.error === undefined).sort((a, b) => (higher ? b.mean - a.mean : a.mean - b.mean));
  const ranked = [...ok, ...rows.filter((r) => r.error !== undefined)];
  ranked.forEach((r, i) => {
    r.rank = i + 1;
  });
  if (options.saveLossGraphs) writeGraphs(rows, options.outDir!);
  return ranked;
}

function completeRow(row: GridRow, parts: Array<[TrialResult, number]>): void {
  parts.forEach(([r, worker], k) => {
    row.workers.push(worker);
    if (r.error !== undefined) row.error ??= `fold ${k}: ${r.error}`;
    else {
      row.scores.push(r.score);
      row.curves.push(r.curves);
    }
  });
  if (row.error !== undefined) return;
  row.mean = row.scores.reduce((a, b) => a + b, 0) / row.scores.length;
  row.std = Math.sqrt(row.scores.reduce((a, b) => a + (b - row.mean) ** 2, 0) / row.scores.length);
}

/** A file-name-safe label of a combination. */
export function paramsLabel(params: GridParams): string {
  if (typeof params !== 'object' || params === null) throw new TorchletError('BAD_ARGUMENT', `paramsLabel: expected a combination object, got ${String(params)}`);
  return Object.entries(params).map(([k, v]) => `${k}=${String(v)}`).join(', ');
}

function writeGraphs(rows: GridRow[], outDir: string): void {
  const fs = process.getBuiltinModule?.('node:fs');
  const path = process.getBuiltinModule?.('node:path');
  if (!fs || !path) throw new TorchletError('BAD_ARGUMENT', 'gridSearch: expected Node >= 20.16 to write saveLossGraphs, got none');
  fs.mkdirSync(outDir, { recursive: true });
  rows.forEach((row, c) => {
    if (row.curves.length === 0) return;
    const runs = row.curves.map((cu, k) => ({ name: `fold ${k + 1}`, train: cu.train, validation: cu.validation }));
    const file = path.join(outDir, `grid-${String(c + 1).padStart(3, '0')}.svg`);
    fs.writeFileSync(file, lossCurvesSvg(runs, { title: paramsLabel(row.params) }));
    row.plot = file;
  });
}
