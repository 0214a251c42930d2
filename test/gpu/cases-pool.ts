// GPU checks of the pool family (ts/core/gpu/pool.ts) against the WASM kernels: max and average
// pooling both ways, zero padding, nearest upsampling and dropout.
//
// Geometries: 1-D (height = kh = 1) and 2-D, odd sizes and channel counts, overlapping windows
// (stride < k), gaps (stride > k: inputs no window covers get 0), whole-input windows, and sizes
// past the 64-invocation workgroups. Max pooling runs on small integers (many ties: the first in
// window order must win) and on ±0 / ±Inf / NaN windows, whose argmax is compared exactly. The
// max-pool backward gets argmax drawn inside real windows (overlaps make several outputs hit one
// input) and arbitrary argmax into a few inputs (long runs to add in order), on both sides of
// the sort's 512-slot blocks so its global stages run. Zero-size calls plan nothing: their one
// allocated output word must keep its fill. Outputs start at 1e30 or more, so a kernel that
// reads what it should overwrite shows up as a huge difference. One dropout over 64 · 65535 + 5
// elements folds the grid into y.
import type { Kernels } from '../../ts/core/wasm.js';
import type { CaseMemory, Fill, KernelCase, Region } from './case.js';

/** Outputs the kernels overwrite start here, far from any result. */
const STALE: Fill = { uniform: [1e30, 2e30] };

/** A seeded integer stream (LCG), for values and argmax built here rather than by the page. */
function ints(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s >>> 8) % n;
  };
}

/** n small integers in [0, levels): windows full of ties. */
function tied(n: number, levels: number, seed: number): number[] {
  const next = ints(seed);
  return Array.from({ length: n }, () => next(levels));
}

/** Rust's conv::out_len. */
function outLen(n: number, k: number, s: number): number {
  return n < k ? 0 : Math.floor((n - k) / s) + 1;
}

interface Geometry {
  batch: number;
  height: number;
  width: number;
  c: number;
  kh: number;
  kw: number;
  stride: number;
}

function sizes(g: Geometry): { nIn: number; nOut: number } {
  const oh = outLen(g.height, g.kh, g.stride);
  const ow = outLen(g.width, g.kw, g.stride);
  return { nIn: g.batch * g.height * g.width * g.c, nOut: g.batch * oh * ow * g.c };
}

function label(g: Geometry): string {
  const { batch, height, width, c, kh, kw, stride } = g;
  return `b${batch} ${height}x${width}x${c} k${kh}x${kw} s${stride}`;
}

/** x as the case says: seeded normal, or these values. */
type Input = 'normal' | readonly number[];

function maxpool(
  kernel: 'maxpool1d_forward' | 'maxpool2d_forward',
  g: Geometry,
  x: Input,
  what: string,
  argmaxOnly = false,
): KernelCase {
  return {
    name: `${kernel} ${label(g)} ${what}`,
    kernel,
    run(k: Kernels, m: CaseMemory): Region[] {
      const { nIn, nOut } = sizes(g);
      const xp = m.f32(Math.max(nIn, 1), x);
      const y = m.f32(Math.max(nOut, 1), STALE);
      const am = m.u32(new Array<number>(Math.max(nOut, 1)).fill(0xdeadbeef));
      const { batch, height, width, c, kh, kw, stride } = g;
      if (kernel === 'maxpool1d_forward') k[kernel](xp, y, am, batch, width, c, kw, stride);
      else k[kernel](xp, y, am, batch, height, width, c, kh, kw, stride);
      const regions: Region[] = [{ ptr: am, n: Math.max(nOut, 1), u32: true }];
      if (!argmaxOnly) regions.push({ ptr: y, n: Math.max(nOut, 1) });
      return regions;
    },
  };
}

const pool1 = (batch: number, length: number, c: number, k: number, stride: number): Geometry => ({
  batch,
  height: 1,
  width: length,
  c,
  kh: 1,
  kw: k,
  stride,
});

const pool2 = (
  batch: number,
  height: number,
  width: number,
  c: number,
  kh: number,
  kw: number,
  stride: number,
): Geometry => ({ batch, height, width, c, kh, kw, stride });

