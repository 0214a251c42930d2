// Conv1D / Conv2D, channels last, one stride s (layout differs from PyTorch):
// Conv1D x [batch, length, inC] -> y [batch, (length - k) / s + 1, outC], W [k, inC, outC];
// Conv2D x [batch, h, w, inC] -> y [batch, (h - kH) / s + 1, (w - kW) / s + 1, outC],
// W [kH, kW, inC, outC]; y[b, i, j, :] = Σ_{p,q} x[b, i·s + p, j·s + q, :] · W[p, q] + bias.
// padding 'valid' (default) uses windows inside x; 'same' (stride 1) first pads x with zeros,
// k - 1 per axis, the smaller half before (PyTorch's rule), so y has x's length. The forward keeps
// the padded x for the backward. Kernels: conv1d_* / conv2d_* in crates/kernels/src/conv.rs,
// pad_forward / pad_backward_delta.

import { TorchletError } from './errors.js';
import {
  BufferSlot,
  type Call,
  type LayerSpec,
  Module,
  type Parameter,
  type Reservation,
  allocateAll,
  checkPositiveInt,
  shapeError,
  show,
} from './module.js';
import { Rng, defaultRng } from './rng.js';
import type { Tensor } from './tensor.js';
import { kernels } from './wasm.js';

/** Output positions of a valid window along one axis (the caller checked `n >= k`). */
function outLen(n: number, k: number, stride: number): number {
  return Math.floor((n - k) / stride) + 1;
}

/**
 * The float64 reference of both convolutions (Conv1D is height = kH = 1): plain loops, for
 * gradCheck.
 */
