// The pure part of grid search: the grid's vocabulary, seeded k-fold splits, the combinations of
// a grid, a combination's label, the mean and std of fold scores, and the ranking of rows. No I/O
// and no workers: gridsearch.ts orchestrates, gridpool.ts runs the trials.

import { TorchletError } from '../core/errors.js';
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
  /** Worker that ran each fold (0 = this thread). */
  workers: number[];
  /** Set when a fold threw: `fold <i>: <message>`. */
  error?: string;
  /** Path of the loss-curve SVG, with `saveLossGraphs`. */
  plot?: string;
}

/**
 * Seeded k-fold split of n rows: one shuffle, then k contiguous parts of the shuffled order (sizes
 * differ by at most one). Validation parts are disjoint and cover every row once.
 * @throws TorchletError `BAD_ARGUMENT` unless 2 <= k <= n.
 */
export function kFold(n: number, k: number, seed = 0): Fold[] {
  if (!Number.isInteger(n) || !Number.isInteger(k) || k < 2 || k > n) {
    const got = `got k ${k}, n ${n}`;
    throw new TorchletError('BAD_ARGUMENT', `kFold: expected 2 <= k <= n (integers), ${got}`);
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
    const got = JSON.stringify(grid);
    throw new TorchletError(
      'BAD_ARGUMENT',
      `gridSearch: expected paramGrid to be an object of arrays, got ${got}`,
    );
  }
  const isValue = (v: unknown): boolean => ['number', 'string', 'boolean'].includes(typeof v);
  let combos: GridParams[] = [{}];
  for (const [key, values] of Object.entries(grid)) {
    const ok = Array.isArray(values) && values.length > 0 && values.every(isValue);
    if (!ok || key === '__proto__') {
      const what = 'a non-empty array of numbers, strings or booleans';
      const got = JSON.stringify(values);
      throw new TorchletError(
        'BAD_ARGUMENT',
        `gridSearch: expected paramGrid.${key} to be ${what}, got ${got}`,
      );
    }
    combos = combos.flatMap((c) => values.map((v) => ({ ...c, [key]: v })));
  }
  return combos;
}

/** A file-name-safe label of a combination. */
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