/** Windows of ±0, ±Inf, NaN and ties among them; the first NaN wins, -0 and +0 tie. */
function specials(n: number, seed: number): number[] {
  const pool = [0, -0, Infinity, -Infinity, NaN, 1, -1, 0, -0];
  const next = ints(seed);
  return Array.from({ length: n }, () => pool[next(pool.length)]!);
}

/** argmax as a forward pass could give it: per output, a seeded position in its window. */
function windowArgmax(g: Geometry, seed: number, corner = false): number[] {
  const { batch, height, width, c, kh, kw, stride } = g;
  const oh = outLen(height, kh, stride);
  const ow = outLen(width, kw, stride);
  const next = ints(seed);
  const out: number[] = [];
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        for (let ch = 0; ch < c; ch++) {
          const p = corner ? 0 : next(kh);
          const q = corner ? 0 : next(kw);
          out.push(((b * height + i * stride + p) * width + j * stride + q) * c + ch);
        }
      }
    }
  }
  return out;
}

function maxBackward(name: string, argmax: readonly number[], nIn: number): KernelCase {
  const nOut = argmax.length;
  return {
    name: `maxpool_backward_delta ${name} nOut=${nOut} nIn=${nIn}`,
    kernel: 'maxpool_backward_delta',
    run(k: Kernels, m: CaseMemory): Region[] {
      const delta = m.f32(Math.max(nOut, 1));
      const am = m.u32(nOut === 0 ? [0] : argmax);
      const dx = m.f32(Math.max(nIn, 1), STALE);
      k.maxpool_backward_delta(delta, am, dx, nOut, nIn);
      return [{ ptr: dx, n: Math.max(nIn, 1) }];
    },
  };
}

function avgpool(g: Geometry, x: Input, what = 'normal'): KernelCase[] {
  const { batch, height, width, c, kh, kw, stride } = g;
  const { nIn, nOut } = sizes(g);
  return [
    {
      name: `avgpool_forward ${label(g)} ${what}`,
      kernel: 'avgpool_forward',
      run(k: Kernels, m: CaseMemory): Region[] {
        const xp = m.f32(Math.max(nIn, 1), x);
        const y = m.f32(Math.max(nOut, 1), STALE);
        k.avgpool_forward(xp, y, batch, height, width, c, kh, kw, stride);
        return [{ ptr: y, n: Math.max(nOut, 1) }];
      },
    },
    {
      name: `avgpool_backward_delta ${label(g)} ${what}`,
      kernel: 'avgpool_backward_delta',
      run(k: Kernels, m: CaseMemory): Region[] {
        const delta = m.f32(Math.max(nOut, 1), x === 'normal' ? 'normal' : x.slice(0, nOut));
        const dx = m.f32(Math.max(nIn, 1), STALE);
        k.avgpool_backward_delta(delta, dx, batch, height, width, c, kh, kw, stride);
        return [{ ptr: dx, n: Math.max(nIn, 1) }];
      },
    },
  ];
}

function pad(
  batch: number,
  height: number,
  width: number,
  c: number,
  [top, bottom, left, right]: readonly [number, number, number, number],
): KernelCase[] {
  const nIn = batch * height * width * c;
  const nOut = batch * (top + height + bottom) * (left + width + right) * c;
  const what = `b${batch} ${height}x${width}x${c} pad t${top} b${bottom} l${left} r${right}`;
  const args = [batch, height, width, c, top, bottom, left, right] as const;
  return [
    {
      name: `pad_forward ${what}`,
      kernel: 'pad_forward',
      run(k: Kernels, m: CaseMemory): Region[] {
        const x = m.f32(Math.max(nIn, 1));
        const y = m.f32(Math.max(nOut, 1), STALE);
        k.pad_forward(x, y, ...args);
        return [{ ptr: y, n: Math.max(nOut, 1) }];
      },
    },
    {
      name: `pad_backward_delta ${what}`,
      kernel: 'pad_backward_delta',
      run(k: Kernels, m: CaseMemory): Region[] {
        const delta = m.f32(Math.max(nOut, 1));
        const dx = m.f32(Math.max(nIn, 1), STALE);
        k.pad_backward_delta(delta, dx, ...args);
        return [{ ptr: dx, n: Math.max(nIn, 1) }];
      },
    },
  ];
}

