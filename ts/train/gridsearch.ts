// Grid search with k-fold cross-validation: every combination of a parameter grid is trained on
// k seeded, disjoint folds (each sample validated once), scored, and ranked by mean metric.
// This file checks the options, makes the jobs and collects the rows; the folds, grid and ranking
// are in grid.ts, and where the trials run (workers or this thread) is in gridpool.ts.

import { TorchletError } from '../core/errors.js';
import { REDUCTIONS, type Reduction } from '../core/loss.js';
import { Tensor } from '../core/tensor.js';
import { lossCurvesSvg } from '../tools/plot.js';
import {
  type GridMetric,
  type GridRow,
  type GridTrainOptions,
  LOSS_NAMES,
  type LossName,
  MAX_GRID_TRIALS,
  type ParamGrid,
  TRAIN_KEYS,
  checkKeys,
  foldOrder,
  gridCombinations,
  gridPlotName,
  gridSize,
  higherIsBetter,
  meanStd,
  paramsLabel,
  rankRows,
} from './grid.js';
import {
  type BuildNet,
  MAX_GRID_WORKERS,
  type TrialContext,
  type TrialJob,
  type TrialResult,
  compileBuildNet,
  defaultWorkers,
  runTrials,
} from './gridpool.js';
import { type GridQueueOptions, checkQueueOptions, queueTrials } from './gridqueue.js';
import { resolveWorkerUrl } from './gridspawn.js';
import { METRICS } from './metrics.js';

/** Options for `gridSearch`. */
export interface GridSearchOptions {
  /** What to rank by (default `'accuracy'`; `'mse'` and `'loss'` rank lowest first). */
  metric?: GridMetric;
  /** Number of folds (default 3). */
  cv?: number;
  /** The loss to train with (default `'LogSoftmaxCrossEntropy'`). */
  loss?: LossName;
  /** The loss's reduction (default `'batchmean'`, the losses' own default; see `Reduction`). */
  reduction?: Reduction;
  /** Training options of every trial (default: sgd's defaults); grid keys override them. */
  train?: GridTrainOptions;
  /** Write one SVG of the train/validation loss curves per combination (needs `outDir`; Node). */
  saveLossGraphs?: boolean;
  /** Folder for the SVGs (created, if missing, before the first trial). */
  outDir?: string;
  /**
   * Worker threads (default: the number of cores), at most `MAX_GRID_WORKERS` (256); 0 runs every
   * trial in this thread. Worker threads train on the WASM backend; with `init({ backend:
   * 'webgpu' })`, 0 trains the trials on the GPU (with `fit`, so a bad training option is named
   * as fit's).
   */
  workers?: number;
  /**
   * Where the worker script is, for bundlers that do not follow
   * `new Worker(new URL('./gridworker.js', import.meta.url))` (esbuild; rollup without a plugin):
   * the URL of a copy of `torchlet/dist/gridworker.js` (a string is relative to the page; in Node,
   * a file path or URL). Default: the gridworker.js the bundler emitted, or the one beside the
   * module. Not with `workers: 0`.
   */
  workerUrl?: URL | string;
  /**
   * Seed of the folds, of each trial's initial weights and of its shuffling (default 0): an
   * integer from 0 to 2^32 - 1.
   */
  seed?: number;
  /**
   * Called as each combination finishes (all its folds), in completion order. If it throws, the
   * search stops its workers and rejects with that error (with a `queue`, the queued trials stay
   * queued and the workers go on: the same call again resumes).
   */
  onResult?: (row: GridRow) => void;
  /**
   * Run the trials on a Redis + BullMQ queue instead, on `torchlet worker` processes started on
   * any number of machines (Node only; needs the optional packages `bullmq` and `ioredis`).
   * `buildNet` then runs here, once per trial, and each job carries its architecture (so it need
   * not be self-contained, but must use built-in layers); the data is stored once in Redis under
   * its SHA-256. The rows are the local run's, bit for bit, except `workers`, which holds the
   * process id of the trial process that ran each fold (0 for a failed fold). Not with `workers`
   * or `workerUrl`. See `GridQueueOptions`.
   */
  queue?: GridQueueOptions;
}

