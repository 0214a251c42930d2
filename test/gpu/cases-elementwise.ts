// GPU checks of the element-wise family (ts/core/gpu/elementwise.ts) against the WASM kernels:
// activations and their backward deltas, row-wise softmax on both sides of the serial / one
// workgroup per row switch (32 columns), the optimiser updates, and the two counts.
//
// Sizes: 0 (nothing planned, the output must keep its fill), 1, 7, 65 and 1000 (past the
// 64-invocation workgroups), one relu map over 64 · 65535 + 5 elements so the grid folds into y,
// softmax over more rows than the 4096 groups of the workgroup-per-row variant and counts over
// more elements than the first pass's 1024 · 256 invocations, so both loop. Outputs start at 1e30 or
// more: a kernel that reads them instead of overwriting shows up as a huge difference.
import type { Kernels, Ptr } from '../../ts/core/wasm.js';
import type { CaseMemory, Fill, KernelCase, Region } from './case.js';

/** Outputs the kernels overwrite start here, far from any result. */
const STALE: Fill = { uniform: [1e30, 2e30] };

/** Inputs around every branch of tanh, sigmoid and relu: polynomial edge, clamps, ±0, ±Inf. */
const EDGES = [
  0,
  -0,
  1e-30,
  -1e-30,
  1e-5,
  -1e-5,
  0.3,
  0.6249,
  0.625,
  -0.625,
  0.6251,
  1,
  -3,
  9,
  9.4,
  9.5,
  9.6,
  -9.5,
  19,
  87.3,
  -87.3,
  88,
  -88,
  88.72,
  -88.72,
  89,
  -89,
  103,
  -103,
  104,
  -104,
  110,
  -110,
  1e4,
  -1e4,
  1e30,
  -1e30,
  Infinity,
  -Infinity,
];

type Unary = 'tanh_forward' | 'sigmoid_forward' | 'relu_forward';
type Binary = 'tanh_backward_delta' | 'sigmoid_backward_delta' | 'relu_backward_delta';

function fillName(fill: Fill): string {
  if (typeof fill === 'string') return fill;
  if ('uniform' in fill) return `uniform [${fill.uniform.join(', ')})`;
  return 'edge values';
}

/** y = f(x) over n elements; for n = 0 the one allocated output word must keep its fill. */
function unary(kernel: Unary, n: number, fill: Fill = 'normal'): KernelCase {
  const len = Array.isArray(fill) ? fill.length : n;
  return {
    name: `${kernel} n=${len} ${fillName(fill)}`,
    kernel,
    run(k: Kernels, m: CaseMemory): Region[] {
      const x = m.f32(Math.max(len, 1), fill);
      const y = m.f32(Math.max(len, 1), STALE);
      k[kernel](x, y, len);
      return [{ ptr: y, n: Math.max(len, 1) }];
    },
  };
}

/** dx = g(a, delta) over n elements (a is y for tanh / sigmoid, x for relu). */
function binary(kernel: Binary, n: number, aFill: Fill = 'normal'): KernelCase {
  const len = Array.isArray(aFill) ? aFill.length : n;
  return {
    name: `${kernel} n=${len} ${fillName(aFill)}`,
    kernel,
    run(k: Kernels, m: CaseMemory): Region[] {
      const a = m.f32(Math.max(len, 1), aFill);
      const d = m.f32(Math.max(len, 1), { uniform: [-3, 3] });
      const dx = m.f32(Math.max(len, 1), STALE);
      k[kernel](a, d, dx, len);
      return [{ ptr: dx, n: Math.max(len, 1) }];
    },
  };
}

function softmaxForward(rows: number, cols: number, fill: Fill = 'normal'): KernelCase {
  return {
    name: `softmax_forward ${rows}x${cols} ${fillName(fill)}`,
    kernel: 'softmax_forward',
    run(k: Kernels, m: CaseMemory): Region[] {
      const size = Math.max(rows * cols, 1);
      const x = m.f32(size, fill);
      const y = m.f32(size, STALE);
      k.softmax_forward(x, y, rows, cols);
      return [{ ptr: y, n: size }];
    },
  };
}

function softmaxBackward(rows: number, cols: number): KernelCase {
  return {
    name: `softmax_backward_delta ${rows}x${cols}`,
    kernel: 'softmax_backward_delta',
    run(k: Kernels, m: CaseMemory): Region[] {
      const size = Math.max(rows * cols, 1);
      // Any y in [0, 1) exercises the same arithmetic as a softmax output.
      const y = m.f32(size, { uniform: [0, 1] });
      const d = m.f32(size);
      const dx = m.f32(size, STALE);
      k.softmax_backward_delta(y, d, dx, rows, cols);
      return [{ ptr: dx, n: size }];
    },
  };
}

