// The comparison of a GPU gridSearch (gridCheck in test/browser/gpu-modules.ts, run in a page or
// a Node child) with the same search on the WASM backend: shared by the browser and Node tests.
import { expect } from 'vitest';
import type { GridCheck } from '../browser/gpu-modules.js';

export function expectSameGrid(got: GridCheck, want: GridCheck): void {
  expect(got.map((r) => r.params)).toEqual(want.map((r) => r.params));
  got.forEach((row, i) => {
    // 150 validation rows a fold: one prediction flipped by rounding moves a score by 1/150.
    row.scores.forEach((s, f) =>
      expect(Math.abs(s - want[i]!.scores[f]!)).toBeLessThanOrEqual(1 / 150),
    );
    const curve = want[i]!.train.flat();
    expect(row.train.flat().length).toBe(curve.length);
    row.train
      .flat()
      .forEach((l, k) => expect(Math.abs(l - curve[k]!) / curve[k]!).toBeLessThan(1e-3));
  });
}
