// Conv1D / Conv2D, channels last, valid padding, one stride s (layout differs from PyTorch):
// Conv1D x [batch, length, inC] -> y [batch, (length - k) / s + 1, outC], W [k, inC, outC];
// Conv2D x [batch, h, w, inC] -> y [batch, (h - kH) / s + 1, (w - kW) / s + 1, outC],
// W [kH, kW, inC, outC]; y[b, i, j, :] = Σ_{p,q} x[b, i·s + p, j·s + q, :] · W[p, q] + bias.
// Kernels: conv1d_* / conv2d_* in crates/kernels/src/conv.rs.

import { Module, type Parameter, checkPositiveInt, shapeError } from './module.js';
import { Rng, defaultRng } from './rng.js';
import { Slot, Tensor } from './tensor.js';
import { kernels } from './wasm.js';

/** Options for `Conv1D` and `Conv2D`. */
export interface ConvOptions {
  /** Generator for the initial weights (default: the shared `defaultRng`; see `manualSeed`). */
  rng?: Rng;
}

/** Output positions of a valid window along one axis (the caller checked `n >= k`). */
function outLen(n: number, k: number, stride: number): number {
  return Math.floor((n - k) / stride) + 1;
}

/**
 * The float64 reference of both convolutions (Conv1D is height = kH = 1): plain loops, for
 * gradCheck.
 */
function referenceConv(
  x: Float64Array, w: Float64Array, b: Float64Array,
  batch: number, h: number, wd: number, cIn: number, cOut: number, kh: number, kw: number, s: number,
): Float64Array {
  const oh = outLen(h, kh, s);
  const ow = outLen(wd, kw, s);
  const y = new Float64Array(batch * oh * ow * cOut);
  for (let n = 0; n < batch; n++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        const yo = ((n * oh + i) * ow + j) * cOut;
        for (let o = 0; o < cOut; o++) y[yo + o] = b[o]!;
        for (let p = 0; p < kh; p++) {
          for (let q = 0; q < kw; q++) {
            const xo = ((n * h + i * s + p) * wd + j * s + q) * cIn;
            const wo = (p * kw + q) * cIn * cOut;
            for (let c = 0; c < cIn; c++) {
              for (let o = 0; o < cOut; o++) y[yo + o] += x[xo + c]! * w[wo + c * cOut + o]!;
            }
          }
        }
      }
    }
  }
  return y;
}

/** Parameters, workspace and initialisation shared by Conv1D and Conv2D. */
abstract class Conv extends Module {
  /** Input channels. */
  readonly chanIn: number;
  /** Output channels (filters). */
  readonly chanOut: number;
  /** Step between windows, the same along every axis. */
  readonly stride: number;
  /** Filters, [k, inC, outC] (Conv1D) or [kH, kW, inC, outC] (Conv2D). */
  readonly weight: Tensor;
  /** Bias [outC]. */
  readonly bias: Tensor;
  /** Accumulated dL/dW, shaped like `weight`. */
  readonly gradWeight: Tensor;
  /** Accumulated dL/db [outC]. */
  readonly gradBias: Tensor;
  /** Scratch for `*_backward_delta`, sized by the kernel's `*_workspace_len`. */
  protected readonly workSlot = new Slot();

  protected constructor(
    type: string, sizes: Record<string, number>, chanIn: number, chanOut: number, stride: number, options: ConvOptions,
  ) {
    super();
    const window = Object.entries(sizes).map(([name, k]) => checkPositiveInt(k, type, name));
    this.chanIn = checkPositiveInt(chanIn, type, 'chanIn');
    this.chanOut = checkPositiveInt(chanOut, type, 'chanOut');
    this.stride = checkPositiveInt(stride, type, 'stride');
    const rng = options.rng ?? defaultRng;
    const fanIn = window.reduce((a, b) => a * b, 1) * chanIn;
    const bound = 1 / Math.sqrt(fanIn);
    const wShape = [...window, chanIn, chanOut];
    this.weight = Tensor.zeros(wShape);
    this.bias = Tensor.zeros([chanOut]);
    this.gradWeight = Tensor.zeros(wShape);
    this.gradBias = Tensor.zeros([chanOut]);
    rng.fillUniform(this.weight.data, -bound, bound);
    rng.fillUniform(this.bias.data, -bound, bound);
  }