function sgd(n: number): KernelCase {
  return {
    name: `sgd_update n=${n}`,
    kernel: 'sgd_update',
    run(k: Kernels, m: CaseMemory): Region[] {
      const g = m.f32(Math.max(n, 1));
      const p = m.f32(Math.max(n, 1));
      k.sgd_update(g, p, n, 0.05);
      return [{ ptr: p, n: Math.max(n, 1) }];
    },
  };
}

function sgdDecay(n: number, wd: number): KernelCase {
  return {
    name: `sgd_decay_update n=${n} wd=${wd}`,
    kernel: 'sgd_decay_update',
    run(k: Kernels, m: CaseMemory): Region[] {
      const g = m.f32(Math.max(n, 1));
      const p = m.f32(Math.max(n, 1));
      k.sgd_decay_update(g, p, n, 0.1, wd);
      return [{ ptr: p, n: Math.max(n, 1) }];
    },
  };
}

function momentum(n: number, nesterov: number, wd: number): KernelCase {
  return {
    name: `momentum_update n=${n} nesterov=${nesterov} wd=${wd}`,
    kernel: 'momentum_update',
    run(k: Kernels, m: CaseMemory): Region[] {
      const size = Math.max(n, 1);
      const g = m.f32(size);
      const p = m.f32(size);
      const v = m.f32(size);
      k.momentum_update(g, p, v, n, 0.05, 0.9, wd, nesterov);
      return [
        { ptr: p, n: size },
        { ptr: v, n: size },
      ];
    },
  };
}

/** Adam at step t with PyTorch's defaults but lr and eps, the bias corrections folded as TS does. */
function adam(n: number, t: number, wd: number, eps: number): KernelCase {
  return {
    name: `adam_update n=${n} t=${t} wd=${wd} eps=${eps}`,
    kernel: 'adam_update',
    run(k: Kernels, m: CaseMemory): Region[] {
      const size = Math.max(n, 1);
      const [b1, b2, lr] = [0.9, 0.999, 0.01];
      const g = m.f32(size);
      const p = m.f32(size);
      const mm = m.f32(size, { uniform: [-0.5, 0.5] });
      // The second moment is a running mean of squares: never negative.
      const v = m.f32(size, { uniform: [0, 2] });
      const stepSize = lr / (1 - b1 ** t);
      const ib2 = 1 / Math.sqrt(1 - b2 ** t);
      k.adam_update(g, p, mm, v, n, stepSize, b1, b2, eps, wd, ib2);
      return [
        { ptr: p, n: size },
        { ptr: mm, n: size },
        { ptr: v, n: size },
      ];
    },
  };
}

/** `n` values from a cheap deterministic sequence in (-1, 1), with `specials` put at `at`. */
function planted(n: number, at: readonly number[], specials: readonly number[]): number[] {
  const out = Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) * 0.999);
  at.forEach((i, j) => {
    out[i] = specials[j % specials.length]!;
  });
  return out;
}

function count(
  name: string,
  fill: Fill,
  n: number,
  call: (k: Kernels, x: Ptr, n: number) => number,
  kernel: 'non_finite_count' | 'count_outside',
): KernelCase {
  return {
    name,
    kernel,
    // n = 0 plans nothing, so no count reaches the GPU log: that case only checks the call.
    ...(n > 0 ? { returns: 'u32' as const } : {}),
    run(k: Kernels, m: CaseMemory): Region[] {
      const x = m.f32(Math.max(n, 1), fill);
      call(k, x, n);
      return [];
    },
  };
}

function nonFinite(label: string, values: Fill, n: number): KernelCase {
  return count(
    `non_finite_count ${label} n=${n}`,
    values,
    n,
    (k, x, len) => k.non_finite_count(x, len),
    'non_finite_count',
  );
}

function outside(label: string, values: Fill, n: number, lo: number, hi: number): KernelCase {
  return count(
    `count_outside ${label} n=${n} [${lo}, ${hi}]`,
    values,
    n,
    (k, x, len) => k.count_outside(x, len, lo, hi),
    'count_outside',
  );
}

/** Past the first counting pass's 1024 groups of 256: every invocation loops at least twice. */
const BIG_COUNT = 1024 * 256 + 37_003;
const SPECIALS = [NaN, Infinity, -Infinity, 3.4e38, -0];
const PLANTED_AT = [0, 1, 255, 256, 4097, 262_143, 262_144, 262_145, BIG_COUNT - 1];
const SMALL_SPECIAL = [0, NaN, 1, Infinity, -Infinity, -0, 3.4028235e38, 1e-45, 0.5, -0.1, 1.1];

