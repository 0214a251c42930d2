// Linear: y = x W + b, with W [in, out] (the original design's layout; PyTorch stores [out, in])
// and b [out]. Input [batch, in], output [batch, out]. Backward: dx = delta Wᵀ,
// dW += xᵀ delta, db += Σ_batch delta. Kernels: linear_* in crates/kernels/src/gemm.rs.

import { Module, type Parameter, checkPositiveInt, shapeError } from './module.js';
import { Rng, defaultRng } from './rng.js';
import { Tensor } from './tensor.js';
import { kernels } from './wasm.js';

/** Options for `Linear`. */
export interface LinearOptions {
  /** Generator for the initial weights (default: the shared `defaultRng`; see `manualSeed`). */
  rng?: Rng;
}

/**
 * Fully connected layer `y = x W + b`, weights initialised uniform in ±1/sqrt(in).
 * @example
 * const fc = new Linear(64, 10);
 * const y = fc.forward(x); // x [batch, 64] -> y [batch, 10]
 */
export class Linear extends Module {
  readonly type = 'Linear';
  /** Input features. */
  readonly nIn: number;
  /** Output features. */
  readonly nOut: number;
  /** Weight [in, out]. */
  readonly weight: Tensor;
  /** Bias [out]. */
  readonly bias: Tensor;
  /** Accumulated dL/dW [in, out]. */
  readonly gradWeight: Tensor;
  /** Accumulated dL/db [out]. */
  readonly gradBias: Tensor;

  constructor(nIn: number, nOut: number, options: LinearOptions = {}) {
    super();
    this.nIn = checkPositiveInt(nIn, 'Linear', 'in');
    this.nOut = checkPositiveInt(nOut, 'Linear', 'out');
    const rng = options.rng ?? defaultRng;
    const bound = 1 / Math.sqrt(nIn);
    this.weight = Tensor.zeros([nIn, nOut]);
    this.bias = Tensor.zeros([nOut]);
    this.gradWeight = Tensor.zeros([nIn, nOut]);
    this.gradBias = Tensor.zeros([nOut]);
    rng.fillUniform(this.weight.data, -bound, bound);
    rng.fillUniform(this.bias.data, -bound, bound);
  }

  override parameters(): Parameter[] {
    return [
      { name: 'weight', value: this.weight, grad: this.gradWeight },
      { name: 'bias', value: this.bias, grad: this.gradBias },
    ];
  }

  outputShape(s: readonly number[], method = 'forward'): number[] {
    if (s.length !== 2 || s[1] !== this.nIn) throw shapeError(`Linear.${method}`, `input [batch, ${this.nIn}]`, s);
    return [s[0]!, this.nOut];
  }

  protected forwardImpl(x: Tensor, outShape: readonly number[]): Tensor {
    const y = this.outputSlot.get(outShape);
    kernels().linear_forward(x.ptr, y.ptr, this.weight.ptr, this.bias.ptr, x.shape[0]!, this.nIn, this.nOut);
    return y;
  }

  override backwardUpdateGradientImpl(x: Tensor, delta: Tensor): void {
    kernels().linear_backward_update_gradient(
      x.ptr, delta.ptr, this.gradWeight.ptr, this.gradBias.ptr, x.shape[0]!, this.nIn, this.nOut,
    );
  }

  /** @internal Writes dW = xᵀ delta, db = Σ delta (zeroGrad + backwardUpdateGradient in one pass). */
  override backwardSetGradientImpl(x: Tensor, delta: Tensor): void {
    this.checkLive('zeroGrad');
    kernels().linear_backward_set_gradient(
      x.ptr, delta.ptr, this.gradWeight.ptr, this.gradBias.ptr, x.shape[0]!, this.nIn, this.nOut,
    );
  }

  backwardDeltaImpl(x: Tensor, delta: Tensor): Tensor {
    const dx = this.gradInputSlot.get(x.shape);
    kernels().linear_backward_delta(delta.ptr, dx.ptr, this.weight.ptr, x.shape[0]!, this.nIn, this.nOut);
    return dx;
  }

  referenceForward(x: Float64Array, shape: readonly number[], [w, b]: Float64Array[]): Float64Array {
    const batch = shape[0]!;
    const y = new Float64Array(batch * this.nOut);
    for (let r = 0; r < batch; r++) {
      for (let o = 0; o < this.nOut; o++) {
        let s = b![o]!;
        for (let i = 0; i < this.nIn; i++) s += x[r * this.nIn + i]! * w![i * this.nOut + o]!;
        y[r * this.nOut + o] = s;
      }
    }
    return y;
  }

  /** `Linear(in, out)`. */
  override toString(): string {
    return `Linear(${this.nIn}, ${this.nOut})`;
  }
}

