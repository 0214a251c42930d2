// GEMM GFLOP/s of the built .wasm in the three forms (c = a·b, c = a·bᵀ, c += aᵀ·b) on the
// layer shapes of the benchmark workloads and on squares. Median of several timed runs, each
// long enough (>= 20 ms) for the clock; single thread. Used by bench/run.ts and on its own:
//   npx tsx bench/gemm.ts [--quick]

import { init } from '../ts/index.js';
import { type Ptr, alloc, free, heap, kernels } from '../ts/wasm.js';

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

/** Seconds per call of `f`, the median of `runs` timings of enough calls to last `minMs`. */
export function timePerCall(f: () => void, runs: number, minMs: number): number {
  f();
  let reps = 1;
  for (;;) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) f();
    const dt = performance.now() - t0;
    if (dt >= minMs) break;
    reps *= dt < minMs / 8 ? 8 : 2;
  }
  const times: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) f();
    times.push((performance.now() - t0) / 1000 / reps);
  }
  return median(times);
}

/** GFLOP/s of the three GEMM forms on each shape. */
export function benchGemm(shapes: GemmShape[], runs = 7, minMs = 40): GemmResult[] {
  const k = kernels();
  const out: GemmResult[] = [];
  for (const s of shapes) {
    const bytes = (n: number) => n * 4;
    const a = alloc(bytes(s.m * s.k), 'bench');
    const b = alloc(bytes(s.k * s.n), 'bench');
    const c = alloc(bytes(s.m * s.n), 'bench');
    const fill = (p: Ptr, n: number) => {
      const v = new Float32Array(heap(), p, n);
      for (let i = 0; i < n; i++) v[i] = ((i * 7919) % 1000) / 1000 - 0.5;
    };
    fill(a, s.m * s.k);
    fill(b, s.k * s.n);
    fill(c, s.m * s.n);
    const flops = 2 * s.m * s.k * s.n;
    const gf = (f: () => void) => flops / timePerCall(f, runs, minMs) / 1e9;
    // The a and b buffers hold enough floats for every form's layout ([k, m] / [n, k] included).
    const nn = gf(() => k.gemm(a, b, c, s.m, s.k, s.n));
    const nt = gf(() => k.gemm_nt(a, b, c, s.m, s.k, s.n));
    const tn = gf(() => k.gemm_tn_acc(a, b, c, s.m, s.k, s.n));
    out.push({ ...s, nn, nt, tn });
    free(a, bytes(s.m * s.k));
    free(b, bytes(s.k * s.n));
    free(c, bytes(s.m * s.n));
  }
  return out;
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
    lines.push(`| ${r.m} x ${r.k} x ${r.n} | ${r.nn.toFixed(1)} | ${r.nt.toFixed(1)} | ${r.tn.toFixed(1)} | ${pct} |`);
  }
  return lines.join('\n');
}

const isMain = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].split('/').pop()!);
if (isMain) {
  await init();
  const quick = process.argv.includes('--quick');
  const only = process.argv.find((a) => /^\d+x\d+x\d+$/.test(a));
  const shapes = only
    ? [{ m: +only.split('x')[0]!, k: +only.split('x')[1]!, n: +only.split('x')[2]! }]
    : quick ? GEMM_SHAPES.slice(0, 4) : GEMM_SHAPES;
  for (const r of benchGemm(shapes, quick ? 3 : 7, quick ? 10 : 40)) {
    console.log(`${r.m}x${r.k}x${r.n}: nn ${r.nn.toFixed(1)}  nt ${r.nt.toFixed(1)}  tn ${r.tn.toFixed(1)} GFLOP/s`);
  }
}