export const cases: KernelCase[] = [
  // Activations.
  ...([0, 1, 7, 65, 1000] as const).map((n) => unary('tanh_forward', n)),
  unary('tanh_forward', 1000, { uniform: [-12, 12] }),
  unary('tanh_forward', 0, EDGES),
  ...([0, 1, 7, 1000] as const).map((n) => binary('tanh_backward_delta', n, { uniform: [-1, 1] })),
  ...([0, 1, 7, 65, 1000] as const).map((n) => unary('sigmoid_forward', n)),
  unary('sigmoid_forward', 1000, { uniform: [-30, 30] }),
  unary('sigmoid_forward', 0, EDGES),
  ...([0, 1, 7, 1000] as const).map((n) =>
    binary('sigmoid_backward_delta', n, { uniform: [0, 1] }),
  ),
  ...([0, 1, 7, 65, 1000] as const).map((n) => unary('relu_forward', n)),
  unary('relu_forward', 0, EDGES),
  // 64 · 65535 + 5 elements: 65536 groups of 64, so the grid folds into y.
  unary('relu_forward', 64 * 65535 + 5, { uniform: [-1, 1] }),
  ...([0, 1, 7, 1000] as const).map((n) => binary('relu_backward_delta', n)),
  binary('relu_backward_delta', 0, EDGES),

  // Softmax: serial rows up to 32 columns, one workgroup of 64 per row beyond.
  softmaxForward(0, 5),
  softmaxForward(4, 0),
  softmaxForward(1, 1),
  softmaxForward(3, 7),
  softmaxForward(13, 10),
  softmaxForward(70, 10, { uniform: [-30, 30] }),
  softmaxForward(5, 32),
  softmaxForward(5, 33),
  softmaxForward(3, 64),
  softmaxForward(3, 65),
  softmaxForward(7, 100, { uniform: [-30, 30] }),
  softmaxForward(2, 1000),
  softmaxForward(1, 1025, { uniform: [-100, 100] }),
  // Huge logits: the max shift makes exact one-hots (serial and per-workgroup rows).
  softmaxForward(2, 4, [1e4, -1e4, 0, 5, -89, 89, 88, 7]),
  softmaxForward(
    2,
    40,
    Array.from({ length: 80 }, (_, i) => (i === 13 || i === 77 ? 1e4 : -1e4 + i)),
  ),
  // More rows than the 4096 workgroups of the per-row variant: groups loop over rows.
  softmaxForward(4096 + 37, 33),
  softmaxBackward(0, 5),
  softmaxBackward(4, 0),
  softmaxBackward(1, 1),
  softmaxBackward(3, 7),
  softmaxBackward(13, 10),
  softmaxBackward(5, 32),
  softmaxBackward(5, 33),
  softmaxBackward(3, 65),
  softmaxBackward(2, 1000),
  softmaxBackward(1, 1025),
  softmaxBackward(4096 + 37, 40),

  // Optimisers.
  ...([0, 1, 7, 1000] as const).map((n) => sgd(n)),
  sgdDecay(0, 0.01),
  sgdDecay(7, 0.01),
  sgdDecay(1000, 0.5),
  momentum(0, 0, 0),
  momentum(7, 0, 0),
  momentum(7, 1, 0),
  momentum(1000, 0, 0.01),
  momentum(1000, 1, 0.01),
  adam(0, 1, 0, 1e-8),
  adam(1, 1, 0, 1e-8),
  adam(7, 1, 0, 1e-8),
  adam(1000, 3, 0, 1e-8),
  adam(1000, 50, 0.01, 1e-3),

  // Counts: one group (writing the result slot directly) and two passes.
  nonFinite('empty', 'normal', 0),
  nonFinite('specials', SMALL_SPECIAL, SMALL_SPECIAL.length),
  nonFinite('finite', 'normal', 1000),
  nonFinite('planted', planted(1000, [3, 500, 999], SPECIALS), 1000),
  nonFinite('planted', planted(BIG_COUNT, PLANTED_AT, SPECIALS), BIG_COUNT),
  outside('empty', 'normal', 0, 0, 1),
  outside('specials', SMALL_SPECIAL, SMALL_SPECIAL.length, 0, 1),
  outside('specials', SMALL_SPECIAL, SMALL_SPECIAL.length, -Infinity, Infinity),
  outside('specials, NaN bound', SMALL_SPECIAL, SMALL_SPECIAL.length, NaN, 1),
  outside('normal', 'normal', 1000, -1, 1),
  outside('one point', [0, 1, 1, 2, 1], 5, 1, 1),
  outside('planted', planted(BIG_COUNT, PLANTED_AT, SPECIALS), BIG_COUNT, -0.9, 0.9),
];
