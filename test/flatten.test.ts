// Flatten: a view in both directions (same memory, no copy), shapes, errors, gradCheck alone and
// between a conv and a Linear. Tolerances: gradCheck's defaults.
import { describe, expect, it } from 'vitest';
import {
  Conv1D,
  Flatten,
  Linear,
  Rng,
  Sequential,
  Tensor,
  gradCheck,
  init,
  memory,
} from '../ts/index.js';
import { expectError, expectGradOk, randTensor } from './helpers.js';

await init();

describe('Flatten', () => {
  it('maps [batch, ...] to [batch, product] as a view of the input', () => {
    const f = new Flatten();
    const x = randTensor([2, 3, 4, 5], 1);
    const y = f.forward(x);
    expect(y.shape).toEqual([2, 60]);
    expect(y.ptr).toBe(x.ptr);
    expect(Array.from(y.data)).toEqual(Array.from(x.data));
    expect(f.outputShape([7, 9])).toEqual([7, 9]);
    expect(f.parameters()).toEqual([]);
  });

  it('reshapes delta back to the input shape, also as a view', () => {
    const f = new Flatten();
    const x = randTensor([2, 3, 2], 1);
    f.forward(x);
    const d = Tensor.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [2, 6]);
    const dx = f.backwardDelta(x, d);
    expect(dx.shape).toEqual([2, 3, 2]);
    expect(dx.ptr).toBe(d.ptr);
    expect(Array.from(dx.data)).toEqual(Array.from(d.data));
  });

  it('views the same memory every step (no allocation on the hot path)', () => {
    const f = new Flatten();
    const x = randTensor([4, 5, 2], 1);
    const d = randTensor([4, 10], 2);
    f.forward(x);
    f.backwardDelta(x, d);
    const before = memory().liveBytes;
    expect(f.forward(x).ptr).toBe(x.ptr);
    expect(f.backwardDelta(x, d).ptr).toBe(d.ptr);
    expect(memory().liveBytes).toBe(before);
  });

  it('passes gradCheck alone and between Conv1D and Linear', () => {
    expectGradOk(gradCheck(new Flatten(), randTensor([3, 2, 5], 1)));
    const rng = new Rng(2);
    const net = new Sequential(
      new Conv1D(3, 2, 3, 2, { rng }),
      new Flatten(),
      new Linear(12, 2, { rng }),
    );
    expectGradOk(gradCheck(net, randTensor([2, 9, 2], 3)));
  });

  it('rejects an input without feature dimensions', () => {
    const f = new Flatten();
    expectError(
      () => f.forward(randTensor([5], 1)),
      'SHAPE_MISMATCH',
      /^Flatten\.forward: expected input \[batch, \.\.\.\] with at least 2 dimensions, got \[5\]$/,
    );
    const x = randTensor([2, 3, 2], 1);
    f.forward(x);
    expectError(
      () => f.backwardDelta(x, randTensor([2, 5], 2)),
      'SHAPE_MISMATCH',
      /^Flatten\.backwardDelta: expected delta \[2, 6\], got \[2, 5\]$/,
    );
  });
});

// Issue 12, item 12: backwardDelta views delta with the shape of the input it is given (the last
// forward's), not the shape of an earlier input that delta was used with.
describe('Flatten.backwardDelta after a shape change', () => {
  it('returns dx shaped like the last input, [2, 4, 3], though d was last used with [2, 3, 4]', () => {
    const f = new Flatten();
    const d = randTensor([2, 12], 1);
    const a = randTensor([2, 3, 4], 2);
    f.forward(a);
    expect(f.backwardDelta(a, d).shape).toEqual([2, 3, 4]);
    const b = randTensor([2, 4, 3], 3);
    f.forward(b);
    const dx = f.backwardDelta(b, d);
    expect(dx.shape).toEqual([2, 4, 3]);
    expect(dx.toArray()).toEqual(d.toArray());
    expect(f.backward(d).shape).toEqual([2, 4, 3]);
  });
});