function upsample(
  batch: number,
  height: number,
  width: number,
  c: number,
  sh: number,
  sw: number,
): KernelCase[] {
  const nIn = batch * height * width * c;
  const nOut = nIn * sh * sw;
  const what = `b${batch} ${height}x${width}x${c} by ${sh}x${sw}`;
  return [
    {
      name: `upsample_forward ${what}`,
      kernel: 'upsample_forward',
      run(k: Kernels, m: CaseMemory): Region[] {
        const x = m.f32(Math.max(nIn, 1));
        const y = m.f32(Math.max(nOut, 1), STALE);
        k.upsample_forward(x, y, batch, height, width, c, sh, sw);
        return [{ ptr: y, n: Math.max(nOut, 1) }];
      },
    },
    {
      name: `upsample_backward_delta ${what}`,
      kernel: 'upsample_backward_delta',
      run(k: Kernels, m: CaseMemory): Region[] {
        const delta = m.f32(Math.max(nOut, 1));
        const dx = m.f32(Math.max(nIn, 1), STALE);
        k.upsample_backward_delta(delta, dx, batch, height, width, c, sh, sw);
        return [{ ptr: dx, n: Math.max(nIn, 1) }];
      },
    },
  ];
}

/** A dropout mask as TS draws it: 0 or 1 / (1 - p), here p = 0.3. */
function mask(n: number, seed: number): number[] {
  const next = ints(seed);
  return Array.from({ length: n }, () => (next(10) < 3 ? 0 : 1 / 0.7));
}

function dropout(
  kernel: 'dropout_forward' | 'dropout_backward_delta',
  n: number,
  maskFill?: Fill,
): KernelCase {
  return {
    name: `${kernel} n=${n}`,
    kernel,
    run(k: Kernels, m: CaseMemory): Region[] {
      const x = m.f32(Math.max(n, 1));
      const mk = m.f32(Math.max(n, 1), maskFill ?? mask(Math.max(n, 1), n + 1));
      const y = m.f32(Math.max(n, 1), STALE);
      k[kernel](x, mk, y, n);
      return [{ ptr: y, n: Math.max(n, 1) }];
    },
  };
}

// The geometries the backward argmax cases are drawn in: overlapping 1-D and 2-D windows below
// one sort block, past it (global stages at k = 1024, 2048), and well past it.
const BW_1D = pool1(3, 13, 7, 3, 1);
const BW_2D = pool2(3, 9, 11, 5, 3, 2, 1);
const BW_BIG = pool2(4, 20, 20, 8, 2, 2, 1);

