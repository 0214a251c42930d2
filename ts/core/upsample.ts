// Upsample1D / Upsample2D: nearest-neighbour upsampling by integer factors, channels last.
// 1-D x [batch, length, c] -> y [batch, length·s, c], y[b, t, c] = x[b, floor(t / s), c];
// 2-D x [batch, h, w, c] -> y [batch, h·sH, w·sW, c]. Backward sums delta over each copied block.
// No parameters. Kernels: upsample_forward / upsample_backward_delta in crates/kernels/src/upsample.rs.

import { type Call, type LayerSpec, Module, checkPositiveInt, shapeError } from './module.js';
import type { Tensor } from './tensor.js';
import { kernels } from './wasm.js';

/** Float64 nearest-neighbour upsampling (1-D is height = sh = 1), for gradCheck. */
function referenceUpsample(
  x: Float64Array,
  batch: number,
  h: number,
  w: number,
  c: number,
  sh: number,
  sw: number,
): Float64Array {
  const oh = h * sh;
  const ow = w * sw;
  const y = new Float64Array(batch * oh * ow * c);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        for (let ch = 0; ch < c; ch++) {
          y[((b * oh + i) * ow + j) * c + ch] =
            x[((b * h + Math.floor(i / sh)) * w + Math.floor(j / sw)) * c + ch]!;
        }
      }
    }
  }
  return y;
}

/** The shared passes: every input is seen as [batch, height, width, c]. */
abstract class Upsample extends Module {
  /** The input as [batch, height, width, c] and the factors [sh, sw]. */
  protected abstract dims(
    shape: readonly number[],
  ): [number, number, number, number, number, number];

  protected updateOutput({ input, output }: Call): void {
    kernels().upsample_forward(input.ptr, output.ptr, ...this.dims(input.shape));
  }

  protected updateGradInput({ input }: Call, delta: Tensor, gradInput: Tensor): void {
    kernels().upsample_backward_delta(delta.ptr, gradInput.ptr, ...this.dims(input.shape));
  }

  override referenceForward(x: Float64Array, shape: readonly number[]): Float64Array {
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
  /** The layer's description: model files, `toString` and `fromArchitecture` derive from it. */
  static readonly spec: LayerSpec<Upsample1D> = {
    type: 'Upsample1D',
    args: [{ name: 'scale', kind: 'int' }],
    build: (a) => new Upsample1D(a.scale as number),
  };
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
  /** The layer's description: model files, `toString` and `fromArchitecture` derive from it. */
  static readonly spec: LayerSpec<Upsample2D> = {
    type: 'Upsample2D',
    args: [
      { name: 'sH', kind: 'int' },
      { name: 'sW', kind: 'int' },
    ],
    build: (a) => new Upsample2D(a.sH as number, a.sW as number),
  };
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
    if (s.length !== 4)
      throw shapeError(`Upsample2D.${method}`, 'input [batch, height, width, chan]', s);
    return [s[0]!, s[1]! * this.sH, s[2]! * this.sW, s[3]!];
  }

  protected dims(s: readonly number[]): [number, number, number, number, number, number] {
    return [s[0]!, s[1]!, s[2]!, s[3]!, this.sH, this.sW];
  }
}
