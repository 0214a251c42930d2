// MaxPool1D / MaxPool2D: shapes and errors (state unchanged after a throw), hand-checkable values,
// tie routing, and gradCheck on inputs without ties (a shuffled ramp: every gap >= 1/n, far above
// the finite-difference step). Tolerances: gradCheck's defaults; a max is exact, so values are too.
import { describe, expect, it } from 'vitest';
import {
  MaxPool1D,
  MaxPool2D,
  Rng,
  Sequential,
  Tensor,
  gradCheck,
  init,
  Linear,
  Flatten,
} from '../ts/index.js';
import { expectError, expectGradOk } from './helpers.js';

await init();

/** Distinct values in [-1, 1), shuffled: no two window elements tie. */
function distinctTensor(shape: number[], seed: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const values = new Rng(seed).shuffle(Float32Array.from({ length: n }, (_, i) => (2 * i) / n - 1));
  return Tensor.from(values, shape);
}

describe('MaxPool1D', () => {
  it('maps [batch, length, chan] to [batch, (length - k) / stride + 1, chan]; stride defaults to k', () => {
    expect(new MaxPool1D(2).outputShape([5, 62, 32])).toEqual([5, 31, 32]);
    expect(new MaxPool1D(2).outputShape([5, 63, 3])).toEqual([5, 31, 3]);
    expect(new MaxPool1D(3, 1).outputShape([1, 5, 2])).toEqual([1, 3, 2]);
    expect(new MaxPool1D(2).stride).toBe(2);
    expect(new MaxPool1D(2).toString()).toBe('MaxPool1D(2, 2)');
    expect(new MaxPool1D(2).parameters()).toEqual([]);
  });

  it('takes window maxima per channel and routes the gradient to the winners', () => {
    const pool = new MaxPool1D(2);
    // Two channels interleaved: channel 0 = 1, 5, 3, 2; channel 1 = -1, -4, 0, 7.
    const x = Tensor.from([1, -1, 5, -4, 3, 0, 2, 7], [1, 4, 2]);
    expect(Array.from(pool.forward(x).data)).toEqual([5, -1, 3, 7]);
    const dx = pool.backwardDelta(x, Tensor.from([10, 20, 30, 40], [1, 2, 2]));
    expect(Array.from(dx.data)).toEqual([0, 20, 10, 0, 30, 0, 0, 40]);
  });

  it('sends the gradient of a tie to the first maximal input, and overlapping wins add up', () => {
    const pool = new MaxPool1D(2, 1);
    const delta = Tensor.from([1, 2], [1, 2, 1]);
    const tie = Tensor.from([3, 3, 1], [1, 3, 1]);
    expect(Array.from(pool.forward(tie).data)).toEqual([3, 3]);
    expect(Array.from(pool.backwardDelta(tie, delta).data)).toEqual([1, 2, 0]);
    const peak = Tensor.from([1, 5, 2], [1, 3, 1]);
    pool.forward(peak);
    expect(Array.from(pool.backwardDelta(peak, delta).data)).toEqual([0, 3, 0]);
  });

  const cases: Array<[k: number, stride: number, length: number, chan: number, batch: number]> = [
    [1, 1, 1, 1, 1],
    [2, 2, 8, 3, 2],
    [3, 1, 7, 2, 2], // overlapping windows
    [2, 3, 10, 5, 2], // stride > k
    [6, 2, 6, 3, 3], // kSize = length
    [3, 2, 9, 1, 1],
  ];
  for (const [k, stride, length, chan, batch] of cases) {
    it(`passes gradCheck for MaxPool1D(${k}, ${stride}) on [${batch}, ${length}, ${chan}]`, () => {
      expectGradOk(
        gradCheck(new MaxPool1D(k, stride), distinctTensor([batch, length, chan], k * 10 + stride)),
      );
    });
  }

  it('rejects bad shapes, and a backward that does not follow the forward of the same input', () => {
    const pool = new MaxPool1D(3);
    expectError(
      () => pool.forward(distinctTensor([4, 2, 1], 1)),
      'SHAPE_MISMATCH',
      /^MaxPool1D\.forward: expected input \[batch, length >= 3, chan\], got \[4, 2, 1\]$/,
    );
    expectError(() => pool.forward(distinctTensor([4, 9], 1)), 'SHAPE_MISMATCH', /got \[4, 9\]$/);
    const x = distinctTensor([2, 9, 2], 2);
    const y = pool.forward(x).toArray();
    expectError(
      () => pool.backwardDelta(x, distinctTensor([2, 2, 2], 3)),
      'SHAPE_MISMATCH',
      /^MaxPool1D\.backwardDelta: expected delta \[2, 3, 2\], got \[2, 2, 2\]$/,
    );
    expectError(
      () => pool.backwardDelta(distinctTensor([2, 9, 2], 4), distinctTensor([2, 3, 2], 3)),
      'STALE',
      /^MaxPool1D\.backwardDelta: expected the input of this module's last forward/,
    );
    expect(Array.from(pool.output!.data)).toEqual(Array.from(y));
    expectError(
      () => new MaxPool1D(0),
      'BAD_ARGUMENT',
      /^MaxPool1D: expected kSize to be a positive integer, got 0$/,
    );
    expectError(
      () => new MaxPool1D(2, -1),
      'BAD_ARGUMENT',
      /^MaxPool1D: expected stride to be a positive integer, got -1$/,
    );
  });
});

