// Linear: y = x W + b, with W [in, out] (the original design's layout; PyTorch stores [out, in])
// and b [out]. Input [batch, in], output [batch, out]. Backward: dx = delta Wᵀ,
// dW = β·dW + xᵀ delta, db = β·db + Σ_batch delta. Kernels: linear_* in crates/kernels/src/gemm.rs.

import {
  type Call,
  type LayerSpec,
  Module,
  type Parameter,
  allocateAll,
  checkPositiveInt,
  shapeError,
} from './module.js';
import { Rng, defaultRng } from './rng.js';
import type { Tensor } from './tensor.js';
import { kernels } from './wasm.js';

/** Options for `Linear`. */
export interface LinearOptions {
  /** Generator for the initial weights (default: the shared `defaultRng`; see `manualSeed`). */
  rng?: Rng;
}

/**
 * Fully connected layer `y = x W + b`, weights initialised uniform in ±1/sqrt(in).
 * @param nIn Input features. @param nOut Output features.
 * @throws TorchletError `BAD_ARGUMENT` when a size is not a positive integer.
 * @example
 * const fc = new Linear(64, 10);
 * const y = fc.forward(x); // x [batch, 64] -> y [batch, 10]
 */
export class Linear extends Module {
  /** The layer's description: model files, `toString` and `fromArchitecture` derive from it. */
  static readonly spec: LayerSpec<Linear> = {
    type: 'Linear',
    args: [
      { name: 'nIn', kind: 'int' },
      { name: 'nOut', kind: 'int' },
    ],
    params: (a) => ({ weight: [a.nIn as number, a.nOut as number], bias: [a.nOut as number] }),
    build: (a, _children, rng) => new Linear(a.nIn as number, a.nOut as number, { rng }),
  };

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
    this.nIn = checkPositiveInt(nIn, 'Linear', 'nIn');
    this.nOut = checkPositiveInt(nOut, 'Linear', 'nOut');
    const rng = options.rng ?? defaultRng;
    const bound = 1 / Math.sqrt(nIn);
    // All four or none: a size past WASM memory throws OUT_OF_MEMORY with nothing left allocated.
    [this.weight, this.bias, this.gradWeight, this.gradBias] = allocateAll('Linear', [
      [nIn, nOut],
      [nOut],
      [nIn, nOut],
      [nOut],
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

  outputShape(s: readonly number[], method = 'forward'): number[] {
    if (s.length !== 2 || s[1] !== this.nIn)
      throw shapeError(`Linear.${method}`, `input [batch, ${this.nIn}]`, s);
    return [s[0]!, this.nOut];
  }

  protected updateOutput({ input, output }: Call): void {
    kernels().linear_forward(
      input.ptr,
      output.ptr,
      this.weight.ptr,
      this.bias.ptr,
      input.shape[0]!,
      this.nIn,
      this.nOut,
    );
  }

  protected override accGradParameters({ input }: Call, delta: Tensor, beta: 0 | 1): void {
    kernels().linear_backward_update_gradient(
      input.ptr,
      delta.ptr,
      this.gradWeight.ptr,
      this.gradBias.ptr,
      input.shape[0]!,
      this.nIn,
      this.nOut,
      beta,
    );
  }

  protected updateGradInput({ input }: Call, delta: Tensor, gradInput: Tensor): void {
    kernels().linear_backward_delta(
      delta.ptr,
      gradInput.ptr,
      this.weight.ptr,
      input.shape[0]!,
      this.nIn,
      this.nOut,
    );
  }

  override referenceForward(
    x: Float64Array,
    shape: readonly number[],
    [w, b]: Float64Array[],
  ): Float64Array {
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
}
