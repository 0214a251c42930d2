// Reshape: x [batch, d1, ..., dn] -> y [batch, ...shape] with the same element count per sample,
// the inverse of Flatten (a decoder's `Linear(k, 4·4·16) -> Reshape(4, 4, 16)`). Row-major, so no
// element moves: both passes are `Tensor.reshape` views. No kernel.

import { fmtShape } from './errors.js';
import { Module, checkPositiveInt, shapeError } from './module.js';
import type { Tensor } from './tensor.js';

/**
 * Shared body of the view layers (Flatten, Reshape): forward and backward return the same memory
 * seen with another shape; subclasses only say which shape.
 */
export abstract class ViewLayer extends Module {
  // The last view made and what it views: a training loop passes the same tensors every step,
  // so reusing the view object keeps the hot path allocation-free.
  private forwardView: { from: Tensor; view: Tensor } | null = null;
  private backwardView: { from: Tensor; view: Tensor } | null = null;

  protected forwardImpl(x: Tensor, outShape: readonly number[]): Tensor {
    this.forwardView = reuse(this.forwardView, x, outShape);
    return this.forwardView.view;
  }

  backwardDeltaImpl(x: Tensor, delta: Tensor): Tensor {
    this.backwardView = reuse(this.backwardView, delta, x.shape);
    return this.backwardView.view;
  }

  referenceForward(x: Float64Array): Float64Array {
    return x.slice();
  }

  override dispose(): void {
    this.forwardView = null;
    this.backwardView = null;
    super.dispose();
  }
}

/**
 * Views each sample with another shape, without copying: `[batch, ...] -> [batch, ...shape]`.
 * The output (and the delta backward returns) share memory with the input (and the delta).
 * @param shape Per-sample shape, positive integers.
 * @throws TorchletError `BAD_ARGUMENT` when a size is not a positive integer.
 * @example
 * const net = new Sequential(new Linear(10, 256), new Reshape(4, 4, 16), new Upsample2D(2)); // -> [batch, 8, 8, 16]
 */
export class Reshape extends ViewLayer {
  readonly type = 'Reshape';
  /** Per-sample output shape. */
  readonly shape: readonly number[];
  private readonly count: number;

  constructor(...shape: number[]) {
    super();
    shape.forEach((d, i) => checkPositiveInt(d, 'Reshape', `shape[${i}]`));
    this.shape = Object.freeze([...shape]);
    this.count = shape.reduce((a, b) => a * b, 1);
  }

  outputShape(s: readonly number[], method = 'forward'): number[] {
    const per = s.slice(1).reduce((a, b) => a * b, 1);
    if (s.length < 2 || per !== this.count) {
      throw shapeError(`Reshape.${method}`, `input [batch, ...] with ${this.count} elements per sample for ${fmtShape(this.shape)}`, s);
    }
    return [s[0]!, ...this.shape];
  }

  /** `Reshape(d1, ..., dn)`. */
  override toString(): string {
    return `Reshape(${this.shape.join(', ')})`;
  }
}

function reuse(cached: { from: Tensor; view: Tensor } | null, from: Tensor, shape: readonly number[]): { from: Tensor; view: Tensor } {
  // A tensor's shape never changes, so the same source means the same view.
  if (cached !== null && cached.from === from && !cached.view.disposed) return cached;
  return { from, view: from.reshape(shape) };
}
