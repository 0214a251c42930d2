// View layers: the same memory seen with another per-sample shape, row-major, so no element moves.
// Flatten: x [batch, d1, ..., dn] -> y [batch, d1·...·dn]; Reshape(...shape): x [batch, ...] ->
// y [batch, ...shape] with the same count per sample (a decoder's `Linear(k, 4·4·16) ->
// Reshape(4, 4, 16)`). Backward views delta with the input's shape. No kernel.

import { TorchletError, fmtShape } from './errors.js';
import {
  type Call,
  type Frame,
  type LayerSpec,
  Module,
  checkPositiveInt,
  shapeError,
} from './module.js';
import type { Tensor } from './tensor.js';

/**
 * Shared body of the view layers: forward and backward return the same memory seen with another
 * shape; subclasses only say which shape. A view reads as overwritten once what it views is, and
 * an escaping view (one the caller gets) also once this call site makes the next one, since the
 * memory under it may be a buffer its container reuses.
 */
abstract class ViewLayer extends Module {
  // Per frame: the last delta view handed back (the output view is the frame's own output).
  private readonly gradViews = new WeakMap<Frame, Tensor>();

  /** @internal The output is a view of the input: nothing to write. */
  override runForward(frame: Frame, x: Tensor, outShape: readonly number[]): Tensor {
    const prev = frame.lastOutput;
    const y = reuse(prev, x, outShape, frame.outputEscapes, this.writer('forward'));
    frame.record(x, y);
    return y;
  }

  /** @internal Views write no buffer: nothing to reserve. */
  override reserveForward(): void {}

  /** @internal Views write no buffer: nothing to reserve. */
  override reserveBackward(): void {}

  /** @internal dL/d(input) is delta viewed with the input's shape. */
  override runBackward(
    frame: Frame,
    delta: Tensor,
    _beta: 0 | 1 | null,
    wantDelta: boolean,
  ): Tensor | null {
    if (!wantDelta) return null;
    const prev = this.gradViews.get(frame) ?? null;
    const dx = reuse(
      prev,
      delta,
      frame.input.shape,
      frame.gradInputEscapes,
      this.writer('backward'),
    );
    this.gradViews.set(frame, dx);
    return dx;
  }

  // The hooks as copies, for completeness: runForward / runBackward above avoid the copy.
  protected updateOutput({ input, output }: Call): void {
    output.data.set(input.data);
  }

  protected updateGradInput(_call: Call, delta: Tensor, gradInput: Tensor): void {
    gradInput.data.set(delta.data);
  }

  override referenceForward(x: Float64Array): Float64Array {
    return x.slice();
  }
}

/**
 * Views each sample as one row: `[batch, ...] -> [batch, product]`, without copying. The output
 * (and the delta backward returns) share memory with the input (and the incoming delta).
 * @example
 * const net = new Sequential(new Conv1D(3, 1, 32), new MaxPool1D(2), new Flatten(), new Linear(992, 10));
 */
export class Flatten extends ViewLayer {
  /** The layer's description: model files, `toString` and `fromArchitecture` derive from it. */
  static readonly spec: LayerSpec<Flatten> = {
    type: 'Flatten',
    args: [],
    build: () => new Flatten(),
  };

  outputShape(s: readonly number[], method = 'forward'): number[] {
    if (s.length < 2)
      throw shapeError(`Flatten.${method}`, 'input [batch, ...] with at least 2 dimensions', s);
    return [s[0]!, s.slice(1).reduce((a, b) => a * b, 1)];
  }
}

/**
 * Views each sample with another shape, without copying: `[batch, ...] -> [batch, ...shape]`.
 * The output (and the delta backward returns) share memory with the input (and the delta).
 * @param shape Per-sample shape, 1 to 8 positive integers.
 * @throws TorchletError `BAD_ARGUMENT` when a size is not a positive integer.
 * @example
 * const net = new Sequential(new Linear(10, 256), new Reshape(4, 4, 16), new Upsample2D(2)); // -> [batch, 8, 8, 16]
 */
export class Reshape extends ViewLayer {
  /** The layer's description: model files, `toString` and `fromArchitecture` derive from it. */
  static readonly spec: LayerSpec<Reshape> = {
    type: 'Reshape',
    args: [{ name: 'shape', kind: 'ints' }],
    build: (a) => new Reshape(...(a.shape as number[])),
  };

  /** Per-sample output shape. */
  readonly shape: readonly number[];
  private readonly count: number;

  constructor(...shape: number[]) {
    super();
    // The same 1 to 8 dimensions model files accept, so every Reshape saves.
    if (shape.length < 1 || shape.length > 8) {
      throw new TorchletError(
        'BAD_ARGUMENT',
        `Reshape: expected 1 to 8 dimensions, got ${shape.length}`,
      );
    }
    shape.forEach((d, i) => checkPositiveInt(d, 'Reshape', `shape[${i}]`));
    this.shape = Object.freeze([...shape]);
    this.count = shape.reduce((a, b) => a * b, 1);
  }

  outputShape(s: readonly number[], method = 'forward'): number[] {
    const per = s.slice(1).reduce((a, b) => a * b, 1);
    if (s.length < 2 || per !== this.count) {
      throw shapeError(
        `Reshape.${method}`,
        `input [batch, ...] with ${this.count} elements per sample for ${fmtShape(this.shape)}`,
        s,
      );
    }
    return [s[0]!, ...this.shape];
  }

  /** `Reshape(d1, ..., dn)`. */
  override toString(): string {
    return `Reshape(${this.shape.join(', ')})`;
  }
}

/**
 * A view of `from` with `shape`: the previous one when it views the same tensor and stays inside
 * its container (a training step passes the same buffers every time, so nothing is allocated);
 * else a new one, marking an escaping previous one overwritten by `writer`.
 */
function reuse(
  prev: Tensor | null,
  from: Tensor,
  shape: readonly number[],
  escapes: boolean,
  writer: string,
): Tensor {
  if (!escapes && prev !== null && prev.viewed === from && !prev.overwritten) return prev;
  if (escapes && prev !== null && prev !== from) prev.markOverwritten(writer);
  return from.reshape(shape);
}