  override parameters(): Parameter[] {
    return [
      { name: 'weight', value: this.weight, grad: this.gradWeight },
      { name: 'bias', value: this.bias, grad: this.gradBias },
    ];
  }

  /** The workspace tensor; a length-0 request still gets one float so its pointer is valid. */
  protected workspace(floats: number): Tensor {
    return this.workSlot.get([Math.max(floats, 1)]);
  }

  override dispose(): void {
    this.workSlot.dispose();
    super.dispose();
  }
}

/**
 * 1-D convolution over [batch, length, chanIn] (channels last, valid padding), weights
 * initialised uniform in ±1/sqrt(kSize·chanIn).
 * @param kSize Window length. @param chanIn Input channels. @param chanOut Filters.
 * @param stride Step between windows (default 1).
 * @throws TorchletError `BAD_ARGUMENT` when a size is not a positive integer.
 * @example
 * const conv = new Conv1D(3, 1, 32);
 * const y = conv.forward(x); // x [batch, 64, 1] -> y [batch, 62, 32]
 */
export class Conv1D extends Conv {
  readonly type = 'Conv1D';
  /** Window length. */
  readonly kSize: number;

  constructor(kSize: number, chanIn: number, chanOut: number, stride = 1, options: ConvOptions = {}) {
    super('Conv1D', { kSize }, chanIn, chanOut, stride, options);
    this.kSize = kSize;
  }

  outputShape(s: readonly number[], method = 'forward'): number[] {
    if (s.length !== 3 || s[1]! < this.kSize || s[2] !== this.chanIn) {
      throw shapeError(`Conv1D.${method}`, `input [batch, length >= ${this.kSize}, ${this.chanIn}]`, s);
    }
    return [s[0]!, outLen(s[1]!, this.kSize, this.stride), this.chanOut];
  }

  protected forwardImpl(x: Tensor, outShape: readonly number[]): Tensor {
    const y = this.outputSlot.get(outShape);
    const [batch, length] = x.shape as [number, number, number];
    kernels().conv1d_forward(
      x.ptr, y.ptr, this.weight.ptr, this.bias.ptr, batch, length, this.chanIn, this.chanOut, this.kSize, this.stride,
    );
    return y;
  }

  override backwardUpdateGradientImpl(x: Tensor, delta: Tensor): void {
    const [batch, length] = x.shape as [number, number, number];
    kernels().conv1d_backward_update_gradient(
      x.ptr, delta.ptr, this.gradWeight.ptr, this.gradBias.ptr,
      batch, length, this.chanIn, this.chanOut, this.kSize, this.stride,
    );
  }

  backwardDeltaImpl(x: Tensor, delta: Tensor): Tensor {
    const [batch, length] = x.shape as [number, number, number];
    const k = kernels();
    const work = this.workspace(k.conv1d_workspace_len(length, this.chanIn, this.chanOut, this.kSize, this.stride));
    const dx = this.gradInputSlot.get(x.shape);
    k.conv1d_backward_delta(
      delta.ptr, dx.ptr, this.weight.ptr, work.ptr, batch, length, this.chanIn, this.chanOut, this.kSize, this.stride,
    );
    return dx;
  }

  referenceForward(x: Float64Array, shape: readonly number[], [w, b]: Float64Array[]): Float64Array {
    return referenceConv(x, w!, b!, shape[0]!, 1, shape[1]!, this.chanIn, this.chanOut, 1, this.kSize, this.stride);
  }

