// k-means (k-means++ seeding), purity, adjusted Rand index and PCA on small hand-built point
// sets whose answers are known exactly. Tolerances: 1e-9 on float64 sums of a few terms; PCA
// directions to 1e-6 (power iteration stops when a step moves the vector by < 1e-10).
import { describe, expect, it } from 'vitest';
import { Rng, adjustedRandIndex, kMeans, pca, purity } from '../ts/index.js';

/** Three tight blobs in 2-D around (0, 0), (10, 0), (0, 10); labels 0, 1, 2. */
function blobs(perBlob: number, seed: number): { points: Float64Array; labels: Int32Array } {
  const rng = new Rng(seed);
  const centres = [
    [0, 0],
    [10, 0],
    [0, 10],
  ];
  const points = new Float64Array(3 * perBlob * 2);
  const labels = new Int32Array(3 * perBlob);
  for (let i = 0; i < 3 * perBlob; i++) {
    const c = Math.floor(i / perBlob);
    points[2 * i] = centres[c]![0]! + rng.uniform(-1, 1);
    points[2 * i + 1] = centres[c]![1]! + rng.uniform(-1, 1);
    labels[i] = c;
  }
  return { points, labels };
}

describe('kMeans', () => {
  it('recovers well-separated blobs exactly (purity 1, ARI 1) and is deterministic per seed', () => {
    const { points, labels } = blobs(20, 1);
    const a = kMeans(points, 60, 2, 3, { seed: 7 });
    expect(purity(a.labels, labels)).toBe(1);
    expect(adjustedRandIndex(a.labels, labels)).toBeCloseTo(1, 9);
    const b = kMeans(points, 60, 2, 3, { seed: 7 });
    expect(Array.from(b.labels)).toEqual(Array.from(a.labels));
    expect(b.inertia).toBe(a.inertia);
    // Centres are the blob means: each within the blob's ±1 box.
    const cs = Array.from({ length: 3 }, (_, j) => [a.centroids[2 * j]!, a.centroids[2 * j + 1]!]);
    for (const [cx, cy] of [
      [0, 0],
      [10, 0],
      [0, 10],
    ]) {
      expect(cs.some(([x, y]) => Math.abs(x! - cx!) < 1 && Math.abs(y! - cy!) < 1)).toBe(true);
    }
  });

  it('inertia is the sum of squared distances to the assigned centres', () => {
    const points = Float64Array.from([0, 0, 2, 0, 10, 0, 12, 0]);
    const r = kMeans(points, 4, 2, 2, { seed: 1 });
    expect(r.inertia).toBeCloseTo(4, 9); // each point is 1 from its centre (1, 0) or (11, 0)
    expect(r.labels[0]).toBe(r.labels[1]);
    expect(r.labels[2]).toBe(r.labels[3]);
    expect(r.labels[0]).not.toBe(r.labels[2]);
  });

  it('rejects sizes that do not match and a bad k', () => {
    expect(() => kMeans([1, 2, 3], 2, 2, 1)).toThrow(/^kMeans: expected 2 x 2 = 4 values/);
    expect(() => kMeans([1, 2], 2, 1, 3)).toThrow(
      /^kMeans: expected k an integer in \[1, 2\], got 3$/,
    );
  });
});

describe('purity and adjustedRandIndex', () => {
  it('are 1 for the same partition under relabelling', () => {
    expect(purity([2, 2, 0, 0, 1], [0, 0, 1, 1, 2])).toBe(1);
    expect(adjustedRandIndex([2, 2, 0, 0, 1], [0, 0, 1, 1, 2])).toBeCloseTo(1, 9);
  });

  it('match hand-computed values', () => {
    // Clusters {0,1,2} {3,4,5}; labels a a b | b b b. Purity = (2 + 3) / 6.
    const clusters = [0, 0, 0, 1, 1, 1];
    const labels = [0, 0, 1, 1, 1, 1];
    expect(purity(clusters, labels)).toBeCloseTo(5 / 6, 12);
    // Cells: C(2,2)+C(1,2)+C(0,2)+C(3,2) = 1 + 0 + 0 + 3 = 4; rows: 3 + 3 = 6; columns: C(2,2)+C(4,2) = 1 + 6 = 7;
    // expected = 6·7/15 = 2.8; max = 6.5; ARI = (4 - 2.8) / (6.5 - 2.8) = 1.2 / 3.7.
    expect(adjustedRandIndex(clusters, labels)).toBeCloseTo(1.2 / 3.7, 12);
  });

  it('ARI is near 0 for random labels and can go negative', () => {
    const rng = new Rng(5);
    const a = Array.from({ length: 2000 }, () => rng.int(10));
    const b = Array.from({ length: 2000 }, () => rng.int(10));
    expect(Math.abs(adjustedRandIndex(a, b))).toBeLessThan(0.01);
    expect(adjustedRandIndex([0, 0, 1, 1], [0, 1, 0, 1])).toBeLessThan(0);
  });

  it('reject arrays of different lengths', () => {
    expect(() => purity([0, 1], [0])).toThrow(
      /^purity: expected two non-empty label arrays of the same length, got 2 and 1$/,
    );
  });
});

describe('pca', () => {
  it('finds the axes of an axis-aligned ellipse, in order of variance', () => {
    // Points (±3, 0) and (0, ±1): variances 4.5 along x and 0.5 along y.
    const points = Float64Array.from([3, 0, -3, 0, 0, 1, 0, -1]);
    const r = pca(points, 4, 2, 2);
    expect(Math.abs(r.components[0]!)).toBeCloseTo(1, 6);
    expect(Math.abs(r.components[3]!)).toBeCloseTo(1, 6);
    expect(r.variance[0]).toBeCloseTo(4.5, 6);
    expect(r.variance[1]).toBeCloseTo(0.5, 6);
    expect(r.explained[0]).toBeCloseTo(0.9, 6);
    expect(Math.abs(r.projected[0]!)).toBeCloseTo(3, 6);
  });

  it('projects centred points onto a rotated line', () => {
    // All points on y = x (plus an offset): one component carries all the variance.
    const points = Float64Array.from([1, 2, 2, 3, 3, 4, 4, 5]);
    const r = pca(points, 4, 2, 1);
    expect(Math.abs(r.components[0]!)).toBeCloseTo(Math.SQRT1_2, 6);
    expect(r.explained[0]).toBeCloseTo(1, 6);
    const proj = Array.from(r.projected);
    expect(proj.reduce((a, b) => a + b, 0)).toBeCloseTo(0, 9);
    expect(Math.abs(proj[3]! - proj[0]!)).toBeCloseTo(3 * Math.SQRT2, 6);
  });
});
