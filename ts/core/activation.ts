// Activations: TanH, Sigmoid, ReLU element-wise on any shape; Softmax row-wise over the last
// dimension; Dropout. TanH/Sigmoid/Softmax backward read the forward output y (dx = delta·(1 - y²),
// delta·y(1 - y), y ⊙ (delta - Σ delta·y)); ReLU reads the input. Dropout in training keeps each
// element with probability 1 - p and scales it by 1/(1 - p): y = x ⊙ m, dx = delta ⊙ m, with the
// mask m saved by the forward; in evaluation it is the identity. Kernels: activation.rs.

import { TorchletError } from './errors.js';
import { type Call, type Frame, type LayerSpec, Module, shapeError, show } from './module.js';
import { Rng, defaultRng } from './rng.js';
import type { Tensor } from './tensor.js';
import { type Kernels, type Ptr, kernels } from './wasm.js';

type ElementwiseKernel = (x: Ptr, y: Ptr, n: number) => void;
type ElementwiseBackward = (saved: Ptr, delta: Ptr, dx: Ptr, n: number) => void;

/** Shared body of the element-wise activations: shape in = shape out. */
abstract class Elementwise extends Module {
  /** @internal The forward kernel: y = f(x) over n floats. */
  protected abstract forwardKernel(k: Kernels): ElementwiseKernel;
  /** @internal The backward kernel: dx from delta and the saved input or output. */
  protected abstract backwardKernel(k: Kernels): ElementwiseBackward;
  /** Whether backward reads the forward output (true) or the input (false). */
  protected abstract readonly backwardFromOutput: boolean;
  /** @internal f in float64, for the reference forward that gradCheck compares with. */
  protected abstract f(x: number): number;

  outputShape(s: readonly number[], method = 'forward'): number[] {
    if (s.length < 1) throw shapeError(`${this.type}.${method}`, 'input [batch, ...]', s);
    return [...s];
  }

  protected updateOutput({ input, output }: Call): void {
    const k = kernels();
    this.forwardKernel(k).call(k, input.ptr, output.ptr, input.size);
  }

  protected updateGradInput({ input, output }: Call, delta: Tensor, gradInput: Tensor): void {
    const k = kernels();
    const saved = this.backwardFromOutput ? output.ptr : input.ptr;
    this.backwardKernel(k).call(k, saved, delta.ptr, gradInput.ptr, input.size);
  }

  override referenceForward(x: Float64Array): Float64Array {
    return x.map((v) => this.f(v));
  }
}

/** The description of a layer without constructor arguments. */
function plain<M extends Module>(type: string, make: () => M): LayerSpec<M> {
  return { type, args: [], build: make };
}

/**
 * `y = tanh(x)`, element-wise.
 * @example new Sequential(new Linear(64, 50), new TanH())
 */
export class TanH extends Elementwise {
  /** The layer's description: model files, `toString` and `fromArchitecture` derive from it. */
  static readonly spec = plain('TanH', () => new TanH());
  protected readonly backwardFromOutput = true;
  /** @internal */
  protected forwardKernel(k: Kernels): ElementwiseKernel {
    return k.tanh_forward;
  }
  /** @internal */
  protected backwardKernel(k: Kernels): ElementwiseBackward {
    return k.tanh_backward_delta;
  }
  /** @internal */
  protected f(x: number): number {
    return Math.tanh(x);
  }
}

/**
 * `y = 1 / (1 + e^-x)`, element-wise.
 * @example new Sequential(new Linear(200, 64), new Sigmoid())
 */
export class Sigmoid extends Elementwise {
  /** The layer's description: model files, `toString` and `fromArchitecture` derive from it. */
  static readonly spec = plain('Sigmoid', () => new Sigmoid());
  protected readonly backwardFromOutput = true;
  /** @internal */
  protected forwardKernel(k: Kernels): ElementwiseKernel {
    return k.sigmoid_forward;
  }
  /** @internal */
  protected backwardKernel(k: Kernels): ElementwiseBackward {
    return k.sigmoid_backward_delta;
  }
  /** @internal */
  protected f(x: number): number {
    return 1 / (1 + Math.exp(-x));
  }
}

/**
 * `y = max(x, 0)`, element-wise; the gradient at 0 is 0 (as PyTorch).
 * @example new Sequential(new Linear(64, 100), new ReLU(), new Linear(100, 10))
 */
export class ReLU extends Elementwise {
  /** The layer's description: model files, `toString` and `fromArchitecture` derive from it. */
  static readonly spec = plain('ReLU', () => new ReLU());
  protected readonly backwardFromOutput = false;
  /** @internal */
  protected forwardKernel(k: Kernels): ElementwiseKernel {
    return k.relu_forward;
  }
  /** @internal */
  protected backwardKernel(k: Kernels): ElementwiseBackward {
    return k.relu_backward_delta;
  }
  /** @internal */
  protected f(x: number): number {
    return x > 0 ? x : 0;
  }
}

