// Flatten: x [batch, d1, ..., dn] -> y [batch, d1·...·dn], the same memory seen with another shape
// (row-major, so no element moves); backward reshapes delta back the same way. No kernel: both
// passes are `Tensor.reshape` views.

import { Module, shapeError } from './module.js';
import type { Tensor } from './tensor.js';

/**
 * Views each sample as one row: `[batch, ...] -> [batch, product]`, without copying. The output
 * (and the delta backward returns) share memory with the input (and the incoming delta).
 * @example
 * const net = new Sequential(new Conv1D(3, 1, 32), new MaxPool1D(2), new Flatten(), new Linear(992, 10));
 */
export class Flatten extends Module {
  readonly type = 'Flatten';
  // The last view made and what it views: a training loop passes the same tensors every step,
  // so reusing the view object keeps the hot path allocation-free.
  private forwardView: { from: Tensor; view: Tensor } | null = null;
  private backwardView: { from: Tensor; view: Tensor } | null = null;

  outputShape(s: readonly number[], method = 'forward'): number[] {
    if (s.length < 2) throw shapeError(`Flatten.${method}`, 'input [batch, ...] with at least 2 dimensions', s);
    return [s[0]!, s.slice(1).reduce((a, b) => a * b, 1)];
  }

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

function reuse(cached: { from: Tensor; view: Tensor } | null, from: Tensor, shape: readonly number[]): { from: Tensor; view: Tensor } {
  // A tensor's shape never changes, so the same source means the same view.
  if (cached !== null && cached.from === from && !cached.view.disposed) return cached;
  return { from, view: from.reshape(shape) };
}
