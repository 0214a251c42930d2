// Flatten: x [batch, d1, ..., dn] -> y [batch, d1·...·dn], the same memory seen with another shape
// (row-major, so no element moves); backward reshapes delta back the same way. No kernel: both
// passes are `Tensor.reshape` views.

import { shapeError } from './module.js';
import { ViewLayer } from './reshape.js';

/**
 * Views each sample as one row: `[batch, ...] -> [batch, product]`, without copying. The output
 * (and the delta backward returns) share memory with the input (and the incoming delta).
 * @example
 * const net = new Sequential(new Conv1D(3, 1, 32), new MaxPool1D(2), new Flatten(), new Linear(992, 10));
 */
export class Flatten extends ViewLayer {
  readonly type = 'Flatten';

  outputShape(s: readonly number[], method = 'forward'): number[] {
    if (s.length < 2) throw shapeError(`Flatten.${method}`, 'input [batch, ...] with at least 2 dimensions', s);
    return [s[0]!, s.slice(1).reduce((a, b) => a * b, 1)];
  }
}
