// MaxPool1D / MaxPool2D, channels last, valid padding, one stride s, per channel:
// 1-D x [batch, length, c] -> y [batch, (length - k) / s + 1, c], y[b, t, c] = max_i x[b, t·s + i, c];
// 2-D x [batch, h, w, c] -> y [batch, (h - kH) / s + 1, (w - kW) / s + 1, c]. Forward keeps the
// flat index of each winner; backward scatters delta there (ties: the first in window order).
// Kernels: maxpool1d_forward, maxpool2d_forward, maxpool_backward_delta in crates/kernels/src/pool.rs.

import { Module, checkPositiveInt, shapeError } from './module.js';
import { type Tensor, U32Buffer } from './tensor.js';
import { kernels } from './wasm.js';

function outLen(n: number, k: number, stride: number): number {
  return Math.floor((n - k) / stride) + 1;
}

/** Float64 max pooling (1-D is height = kH = 1), for gradCheck; ties keep the first, as the kernel. */
function referencePool(
  x: Float64Array, batch: number, h: number, w: number, c: number, kh: number, kw: number, s: number,
): Float64Array {
  const oh = outLen(h, kh, s);
  const ow = outLen(w, kw, s);
  const y = new Float64Array(batch * oh * ow * c);
  for (let n = 0; n < batch; n++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        for (let ch = 0; ch < c; ch++) {
          let best = -Infinity;
          for (let p = 0; p < kh; p++) {
            for (let q = 0; q < kw; q++) best = Math.max(best, x[((n * h + i * s + p) * w + j * s + q) * c + ch]!);
          }
          y[((n * oh + i) * ow + j) * c + ch] = best;
        }
      }
    }
  }
  return y;
}

/** The arg-max buffer and the shared backward of both poolings. */
abstract class MaxPool extends Module {
  /** Step between windows, the same along every axis. */
  readonly stride: number;
  // Backward reads the arg-max indices of the matching forward.
  protected override readonly usesForwardState = true;
  /** Flat index into the last forward's input of each output's winner. */
  protected readonly argmax: U32Buffer;

  protected constructor(type: string, window: Record<string, number>, stride: number) {
    super();
    for (const [name, k] of Object.entries(window)) checkPositiveInt(k, type, name);
    this.stride = checkPositiveInt(stride, type, 'stride');
    this.argmax = new U32Buffer();
  }

  backwardDeltaImpl(x: Tensor, delta: Tensor): Tensor {
    const dx = this.gradInputSlot.get(x.shape);
    kernels().maxpool_backward_delta(delta.ptr, this.argmax.ptr, dx.ptr, delta.size, x.size);
    return dx;
  }

  override dispose(): void {
    this.argmax.dispose();
    super.dispose();
  }
}

/**
 * Max over windows of `kSize` positions, per channel, on [batch, length, chan]. The gradient goes
 * to the first maximal input of each window when several tie. Backward must follow the forward
 * of the same input (it reads the kept arg-max indices).
 * @param kSize Window length. @param stride Step between windows (default `kSize`: no overlap).
 * @throws TorchletError `BAD_ARGUMENT` when a size is not a positive integer.
 * @example
 * const pool = new MaxPool1D(2);
 * const y = pool.forward(x); // x [batch, 62, 32] -> y [batch, 31, 32]
 */
export class MaxPool1D extends MaxPool {
  readonly type = 'MaxPool1D';
  /** Window length. */
  readonly kSize: number;

  constructor(kSize: number, stride = kSize) {
    super('MaxPool1D', { kSize }, stride);
    this.kSize = kSize;
  }

  outputShape(s: readonly number[], method = 'forward'): number[] {
    if (s.length !== 3 || s[1]! < this.kSize) {
      throw shapeError(`MaxPool1D.${method}`, `input [batch, length >= ${this.kSize}, chan]`, s);
    }
    return [s[0]!, outLen(s[1]!, this.kSize, this.stride), s[2]!];
  }

  protected forwardImpl(x: Tensor, outShape: readonly number[]): Tensor {
    const y = this.outputSlot.get(outShape);
    this.argmax.resize(y.size);
    const [batch, length, c] = x.shape as [number, number, number];
    kernels().maxpool1d_forward(x.ptr, y.ptr, this.argmax.ptr, batch, length, c, this.kSize, this.stride);
    return y;
  }

  referenceForward(x: Float64Array, shape: readonly number[]): Float64Array {
    const [batch, length, c] = shape as [number, number, number];
    return referencePool(x, batch, 1, length, c, 1, this.kSize, this.stride);
  }

  /** `MaxPool1D(kSize, stride)`. */
  override toString(): string {
    return `MaxPool1D(${this.kSize}, ${this.stride})`;
  }
}

/**
 * Max over kH x kW windows, per channel, on [batch, height, width, chan]. The gradient goes to
 * the first maximal input (row-major window order) when several tie. Backward must follow the
 * forward of the same input (it reads the kept arg-max indices).
 * @param kH Window height. @param kW Window width.
 * @param stride Step along both axes (default `kH`: no overlap for square windows).
 * @throws TorchletError `BAD_ARGUMENT` when a size is not a positive integer.
 * @example
 * const pool = new MaxPool2D(2, 2);
 * const y = pool.forward(x); // x [batch, 24, 24, 8] -> y [batch, 12, 12, 8]
 */
export class MaxPool2D extends MaxPool {
  readonly type = 'MaxPool2D';
  /** Window height. */
  readonly kH: number;
  /** Window width. */
  readonly kW: number;

  constructor(kH: number, kW: number, stride = kH) {
    super('MaxPool2D', { kH, kW }, stride);
    this.kH = kH;
    this.kW = kW;
  }

  outputShape(s: readonly number[], method = 'forward'): number[] {
    if (s.length !== 4 || s[1]! < this.kH || s[2]! < this.kW) {
      throw shapeError(`MaxPool2D.${method}`, `input [batch, height >= ${this.kH}, width >= ${this.kW}, chan]`, s);
    }
    return [s[0]!, outLen(s[1]!, this.kH, this.stride), outLen(s[2]!, this.kW, this.stride), s[3]!];
  }

  protected forwardImpl(x: Tensor, outShape: readonly number[]): Tensor {
    const y = this.outputSlot.get(outShape);
    this.argmax.resize(y.size);
    const [batch, h, w, c] = x.shape as [number, number, number, number];
    kernels().maxpool2d_forward(x.ptr, y.ptr, this.argmax.ptr, batch, h, w, c, this.kH, this.kW, this.stride);
    return y;
  }

  referenceForward(x: Float64Array, shape: readonly number[]): Float64Array {
    const [batch, h, w, c] = shape as [number, number, number, number];
    return referencePool(x, batch, h, w, c, this.kH, this.kW, this.stride);
  }

  /** `MaxPool2D(kH, kW, stride)`. */
  override toString(): string {
    return `MaxPool2D(${this.kH}, ${this.kW}, ${this.stride})`;
  }
}