/**
 * Row-wise softmax over the last dimension: `y_j = e^{x_j} / Σ_k e^{x_k}` (shifted by the row max).
 * @example new Sequential(new Linear(64, 10), new Softmax()) // with CrossEntropyLoss
 */
export class Softmax extends Module {
  /** The layer's description: model files, `toString` and `fromArchitecture` derive from it. */
  static readonly spec = plain('Softmax', () => new Softmax());

  outputShape(s: readonly number[], method = 'forward'): number[] {
    if (s.length < 2 || s[s.length - 1] === 0)
      throw shapeError(`Softmax.${method}`, 'input [batch, ..., classes] with classes > 0', s);
    return [...s];
  }

  protected updateOutput({ input, output }: Call): void {
    const cols = input.shape[input.shape.length - 1]!;
    kernels().softmax_forward(input.ptr, output.ptr, input.size / cols, cols);
  }

  protected updateGradInput({ input, output }: Call, delta: Tensor, gradInput: Tensor): void {
    const cols = input.shape[input.shape.length - 1]!;
    kernels().softmax_backward_delta(output.ptr, delta.ptr, gradInput.ptr, input.size / cols, cols);
  }

  override referenceForward(x: Float64Array, shape: readonly number[]): Float64Array {
    const cols = shape[shape.length - 1]!;
    const y = new Float64Array(x.length);
    for (let r = 0; r < x.length / cols; r++) {
      const row = x.subarray(r * cols, (r + 1) * cols);
      const max = Math.max(...row);
      let sum = 0;
      for (let j = 0; j < cols; j++) sum += Math.exp(row[j]! - max);
      for (let j = 0; j < cols; j++) y[r * cols + j] = Math.exp(row[j]! - max) / sum;
    }
    return y;
  }
}

/** Options for `Dropout`. */
export interface DropoutOptions {
  /** Generator for the masks (default: the shared `defaultRng`; see `manualSeed`). */
  rng?: Rng;
}

/**
 * Dropout: in training (`train()`, the default) zeroes each element with probability `p` and
 * scales the others by 1/(1 - p), a new mask per forward drawn from the seeded generator; in
 * evaluation (`eval()`) passes the input through. The backward uses the forward's mask.
 * @param p Drop probability in [0, 1) (default 0.5).
 * @throws TorchletError `BAD_ARGUMENT` when p is outside [0, 1).
 * @example
 * const net = new Sequential(new Linear(64, 100), new ReLU(), new Dropout(0.2), new Linear(100, 10));
 * net.eval(); // for prediction
 */
export class Dropout extends Module {
  /** The layer's description: model files, `toString` and `fromArchitecture` derive from it. */
  static readonly spec: LayerSpec<Dropout> = {
    type: 'Dropout',
    args: [{ name: 'p', kind: 'fraction' }],
    build: (a, _children, rng) => new Dropout(a.p as number, { rng }),
  };

  /** Drop probability. */
  readonly p: number;
  private readonly rng: Rng;

  constructor(p = 0.5, options: DropoutOptions = {}) {
    super();
    if (typeof p !== 'number' || !(p >= 0 && p < 1)) {
      throw new TorchletError('BAD_ARGUMENT', `Dropout: expected p in [0, 1), got ${show(p)}`);
    }
    const rng = options.rng ?? defaultRng;
    if (!(rng instanceof Rng))
      throw new TorchletError(
        'BAD_ARGUMENT',
        `Dropout: expected options.rng to be an Rng, got ${typeof rng}`,
      );
    this.p = p;
    this.rng = rng;
  }

  outputShape(s: readonly number[], method = 'forward'): number[] {
    if (s.length < 1) throw shapeError(`Dropout.${method}`, 'input [batch, ...]', s);
    return [...s];
  }

  protected override savedSize(shape: readonly number[]): number {
    return shape.reduce((a, b) => a * b, 1);
  }

  protected updateOutput({ input, output, saved }: Call): void {
    const mask = saved!.data;
    if (this.training && this.p > 0) {
      const keep = 1 / (1 - this.p);
      for (let i = 0; i < mask.length; i++) mask[i] = this.rng.next() < this.p ? 0 : keep;
    } else {
      mask.fill(1);
    }
    kernels().dropout_forward(input.ptr, saved!.ptr, output.ptr, input.size);
  }

  protected updateGradInput({ saved }: Call, delta: Tensor, gradInput: Tensor): void {
    kernels().dropout_backward_delta(delta.ptr, saved!.ptr, gradInput.ptr, delta.size);
  }

  /** The last forward's mask applied in float64 (gradCheck differentiates that same function). */
  override referenceForward(
    x: Float64Array,
    _s: readonly number[],
    _p: Float64Array[],
    frame: Frame,
  ): Float64Array {
    const mask = frame.saved?.data;
    return mask === undefined ? x.slice() : x.map((v, i) => v * mask[i]!);
  }
}