describe('MaxPool2D', () => {
  it('maps [batch, h, w, chan] to [batch, (h - kH) / s + 1, (w - kW) / s + 1, chan]; stride defaults to kH', () => {
    expect(new MaxPool2D(2, 2).outputShape([3, 24, 24, 8])).toEqual([3, 12, 12, 8]);
    expect(new MaxPool2D(3, 2, 1).outputShape([1, 5, 4, 2])).toEqual([1, 3, 3, 2]);
    expect(new MaxPool2D(2, 2, 2).toString()).toBe('MaxPool2D(2, 2, 2)');
  });

  it('takes 2x2 window maxima and routes the gradient to the winners', () => {
    const pool = new MaxPool2D(2, 2);
    const x = Tensor.from([1, 2, 5, 0, 4, 3, 6, 7, 9, 8, 1, 1, 0, 0, 1, 2], [1, 4, 4, 1]);
    expect(Array.from(pool.forward(x).data)).toEqual([4, 7, 9, 2]);
    const dx = pool.backwardDelta(x, Tensor.from([1, 2, 3, 4], [1, 2, 2, 1]));
    // Ties (1, 1 in the bottom-right window) are not winners here: 2 wins alone.
    expect(Array.from(dx.data)).toEqual([0, 0, 0, 0, 1, 0, 0, 2, 3, 0, 0, 0, 0, 0, 0, 4]);
  });

  it('sends the gradient of a tie to the first maximal input in row-major window order', () => {
    const pool = new MaxPool2D(2, 2);
    const x = Tensor.from([0, 5, 5, 5], [1, 2, 2, 1]);
    pool.forward(x);
    expect(Array.from(pool.backwardDelta(x, Tensor.from([1], [1, 1, 1, 1])).data)).toEqual([
      0, 1, 0, 0,
    ]);
  });

  const cases: Array<
    [kH: number, kW: number, stride: number, h: number, w: number, chan: number, batch: number]
  > = [
    [1, 1, 1, 1, 1, 1, 1],
    [2, 2, 2, 6, 6, 3, 2],
    [3, 2, 1, 5, 4, 2, 2], // overlapping windows
    [2, 2, 3, 8, 7, 5, 1], // stride > k
    [4, 5, 1, 4, 5, 3, 2], // window = whole image
    [2, 3, 2, 7, 9, 1, 2],
  ];
  for (const [kH, kW, stride, h, w, chan, batch] of cases) {
    it(`passes gradCheck for MaxPool2D(${kH}, ${kW}, ${stride}) on [${batch}, ${h}, ${w}, ${chan}]`, () => {
      expectGradOk(
        gradCheck(
          new MaxPool2D(kH, kW, stride),
          distinctTensor([batch, h, w, chan], kH * 100 + kW * 10 + stride),
        ),
      );
    });
  }

  it('passes gradCheck inside a Sequential (backward reads the forward it followed)', () => {
    const net = new Sequential(
      new MaxPool2D(2, 2),
      new Flatten(),
      new Linear(18, 3, { rng: new Rng(1) }),
    );
    expectGradOk(gradCheck(net, distinctTensor([2, 4, 6, 3], 9)));
  });

  it('rejects bad shapes naming expected and got', () => {
    const pool = new MaxPool2D(2, 3);
    expectError(
      () => pool.forward(distinctTensor([1, 4, 2, 1], 1)),
      'SHAPE_MISMATCH',
      /^MaxPool2D\.forward: expected input \[batch, height >= 2, width >= 3, chan\], got \[1, 4, 2, 1\]$/,
    );
    expectError(() => pool.forward(distinctTensor([1, 16], 1)), 'SHAPE_MISMATCH', /got \[1, 16\]$/);
    expect(pool.output).toBeNull();
  });
});
