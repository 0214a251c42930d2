// GPU checks of the conv family (ts/core/gpu/conv.ts) against the WASM kernels.
//
// Every shape runs the forward, the input gradient and the weight/bias gradient with beta 0 and
// 1, in 1-D and 2-D: the report's digits net (Conv1D k 3, 1 -> 32 channels on 64 positions),
// LeNet's two layers (28x28x1 -> 8 channels and 12x12x8 -> 16 with 5x5 kernels, and the classic
// 14x14x6 -> 16), strides 1, 2 and 3 (stride above the kernel leaves inputs no window covers),
// odd sizes (1, 3, 7, 13), non-square kernels, batch 1 and 3, shapes whose positions, channels
// and taps cross the 64- and 128-row tiles, the 64- and 16-column tiles and the 16-deep k steps,
// weight gradients long enough to be split over workgroups (scratch partials and their
// reduction), windows that do not fit (no output positions) and empty batches. LeNet's first
// layer at batch 64 has enough tiles that the grids fold into y. Outputs the kernels overwrite
// (y, dx, and the gradients with beta 0) start at 1e30 or more: a kernel that reads them shows
// up as a huge error.
import type { Kernels } from '../../ts/core/wasm.js';
import type { CaseMemory, Fill, KernelCase, Region } from './case.js';

/** Outputs the kernels overwrite (or beta 0 must not read) start here, far from any result. */
const STALE: Fill = { uniform: [1e30, 2e30] };

/** A convolution: 1-D when `h` and `kh` are 1 and `oneD` is set. */
interface Shape {
  label: string;
  oneD: boolean;
  batch: number;
  h: number;
  w: number;
  cIn: number;
  cOut: number;
  kh: number;
  kw: number;
  stride: number;
}

function outLen(n: number, k: number, s: number): number {
  return n < k ? 0 : Math.floor((n - k) / s) + 1;
}

function dims(s: Shape): { nx: number; ny: number; nw: number } {
  const [oh, ow] = [outLen(s.h, s.kh, s.stride), outLen(s.w, s.kw, s.stride)];
  return {
    nx: s.batch * s.h * s.w * s.cIn,
    ny: s.batch * oh * ow * s.cOut,
    nw: s.kh * s.kw * s.cIn * s.cOut,
  };
}

function title(s: Shape): string {
  const img = s.oneD ? `${s.w}` : `${s.h}x${s.w}`;
  const ker = s.oneD ? `k${s.kw}` : `k${s.kh}x${s.kw}`;
  return `${s.label} b${s.batch} ${img}x${s.cIn}->${s.cOut} ${ker} s${s.stride}`;
}

function forwardCase(s: Shape): KernelCase {
  const conv = s.oneD ? 'conv1d' : 'conv2d';
  return {
    name: `${conv} forward ${title(s)}`,
    kernel: `${conv}_forward`,
    run(k: Kernels, m: CaseMemory): Region[] {
      const { nx, ny, nw } = dims(s);
      const x = m.f32(nx);
      const y = m.f32(ny, STALE);
      const wt = m.f32(nw);
      const b = m.f32(s.cOut);
      if (s.oneD) k.conv1d_forward(x, y, wt, b, s.batch, s.w, s.cIn, s.cOut, s.kw, s.stride);
      else k.conv2d_forward(x, y, wt, b, s.batch, s.h, s.w, s.cIn, s.cOut, s.kh, s.kw, s.stride);
      return [{ ptr: y, n: ny }];
    },
  };
}

function deltaCase(s: Shape): KernelCase {
  const conv = s.oneD ? 'conv1d' : 'conv2d';
  return {
    name: `${conv} backward delta ${title(s)}`,
    kernel: `${conv}_backward_delta`,
    run(k: Kernels, m: CaseMemory): Region[] {
      const { nx, ny, nw } = dims(s);
      const delta = m.f32(ny);
      const dx = m.f32(nx, STALE);
      const wt = m.f32(nw);
      // The WASM side's scratch: sized by the core; the GPU ignores it.
      const wl = s.oneD
        ? k.conv1d_workspace_len(s.w, s.cIn, s.cOut, s.kw, s.stride)
        : k.conv2d_workspace_len(s.h, s.w, s.cIn, s.cOut, s.kh, s.kw, s.stride);
      const work = m.f32(wl, 'zeros');
      if (s.oneD) {
        k.conv1d_backward_delta(delta, dx, wt, work, s.batch, s.w, s.cIn, s.cOut, s.kw, s.stride);
      } else {
        const { batch, h, w, cIn, cOut, kh, kw, stride } = s;
        k.conv2d_backward_delta(delta, dx, wt, work, batch, h, w, cIn, cOut, kh, kw, stride);
      }
      return [{ ptr: dx, n: nx }];
    },
  };
}

