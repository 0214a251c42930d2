// gridSearch: seeded disjoint folds, the ranking (ties in grid order, failed and NaN rows last), a
// 4-combination grid with cv=3 ranked over 2 worker threads, failed trials reported (not dropped),
// loss-curve SVGs, and the same scores in-thread and in workers (each trial is seeded, so where it
// runs does not matter). Pure parts come from ts/train/grid.ts, the rest through the public API.
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type GridParams,
  type Torchlet,
  gridCombinations,
  gridPlotName,
  gridSearch,
  init,
  kFold,
  loadDigits,
  paramsLabel,
} from '../ts/index.js';
import { type GridRow, meanStd, rankRows } from '../ts/train/grid.js';
import { expectError } from './helpers.js';

await init();

// Self-contained: it is rebuilt from its source inside each worker.
const buildNet = (p: GridParams, t: Torchlet) =>
  new t.Sequential(
    new t.Linear(64, p.hidden as number),
    new t.ReLU(),
    new t.Linear(p.hidden as number, 10),
  );

describe('kFold', () => {
  it('makes disjoint validation folds that cover every row once, reproducibly', () => {
    const folds = kFold(10, 3, 7);
    expect(folds.map((f) => f.validation.length)).toEqual([3, 3, 4]);
    const all = folds.flatMap((f) => Array.from(f.validation)).sort((a, b) => a - b);
    expect(all).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    for (const f of folds) {
      expect(f.train.length + f.validation.length).toBe(10);
      expect(Array.from(f.train).some((i) => f.validation.includes(i))).toBe(false);
    }
    expect(kFold(10, 3, 7)).toEqual(folds);
    expect(kFold(10, 3, 8)).not.toEqual(folds);
    expectError(
      () => kFold(3, 4),
      'BAD_ARGUMENT',
      /kFold: expected 2 <= k <= n \(integers\), got k 4, n 3/,
    );
  });

  it('enumerates every combination of the grid', () => {
    expect(gridCombinations({ a: [1, 2], b: ['x', 'y', 'z'] })).toHaveLength(6);
    expect(gridCombinations({ a: [1, 2], b: [true] })).toEqual([
      { a: 1, b: true },
      { a: 2, b: true },
    ]);
    expectError(
      () => gridCombinations({ a: [] }),
      'BAD_ARGUMENT',
      /expected paramGrid\.a to be a non-empty array/,
    );
  });

  it('labels a combination in key order', () => {
    expect(paramsLabel({ step: 0.1, hidden: 16, optimizer: 'adam', shuffle: false })).toBe(
      'step=0.1, hidden=16, optimizer=adam, shuffle=false',
    );
    expectError(
      () => paramsLabel(null as never),
      'BAD_ARGUMENT',
      /paramsLabel: expected a combination object, got null/,
    );
  });
});

describe('fold scores and ranking', () => {
  const row = (id: number, mean: number, error?: string): GridRow => ({
    rank: 0,
    params: { id },
    mean,
    std: 0,
    scores: [],
    curves: [],
    workers: [],
    ...(error === undefined ? {} : { error }),
  });
  const ids = (rows: GridRow[]): unknown[] => rows.map((r) => r.params.id);

  it('takes the mean and the population standard deviation', () => {
    expect(meanStd([0.5, 0.75, 1])).toEqual({ mean: 0.75, std: Math.sqrt(0.125 / 3) });
    expect(meanStd([2, 2])).toEqual({ mean: 2, std: 0 });
  });

  it('ranks best first, ties in grid order, and numbers the ranks 1..n', () => {
    const rows = [row(0, 0.5), row(1, 0.9), row(2, 0.5), row(3, 0.7), row(4, 0.9)];
    const byAccuracy = rankRows(rows, true);
    expect(ids(byAccuracy)).toEqual([1, 4, 3, 0, 2]);
    expect(byAccuracy.map((r) => r.rank)).toEqual([1, 2, 3, 4, 5]);
    expect(ids(rankRows(rows, false))).toEqual([0, 2, 3, 1, 4]);
    // Infinite means still compare: a diverged loss ranks last among the scored rows.
    expect(ids(rankRows([row(0, Infinity), row(1, 0.1), row(2, Infinity)], false))).toEqual([
      1, 0, 2,
    ]);
  });

  it('ranks failed and NaN-scored rows last, in grid order, whichever way the metric points', () => {
    const rows = [row(0, NaN), row(1, 0.2), row(2, NaN, 'fold 1: boom'), row(3, 0.8), row(4, NaN)];
    for (const higher of [true, false]) {
      const ranked = rankRows(rows, higher);
      expect(ids(ranked).slice(2)).toEqual([0, 2, 4]);
      expect(ids(ranked).slice(0, 2)).toEqual(higher ? [3, 1] : [1, 3]);
      expect(ranked.map((r) => r.rank)).toEqual([1, 2, 3, 4, 5]);
    }
    // A failed row with a finite mean (never made by gridSearch) still ranks after every scored row.
    expect(ids(rankRows([row(0, 0.99, 'fold 0: boom'), row(1, 0.1)], true))).toEqual([1, 0]);
  });
});

