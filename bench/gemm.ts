// GEMM GFLOP/s of the built .wasm in three stride patterns (c = a·b, c = a·bᵀ, c += aᵀ·b) on the
// layer shapes of the benchmark workloads and on squares. Median of several timed runs, each
// long enough (>= 20 ms) for the clock; single thread. Used by bench/run.ts and on its own:
//   npx tsx bench/gemm.ts [--quick]

import { init } from '../ts/index.js';
import { type Ptr, alloc, free, heap, kernels } from '../ts/core/wasm.js';

/** One GEMM shape: c [m, n] from a [m, k] and b [k, n]. */
export interface GemmShape {
  m: number;
  k: number;
  n: number;
}

/** Result for one shape: GFLOP/s of each form. */
export interface GemmResult extends GemmShape {
  nn: number;
  nt: number;
  tn: number;
}

/** The shapes of issue 5: the MNIST and conv layers, 512³ and 1024³. */
export const GEMM_SHAPES: GemmShape[] = [
  { m: 64, k: 784, n: 100 },
  { m: 256, k: 784, n: 100 },
  { m: 128, k: 992, n: 100 },
  { m: 512, k: 512, n: 512 },
  { m: 1024, k: 1024, n: 1024 },
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** How many calls of `f` last at least `minMs` (after one warm-up call). */
function calibrate(f: () => void, minMs: number): number {
  f();
  let reps = 1;
  for (;;) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) f();
    const dt = performance.now() - t0;
    if (dt >= minMs) return reps;
    reps *= dt < minMs / 8 ? 8 : 2;
  }
}

/** Seconds per call of `f`, the median of `runs` timings of enough calls to last `minMs`. */
export function timePerCall(f: () => void, runs: number, minMs: number): number {
  const reps = calibrate(f, minMs);
  const times: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) f();
    times.push((performance.now() - t0) / 1000 / reps);
  }
  return median(times);
}

/**
 * GFLOP/s of the three GEMM forms on each shape: the median of `runs` timings each, taken round
 * robin over every shape and form, so a burst of load elsewhere on the machine costs each entry at
 * most one of its timings instead of all of them.
 */
export function benchGemm(shapes: GemmShape[], runs = 7, minMs = 40): GemmResult[] {
  const k = kernels();
  const buffers: Array<[Ptr, number]> = [];
  const entries = shapes.flatMap((s) => {
    const buffer = (n: number): Ptr => {
      const p = alloc(n * 4, 'bench');
      buffers.push([p, n * 4]);
      const v = new Float32Array(heap(), p, n);
      for (let i = 0; i < n; i++) v[i] = ((i * 7919) % 1000) / 1000 - 0.5;
      return p;
    };
    // The a and b buffers hold enough floats for every form's layout ([k, m] / [n, k] included).
    const [a, b, c] = [buffer(s.m * s.k), buffer(s.k * s.n), buffer(s.m * s.n)];
    // One strided export; the forms are strides (b stored [n, k] for a·bᵀ, a stored [k, m] for
    // aᵀ·b, which adds into c: beta = 1).
    const calls: Array<() => void> = [
      () => k.gemm(a, b, c, s.m, s.k, s.n, s.k, 1, s.n, 1, 0),
      () => k.gemm(a, b, c, s.m, s.k, s.n, s.k, 1, 1, s.k, 0),
      () => k.gemm(a, b, c, s.m, s.k, s.n, 1, s.m, s.n, 1, 1),
    ];
    return calls.map((f) => ({ s, f, reps: 0, times: [] as number[] }));
  });
  for (const e of entries) e.reps = calibrate(e.f, minMs);
  for (let r = 0; r < runs; r++) {
    for (const e of entries) {
      const t0 = performance.now();
      for (let i = 0; i < e.reps; i++) e.f();
      e.times.push((performance.now() - t0) / 1000 / e.reps);
    }
  }
  for (const [p, bytes] of buffers) free(p, bytes);
  return shapes.map((s, i) => {
    const [nn, nt, tn] = entries
      .slice(3 * i, 3 * i + 3)
      .map((e) => (2 * s.m * s.k * s.n) / median(e.times) / 1e9);
    return { ...s, nn: nn!, nt: nt!, tn: tn! };
  });
}

/** The GEMM rows of the report, as markdown. */
export function gemmTable(results: GemmResult[], ceiling: number): string {
  const lines = [
    '| shape m x k x n | a·b GFLOP/s | a·bᵀ GFLOP/s | aᵀ·b (acc) GFLOP/s | worst / ceiling |',
    '|---|---:|---:|---:|---:|',
  ];
  for (const r of results) {
    const worst = Math.min(r.nn, r.nt, r.tn);
    const pct = `${((100 * worst) / ceiling).toFixed(0)} %`;
    lines.push(
      `| ${r.m} x ${r.k} x ${r.n} | ${r.nn.toFixed(1)} | ${r.nt.toFixed(1)} | ${r.tn.toFixed(1)} | ${pct} |`,
    );
  }
  return lines.join('\n');
}

const isMain =
  process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].split('/').pop()!);
if (isMain) {
  await init();
  const quick = process.argv.includes('--quick');
  const only = process.argv.find((a) => /^\d+x\d+x\d+$/.test(a));
  const shapes = only
    ? [{ m: +only.split('x')[0]!, k: +only.split('x')[1]!, n: +only.split('x')[2]! }]
    : quick
      ? GEMM_SHAPES.slice(0, 4)
      : GEMM_SHAPES;
  for (const r of benchGemm(shapes, quick ? 3 : 7, quick ? 10 : 40)) {
    console.log(
      `${r.m}x${r.k}x${r.n}: nn ${r.nn.toFixed(1)}  nt ${r.nt.toFixed(1)}  tn ${r.tn.toFixed(1)} GFLOP/s`,
    );
  }
}
