// Pooling, channels last, valid windows, one stride s (default: the window, no overlap), per channel:
// 1-D x [batch, length, c] -> y [batch, (length - k) / s + 1, c]; 2-D x [batch, h, w, c] ->
// y [batch, (h - kH) / s + 1, (w - kW) / s + 1, c]. 1-D is 2-D with height 1 throughout.
// MaxPool: y = max over the window; the forward saves the flat index of each winner and the
// backward scatters delta there (ties: the first in window order). AvgPool: y = mean over the
// window; the backward spreads delta / (kH·kW) over it (overlapping windows add).
// Kernels: maxpool*_forward, maxpool_backward_delta, avgpool_forward, avgpool_backward_delta in
// crates/kernels/src/pool.rs.

import { type Call, type LayerSpec, Module, checkPositiveInt, shapeError } from './module.js';
import type { Tensor } from './tensor.js';
import { kernels } from './wasm.js';

function outLen(n: number, k: number, stride: number): number {
  return Math.floor((n - k) / stride) + 1;
}

/** An input seen as [batch, h, w, c] (1-D: h = 1) and the window [kh, kw]. */
type Dims = [batch: number, h: number, w: number, c: number, kh: number, kw: number];

/** Float64 pooling (max or mean over each window), for gradCheck; max ties keep the first, as the kernel. */
function referencePool(
  x: Float64Array,
  [batch, h, w, c, kh, kw]: Dims,
  s: number,
  mean: boolean,
): Float64Array {
  const oh = outLen(h, kh, s);
  const ow = outLen(w, kw, s);
  const y = new Float64Array(batch * oh * ow * c);
  for (let n = 0; n < batch; n++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        for (let ch = 0; ch < c; ch++) {
          let acc = mean ? 0 : -Infinity;
          for (let p = 0; p < kh; p++) {
            for (let q = 0; q < kw; q++) {
              const v = x[((n * h + i * s + p) * w + j * s + q) * c + ch]!;
              acc = mean ? acc + v : Math.max(acc, v);
            }
          }
          y[((n * oh + i) * ow + j) * c + ch] = mean ? acc / (kh * kw) : acc;
        }
      }
    }
  }
  return y;
}

/** Window sizes, stride, shapes and the float64 reference shared by the four poolings. */
abstract class Pool extends Module {
  /** Step between windows, the same along every axis. */
  readonly stride: number;
  /** Window height and width (1-D: 1 and kSize). */
  protected readonly window: readonly [number, number];
  /** @internal Average (true) or max (false) pooling, for the reference forward. */
  protected abstract readonly mean: boolean;

  protected constructor(type: string, window: Record<string, number>, stride: number) {
    super();
    const sizes = Object.entries(window).map(([name, k]) => checkPositiveInt(k, type, name));
    this.stride = checkPositiveInt(stride, type, 'stride');
    this.window = sizes.length === 1 ? [1, sizes[0]!] : [sizes[0]!, sizes[1]!];
  }

  outputShape(s: readonly number[], method = 'forward'): number[] {
    const [kh, kw] = this.window;
    const where = `${this.type}.${method}`;
    if (this.is1d()) {
      if (s.length !== 3 || s[1]! < kw)
        throw shapeError(where, `input [batch, length >= ${kw}, chan]`, s);
      return [s[0]!, outLen(s[1]!, kw, this.stride), s[2]!];
    }
    if (s.length !== 4 || s[1]! < kh || s[2]! < kw) {
      throw shapeError(where, `input [batch, height >= ${kh}, width >= ${kw}, chan]`, s);
    }
    return [s[0]!, outLen(s[1]!, kh, this.stride), outLen(s[2]!, kw, this.stride), s[3]!];
  }

  /** True for the 1-D poolings (input [batch, length, chan]). */
  protected abstract is1d(): boolean;

  /** @internal The kernels' dimensions for an input shape (1-D: height 1). */
  protected dims(s: readonly number[]): Dims {
    const [kh, kw] = this.window;
    return this.is1d() ? [s[0]!, 1, s[1]!, s[2]!, kh, kw] : [s[0]!, s[1]!, s[2]!, s[3]!, kh, kw];
  }

  override referenceForward(x: Float64Array, shape: readonly number[]): Float64Array {
    return referencePool(x, this.dims(shape), this.stride, this.mean);
  }
}

/** Max pooling: the forward saves each winner's flat input index (u32) for the backward. */
abstract class MaxPool extends Pool {
  /** @internal */
  protected readonly mean = false;

  protected override savedSize(shape: readonly number[]): number {
    return this.outputShape(shape).reduce((a, b) => a * b, 1);
  }

  protected updateOutput({ input, output, saved }: Call): void {
    const [batch, h, w, c, kh, kw] = this.dims(input.shape);
    const k = kernels();
    // The saved floats hold u32 indices: same size, and kernels see only the address.
    if (this.is1d())
      k.maxpool1d_forward(input.ptr, output.ptr, saved!.ptr, batch, w, c, kw, this.stride);
    else
      k.maxpool2d_forward(input.ptr, output.ptr, saved!.ptr, batch, h, w, c, kh, kw, this.stride);
  }

  protected updateGradInput({ input, saved }: Call, delta: Tensor, gradInput: Tensor): void {
    kernels().maxpool_backward_delta(delta.ptr, saved!.ptr, gradInput.ptr, delta.size, input.size);
  }
}

