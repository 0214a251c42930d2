// Upsample1D / Upsample2D: nearest-neighbour upsampling by integer factors, channels last.
// 1-D x [batch, length, c] -> y [batch, length·s, c], y[b, t, c] = x[b, floor(t / s), c];
// 2-D x [batch, h, w, c] -> y [batch, h·sH, w·sW, c]. Backward sums delta over each copied block.
// No parameters. Kernels: upsample_forward / upsample_backward_delta in crates/kernels/src/upsample.rs.

import { Module, checkPositiveInt, shapeError } from './module.js';
import type { Tensor } from './tensor.js';
import { kernels } from './wasm.js';

/** Float64 nearest-neighbour upsampling (1-D is height = sh = 1), for gradCheck. */
function referenceUpsample(
  x: Float64Array, batch: number, h: number, w: number, c: number, sh: number, sw: number,
): Float64Array {
  const oh = h * sh;
  const ow = w * sw;
  const y = new Float64Array(batch * oh * ow * c);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        for (let ch = 0; ch < c; ch++) {
          y[((b * oh + i) * ow + j) * c + ch] = x[((b * h + Math.floor(i / sh)) * w + Math.floor(j / sw)) * c + ch]!;
        }
      }
    }
  }
  return y;
}

/** The shared passes: every input is seen as [batch, height, width, c]. */
abstract class Upsample extends Module {
  /** The input as [batch, height, width, c] and the factors [sh, sw]. */
  protected abstract dims(shape: readonly number[]): [number, number, number, number, number, number];

  protected forwardImpl(x: Tensor, outShape: readonly number[]): Tensor {
    const y = this.outputSlot.get(outShape);
    kernels().upsample_forward(x.ptr, y.ptr, ...this.dims(x.shape));
    return y;
  }

  backwardDeltaImpl(x: Tensor, delta: Tensor): Tensor {
    const dx = this.gradInputSlot.get(x.shape);
    kernels().upsample_backward_delta(delta.ptr, dx.ptr, ...this.dims(x.shape));
    return dx;
  }

  referenceForward(x: Float64Array, shape: readonly number[]): Float64Array {
    return referenceUpsample(x, ...this.dims(shape));
  }
}

/**
 * Repeats each position `scale` times along the length: [batch, length, c] -> [batch, length·scale, c].
 * @param scale Integer factor (default 2).
 * @throws TorchletError `BAD_ARGUMENT` when scale is not a positive integer.
 * @example
 * const up = new Upsample1D(2);
 * const y = up.forward(x); // x [batch, 31, 8] -> y [batch, 62, 8]
 */
export class Upsample1D extends Upsample {
  readonly type = 'Upsample1D';
  /** Factor along the length. */
  readonly scale: number;

  constructor(scale = 2) {
    super();
    this.scale = checkPositiveInt(scale, 'Upsample1D', 'scale');
  }

  outputShape(s: readonly number[], method = 'forward'): number[] {
    if (s.length !== 3) throw shapeError(`Upsample1D.${method}`, 'input [batch, length, chan]', s);
    return [s[0]!, s[1]! * this.scale, s[2]!];
  }

  protected dims(s: readonly number[]): [number, number, number, number, number, number] {
    return [s[0]!, 1, s[1]!, s[2]!, 1, this.scale];
  }

  /** `Upsample1D(scale)`. */
  override toString(): string {
    return `Upsample1D(${this.scale})`;
  }
}

/**
 * Repeats each pixel into an sH x sW block: [batch, h, w, c] -> [batch, h·sH, w·sW, c]
 * (PyTorch's `Upsample(mode='nearest')`, channels last).
 * @param sH Factor along the height (default 2). @param sW Factor along the width (default sH).
 * @throws TorchletError `BAD_ARGUMENT` when a factor is not a positive integer.
 * @example
 * const up = new Upsample2D(2);
 * const y = up.forward(x); // x [batch, 4, 4, 16] -> y [batch, 8, 8, 16]
 */
export class Upsample2D extends Upsample {
  readonly type = 'Upsample2D';
  /** Factor along the height. */
  readonly sH: number;
  /** Factor along the width. */
  readonly sW: number;

  constructor(sH = 2, sW = sH) {
    super();
    this.sH = checkPositiveInt(sH, 'Upsample2D', 'sH');
    this.sW = checkPositiveInt(sW, 'Upsample2D', 'sW');
  }

  outputShape(s: readonly number[], method = 'forward'): number[] {
    if (s.length !== 4) throw shapeError(`Upsample2D.${method}`, 'input [batch, height, width, chan]', s);
    return [s[0]!, s[1]! * this.sH, s[2]! * this.sW, s[3]!];
  }

  protected dims(s: readonly number[]): [number, number, number, number, number, number] {
    return [s[0]!, s[1]!, s[2]!, s[3]!, this.sH, this.sW];
  }

  /** `Upsample2D(sH, sW)`. */
  override toString(): string {
    return `Upsample2D(${this.sH}, ${this.sW})`;
  }
}