/**
 * Grid search with k-fold cross-validation, in parallel workers.
 * @param buildNet Builds the network of a combination: `(params, t) => Module`; self-contained
 *   (see `BuildNet`), since it is rebuilt from its source inside each worker.
 * @param paramGrid Values to try per key; keys named like training options (`step`, `batchSize`,
 *   `epochs`, `optimizer`, `momentum`, `weightDecay`, `epsilon`) also set them.
 * @param x Inputs [n, ...]. @param y Targets [n] (class indices) or [n, ...].
 * @returns One row per combination, best first (by mean metric), failed combinations last.
 *   A trial whose worker dies is retried on a fresh worker and fails its row after
 *   `MAX_TRIAL_ATTEMPTS`; dead workers are replaced. The caller's `defaultRng` is left as it was.
 * @throws TorchletError `BAD_ARGUMENT` before any worker starts and before anything is allocated,
 *   for a bad grid or option: an unknown option name (with a "did you mean"), more than
 *   `MAX_GRID_TRIALS` trials (combinations x folds), more than `MAX_GRID_WORKERS` workers, a
 *   `train` value that is not plain data, a `buildNet` whose source is not a function expression
 *   or arrow (method shorthand, bound), an `outDir` that cannot be created.
 *   With a `queue`, rejects with `BAD_ARGUMENT` before anything is queued for a network of
 *   layers a worker cannot rebuild the same (unregistered or user-registered types, a layer with
 *   its own `rng`, a buildNet drawing other values from `defaultRng`), outside Node, without the
 *   bullmq and ioredis packages, or when Redis does not answer within `queue.connectTimeout`.
 *   Rejects with the error `onResult` throws, once every worker has stopped; with `BAD_FILE`,
 *   naming the script's URL, when no worker starts (gridworker.js missing or served as HTML:
 *   copy it next to the bundle or pass `workerUrl`), or `BAD_WASM` when none instantiates.
 * @example
 * const rows = await gridSearch(
 *   (p, t) => new t.Sequential(new t.Linear(64, p.hidden as number), new t.ReLU(), new t.Linear(p.hidden as number, 10)),
 *   { step: [0.01, 0.05], hidden: [50, 100] }, train.x, train.y, { cv: 3, train: { epochs: 5 } },
 * );
 */
