// Clustering and projection for latent spaces, in plain TS (not a training hot path):
// k-means with k-means++ seeding (Arthur & Vassilvitskii 2007; seeded, best of `restarts`),
// PCA by power iteration with deflation on the covariance, and two scores against true labels:
// purity and the adjusted Rand index (Hubert & Arabie 1985). Points are rows of an [n, d] array.

import { TorchletError } from '../core/errors.js';
import { Rng } from '../core/rng.js';

/** Points: n rows of d values, row-major (e.g. `tensor.data` of an [n, d] tensor). */
export type Points = ArrayLike<number>;

/** Options for `kMeans`. */
export interface KMeansOptions {
  /** Seed of the k-means++ draws (default 0). */
  seed?: number;
  /** Independent k-means++ starts; the one with the lowest inertia wins (default 4). */
  restarts?: number;
  /** Lloyd iterations per start at most (default 100). */
  maxIter?: number;
}

/** What `kMeans` returns. */
export interface KMeansResult {
  /** Cluster of each point, in [0, k). */
  labels: Int32Array;
  /** Centres, k rows of d values. */
  centroids: Float64Array;
  /** Sum of squared distances of the points to their centres. */
  inertia: number;
  /** Lloyd iterations of the winning start. */
  iterations: number;
}

function isArrayLike(x: unknown): x is ArrayLike<number> {
  return Array.isArray(x) || (ArrayBuffer.isView(x) && !(x instanceof DataView));
}

function checkPoints(points: Points, n: number, d: number, where: string): void {
  if (!isArrayLike(points)) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${where}: expected points as an array of numbers, got ${points === null ? 'null' : typeof points}`,
    );
  }
  if (!Number.isInteger(n) || !Number.isInteger(d) || n < 1 || d < 1 || points.length !== n * d) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${where}: expected ${n} x ${d} = ${n * d} values (n, d positive integers), got ${points.length}`,
    );
  }
  for (let i = 0; i < points.length; i++) {
    if (!Number.isFinite(points[i])) {
      throw new TorchletError(
        'NON_FINITE',
        `${where}: expected finite points, got ${points[i]} at flat index ${i}`,
      );
    }
  }
}

function dist2(points: Points, i: number, c: Float64Array, j: number, d: number): number {
  let s = 0;
  for (let t = 0; t < d; t++) {
    const v = points[i * d + t]! - c[j * d + t]!;
    s += v * v;
  }
  return s;
}

/** k-means++ seeding: each new centre is a point drawn with probability ∝ squared distance. */
function seedCentres(points: Points, n: number, d: number, k: number, rng: Rng): Float64Array {
  const c = new Float64Array(k * d);
  const copy = (i: number, j: number): void => {
    for (let t = 0; t < d; t++) c[j * d + t] = points[i * d + t]!;
  };
  copy(rng.int(n), 0);
  const near = new Float64Array(n).fill(Infinity);
  for (let j = 1; j < k; j++) {
    let total = 0;
    for (let i = 0; i < n; i++) {
      near[i] = Math.min(near[i]!, dist2(points, i, c, j - 1, d));
      total += near[i]!;
    }
    let r = rng.next() * total;
    let pick = n - 1;
    for (let i = 0; i < n; i++) {
      r -= near[i]!;
      if (r < 0) {
        pick = i;
        break;
      }
    }
    copy(pick, j);
  }
  return c;
}

function lloyd(
  points: Points,
  n: number,
  d: number,
  k: number,
  c: Float64Array,
  maxIter: number,
): KMeansResult {
  const labels = new Int32Array(n).fill(-1);
  let inertia = 0;
  let it = 0;
  for (; it < maxIter; it++) {
    let moved = 0;
    inertia = 0;
    for (let i = 0; i < n; i++) {
      let best = 0;
      let bestD = Infinity;
      for (let j = 0; j < k; j++) {
        const dj = dist2(points, i, c, j, d);
        if (dj < bestD) {
          bestD = dj;
          best = j;
        }
      }
      inertia += bestD;
      if (labels[i] !== best) moved += 1;
      labels[i] = best;
    }
    if (moved === 0) break;
    const sums = new Float64Array(k * d);
    const counts = new Int32Array(k);
    for (let i = 0; i < n; i++) {
      counts[labels[i]!]! += 1;
      for (let t = 0; t < d; t++) sums[labels[i]! * d + t] += points[i * d + t]!;
    }
    // An emptied cluster keeps its old centre (it may win points back next round).
    for (let j = 0; j < k; j++)
      if (counts[j]! > 0) for (let t = 0; t < d; t++) c[j * d + t] = sums[j * d + t]! / counts[j]!;
  }
  return { labels, centroids: c, inertia, iterations: it };
}

/**
 * k-means (Lloyd) with k-means++ seeding, deterministic for a seed.
 * @param points n rows of d values. @param n Rows. @param d Columns. @param k Clusters (≤ n).
 * @throws TorchletError `BAD_ARGUMENT` for sizes that do not match or a bad k.
 * @example const { labels } = kMeans(latent.data, 359, 10, 10, { seed: 1 });
 */
export function kMeans(
  points: Points,
  n: number,
  d: number,
  k: number,
  options: KMeansOptions = {},
): KMeansResult {
  checkPoints(points, n, d, 'kMeans');
  if (!Number.isInteger(k) || k < 1 || k > n)
    throw new TorchletError(
      'BAD_ARGUMENT',
      `kMeans: expected k an integer in [1, ${n}], got ${String(k)}`,
    );
  const rng = new Rng(options.seed ?? 0);
  let best: KMeansResult | null = null;
  for (let r = 0; r < (options.restarts ?? 4); r++) {
    const run = lloyd(points, n, d, k, seedCentres(points, n, d, k, rng), options.maxIter ?? 100);
    if (best === null || run.inertia < best.inertia) best = run;
  }
  if (best === null)
    throw new TorchletError('BAD_ARGUMENT', 'kMeans: expected restarts >= 1, got 0');
  return best;
}

