// GPU checks of the loss family (ts/core/gpu/loss.ts) against the WASM kernels: every forward
// (the returned f32) and backward (the gradient) of mse, bce, cross-entropy and log-softmax
// cross-entropy.
//
// Sizes: 0 rows or 0 columns (the forward returns 0, the backward writes nothing: the one
// allocated gradient word keeps its fill), 1, 3x7, 13x10 (odd), 257 elements and rows past the
// first pass's 256-element blocks, more elements than 1024 · 256 so the blocks grow, a 10000-row
// test set with 10 columns, 784 columns, a 5350x784 gradient (65538 groups of 64: the grid folds
// into y), and log-softmax on both sides of the serial / one-workgroup-per-row switch (32
// columns), with more rows than its 1024 workgroups. Edge values: probabilities 0 and 1 (the logs
// floored at -100), subnormal probabilities (ln from the mantissa, gradients through a scaled
// divide: SwiftShader flushes subnormals, so a plain divide or log fails these), negative and
// NaN inputs, ±1e4 logits. Gradients start at 1e30 or more: a kernel that reads them instead of
// overwriting shows up as a huge difference.
//
// Tolerance: the forwards sum in f32 on the GPU (a fixed tree) and in f64 in WASM; every term is
// >= 0 here, so the relative gap stays near 1e-6: the default 1e-5 holds.
import type { Kernels } from '../../ts/core/wasm.js';
import type { CaseMemory, Fill, KernelCase, Region } from './case.js';

/** Outputs the kernels overwrite start here, far from any result. */
const STALE: Fill = { uniform: [1e30, 2e30] };

type Forward =
  | 'mse_loss_forward'
  | 'bce_loss_forward'
  | 'cross_entropy_loss_forward'
  | 'log_softmax_cross_entropy_forward';
type Backward =
  | 'mse_loss_backward'
  | 'bce_loss_backward'
  | 'cross_entropy_loss_backward'
  | 'log_softmax_cross_entropy_backward';

/** The fills each loss takes by default: targets, then predictions (or logits). */
const DEFAULTS: Record<string, readonly [Fill, Fill]> = {
  mse: ['normal', 'normal'],
  // Soft targets, probabilities inside (0, 1).
  bce: [{ uniform: [0, 1] }, { uniform: [0.01, 0.99] }],
  cross_entropy: [{ uniform: [0, 1] }, { uniform: [0.01, 1] }],
  log_softmax_cross_entropy: [{ uniform: [0, 1] }, { uniform: [-4, 4] }],
};

function family(kernel: Forward | Backward): string {
  return kernel.replace(/(_loss)?_(forward|backward)$/, '');
}

function fillName(fill: Fill): string {
  if (typeof fill === 'string') return fill;
  if ('uniform' in fill) return `uniform [${fill.uniform.join(', ')})`;
  return fill.length <= 8 ? `[${fill.join(', ')}]` : 'given values';
}

/** One-hot rows, the hot column moving from row to row. */
function oneHot(rows: number, cols: number): number[] {
  const y = new Array<number>(rows * cols).fill(0);
  for (let r = 0; r < rows; r++) y[r * cols + ((r * 7 + 3) % cols)] = 1;
  return y;
}

/** Hard 0 / 1 targets. */
function binary(n: number): number[] {
  return Array.from({ length: n }, (_, i) => ((i * 5 + 1) % 3 === 0 ? 1 : 0));
}

function forward(
  kernel: Forward,
  rows: number,
  cols: number,
  fills: readonly [Fill, Fill] = DEFAULTS[family(kernel)]!,
): KernelCase {
  return {
    name: `${kernel} ${rows}x${cols} y ${fillName(fills[0])}, yhat ${fillName(fills[1])}`,
    kernel,
    returns: 'f32',
    run(k: Kernels, m: CaseMemory): Region[] {
      const size = Math.max(rows * cols, 1);
      const y = m.f32(size, fills[0]);
      const yhat = m.f32(size, fills[1]);
      k[kernel](y, yhat, rows, cols);
      return [];
    },
  };
}

function backward(
  kernel: Backward,
  rows: number,
  cols: number,
  fills: readonly [Fill, Fill] = DEFAULTS[family(kernel)]!,
): KernelCase {
  return {
    name: `${kernel} ${rows}x${cols} y ${fillName(fills[0])}, yhat ${fillName(fills[1])}`,
    kernel,
    run(k: Kernels, m: CaseMemory): Region[] {
      const size = Math.max(rows * cols, 1);
      const y = m.f32(size, fills[0]);
      const yhat = m.f32(size, fills[1]);
      const grad = m.f32(size, STALE);
      k[kernel](y, yhat, grad, rows, cols);
      return [{ ptr: grad, n: size }];
    },
  };
}

/** Both directions of one loss at each size. */
function both(
  loss: 'mse' | 'bce' | 'cross_entropy' | 'log_softmax_cross_entropy',
  sizes: readonly (readonly [number, number])[],
  fills?: (rows: number, cols: number) => readonly [Fill, Fill],
): KernelCase[] {
  const stem = loss === 'log_softmax_cross_entropy' ? loss : `${loss}_loss`;
  return sizes.flatMap(([rows, cols]) => [
    forward(`${stem}_forward` as Forward, rows, cols, fills?.(rows, cols)),
    backward(`${stem}_backward` as Backward, rows, cols, fills?.(rows, cols)),
  ]);
}

