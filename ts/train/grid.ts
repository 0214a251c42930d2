// The pure part of grid search: the grid's vocabulary, seeded k-fold splits, the combinations of
// a grid, a combination's label, the mean and std of fold scores, and the ranking of rows. No I/O
// and no workers: gridsearch.ts orchestrates, gridpool.ts runs the trials.

import { TorchletError, nearestName } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import type { SgdOptions } from './train.js';

/** One value of a grid axis. */
export type GridValue = number | string | boolean;
/** The grid: each key maps to the values to try, e.g. `{ step: [1e-3, 1e-2], hidden: [50, 100] }`. */
export type ParamGrid = Record<string, readonly GridValue[]>;
/** One combination of the grid. */
export type GridParams = Record<string, GridValue>;

/** Losses a grid search can train with, by class name (in the order errors list them). */
export const LOSS_NAMES = [
  'LogSoftmaxCrossEntropy',
  'MSELoss',
  'BCELoss',
  'CrossEntropyLoss',
] as const;
/** Losses `gridSearch` can train with, by class name. */
export type LossName = (typeof LOSS_NAMES)[number];
/** Metrics `gridSearch` can rank by: the built-ins, or the validation `'loss'`. */
export type GridMetric = 'accuracy' | 'mse' | 'loss';

/** Grid keys that set training options rather than (only) the network. */
export const TRAIN_KEYS = [
  'batchSize',
  'epochs',
  'step',
  'optimizer',
  'momentum',
  'weightDecay',
  'epsilon',
] as const;

/** Training options a grid search may fix for every trial (grid keys of the same name win). */
export type GridTrainOptions = Pick<SgdOptions, (typeof TRAIN_KEYS)[number] | 'betas'>;

/** One fold's indices. */
export interface Fold {
  /** Rows to train on. */
  train: Uint32Array;
  /** Rows to validate on. */
  validation: Uint32Array;
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
  /** 1 for the best; ties keep grid order; failed and NaN-scored combinations come last. */
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
  /**
   * Worker that ran each fold (0 = this thread); with a `queue`, the process id of the trial
   * process that ran it (0 for a failed fold).
   */
  workers: number[];
  /** Set when a fold threw: `fold <i>: <message>`. */
  error?: string;
  /** Path of the loss-curve SVG, with `saveLossGraphs`. */
  plot?: string;
}

/**
 * Most trials (combinations x folds) one `gridSearch` runs, and most combinations
 * `gridCombinations` enumerates: each is a trained network, so a larger grid is a mistake, and
 * enumerating 10^8 combinations would exhaust the host's memory before the first trial.
 */
export const MAX_GRID_TRIALS = 100_000;

/** Most indices `kFold` returns in all (k folds x n rows; 2^27, 512 MiB of indices). */
export const MAX_FOLD_INDICES = 2 ** 27;

/**
 * Seeded k-fold split of n rows: one shuffle, then k contiguous parts of the shuffled order (sizes
 * differ by at most one). Validation parts are disjoint and cover every row once.
 * @throws TorchletError `BAD_ARGUMENT` unless 2 <= k <= n and k x n <= `MAX_FOLD_INDICES`.
 */
export function kFold(n: number, k: number, seed = 0): Fold[] {
  if (!Number.isInteger(n) || !Number.isInteger(k) || k < 2 || k > n) {
    const got = `got k ${k}, n ${n}`;
    throw new TorchletError('BAD_ARGUMENT', `kFold: expected 2 <= k <= n (integers), ${got}`);
  }
  if (k * n > MAX_FOLD_INDICES) {
    const got = `got k ${k} x n ${n} = ${k * n}`;
    throw new TorchletError(
      'BAD_ARGUMENT',
      `kFold: expected k x n <= ${MAX_FOLD_INDICES} (MAX_FOLD_INDICES), ${got}`,
    );
  }
  const order = foldOrder(n, seed);
  return Array.from({ length: k }, (_, f) => foldAt(order, k, f));
}

/** The seeded shuffled order of n rows that `kFold` cuts into folds. @internal */
export function foldOrder(n: number, seed: number): Uint32Array {
  return new Rng(seed).shuffle(new Uint32Array(n).map((_, i) => i));
}

/** Fold f of k of a `foldOrder` (what `kFold` returns at index f). @internal */
export function foldAt(order: Uint32Array, k: number, f: number): Fold {
  const n = order.length;
  const lo = Math.floor((f * n) / k);
  const hi = Math.floor(((f + 1) * n) / k);
  const train = new Uint32Array(n - (hi - lo));
  train.set(order.subarray(0, lo), 0);
  train.set(order.subarray(hi), lo);
  return { train, validation: order.slice(lo, hi) };
}

/**
 * The number of combinations of a grid, checked, without enumerating them.
 * @throws TorchletError `BAD_ARGUMENT` for a grid that is not an object of non-empty arrays of
 *   numbers, strings or booleans.
 */
export function gridSize(grid: ParamGrid): number {
  if (typeof grid !== 'object' || grid === null || Array.isArray(grid)) {
    const got = JSON.stringify(grid);
    throw new TorchletError(
      'BAD_ARGUMENT',
      `gridSearch: expected paramGrid to be an object of arrays, got ${got}`,
    );
  }
  const isValue = (v: unknown): boolean => ['number', 'string', 'boolean'].includes(typeof v);
  let size = 1;
  for (const [key, values] of Object.entries(grid)) {
    const ok = Array.isArray(values) && values.length > 0 && values.every(isValue);
    if (!ok || key === '__proto__') {
      const what = 'a non-empty array of numbers, strings or booleans';
      const got = JSON.stringify(values)?.slice(0, 200);
      throw new TorchletError(
        'BAD_ARGUMENT',
        `gridSearch: expected paramGrid.${key} to be ${what}, got ${got}`,
      );
    }
    size *= values.length;
  }
  return size;
}