/** The contingency table `table[cluster][label]` and both label counts. */
function contingency(
  clusters: ArrayLike<number>,
  labels: ArrayLike<number>,
  where: string,
): number[][] {
  if (!isArrayLike(clusters) || !isArrayLike(labels)) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${where}: expected two label arrays, got ${clusters === null ? 'null' : typeof clusters} and ${labels === null ? 'null' : typeof labels}`,
    );
  }
  if (clusters.length !== labels.length || clusters.length === 0) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${where}: expected two non-empty label arrays of the same length, got ${clusters.length} and ${labels.length}`,
    );
  }
  const index = (xs: ArrayLike<number>): Map<number, number> =>
    new Map([...new Set(Array.from(xs))].map((v, i) => [v, i]));
  const ci = index(clusters);
  const li = index(labels);
  const table = Array.from({ length: ci.size }, () => new Array<number>(li.size).fill(0));
  for (let i = 0; i < clusters.length; i++)
    table[ci.get(clusters[i]!)!]![li.get(labels[i]!)!]! += 1;
  return table;
}

/**
 * Purity: each cluster votes for its most common true label; the fraction of points that agree.
 * 1 is perfect; it rises with the number of clusters, so compare at the same k.
 */
export function purity(clusters: ArrayLike<number>, labels: ArrayLike<number>): number {
  const table = contingency(clusters, labels, 'purity');
  return table.reduce((s, row) => s + Math.max(...row), 0) / clusters.length;
}

/**
 * Adjusted Rand index: pair-counting agreement between two partitions, corrected for chance
 * (0 for random labels, 1 for identical partitions, up to relabelling).
 */
export function adjustedRandIndex(clusters: ArrayLike<number>, labels: ArrayLike<number>): number {
  const table = contingency(clusters, labels, 'adjustedRandIndex');
  const pairs = (m: number): number => (m * (m - 1)) / 2;
  const sumCells = table.flat().reduce((s, v) => s + pairs(v), 0);
  const sumRows = table.reduce((s, row) => s + pairs(row.reduce((a, b) => a + b, 0)), 0);
  const sumCols = table[0]!
    .map((_, j) => table.reduce((a, row) => a + row[j]!, 0))
    .reduce((s, v) => s + pairs(v), 0);
  const expected = (sumRows * sumCols) / pairs(clusters.length);
  const max = (sumRows + sumCols) / 2;
  return max === expected ? 1 : (sumCells - expected) / (max - expected);
}

/** What `pca` returns. */
export interface PcaResult {
  /** The points projected on the components: n rows of `components` values. */
  projected: Float64Array;
  /** Principal directions, `components` rows of d values (unit length). */
  components: Float64Array;
  /** Variance along each component. */
  variance: number[];
  /** Each component's share of the total variance. */
  explained: number[];
}

/**
 * Principal component analysis: centre the points, then the top eigenvectors of the covariance by
 * power iteration with deflation (enough for the 2-D maps of latent spaces).
 * @param components How many directions (default 2, at most d).
 * @throws TorchletError `BAD_ARGUMENT` for sizes that do not match.
 */
export function pca(points: Points, n: number, d: number, components = 2, seed = 0): PcaResult {
  checkPoints(points, n, d, 'pca');
  if (!Number.isInteger(components) || components < 1 || components > d) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `pca: expected components an integer in [1, ${d}], got ${String(components)}`,
    );
  }
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let t = 0; t < d; t++) mean[t] += points[i * d + t]! / n;
  const cov = new Float64Array(d * d);
  const row = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < d; t++) row[t] = points[i * d + t]! - mean[t]!;
    for (let a = 0; a < d; a++)
      for (let b = 0; b < d; b++) cov[a * d + b] += (row[a]! * row[b]!) / n;
  }
  let total = 0;
  for (let t = 0; t < d; t++) total += cov[t * d + t]!;
  const rng = new Rng(seed);
  const dirs = new Float64Array(components * d);
  const variance: number[] = [];
  for (let c = 0; c < components; c++) {
    let v = Float64Array.from({ length: d }, () => rng.uniform(-1, 1));
    let lambda = 0;
    for (let it = 0; it < 500; it++) {
      const w = new Float64Array(d);
      for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) w[a] += cov[a * d + b]! * v[b]!;
      const norm = Math.hypot(...w);
      if (norm === 0) break;
      for (let a = 0; a < d; a++) w[a]! /= norm;
      const change = w.reduce((s, x, a) => s + Math.abs(x - v[a]!), 0);
      v = w;
      lambda = norm;
      if (change < 1e-10) break;
    }
    dirs.set(v, c * d);
    variance.push(lambda);
    for (let a = 0; a < d; a++)
      for (let b = 0; b < d; b++) cov[a * d + b] -= lambda * v[a]! * v[b]!;
  }
  const projected = new Float64Array(n * components);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < components; c++) {
      let s = 0;
      for (let t = 0; t < d; t++) s += (points[i * d + t]! - mean[t]!) * dirs[c * d + t]!;
      projected[i * components + c] = s;
    }
  }
  return {
    projected,
    components: dirs,
    variance,
    explained: variance.map((v) => (total > 0 ? v / total : 0)),
  };
}