function referenceConv(
  x: Float64Array,
  w: Float64Array,
  b: Float64Array,
  batch: number,
  h: number,
  wd: number,
  cIn: number,
  cOut: number,
  kh: number,
  kw: number,
  s: number,
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

/** Options for `Conv1D` and `Conv2D`. */
export interface ConvOptions {
  /** Generator for the initial weights (default: the shared `defaultRng`; see `manualSeed`). */
  rng?: Rng;
  /** `'valid'` (default): windows inside the input; `'same'`: zero-pad so the output keeps the input's size (stride 1). */
  padding?: ConvPadding;
}

/** How a convolution treats the borders. */
export type ConvPadding = 'valid' | 'same';
const PADDINGS: readonly ConvPadding[] = ['valid', 'same'];

/** A convolution's input seen as 2-D: [batch, h, w, c], its padded size and the pads. */
interface Geometry {
  batch: number;
  h: number;
  w: number;
  ph: number;
  pw: number;
  top: number;
  bottom: number;
  left: number;
  right: number;
}

/** Parameters, padding, workspace and initialisation shared by Conv1D and Conv2D (1-D is height 1). */
abstract class Conv extends Module {
  /** Input channels. */
  readonly chanIn: number;
  /** Output channels (filters). */
  readonly chanOut: number;
  /** Step between windows, the same along every axis. */
  readonly stride: number;
  /** `'valid'` or `'same'`. */
  readonly padding: ConvPadding;
  /** Filters, [k, inC, outC] (Conv1D) or [kH, kW, inC, outC] (Conv2D). */
  readonly weight: Tensor;
  /** Bias [outC]. */
  readonly bias: Tensor;
  /** Accumulated dL/dW, shaped like `weight`. */
  readonly gradWeight: Tensor;
  /** Accumulated dL/db [outC]. */
  readonly gradBias: Tensor;
  /** Scratch for `*_backward_delta` (sized by the kernel's `*_workspace_len`) and the padded delta. */
  private readonly workSlot = new BufferSlot();
  private readonly padSlot = new BufferSlot();
  /** Window height and width (Conv1D: 1 and kSize). */
  protected abstract readonly window: readonly [number, number];
  /** Conv1D: runs the conv1d_* kernels. */
  protected abstract readonly oneD: boolean;

  protected constructor(
    type: string,
    sizes: Record<string, number>,
    chanIn: number,
    chanOut: number,
    stride: number,
    options: ConvOptions,
  ) {
    super();
    if (typeof options !== 'object' || options === null) {
      throw new TorchletError(
        'BAD_ARGUMENT',
        `${type}: expected options to be an object, got ${String(options)}`,
      );
    }
    const window = Object.entries(sizes).map(([name, k]) => checkPositiveInt(k, type, name));
    this.chanIn = checkPositiveInt(chanIn, type, 'chanIn');
    this.chanOut = checkPositiveInt(chanOut, type, 'chanOut');
    this.stride = checkPositiveInt(stride, type, 'stride');
    const padding = options.padding ?? 'valid';
    if (!PADDINGS.includes(padding)) {
      throw new TorchletError(
        'BAD_ARGUMENT',
        `${type}: expected padding 'valid' or 'same', got ${show(padding)}`,
      );
    }
    if (padding === 'same' && stride !== 1) {
      throw new TorchletError(
        'BAD_ARGUMENT',
        `${type}: expected stride 1 with padding 'same' (as PyTorch), got stride ${stride}`,
      );
    }
    this.padding = padding;
    const rng = options.rng ?? defaultRng;
    const fanIn = window.reduce((a, b) => a * b, 1) * chanIn;
    const bound = 1 / Math.sqrt(fanIn);
    const wShape = [...window, chanIn, chanOut];
    [this.weight, this.bias, this.gradWeight, this.gradBias] = allocateAll(type, [
      wShape,
      [chanOut],
      wShape,
      [chanOut],
    ]) as [Tensor, Tensor, Tensor, Tensor];
    rng.fillUniform(this.weight.data, -bound, bound);
    rng.fillUniform(this.bias.data, -bound, bound);
  }

  override parameters(): Parameter[] {
    return [
      { name: 'weight', value: this.weight, grad: this.gradWeight },
      { name: 'bias', value: this.bias, grad: this.gradBias },
    ];
  }

  /** @internal The input as [batch, h, w, c] (1-D: h = 1), with the padded size. */
  protected abstract geometry(shape: readonly number[]): Geometry;

  /** Pads for window k along one axis: k - 1 in all, the smaller half first (PyTorch's 'same'). */
  protected pads(k: number): [number, number] {
    if (this.padding === 'valid') return [0, 0];
    const before = Math.floor((k - 1) / 2);
    return [before, k - 1 - before];
  }

  /** The pad kernels' dimensions: the unpadded input [batch, h, w, c] and the four pads. */
  private padDims(g: Geometry): [number, number, number, number, number, number, number, number] {
    return [g.batch, g.h, g.w, this.chanIn, g.top, g.bottom, g.left, g.right];
  }

  /** The output size along an axis of padded length n (the caller checked n >= k). */
  protected static outLen(n: number, k: number, stride: number): number {
    return outLen(n, k, stride);
  }

  protected override savedSize(shape: readonly number[]): number | null {
    if (this.padding === 'valid') return null;
    const g = this.geometry(shape);
    return g.batch * g.ph * g.pw * this.chanIn;
  }

  /** The (padded) input the kernels read: the input itself, or the padded copy the forward saved. */
  private source({ input, saved }: Call): Tensor {
    return saved ?? input;
  }

  protected updateOutput(call: Call): void {
    const { input, output, saved } = call;
    const g = this.geometry(input.shape);
    const k = kernels();
    if (saved !== null) {
      k.pad_forward(input.ptr, saved.ptr, ...this.padDims(g));
    }
    const [kh, kw] = this.window;
    const x = this.source(call).ptr;
    const [cIn, cOut, s] = [this.chanIn, this.chanOut, this.stride];
    // 1-D has its own kernels: the 2-D ones with height 1 would work but pay for the extra loop.
    if (this.oneD)
      k.conv1d_forward(
        x,
        output.ptr,
        this.weight.ptr,
        this.bias.ptr,
        g.batch,
        g.pw,
        cIn,
        cOut,
        kw,
        s,
      );
    else
      k.conv2d_forward(
        x,
        output.ptr,
        this.weight.ptr,
        this.bias.ptr,
        g.batch,
        g.ph,
        g.pw,
        cIn,
        cOut,
        kh,
        kw,
        s,
      );
  }

  protected override accGradParameters(call: Call, delta: Tensor, beta: 0 | 1): void {
    const g = this.geometry(call.input.shape);
    const [kh, kw] = this.window;
    const [x, d, gw, gb] = [
      this.source(call).ptr,
      delta.ptr,
      this.gradWeight.ptr,
      this.gradBias.ptr,
    ];
    const [cIn, cOut, s] = [this.chanIn, this.chanOut, this.stride];
    const k = kernels();
    if (this.oneD)
      k.conv1d_backward_update_gradient(x, d, gw, gb, g.batch, g.pw, cIn, cOut, kw, s, beta);
    else
      k.conv2d_backward_update_gradient(
        x,
        d,
        gw,
        gb,
        g.batch,
        g.ph,
        g.pw,
        cIn,
        cOut,
        kh,
        kw,
        s,
        beta,
      );
  }

  /**
   * Floats of `*_backward_delta`'s workspace for an input of geometry g (at least 1). The kernel's
   * rule saturates at 2^32 - 1 on overflow, which `Reservation.commit` refuses before any write.
   */
  private workspaceLen(g: Geometry): number {
    const [kh, kw] = this.window;
    const [cIn, cOut, s] = [this.chanIn, this.chanOut, this.stride];
    const k = kernels();
    const floats = this.oneD
      ? k.conv1d_workspace_len(g.pw, cIn, cOut, kw, s)
      : k.conv2d_workspace_len(g.ph, g.pw, cIn, cOut, kh, kw, s);
    return Math.max(floats >>> 0, 1);
  }

  /** The workspace and, for 'same', the padded delta, reserved before any gradient is written. */
  protected override reserveScratch(call: Call, r: Reservation): void {
    const g = this.geometry(call.input.shape);
    r.need(this.workSlot, this.workspaceLen(g));
    if (call.saved !== null) r.need(this.padSlot, g.batch * g.ph * g.pw * this.chanIn);
  }

  protected updateGradInput(call: Call, delta: Tensor, gradInput: Tensor): void {
    const g = this.geometry(call.input.shape);
    const [kh, kw] = this.window;
    const k = kernels();
    const [cIn, cOut, s] = [this.chanIn, this.chanOut, this.stride];
    const work = this.workSlot.get([this.workspaceLen(g)]);
    const padded = call.saved === null ? gradInput : this.padSlot.get([g.batch, g.ph, g.pw, cIn]);
    if (this.oneD)
      k.conv1d_backward_delta(
        delta.ptr,
        padded.ptr,
        this.weight.ptr,
        work.ptr,
        g.batch,
        g.pw,
        cIn,
        cOut,
        kw,
        s,
      );
    else
      k.conv2d_backward_delta(
        delta.ptr,
        padded.ptr,
        this.weight.ptr,
        work.ptr,
        g.batch,
        g.ph,
        g.pw,
        cIn,
        cOut,
        kh,
        kw,
        s,
      );
    if (call.saved !== null) {
      k.pad_backward_delta(padded.ptr, gradInput.ptr, ...this.padDims(g));
    }
  }

  override referenceForward(
    x: Float64Array,
    shape: readonly number[],
    [w, b]: Float64Array[],
  ): Float64Array {
    const g = this.geometry(shape);
    const [kh, kw] = this.window;
    const xp = new Float64Array(g.batch * g.ph * g.pw * this.chanIn);
    for (let n = 0; n < g.batch; n++) {
      for (let i = 0; i < g.h; i++) {
        const src = (n * g.h + i) * g.w * this.chanIn;
        const dst = ((n * g.ph + i + g.top) * g.pw + g.left) * this.chanIn;
        xp.set(x.subarray(src, src + g.w * this.chanIn), dst);
      }
    }
    return referenceConv(
      xp,
      w!,
      b!,
      g.batch,
      g.ph,
      g.pw,
      this.chanIn,
      this.chanOut,
      kh,
      kw,
      this.stride,
    );
  }

  override dispose(): void {
    this.workSlot.dispose();
    this.padSlot.dispose();
    super.dispose();
  }
}

/** `args` and `params` of both convolutions' descriptions (the window arguments come first). */
const convArgs = [
  { name: 'chanIn', kind: 'int' },
  { name: 'chanOut', kind: 'int' },
  { name: 'stride', kind: 'int', default: 1 },
  { name: 'padding', kind: PADDINGS, default: 'valid' },
] as const;

/**
 * 1-D convolution over [batch, length, chanIn] (channels last), weights initialised uniform in
 * ±1/sqrt(kSize·chanIn).
 * @param kSize Window length. @param chanIn Input channels. @param chanOut Filters.
 * @param stride Step between windows (default 1).
 * @param options `padding` ('valid' default, or 'same' with stride 1) and the init `rng`.
 * @throws TorchletError `BAD_ARGUMENT` when a size is not a positive integer or padding is unknown.
 * @example
 * const conv = new Conv1D(3, 1, 32);
 * const y = conv.forward(x); // x [batch, 64, 1] -> y [batch, 62, 32]
 * new Conv1D(3, 1, 32, 1, { padding: 'same' }); // x [batch, 64, 1] -> y [batch, 64, 32]
 */
export class Conv1D extends Conv {
  /** The layer's description: model files, `toString` and `fromArchitecture` derive from it. */
  static readonly spec: LayerSpec<Conv1D> = {
    type: 'Conv1D',
    args: [{ name: 'kSize', kind: 'int' }, ...convArgs],
    params: (a) => ({
      weight: [a.kSize as number, a.chanIn as number, a.chanOut as number],
      bias: [a.chanOut as number],
    }),
    build: (a, _c, rng) =>
      new Conv1D(a.kSize as number, a.chanIn as number, a.chanOut as number, a.stride as number, {
        rng,
        padding: a.padding as ConvPadding,
      }),
  };

  /** Window length. */
  readonly kSize: number;
  protected readonly window: readonly [number, number];
  protected readonly oneD = true;

  constructor(
    kSize: number,
    chanIn: number,
    chanOut: number,
    stride = 1,
    options: ConvOptions = {},
  ) {
    super('Conv1D', { kSize }, chanIn, chanOut, stride, options);
    this.kSize = kSize;
    this.window = [1, kSize];
  }

  outputShape(s: readonly number[], method = 'forward'): number[] {
    const [l0, l1] = this.pads(this.kSize);
    if (s.length !== 3 || s[1]! + l0 + l1 < this.kSize || s[2] !== this.chanIn) {
      throw shapeError(
        `Conv1D.${method}`,
        `input [batch, length >= ${this.kSize - l0 - l1}, ${this.chanIn}]`,
        s,
      );
    }
    return [s[0]!, Conv.outLen(s[1]! + l0 + l1, this.kSize, this.stride), this.chanOut];
  }

  /** @internal */
  protected geometry(s: readonly number[]): Geometry {
    const [left, right] = this.pads(this.kSize);
    return {
      batch: s[0]!,
      h: 1,
      w: s[1]!,
      ph: 1,
      pw: s[1]! + left + right,
      top: 0,
      bottom: 0,
      left,
      right,
    };
  }
}

/**
 * 2-D convolution over [batch, height, width, chanIn] (channels last), weights initialised
 * uniform in ±1/sqrt(kH·kW·chanIn).
 * @param kH Window height. @param kW Window width. @param chanIn Input channels.
 * @param chanOut Filters. @param stride Step between windows along both axes (default 1).
 * @param options `padding` ('valid' default, or 'same' with stride 1) and the init `rng`.
 * @throws TorchletError `BAD_ARGUMENT` when a size is not a positive integer or padding is unknown.
 * @example
 * const conv = new Conv2D(5, 5, 1, 8);
 * const y = conv.forward(x); // x [batch, 28, 28, 1] -> y [batch, 24, 24, 8]
 */
export class Conv2D extends Conv {
  /** The layer's description: model files, `toString` and `fromArchitecture` derive from it. */
  static readonly spec: LayerSpec<Conv2D> = {
    type: 'Conv2D',
    args: [{ name: 'kH', kind: 'int' }, { name: 'kW', kind: 'int' }, ...convArgs],
    params: (a) => ({
      weight: [a.kH as number, a.kW as number, a.chanIn as number, a.chanOut as number],
      bias: [a.chanOut as number],
    }),
    build: (a, _c, rng) =>
      new Conv2D(
        a.kH as number,
        a.kW as number,
        a.chanIn as number,
        a.chanOut as number,
        a.stride as number,
        { rng, padding: a.padding as ConvPadding },
      ),
  };

  /** Window height. */
  readonly kH: number;
  /** Window width. */
  readonly kW: number;
  protected readonly window: readonly [number, number];
  protected readonly oneD = false;

  constructor(
    kH: number,
    kW: number,
    chanIn: number,
    chanOut: number,
    stride = 1,
    options: ConvOptions = {},
  ) {
    super('Conv2D', { kH, kW }, chanIn, chanOut, stride, options);
    this.kH = kH;
    this.kW = kW;
    this.window = [kH, kW];
  }

  outputShape(s: readonly number[], method = 'forward'): number[] {
    const [t, b] = this.pads(this.kH);
    const [l, r] = this.pads(this.kW);
    if (
      s.length !== 4 ||
      s[1]! + t + b < this.kH ||
      s[2]! + l + r < this.kW ||
      s[3] !== this.chanIn
    ) {
      throw shapeError(
        `Conv2D.${method}`,
        `input [batch, height >= ${this.kH - t - b}, width >= ${this.kW - l - r}, ${this.chanIn}]`,
        s,
      );
    }
    return [
      s[0]!,
      Conv.outLen(s[1]! + t + b, this.kH, this.stride),
      Conv.outLen(s[2]! + l + r, this.kW, this.stride),
      this.chanOut,
    ];
  }

  /** @internal */
  protected geometry(s: readonly number[]): Geometry {
    const [top, bottom] = this.pads(this.kH);
    const [left, right] = this.pads(this.kW);
    return {
      batch: s[0]!,
      h: s[1]!,
      w: s[2]!,
      ph: s[1]! + top + bottom,
      pw: s[2]! + left + right,
      top,
      bottom,
      left,
      right,
    };
  }
}