export async function gridSearch(
  buildNet: BuildNet,
  paramGrid: ParamGrid,
  x: Tensor,
  y: Tensor,
  options: GridSearchOptions = {},
): Promise<GridRow[]> {
  const bad = (message: string): TorchletError =>
    new TorchletError('BAD_ARGUMENT', `gridSearch: ${message}`);
  if (typeof buildNet !== 'function')
    throw bad(`expected buildNet to be a function, got ${typeof buildNet}`);
  checkKeys(options, OPTION_KEYS, 'gridSearch', { aliases: OPTION_ALIASES });
  const size = gridSize(paramGrid);
  if (!(x instanceof Tensor) || !(y instanceof Tensor) || x.shape[0] !== y.shape[0]) {
    const got = `got ${x?.shape?.[0]} and ${y?.shape?.[0]}`;
    throw bad(`expected tensors x and y with the same number of rows, ${got}`);
  }
  const n = x.shape[0]!;
  const metric = options.metric ?? 'accuracy';
  if (metric !== 'loss' && !Object.hasOwn(METRICS, metric)) {
    throw bad(`expected metric accuracy, mse or loss, got ${String(metric)}`);
  }
  const loss = options.loss ?? 'LogSoftmaxCrossEntropy';
  if (!LOSS_NAMES.includes(loss))
    throw bad(`expected loss one of ${LOSS_NAMES.join(', ')}, got ${String(loss)}`);
  const reduction = options.reduction ?? 'batchmean';
  if (!REDUCTIONS.includes(reduction))
    throw bad(`expected reduction one of ${REDUCTIONS.join(', ')}, got ${String(reduction)}`);
  const cv = options.cv ?? 3;
  if (!Number.isInteger(cv) || cv < 2 || cv > n) {
    throw bad(`expected cv to be an integer from 2 to the ${n} rows, got ${String(cv)}`);
  }
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) {
    throw bad(`expected seed to be an integer from 0 to 2^32 - 1, got ${String(seed)}`);
  }
  if (options.queue !== undefined) {
    for (const key of ['workers', 'workerUrl'] as const) {
      if (options[key] !== undefined)
        throw bad(`expected ${key} or queue, got both (a queue's trials run on its workers)`);
    }
  }
  const queue = options.queue === undefined ? undefined : checkQueueOptions(options.queue);
  const workers = options.workers ?? Math.min(defaultWorkers(), MAX_GRID_WORKERS);
  if (!Number.isInteger(workers) || workers < 0 || workers > MAX_GRID_WORKERS) {
    const what = `an integer from 0 to ${MAX_GRID_WORKERS} (MAX_GRID_WORKERS)`;
    throw bad(`expected workers to be ${what}, got ${String(workers)}`);
  }
  const workerUrl = checkWorkerUrl(options.workerUrl, workers);
  const train = checkTrain(options.train);
  if (options.saveLossGraphs !== undefined && typeof options.saveLossGraphs !== 'boolean') {
    throw bad(`expected saveLossGraphs to be a boolean, got ${String(options.saveLossGraphs)}`);
  }
  if (options.outDir !== undefined && typeof options.outDir !== 'string') {
    throw bad(`expected outDir to be a string, got ${String(options.outDir)}`);
  }
  if (options.saveLossGraphs === true && typeof options.outDir !== 'string') {
    throw bad(`expected outDir with saveLossGraphs, got ${String(options.outDir)}`);
  }
  if (options.onResult !== undefined && typeof options.onResult !== 'function') {
    throw bad(`expected onResult to be a function, got ${typeof options.onResult}`);
  }
  if (size * cv > MAX_GRID_TRIALS) {
    const got = `got ${size} combinations x ${cv} folds = ${size * cv}`;
    throw bad(`expected at most ${MAX_GRID_TRIALS} trials (MAX_GRID_TRIALS), ${got}`);
  }
  const buildSource = buildNet.toString();
  // With a queue, buildNet runs here and only its networks' architectures travel.
  if (queue === undefined) compileBuildNet(buildSource);
  const combos = gridCombinations(paramGrid);
  const ctx: TrialContext = {
    x: x.toArray(),
    xShape: [...x.shape],
    y: y.toArray(),
    yShape: [...y.shape],
    order: foldOrder(n, seed),
    folds: cv,
    buildSource,
    loss,
    reduction,
    metric,
    train,
  };
  // Checked, now act: the folder first, so that a bad outDir fails before any trial runs.
  if (options.saveLossGraphs === true) makeOutDir(options.outDir!);
  const jobs: TrialJob[] = combos.flatMap((params, c) =>
    Array.from({ length: cv }, (_, k) => ({
      id: c * cv + k,
      params,
      fold: k,
      seed: (seed + 1000 * c + k) >>> 0,
    })),
  );
  const results = new Map<number, [TrialResult, number]>();
  const rows: GridRow[] = combos.map((params) => ({
    rank: 0,
    params,
    mean: NaN,
    std: NaN,
    scores: [],
    curves: [],
    workers: [],
  }));
  const folds = Array.from({ length: cv }, (_, k) => k);
  const collect = (r: TrialResult, worker: number): void => {
    results.set(r.id, [r, worker]);
    const c = Math.floor(r.id / cv);
    if (folds.every((k) => results.has(c * cv + k))) {
      completeRow(
        rows[c]!,
        folds.map((k) => results.get(c * cv + k)!),
      );
      for (const k of folds) results.delete(c * cv + k);
      options.onResult?.(rows[c]!);
    }
  };
  if (queue === undefined) await runTrials(workers, ctx, jobs, collect, workerUrl);
  else await queueTrials(queue, buildNet, ctx, seed, jobs, collect);
  const ranked = rankRows(rows, higherIsBetter(metric));
  if (options.saveLossGraphs === true) writeGraphs(rows, options.outDir!);
  return ranked;
}

/** The option names `gridSearch` takes. */
const OPTION_KEYS = [
  'metric',
  'cv',
  'loss',
  'reduction',
  'train',
  'saveLossGraphs',
  'outDir',
  'workers',
  'workerUrl',
  'seed',
  'onResult',
  'queue',
] as const;