function gradientCase(s: Shape, beta: 0 | 1): KernelCase {
  const conv = s.oneD ? 'conv1d' : 'conv2d';
  return {
    name: `${conv} update gradient ${title(s)} beta ${beta}`,
    kernel: `${conv}_backward_update_gradient`,
    run(k: Kernels, m: CaseMemory): Region[] {
      const { nx, ny, nw } = dims(s);
      const x = m.f32(nx);
      const delta = m.f32(ny);
      const gw = m.f32(nw, beta === 0 ? STALE : 'normal');
      const gb = m.f32(s.cOut, beta === 0 ? STALE : 'normal');
      const { batch, h, w, cIn, cOut, kh, kw, stride } = s;
      if (s.oneD)
        k.conv1d_backward_update_gradient(x, delta, gw, gb, batch, w, cIn, cOut, kw, stride, beta);
      else
        k.conv2d_backward_update_gradient(
          x,
          delta,
          gw,
          gb,
          batch,
          h,
          w,
          cIn,
          cOut,
          kh,
          kw,
          stride,
          beta,
        );
      return [
        { ptr: gw, n: nw },
        { ptr: gb, n: s.cOut },
      ];
    },
  };
}

/** A 1-D shape: [batch, length, cIn] -> cOut channels, kernel k. */
function c1(
  label: string,
  batch: number,
  length: number,
  cIn: number,
  cOut: number,
  k: number,
  stride: number,
): Shape {
  return { label, oneD: true, batch, h: 1, w: length, cIn, cOut, kh: 1, kw: k, stride };
}

/** A 2-D shape: [batch, h, w, cIn] -> cOut channels, kernel kh x kw. */
function c2(
  label: string,
  batch: number,
  [h, w]: readonly [number, number],
  cIn: number,
  cOut: number,
  [kh, kw]: readonly [number, number],
  stride: number,
): Shape {
  return { label, oneD: false, batch, h, w, cIn, cOut, kh, kw, stride };
}

const SHAPES: readonly Shape[] = [
  c1('digits', 1, 64, 1, 32, 3, 1),
  c1('digits', 3, 64, 1, 32, 3, 1),
  c1('odd', 1, 7, 3, 5, 3, 2),
  c1('one', 1, 1, 1, 1, 1, 1),
  c1('gaps', 3, 13, 2, 3, 2, 3),
  // 294 positions (128-row tiles: 3), 70 channels (64-column tiles: 2), 35 taps (16-deep steps: 3).
  c1('tiles', 3, 200, 7, 70, 5, 2),
  // 1200 positions: the weight gradient is split over 3 workgroups along k.
  c1('split', 3, 401, 5, 17, 3, 1),
  c2('lenet-1', 3, [28, 28], 1, 8, [5, 5], 1),
  c2('lenet-2', 3, [12, 12], 8, 16, [5, 5], 1),
  c2('lenet-classic', 1, [14, 14], 6, 16, [5, 5], 1),
  c2('odd', 1, [7, 5], 3, 13, [3, 2], 2),
  c2('one', 1, [1, 1], 1, 1, [1, 1], 1),
  c2('gaps', 3, [9, 9], 2, 5, [2, 2], 3),
  c2('row', 1, [13, 7], 3, 7, [1, 3], 1),
  c2('stride-2', 3, [13, 13], 4, 20, [3, 3], 2),
  // 972 positions, 70 channels, 45 taps: every tile edge of the wide and narrow entries.
  c2('tiles', 3, [20, 20], 5, 70, [3, 3], 1),
];

/** Shapes with nothing to compute somewhere: no positions, or an empty batch. */
const EMPTY: readonly Shape[] = [
  c1('no-window', 3, 2, 3, 4, 3, 1),
  c1('empty', 0, 10, 3, 4, 3, 1),
  c2('no-window', 2, [4, 2], 2, 3, [3, 3], 1),
  c2('empty', 0, [6, 6], 2, 3, [3, 3], 2),
];

export const cases: KernelCase[] = [];
for (const s of [...SHAPES, ...EMPTY]) {
  cases.push(forwardCase(s), deltaCase(s), gradientCase(s, 0), gradientCase(s, 1));
}
// LeNet's first layer at batch 64: 288 tiles of positions for the forward and 392 for the input
// gradient, so their grids fold into y (rows of 256 workgroups); 36864 positions make the weight
// gradient's 64 splits (beta 1 of the same path runs above at batch 3: SwiftShader is slow).
const big = c2('lenet-1', 64, [28, 28], 1, 8, [5, 5], 1);
cases.push(forwardCase(big), deltaCase(big), gradientCase(big, 0));
