// What the GPU pages' results must show, shared by the browser test (test/webgpu.test.ts) and the
// Node one (test/webgpu-node.test.ts): a GPU gridSearch against the same search in WASM, and the
// PyTorch vectors run on the GPU.
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import type { GridCheck } from '../browser/gpu-modules.js';
import type { VectorsPage, Worst } from '../browser/gpu-vectors.js';
import { FAMILIES, type Family } from '../vectors-core.js';
import { LOSS_REDUCTIONS_PATH, readVectors } from '../vectors.js';

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

/** Every case of both vector files ran, in order, and compared something. */
export function expectEveryVectorCase(page: VectorsPage): void {
  const files: Record<string, string[]> = {
    'vectors.txt': readVectors().map((c) => c.name),
    'loss-reductions.txt': readVectors(readFileSync(LOSS_REDUCTIONS_PATH, 'utf8')).map(
      (c) => c.name,
    ),
  };
  expect(page.error).toBeUndefined();
  expect(page.files).toEqual({
    'vectors.txt': files['vectors.txt']!.length,
    'loss-reductions.txt': files['loss-reductions.txt']!.length,
  });
  expect(page.results.map((r) => `${r.file} ${r.name}`)).toEqual(
    Object.entries(files).flatMap(([file, names]) => names.map((n) => `${file} ${n}`)),
  );
  expect(page.results.filter((r) => Object.keys(r.worst).length === 0)).toEqual([]);
}

/** Each case dispatched on the GPU, except the views (Flatten, Reshape: no kernel). */
export function expectVectorsOnGpu(page: VectorsPage): void {
  const none = page.results.filter((r) => r.dispatches === 0).map((r) => r.type);
  expect(new Set(none)).toEqual(new Set(['Flatten', 'Reshape']));
}

/** Every case within its family's tolerance; prints the worst per family (trend tracking). */
export function expectVectorsWithinTolerance(page: VectorsPage, where: string): void {
  const bad = page.results.filter(
    (r) => r.error !== undefined || Object.values(r.worst).some((w) => !(w.ratio <= 1)),
  );
  expect(bad).toEqual([]);
  const worst = new Map<Family, Worst>();
  for (const r of page.results) {
    for (const [f, w] of Object.entries(r.worst) as [Family, Worst][]) {
      const cur = worst.get(f) ?? { ratio: 0, abs: 0, where: '' };
      worst.set(f, {
        ratio: Math.max(cur.ratio, w.ratio),
        abs: Math.max(cur.abs, w.abs),
        where: w.ratio > cur.ratio || cur.where === '' ? `${r.name} ${w.where}` : cur.where,
      });
    }
  }
  expect([...worst.keys()].sort()).toEqual(Object.keys(FAMILIES).sort());
  const line = [...worst].map(
    ([f, w]) => `${f} ${w.ratio.toPrecision(2)} (${w.abs.toExponential(1)}; ${w.where})`,
  );
  console.log(
    `PyTorch vectors on the GPU (${where}): ${page.results.length} cases; worst error / tolerance (largest |gpu - torch|; where the worst ratio is): ${line.join(', ')}`,
  );
}