/** Average pooling: nothing saved; the backward needs only the shapes. */
abstract class AvgPool extends Pool {
  /** @internal */
  protected readonly mean = true;

  protected updateOutput({ input, output }: Call): void {
    kernels().avgpool_forward(input.ptr, output.ptr, ...this.dims(input.shape), this.stride);
  }

  protected updateGradInput({ input }: Call, delta: Tensor, gradInput: Tensor): void {
    kernels().avgpool_backward_delta(
      delta.ptr,
      gradInput.ptr,
      ...this.dims(input.shape),
      this.stride,
    );
  }
}

const args1d = [
  { name: 'kSize', kind: 'int' },
  { name: 'stride', kind: 'int' },
] as const;
const args2d = [
  { name: 'kH', kind: 'int' },
  { name: 'kW', kind: 'int' },
  { name: 'stride', kind: 'int' },
] as const;

/**
 * Max over windows of `kSize` positions, per channel, on [batch, length, chan]. The gradient goes
 * to the first maximal input of each window when several tie.
 * @param kSize Window length. @param stride Step between windows (default `kSize`: no overlap).
 * @throws TorchletError `BAD_ARGUMENT` when a size is not a positive integer.
 * @example
 * const pool = new MaxPool1D(2);
 * const y = pool.forward(x); // x [batch, 62, 32] -> y [batch, 31, 32]
 */
export class MaxPool1D extends MaxPool {
  /** The layer's description: model files, `toString` and `fromArchitecture` derive from it. */
  static readonly spec: LayerSpec<MaxPool1D> = {
    type: 'MaxPool1D',
    args: args1d,
    build: (a) => new MaxPool1D(a.kSize as number, a.stride as number),
  };
  /** Window length. */
  readonly kSize: number;

  constructor(kSize: number, stride = kSize) {
    super('MaxPool1D', { kSize }, stride);
    this.kSize = kSize;
  }

  protected is1d(): boolean {
    return true;
  }
}

/**
 * Max over kH x kW windows, per channel, on [batch, height, width, chan]. The gradient goes to
 * the first maximal input (row-major window order) when several tie.
 * @param kH Window height. @param kW Window width.
 * @param stride Step along both axes (default `kH`: no overlap for square windows).
 * @throws TorchletError `BAD_ARGUMENT` when a size is not a positive integer.
 * @example
 * const pool = new MaxPool2D(2, 2);
 * const y = pool.forward(x); // x [batch, 24, 24, 8] -> y [batch, 12, 12, 8]
 */
export class MaxPool2D extends MaxPool {
  /** The layer's description: model files, `toString` and `fromArchitecture` derive from it. */
  static readonly spec: LayerSpec<MaxPool2D> = {
    type: 'MaxPool2D',
    args: args2d,
    build: (a) => new MaxPool2D(a.kH as number, a.kW as number, a.stride as number),
  };
  /** Window height. */
  readonly kH: number;
  /** Window width. */
  readonly kW: number;

  constructor(kH: number, kW: number, stride = kH) {
    super('MaxPool2D', { kH, kW }, stride);
    this.kH = kH;
    this.kW = kW;
  }

  protected is1d(): boolean {
    return false;
  }
}

/**
 * Mean over windows of `kSize` positions, per channel, on [batch, length, chan] (PyTorch's
 * AvgPool1d with padding 0, channels last).
 * @param kSize Window length. @param stride Step between windows (default `kSize`).
 * @throws TorchletError `BAD_ARGUMENT` when a size is not a positive integer.
 * @example
 * const pool = new AvgPool1D(2);
 * const y = pool.forward(x); // x [batch, 62, 32] -> y [batch, 31, 32]
 */
export class AvgPool1D extends AvgPool {
  /** The layer's description: model files, `toString` and `fromArchitecture` derive from it. */
  static readonly spec: LayerSpec<AvgPool1D> = {
    type: 'AvgPool1D',
    args: args1d,
    build: (a) => new AvgPool1D(a.kSize as number, a.stride as number),
  };
  /** Window length. */
  readonly kSize: number;

  constructor(kSize: number, stride = kSize) {
    super('AvgPool1D', { kSize }, stride);
    this.kSize = kSize;
  }

  protected is1d(): boolean {
    return true;
  }
}

/**
 * Mean over kH x kW windows, per channel, on [batch, height, width, chan] (PyTorch's AvgPool2d
 * with padding 0, channels last).
 * @param kH Window height. @param kW Window width. @param stride Step along both axes (default `kH`).
 * @throws TorchletError `BAD_ARGUMENT` when a size is not a positive integer.
 * @example
 * const pool = new AvgPool2D(2, 2);
 * const y = pool.forward(x); // x [batch, 24, 24, 8] -> y [batch, 12, 12, 8]
 */
export class AvgPool2D extends AvgPool {
  /** The layer's description: model files, `toString` and `fromArchitecture` derive from it. */
  static readonly spec: LayerSpec<AvgPool2D> = {
    type: 'AvgPool2D',
    args: args2d,
    build: (a) => new AvgPool2D(a.kH as number, a.kW as number, a.stride as number),
  };
  /** Window height. */
  readonly kH: number;
  /** Window width. */
  readonly kW: number;

  constructor(kH: number, kW: number, stride = kH) {
    super('AvgPool2D', { kH, kW }, stride);
    this.kH = kH;
    this.kW = kW;
  }

  protected is1d(): boolean {
    return false;
  }
}