/**
 * Every combination of the grid, the first key varying slowest.
 * @throws TorchletError `BAD_ARGUMENT` for a bad grid (see `gridSize`) or one of more than
 *   `MAX_GRID_TRIALS` combinations (checked before anything is allocated).
 */
export function gridCombinations(grid: ParamGrid): GridParams[] {
  const size = gridSize(grid);
  if (size > MAX_GRID_TRIALS) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `gridSearch: expected at most ${MAX_GRID_TRIALS} combinations (MAX_GRID_TRIALS), got ${size}`,
    );
  }
  let combos: GridParams[] = [{}];
  for (const [key, values] of Object.entries(grid)) {
    combos = combos.flatMap((c) => values.map((v) => ({ ...c, [key]: v })));
  }
  return combos;
}

/** How `checkKeys` names the options and suggests replacements. */
export interface CheckKeysOptions {
  /** What the keys are, in the message (default `'option'`): "expected option names among …". */
  label?: string;
  /** Known wrong names and what to suggest instead, e.g. `{ lr: 'step' }`. */
  aliases?: Readonly<Record<string, string>>;
}

/**
 * Rejects an options object with a key outside `allowed` (a misspelt option would otherwise be
 * ignored silently), suggesting the nearest allowed name (edit distance <= 2, or an alias).
 * Shared by the functions that take an options bag; `where` starts the message ("gridSearch").
 * @throws TorchletError `BAD_ARGUMENT` for a non-object or an unknown key:
 *   "gridSearch: expected option names among cv, workers, …, got `worker` (did you mean `workers`?)".
 */
export function checkKeys(
  options: unknown,
  allowed: readonly string[],
  where: string,
  how: CheckKeysOptions = {},
): void {
  const label = how.label ?? 'option';
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    const got = Array.isArray(options) ? 'an array' : String(options);
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${where}: expected ${label}s to be an object, got ${got}`,
    );
  }
  for (const key of Object.keys(options)) {
    if (allowed.includes(key)) continue;
    const alias = how.aliases !== undefined && Object.hasOwn(how.aliases, key);
    const near = alias ? how.aliases![key] : nearestName(key, allowed);
    const hint = near === undefined ? '' : ` (did you mean \`${near}\`?)`;
    const shown = JSON.stringify(key).slice(1, -1).slice(0, 100);
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${where}: expected ${label} names among ${allowed.join(', ')}, got \`${shown}\`${hint}`,
    );
  }
}

/**
 * A combination's loss-curve file name, as `gridSearch`'s `saveLossGraphs` and the CLI's
 * `--plots` write it: `grid-step=0.05-batchSize=32.svg`, characters unsafe in file names as `_`.
 * When `taken` already holds the name, `-2`, `-3`, … is appended; the name is added to `taken`.
 */
export function gridPlotName(params: GridParams, taken: Set<string> = new Set()): string {
  if (typeof params !== 'object' || params === null || Array.isArray(params)) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `gridPlotName: expected a combination object, got ${params === null ? 'null' : typeof params}`,
    );
  }
  if (!(taken instanceof Set)) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `gridPlotName: expected taken to be a Set of names, got ${typeof taken}`,
    );
  }
  const label = Object.entries(params)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join('-')
    .replace(/[^A-Za-z0-9._=+-]/g, '_')
    .slice(0, 180);
  let name = `grid-${label}.svg`;
  for (let i = 2; taken.has(name); i++) name = `grid-${label}-${i}.svg`;
  taken.add(name);
  return name;
}

/** A readable label of a combination: `step=0.05, hidden=16` (key order kept). */
export function paramsLabel(params: GridParams): string {
  if (typeof params !== 'object' || params === null) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `paramsLabel: expected a combination object, got ${String(params)}`,
    );
  }
  return Object.entries(params)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(', ');
}

/** Mean and population standard deviation of fold scores (NaN for none). @internal */
export function meanStd(scores: readonly number[]): { mean: number; std: number } {
  const mean = scores.reduce((a, b) => a + b, 0) / scores.length;
  const std = Math.sqrt(scores.reduce((a, b) => a + (b - mean) ** 2, 0) / scores.length);
  return { mean, std };
}

/** True when a higher value of the metric is better (accuracy); mse and loss rank lowest first. */
export function higherIsBetter(metric: GridMetric): boolean {
  return metric === 'accuracy';
}

/**
 * Ranks rows by mean, best first, and sets each row's `rank` (1, 2, …; ties keep grid order).
 * Rows that failed or whose mean is NaN come last, in grid order: NaN compares false both ways,
 * which would leave a plain sort's order to the engine. @internal
 */
export function rankRows(rows: readonly GridRow[], higher: boolean): GridRow[] {
  const unscored = (r: GridRow): boolean => r.error !== undefined || Number.isNaN(r.mean);
  const better = (a: GridRow, b: GridRow): number => {
    if (a.mean === b.mean) return 0;
    return a.mean > b.mean === higher ? -1 : 1;
  };
  const ranked = [...rows.filter((r) => !unscored(r)).sort(better), ...rows.filter(unscored)];
  ranked.forEach((r, i) => {
    r.rank = i + 1;
  });
  return ranked;
}