  /** `Conv1D(kSize, chanIn, chanOut[, stride])`. */
  override toString(): string {
    const s = this.stride === 1 ? '' : `, ${this.stride}`;
    return `Conv1D(${this.kSize}, ${this.chanIn}, ${this.chanOut}${s})`;
  }
}

/**
 * 2-D convolution over [batch, height, width, chanIn] (channels last, valid padding), weights
 * initialised uniform in ±1/sqrt(kH·kW·chanIn).
 * @param kH Window height. @param kW Window width. @param chanIn Input channels.
 * @param chanOut Filters. @param stride Step between windows along both axes (default 1).
 * @throws TorchletError `BAD_ARGUMENT` when a size is not a positive integer.
 * @example
 * const conv = new Conv2D(5, 5, 1, 8);
 * const y = conv.forward(x); // x [batch, 28, 28, 1] -> y [batch, 24, 24, 8]
 */
export class Conv2D extends Conv {
  readonly type = 'Conv2D';
  /** Window height. */
  readonly kH: number;
  /** Window width. */
  readonly kW: number;

  constructor(kH: number, kW: number, chanIn: number, chanOut: number, stride = 1, options: ConvOptions = {}) {
    super('Conv2D', { kH, kW }, chanIn, chanOut, stride, options);
    this.kH = kH;
    this.kW = kW;
  }

  outputShape(s: readonly number[], method = 'forward'): number[] {
    if (s.length !== 4 || s[1]! < this.kH || s[2]! < this.kW || s[3] !== this.chanIn) {
      throw shapeError(`Conv2D.${method}`, `input [batch, height >= ${this.kH}, width >= ${this.kW}, ${this.chanIn}]`, s);
    }
    return [s[0]!, outLen(s[1]!, this.kH, this.stride), outLen(s[2]!, this.kW, this.stride), this.chanOut];
  }

  protected forwardImpl(x: Tensor, outShape: readonly number[]): Tensor {
    const y = this.outputSlot.get(outShape);
    const [batch, h, w] = x.shape as [number, number, number, number];
    kernels().conv2d_forward(
      x.ptr, y.ptr, this.weight.ptr, this.bias.ptr, batch, h, w, this.chanIn, this.chanOut, this.kH, this.kW, this.stride,
    );
    return y;
  }

  override backwardUpdateGradientImpl(x: Tensor, delta: Tensor): void {
    const [batch, h, w] = x.shape as [number, number, number, number];
    kernels().conv2d_backward_update_gradient(
      x.ptr, delta.ptr, this.gradWeight.ptr, this.gradBias.ptr,
      batch, h, w, this.chanIn, this.chanOut, this.kH, this.kW, this.stride,
    );
  }

  backwardDeltaImpl(x: Tensor, delta: Tensor): Tensor {
    const [batch, h, w] = x.shape as [number, number, number, number];
    const k = kernels();
    const work = this.workspace(k.conv2d_workspace_len(h, w, this.chanIn, this.chanOut, this.kH, this.kW, this.stride));
    const dx = this.gradInputSlot.get(x.shape);
    k.conv2d_backward_delta(
      delta.ptr, dx.ptr, this.weight.ptr, work.ptr, batch, h, w, this.chanIn, this.chanOut, this.kH, this.kW, this.stride,
    );
    return dx;
  }

  referenceForward(x: Float64Array, shape: readonly number[], [w, b]: Float64Array[]): Float64Array {
    const [batch, h, wd] = shape as [number, number, number, number];
    return referenceConv(x, w!, b!, batch, h, wd, this.chanIn, this.chanOut, this.kH, this.kW, this.stride);
  }

  /** `Conv2D(kH, kW, chanIn, chanOut[, stride])`. */
  override toString(): string {
    const s = this.stride === 1 ? '' : `, ${this.stride}`;
    return `Conv2D(${this.kH}, ${this.kW}, ${this.chanIn}, ${this.chanOut}${s})`;
  }
}
