// Grid search with k-fold cross-validation: every combination of a parameter grid is trained on
// k seeded, disjoint folds (each sample validated once), scored, and ranked by mean metric.
// This file checks the options, makes the jobs and collects the rows; the folds, grid and ranking
// are in grid.ts, and where the trials run (workers or this thread) is in gridpool.ts.

import { TorchletError } from '../core/errors.js';
import { Tensor } from '../core/tensor.js';
import { lossCurvesSvg } from '../tools/plot.js';
import {
  type GridMetric,
  type GridRow,
  type GridTrainOptions,
  LOSS_NAMES,
  type LossName,
  type ParamGrid,
  gridCombinations,
  higherIsBetter,
  kFold,
  meanStd,
  paramsLabel,
  rankRows,
} from './grid.js';
import {
  type BuildNet,
  type TrialContext,
  type TrialJob,
  type TrialResult,
  compileBuildNet,
  defaultWorkers,
  runTrials,
} from './gridpool.js';
import { METRICS } from './metrics.js';

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
  const combos = gridCombinations(paramGrid);
  if (!(x instanceof Tensor) || !(y instanceof Tensor) || x.shape[0] !== y.shape[0]) {
    const got = `got ${x?.shape?.[0]} and ${y?.shape?.[0]}`;
    throw bad(`expected tensors x and y with the same number of rows, ${got}`);
  }
  const metric = options.metric ?? 'accuracy';
  if (metric !== 'loss' && !Object.hasOwn(METRICS, metric)) {
    throw bad(`expected metric accuracy, mse or loss, got ${String(metric)}`);
  }
  const loss = options.loss ?? 'LogSoftmaxCrossEntropy';
  if (!LOSS_NAMES.includes(loss))
    throw bad(`expected loss one of ${LOSS_NAMES.join(', ')}, got ${String(loss)}`);
  const cv = options.cv ?? 3;
  const seed = options.seed ?? 0;
  const workers = options.workers ?? defaultWorkers();
  if (!Number.isInteger(workers) || workers < 0) {
    throw bad(`expected workers to be an integer >= 0, got ${String(workers)}`);
  }
  if (options.saveLossGraphs && typeof options.outDir !== 'string') {
    throw bad(`expected outDir with saveLossGraphs, got ${String(options.outDir)}`);
  }
  const folds = kFold(x.shape[0]!, cv, seed);
  const buildSource = buildNet.toString();
  compileBuildNet(buildSource);
  const ctx: TrialContext = {
    x: x.toArray(),
    xShape: [...x.shape],
    y: y.toArray(),
    yShape: [...y.shape],
    buildSource,
    loss,
    metric,
    train: { ...(options.train ?? {}) },
  };
  const jobs: TrialJob[] = combos.flatMap((params, c) =>
    folds.map((f, k) => ({
      id: c * cv + k,
      params,
      train: f.train,
      validation: f.validation,
      seed: seed + 1000 * c + k,
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
  await runTrials(workers, ctx, jobs, (r, worker) => {
    results.set(r.id, [r, worker]);
    const c = Math.floor(r.id / cv);
    if (folds.every((_, k) => results.has(c * cv + k))) {
      completeRow(
        rows[c]!,
        folds.map((_, k) => results.get(c * cv + k)!),
      );
      options.onResult?.(rows[c]!);
    }
  });
  const ranked = rankRows(rows, higherIsBetter(metric));
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
  if (row.error === undefined) Object.assign(row, meanStd(row.scores));
}

/** Writes grid-001.svg, … (one per combination, in grid order) with each fold's loss curves. */
function writeGraphs(rows: GridRow[], outDir: string): void {
  const fs = process.getBuiltinModule?.('node:fs');
  const path = process.getBuiltinModule?.('node:path');
  if (!fs || !path)
    throw new TorchletError(
      'BAD_ARGUMENT',
      'gridSearch: expected Node >= 20.16 to write saveLossGraphs, got none',
    );
  fs.mkdirSync(outDir, { recursive: true });
  rows.forEach((row, c) => {
    if (row.curves.length === 0) return;
    const runs = row.curves.map((cu, k) => ({
      name: `fold ${k + 1}`,
      train: cu.train,
      validation: cu.validation,
    }));
    const file = path.join(outDir, `grid-${String(c + 1).padStart(3, '0')}.svg`);
    fs.writeFileSync(file, lossCurvesSvg(runs, { title: paramsLabel(row.params) }));
    row.plot = file;
  });
}