export const cases: KernelCase[] = [
  // Max pooling forward, 1-D.
  maxpool('maxpool1d_forward', pool1(1, 1, 1, 1, 1), 'normal', 'normal'),
  maxpool('maxpool1d_forward', pool1(3, 13, 7, 3, 1), 'normal', 'normal'),
  maxpool('maxpool1d_forward', pool1(2, 17, 5, 4, 3), tied(2 * 17 * 5, 3, 1), 'ties'),
  maxpool('maxpool1d_forward', pool1(3, 13, 7, 3, 1), tied(3 * 13 * 7, 2, 2), 'ties'),
  maxpool('maxpool1d_forward', pool1(2, 7, 3, 7, 2), tied(2 * 7 * 3, 3, 3), 'one window'),
  maxpool('maxpool1d_forward', pool1(5, 301, 13, 2, 2), 'normal', 'normal'),
  maxpool('maxpool1d_forward', pool1(4, 16, 9, 3, 1), specials(4 * 16 * 9, 4), '±0 ±Inf NaN', true),
  maxpool('maxpool1d_forward', pool1(2, 2, 3, 3, 1), 'normal', 'length < k'),
  maxpool('maxpool1d_forward', pool1(0, 5, 3, 2, 1), 'normal', 'batch 0'),
  // Max pooling forward, 2-D.
  maxpool('maxpool2d_forward', pool2(1, 1, 1, 1, 1, 1, 1), 'normal', 'normal'),
  maxpool('maxpool2d_forward', pool2(2, 7, 9, 3, 3, 2, 1), tied(2 * 7 * 9 * 3, 3, 5), 'ties'),
  maxpool('maxpool2d_forward', pool2(3, 13, 5, 13, 2, 2, 2), 'normal', 'normal'),
  maxpool('maxpool2d_forward', pool2(2, 16, 3, 4, 16, 3, 1), tied(2 * 16 * 3 * 4, 3, 6), 'whole'),
  maxpool('maxpool2d_forward', pool2(2, 11, 10, 6, 2, 3, 3), 'normal', 'gaps'),
  maxpool('maxpool2d_forward', pool2(4, 24, 24, 16, 2, 2, 2), tied(4 * 24 * 24 * 16, 3, 7), 'ties'),
  maxpool(
    'maxpool2d_forward',
    pool2(3, 6, 7, 5, 2, 3, 1),
    specials(3 * 6 * 7 * 5, 8),
    '±0 ±Inf NaN',
    true,
  ),
  maxpool('maxpool2d_forward', pool2(2, 5, 2, 3, 2, 3, 1), 'normal', 'width < kw'),
  // Max pooling backward: argmax in real windows, all on the corner, or anywhere in a few inputs.
  maxBackward(`1-D ${label(BW_1D)}`, windowArgmax(BW_1D, 11), sizes(BW_1D).nIn),
  maxBackward(`2-D ${label(BW_2D)}`, windowArgmax(BW_2D, 12), sizes(BW_2D).nIn),
  maxBackward(`2-D ${label(BW_2D)} corners`, windowArgmax(BW_2D, 13, true), sizes(BW_2D).nIn),
  maxBackward(`2-D ${label(BW_BIG)}`, windowArgmax(BW_BIG, 14), sizes(BW_BIG).nIn),
  maxBackward('anywhere', tied(777, 5, 15), 5),
  maxBackward('anywhere', tied(3001, 1000, 16), 1000),
  maxBackward('one output', [2], 3),
  maxBackward('no outputs', [], 7),
  maxBackward('nothing', [], 0),
  // Average pooling, both ways.
  ...avgpool(pool1(1, 1, 1, 1, 1), 'normal'),
  ...avgpool(pool1(2, 13, 7, 3, 1), 'normal'),
  ...avgpool(pool1(3, 17, 5, 2, 3), 'normal', 'gaps'),
  ...avgpool(pool2(3, 9, 7, 5, 3, 2, 2), 'normal'),
  ...avgpool(pool2(2, 11, 10, 3, 2, 2, 3), 'normal', 'gaps'),
  ...avgpool(pool2(2, 8, 5, 3, 8, 5, 1), 'normal', 'whole'),
  ...avgpool(pool2(2, 30, 30, 16, 3, 3, 1), 'normal'),
  ...avgpool(pool2(2, 9, 7, 4, 3, 3, 1), tied(2 * 9 * 7 * 4, 7, 17), 'small integers'),
  ...avgpool(pool2(2, 2, 5, 3, 3, 2, 1), 'normal', 'height < kh'),
  ...avgpool(pool2(0, 4, 4, 3, 2, 2, 2), 'normal', 'batch 0'),
  // Zero padding.
  ...pad(1, 1, 1, 1, [0, 0, 0, 0]),
  ...pad(3, 1, 13, 7, [0, 0, 2, 1]),
  ...pad(2, 7, 5, 3, [1, 2, 0, 3]),
  ...pad(2, 9, 13, 13, [3, 3, 3, 3]),
  ...pad(0, 4, 4, 3, [1, 1, 1, 1]),
  // Nearest upsampling.
  ...upsample(1, 1, 1, 1, 1, 1),
  ...upsample(3, 1, 13, 7, 1, 2),
  ...upsample(2, 7, 5, 3, 2, 3),
  ...upsample(2, 16, 16, 13, 3, 2),
  ...upsample(0, 4, 4, 3, 2, 2),
  // Dropout.
  dropout('dropout_forward', 0),
  dropout('dropout_forward', 1),
  dropout('dropout_forward', 7),
  dropout('dropout_forward', 1000),
  dropout('dropout_forward', 64 * 65535 + 5, { uniform: [0, 2] }),
  dropout('dropout_backward_delta', 0),
  dropout('dropout_backward_delta', 13),
  dropout('dropout_backward_delta', 1000),
];