describe('gridPlotName', () => {
  it('names a combination safely and never twice', () => {
    const taken = new Set<string>();
    expect(gridPlotName({ step: 0.05, act: 'a/b c' }, taken)).toBe('grid-step=0.05-act=a_b_c.svg');
    expect(gridPlotName({ step: 0.05, act: 'a/b c' }, taken)).toBe(
      'grid-step=0.05-act=a_b_c-2.svg',
    );
    expect(gridPlotName({ step: 0.05, act: 'a b/c' }, taken)).toBe(
      'grid-step=0.05-act=a_b_c-3.svg',
    );
  });
});

describe('gridSearch on the digits', () => {
  const { train } = loadDigits();
  const x = train.x.rows(0, 600);
  const y = train.y.rows(0, 600);

  it('ranks a 4-combination grid with cv=3 using more than one worker', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'torchlet-grid-'));
    const rows = await gridSearch(buildNet, { step: [0.01, 0.1], hidden: [16, 32] }, x, y, {
      cv: 3,
      workers: 2,
      seed: 1,
      train: { epochs: 3, batchSize: 32 },
      saveLossGraphs: true,
      outDir: dir,
    });
    expect(rows).toHaveLength(4);
    expect(rows.map((r) => r.rank)).toEqual([1, 2, 3, 4]);
    for (const r of rows) {
      expect(r.error).toBeUndefined();
      expect(r.scores).toHaveLength(3);
      expect(r.mean).toBeCloseTo(r.scores.reduce((a, b) => a + b, 0) / 3, 12);
      expect(r.std).toBeGreaterThanOrEqual(0);
      expect(r.curves.map((c) => c.validation.length)).toEqual([3, 3, 3]);
      // Named by the combination, e.g. grid-step=0.01-hidden=16.svg.
      expect(r.plot).toBe(join(dir, `grid-step=${r.params.step}-hidden=${r.params.hidden}.svg`));
      const svg = readFileSync(r.plot!, 'utf8');
      expect(svg.startsWith('<svg')).toBe(true);
      expect(svg.match(/class="validation"/g)).toHaveLength(3);
    }
    expect(rows[0]!.mean).toBeGreaterThanOrEqual(rows[3]!.mean);
    for (let i = 1; i < 4; i++) expect(rows[i - 1]!.mean).toBeGreaterThanOrEqual(rows[i]!.mean);
    expect(new Set(rows.map((r) => JSON.stringify(r.params))).size).toBe(4);
    expect(new Set(rows.flatMap((r) => r.workers)).size).toBeGreaterThan(1);
    // The larger step learns far more in 3 epochs.
    expect(rows[0]!.params.step).toBe(0.1);
  });

  it('gives the same scores in-thread as in workers, and reports a failing trial last', async () => {
    const grid = { step: [0.1], hidden: [16, 0] };
    const options = { cv: 3, seed: 2, train: { epochs: 1 } };
    const inThread = await gridSearch(buildNet, grid, x, y, { ...options, workers: 0 });
    const inWorkers = await gridSearch(buildNet, grid, x, y, { ...options, workers: 1 });
    for (const rows of [inThread, inWorkers]) {
      expect(rows).toHaveLength(2);
      expect(rows[0]!.params.hidden).toBe(16);
      expect(rows[1]!.params.hidden).toBe(0);
      // The fold prefix is gridSearch's; the rest is Linear's own message (tested in linear.test.ts).
      expect(rows[1]!.error).toMatch(
        /^fold 0: Linear: expected \w+ to be a positive integer, got 0$/,
      );
      expect(rows[1]!.mean).toBeNaN();
    }
    expect(inWorkers[0]!.scores).toEqual(inThread[0]!.scores);
    expect(inThread[0]!.workers).toEqual([0, 0, 0]);
    expect(inWorkers[0]!.workers).toEqual([1, 1, 1]);
  });

  it("carries the loss's reduction into every trial, and refuses an unknown one", async () => {
    // Untrained nets (0 epochs, same seeds): 'sum' scores each fold's validation loss summed over
    // its rows, 'batchmean' averaged over them.
    const options = { cv: 3, seed: 2, metric: 'loss', workers: 0, train: { epochs: 0 } } as const;
    const [mean] = await gridSearch(buildNet, { hidden: [8] }, x, y, options);
    const [sum] = await gridSearch(buildNet, { hidden: [8] }, x, y, {
      ...options,
      reduction: 'sum',
    });
    const rows = kFold(x.shape[0]!, 3, 2).map((f) => f.validation.length);
    sum!.scores.forEach((s, k) => expect(s).toBeCloseTo(mean!.scores[k]! * rows[k]!, 2));
    await expect(
      gridSearch(buildNet, { hidden: [8] }, x, y, { reduction: 'avg' as never }),
    ).rejects.toThrow(/gridSearch: expected reduction one of mean, sum, batchmean, got avg/);
  });

  it('rejects bad options before starting workers', async () => {
    await expect(
      gridSearch(buildNet, { hidden: [8] }, x, y, { metric: 'f1' as never }),
    ).rejects.toThrow(/gridSearch: expected metric accuracy, mse or loss, got f1/);
    await expect(
      gridSearch(buildNet, { hidden: [8] }, x, y, { saveLossGraphs: true }),
    ).rejects.toThrow(/expected outDir with saveLossGraphs/);
    expect(existsSync(join(tmpdir(), 'undefined'))).toBe(false);
  });
});
