// Upsample1D / Upsample2D (and Reshape, the decoder's other new piece): shapes and errors (state
// unchanged after a throw), hand-checkable values, SIMD tails of the channel runs, and gradCheck
// alone and inside a small convolutional decoder. Tolerances: gradCheck's defaults; copies are
// exact, so forward values are compared with toEqual.
import { describe, expect, it } from 'vitest';
import {
  Conv2D,
  Flatten,
  Linear,
  Reshape,
  Rng,
  Sequential,
  Sigmoid,
  Tensor,
  Upsample1D,
  Upsample2D,
  gradCheck,
  init,
  memory,
} from '../ts/index.js';
import { expectError, expectGradOk, randTensor } from './helpers.js';

await init();

describe('Upsample1D', () => {
  it('maps [batch, length, chan] to [batch, length·scale, chan]', () => {
    expect(new Upsample1D(2).outputShape([5, 31, 8])).toEqual([5, 62, 8]);
    expect(new Upsample1D().scale).toBe(2);
    expect(new Upsample1D(3).toString()).toBe('Upsample1D(3)');
    expect(new Upsample1D(3).parameters()).toEqual([]);
  });

  it('repeats each position and sums the delta back over the copies', () => {
    const up = new Upsample1D(3);
    // Two channels interleaved: channel 0 = 1, 2; channel 1 = -1, -2.
    const x = Tensor.from([1, -1, 2, -2], [1, 2, 2]);
    expect(Array.from(up.forward(x).data)).toEqual([1, -1, 1, -1, 1, -1, 2, -2, 2, -2, 2, -2]);
    const delta = Tensor.from([1, 10, 2, 20, 3, 30, 4, 40, 5, 50, 6, 60], [1, 6, 2]);
    expect(Array.from(up.backwardDelta(x, delta).data)).toEqual([6, 60, 15, 150]);
  });

  it('passes gradCheck for channel counts around the SIMD width', () => {
    for (const c of [1, 3, 4, 5, 17])
      expectGradOk(gradCheck(new Upsample1D(2), randTensor([2, 3, c], c)));
  });

  it('rejects bad factors and shapes, changing nothing', () => {
    expectError(
      () => new Upsample1D(0),
      'BAD_ARGUMENT',
      /^Upsample1D: expected scale to be a positive integer, got 0$/,
    );
    expectError(
      () => new Upsample1D(1.5),
      'BAD_ARGUMENT',
      /^Upsample1D: expected scale to be a positive integer, got 1.5$/,
    );
    const up = new Upsample1D(2);
    const x = randTensor([2, 3, 1], 1);
    const y = up.forward(x).toArray();
    expectError(
      () => up.forward(randTensor([2, 3], 1)),
      'SHAPE_MISMATCH',
      /^Upsample1D\.forward: expected input \[batch, length, chan\], got \[2, 3\]$/,
    );
    expectError(
      () => up.backwardDelta(x, randTensor([2, 5, 1], 2)),
      'SHAPE_MISMATCH',
      /^Upsample1D\.backwardDelta: expected delta \[2, 6, 1\], got \[2, 5, 1\]$/,
    );
    expect(up.output!.toArray()).toEqual(y);
  });
});

describe('Upsample2D', () => {
  it('maps [batch, h, w, chan] to [batch, h·sH, w·sW, chan]; sW defaults to sH', () => {
    expect(new Upsample2D(2).outputShape([3, 4, 5, 16])).toEqual([3, 8, 10, 16]);
    expect(new Upsample2D(2, 3).outputShape([1, 2, 2, 1])).toEqual([1, 4, 6, 1]);
    expect(new Upsample2D(2).sW).toBe(2);
    expect(new Upsample2D(2, 3).toString()).toBe('Upsample2D(2, 3)');
  });

  it('turns each pixel into a block and sums each block of delta', () => {
    const up = new Upsample2D(2);
    const x = Tensor.from([1, 2, 3, 4], [1, 2, 2, 1]);
    expect(Array.from(up.forward(x).data)).toEqual([
      1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4,
    ]);
    const delta = Tensor.from(
      Array.from({ length: 16 }, (_, i) => i),
      [1, 4, 4, 1],
    );
    // Block (0, 0) holds 0, 1, 4, 5; block (0, 1) 2, 3, 6, 7; and so on.
    expect(Array.from(up.backwardDelta(x, delta).data)).toEqual([10, 18, 42, 50]);
  });

  it('passes gradCheck with unequal factors and channel counts around the SIMD width', () => {
    for (const c of [1, 4, 5, 16])
      expectGradOk(gradCheck(new Upsample2D(2, 3), randTensor([2, 3, 2, c], c)));
  });

  it('reuses its buffers across steps of the same shape', () => {
    const up = new Upsample2D(2);
    const x = randTensor([4, 3, 3, 5], 1);
    const d = randTensor([4, 6, 6, 5], 2);
    const [y, dx] = [up.forward(x), up.backwardDelta(x, d)];
    const [yAt, dxAt] = [y.ptr, dx.ptr];
    const before = memory().liveBytes;
    expect(up.forward(x).ptr).toBe(yAt);
    expect(up.backwardDelta(x, d).ptr).toBe(dxAt);
    expect([y.overwritten, dx.overwritten]).toEqual([true, true]);
    expect(memory().liveBytes).toBe(before);
  });

  it('rejects a 3-D input', () => {
    expectError(
      () => new Upsample2D(2).forward(randTensor([2, 3, 4], 1)),
      'SHAPE_MISMATCH',
      /^Upsample2D\.forward: expected input \[batch, height, width, chan\], got \[2, 3, 4\]$/,
    );
  });
});

describe('Reshape', () => {
  it('views each sample with a new shape, both ways, without copying', () => {
    const r = new Reshape(2, 3);
    const x = randTensor([4, 6], 1);
    const y = r.forward(x);
    expect(y.shape).toEqual([4, 2, 3]);
    expect(y.ptr).toBe(x.ptr);
    const d = randTensor([4, 2, 3], 2);
    const dx = r.backwardDelta(x, d);
    expect(dx.shape).toEqual([4, 6]);
    expect(dx.ptr).toBe(d.ptr);
    expect(r.toString()).toBe('Reshape(2, 3)');
  });

  it('rejects a sample of the wrong size and bad sizes', () => {
    expectError(
      () => new Reshape(2, 3).forward(randTensor([4, 5], 1)),
      'SHAPE_MISMATCH',
      /^Reshape\.forward: expected input \[batch, \.\.\.\] with 6 elements per sample for \[2, 3\], got \[4, 5\]$/,
    );
    expectError(
      () => new Reshape(2, 0),
      'BAD_ARGUMENT',
      /^Reshape: expected shape\[1\] to be a positive integer, got 0$/,
    );
  });
});

describe('a convolutional decoder', () => {
  it('Linear -> Reshape -> Upsample2D -> Conv2D -> Sigmoid -> Flatten passes gradCheck', () => {
    const rng = new Rng(3);
    const dec = new Sequential(
      new Linear(3, 2 * 2 * 4, { rng }),
      new Reshape(2, 2, 4),
      new Upsample2D(2),
      new Conv2D(2, 2, 4, 1, 1, { rng }),
      new Sigmoid(),
      new Flatten(),
    );
    expect(dec.outputShape([5, 3])).toEqual([5, 9]);
    expectGradOk(gradCheck(dec, randTensor([2, 3], 4)));
  });
});