/** Training options put at the top level, and other likely slips. */
const OPTION_ALIASES: Readonly<Record<string, string>> = Object.freeze({
  folds: 'cv',
  k: 'cv',
  threads: 'workers',
  ...Object.fromEntries(TRAIN_KEYS.map((key) => [key, `train: { ${key} }`])),
});

/** The training options a grid search may fix: `GridTrainOptions`, all plain data. */
const TRAIN_OPTION_KEYS = [...TRAIN_KEYS, 'betas'] as const;

/**
 * Checks `train` (its names, and plain values that can be copied to a worker) and copies it.
 * Its values themselves are checked by `sgd` inside each trial.
 */
function checkTrain(train: GridTrainOptions | undefined): GridTrainOptions {
  if (train === undefined) return {};
  checkKeys(train, TRAIN_OPTION_KEYS, 'gridSearch', {
    label: 'train option',
    aliases: { lr: 'step', learningRate: 'step' },
  });
  const plain = (v: unknown): boolean => ['number', 'string', 'boolean'].includes(typeof v);
  for (const [key, value] of Object.entries(train)) {
    const ok = value === undefined || plain(value) || (Array.isArray(value) && value.every(plain));
    if (!ok) {
      const what = 'a number, string, boolean or array of them (it is sent to the workers)';
      const got = typeof value === 'function' ? 'a function' : String(value);
      throw new TorchletError(
        'BAD_ARGUMENT',
        `gridSearch: expected train.${key} to be ${what}, got ${got}`,
      );
    }
  }
  return { ...train };
}

/** Checks `workerUrl` (a URL or a non-empty string, only with workers) and resolves it. */
function checkWorkerUrl(value: URL | string | undefined, workers: number): URL | undefined {
  if (value === undefined) return undefined;
  const what = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : String(v));
  if (!(value instanceof URL) && (typeof value !== 'string' || value === '')) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `gridSearch: expected workerUrl to be a URL or a non-empty string, got ${what(value)}`,
    );
  }
  if (workers === 0) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `gridSearch: expected workers > 0 with workerUrl (workers: 0 runs no worker), got workers: 0`,
    );
  }
  try {
    return resolveWorkerUrl(value);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new TorchletError(
      'BAD_ARGUMENT',
      `gridSearch: expected workerUrl to be a URL or path, got ${what(value)} (${why})`,
    );
  }
}

/** Creates `outDir` (and its parents) and checks it is a writable folder. */
function makeOutDir(outDir: string): void {
  const fs = process.getBuiltinModule?.('node:fs');
  if (!fs)
    throw new TorchletError(
      'BAD_ARGUMENT',
      'gridSearch: expected Node >= 20.16 to write saveLossGraphs, got none',
    );
  try {
    fs.mkdirSync(outDir, { recursive: true });
    if (!fs.statSync(outDir).isDirectory()) throw new Error('not a folder');
    fs.accessSync(outDir, fs.constants.W_OK);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new TorchletError(
      'BAD_ARGUMENT',
      `gridSearch: expected outDir to be a writable folder or one that can be created, got ${JSON.stringify(outDir)} (${why})`,
    );
  }
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
  if (row.error === undefined) Object.assign(row, meanStd(row.scores));
}

/** Writes one SVG per combination (named by `gridPlotName`) with each fold's loss curves. */
function writeGraphs(rows: GridRow[], outDir: string): void {
  const fs = process.getBuiltinModule?.('node:fs');
  const path = process.getBuiltinModule?.('node:path');
  if (!fs || !path)
    throw new TorchletError(
      'BAD_ARGUMENT',
      'gridSearch: expected Node >= 20.16 to write saveLossGraphs, got none',
    );
  const taken = new Set<string>();
  rows.forEach((row) => {
    if (row.curves.length === 0) return;
    const runs = row.curves.map((cu, k) => ({
      name: `fold ${k + 1}`,
      train: cu.train,
      validation: cu.validation,
    }));
    const file = path.join(outDir, gridPlotName(row.params, taken));
    fs.writeFileSync(file, lossCurvesSvg(runs, { title: paramsLabel(row.params) }));
    row.plot = file;
  });
}
