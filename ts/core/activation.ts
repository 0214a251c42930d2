// Activations: TanH, Sigmoid, ReLU element-wise on any shape; Softmax row-wise over the last
// dimension. TanH/Sigmoid/Softmax backward read the forward output y (dx = delta·(1 - y²),
// delta·y(1 - y), y ⊙ (delta - Σ delta·y)); ReLU reads the input. Kernels: activation.rs.

import { Module, shapeError } from './module.js';
import type { Tensor } from './tensor.js';
import { type Kernels, type Ptr, kernels } from './wasm.js';

type ElementwiseKernel = (x: Ptr, y: Ptr, n: number) => void;
type ElementwiseBackward = (saved: Ptr, delta: Ptr, dx: Ptr, n: number) => void;

/** Shared body of the element-wise activations: shape in = shape out. */
abstract class Elementwise extends Module {
  protected abstract forwardKernel(k: Kernels): ElementwiseKernel;
  protected abstract backwardKernel(k: Kernels): ElementwiseBackward;
  /** Whether backward reads the forward output (true) or the input (false). */
  protected abstract readonly backwardFromOutput: boolean;
  protected abstract f(x: number): number;

  outputShape(s: readonly number[], method = 'forward'): number[] {
    if (s.length < 1) throw shapeError(`${this.type}.${method}`, 'input [batch, ...]', s);
    return [...s];
  }

  protected forwardImpl(x: Tensor, outShape: readonly number[]): Tensor {
    const y = this.outputSlot.get(outShape);
    this.forwardKernel(kernels()).call(kernels(), x.ptr, y.ptr, x.size);
    return y;
  }

  backwardDeltaImpl(x: Tensor, delta: Tensor): Tensor {
    const dx = this.gradInputSlot.get(x.shape);
    const saved = this.backwardFromOutput ? this.lastOutput!.ptr : x.ptr;
    this.backwardKernel(kernels()).call(kernels(), saved, delta.ptr, dx.ptr, x.size);
    return dx;
  }

  referenceForward(x: Float64Array): Float64Array {
    return x.map((v) => this.f(v));
  }
}

/**
 * `y = tanh(x)`, element-wise.
 * @example new Sequential(new Linear(64, 50), new TanH())
 */
export class TanH extends Elementwise {
  readonly type = 'TanH';
  protected override readonly usesForwardState = true;
  protected readonly backwardFromOutput = true;
  protected forwardKernel(k: Kernels): ElementwiseKernel { return k.tanh_forward; }
  protected backwardKernel(k: Kernels): ElementwiseBackward { return k.tanh_backward_delta; }
  protected f(x: number): number { return Math.tanh(x); }
}

/**
 * `y = 1 / (1 + e^-x)`, element-wise.
 * @example new Sequential(new Linear(200, 64), new Sigmoid())
 */
export class Sigmoid extends Elementwise {
  readonly type = 'Sigmoid';
  protected override readonly usesForwardState = true;
  protected readonly backwardFromOutput = true;
  protected forwardKernel(k: Kernels): ElementwiseKernel { return k.sigmoid_forward; }
  protected backwardKernel(k: Kernels): ElementwiseBackward { return k.sigmoid_backward_delta; }
  protected f(x: number): number { return 1 / (1 + Math.exp(-x)); }
}

/**
 * `y = max(x, 0)`, element-wise; the gradient at 0 is 0 (as PyTorch).
 * @example new Sequential(new Linear(64, 100), new ReLU(), new Linear(100, 10))
 */
export class ReLU extends Elementwise {
  readonly type = 'ReLU';
  protected readonly backwardFromOutput = false;
  protected forwardKernel(k: Kernels): ElementwiseKernel { return k.relu_forward; }
  protected backwardKernel(k: Kernels): ElementwiseBackward { return k.relu_backward_delta; }
  protected f(x: number): number { return x > 0 ? x : 0; }
}

/**
 * Row-wise softmax over the last dimension: `y_j = e^{x_j} / Σ_k e^{x_k}` (shifted by the row max).
 * @example new Sequential(new Linear(64, 10), new Softmax()) // with CrossEntropyLoss
 */
export class Softmax extends Module {
  readonly type = 'Softmax';
  protected override readonly usesForwardState = true;

  outputShape(s: readonly number[], method = 'forward'): number[] {
    if (s.length < 2 || s[s.length - 1] === 0) throw shapeError(`Softmax.${method}`, 'input [batch, ..., classes] with classes > 0', s);
    return [...s];
  }

  protected forwardImpl(x: Tensor, outShape: readonly number[]): Tensor {
    const y = this.outputSlot.get(outShape);
    const cols = x.shape[x.shape.length - 1]!;
    kernels().softmax_forward(x.ptr, y.ptr, x.size / cols, cols);
    return y;
  }

  backwardDeltaImpl(x: Tensor, delta: Tensor): Tensor {
    const dx = this.gradInputSlot.get(x.shape);
    const cols = x.shape[x.shape.length - 1]!;
    kernels().softmax_backward_delta(this.lastOutput!.ptr, delta.ptr, dx.ptr, x.size / cols, cols);
    return dx;
  }

  referenceForward(x: Float64Array, shape: readonly number[]): Float64Array {
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