const SMALL = [
  [0, 5],
  [4, 0],
  [1, 1],
  [3, 7],
  [13, 10],
  [1, 257],
] as const;

/** Probabilities 0 and 1 (logs floored at -100), a subnormal and one below the floor's argument. */
const BCE_EDGE_Y = [1, 0, 0, 1, 1, 1, 1, 0];
const BCE_EDGE_P = [0, 1, 0, 1, 0.5, 1e-40, 1e-44, 0.999999];
const CE_EDGE_Y = [0, 1, 0, 1, 0, 0, 1, 0.5];
const CE_EDGE_P = [0.2, 0.5, 0.3, 0, 0.4, 0.6, 1e-40, 1e-44];

export const cases: KernelCase[] = [
  // MSE.
  ...both('mse', SMALL),
  forward('mse_loss_forward', 263, 1000),
  backward('mse_loss_backward', 10_000, 10),

  // BCE: soft and hard targets.
  ...both('bce', SMALL),
  ...both('bce', [[10_000, 10]], (r, c) => [binary(r * c), { uniform: [0.01, 0.99] }]),
  forward('bce_loss_forward', 7, 784),
  forward('bce_loss_forward', 1, 8, [BCE_EDGE_Y, BCE_EDGE_P]),
  backward('bce_loss_backward', 1, 5, [BCE_EDGE_Y.slice(0, 5), BCE_EDGE_P.slice(0, 5)]),
  // 5350 · 784 elements: 65538 groups of 64, so the grid folds into y.
  backward('bce_loss_backward', 5350, 784),

  // Cross-entropy on probabilities: soft and one-hot targets.
  ...both('cross_entropy', SMALL),
  ...both('cross_entropy', [[10_000, 10]], (r, c) => [oneHot(r, c), { uniform: [0.01, 1] }]),
  forward('cross_entropy_loss_forward', 263, 1000),
  forward('cross_entropy_loss_forward', 2, 4, [CE_EDGE_Y, CE_EDGE_P]),
  // Floored (0, 1e-44) and ordinary probabilities.
  backward('cross_entropy_loss_backward', 1, 4, [
    [1, 1, 0.5, 1],
    [0, 1e-44, 0.25, 0.5],
  ]),
  // Subnormal probabilities: y / yhat through the scaled divide, then its overflow path.
  backward('cross_entropy_loss_backward', 1, 2, [
    [1e-3, 0.5],
    [1e-39, 3e-39],
  ]),
  backward('cross_entropy_loss_backward', 4, 1, [
    [1, 1, 1, 1],
    [1e-39, 2e-39, 1e-30, 0.5],
  ]),
  // Outside the domain: NaN, as the forward is (-0 is a probability of 0).
  backward('cross_entropy_loss_backward', 1, 5, [
    [1, 1, 1, 1, 1],
    [-1e-30, NaN, -1, -0, 0.5],
  ]),

  // NaN in, NaN out.
  forward('mse_loss_forward', 1, 3, [
    [1, 2, 3],
    [1, NaN, 3],
  ]),
  forward('bce_loss_forward', 1, 5, [
    [1, 1, 1, 1, 1],
    [0.5, NaN, 0.25, 0.5, 0.5],
  ]),
  forward('cross_entropy_loss_forward', 1, 5, [
    [1, 1, 1, 1, 1],
    [0.5, NaN, 0.25, 0.5, 0.5],
  ]),
  forward('log_softmax_cross_entropy_forward', 1, 2, [
    [1, 0],
    [NaN, 0],
  ]),
  backward('bce_loss_backward', 1, 2, [
    [1, 1],
    [NaN, 0.5],
  ]),

  // Log-softmax cross-entropy: serial rows up to 32 columns, a workgroup per row beyond.
  ...both('log_softmax_cross_entropy', [...SMALL, [5, 32], [5, 33], [3, 65], [7, 784]]),
  ...both('log_softmax_cross_entropy', [[10_000, 10]], (r, c) => [
    oneHot(r, c),
    { uniform: [-4, 4] },
  ]),
  ...both('log_softmax_cross_entropy', [[13, 100]], (r, c) => [
    oneHot(r, c),
    { uniform: [-30, 30] },
  ]),
  forward('log_softmax_cross_entropy_forward', 300, 784),
  // More rows than 1024 workgroups: each workgroup takes two rows.
  ...both('log_softmax_cross_entropy', [[1100, 40]]),
  // ±1e4 logits (exact answers), equal logits (ln 3), one column (loss 0).
  ...both('log_softmax_cross_entropy', [[2, 2]], () => [
    [0, 1, 1, 0],
    [1e4, -1e4, 1e4, -1e4],
  ]),
  ...both('log_softmax_cross_entropy', [[2, 40]], () => [
    oneHot(2, 40),
    Array.from({ length: 80 }, (_, i) => (i === 13 || i === 77 ? 1e4 : -1e4 + i)),
  ]),
  ...both('log_softmax_cross_entropy', [[1, 3]], () => [
    [0, 1, 0],
    [2, 2, 2],
  ]),
  ...both('log_softmax_cross_entropy', [[2, 1]], () => [
    [1, 1],
    [5, -3],
  ]),
];
