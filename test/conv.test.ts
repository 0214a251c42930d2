// Conv1D / Conv2D: shapes and errors (state unchanged after a throw), hand-checkable values,
// gradCheck over kernel sizes, strides (including stride > kSize) and odd channel counts.
// Tolerances: gradCheck's defaults (atol 1e-4, rtol 1e-3: float32 sums of at most ~100 terms).
import { describe, expect, it, vi } from 'vitest';
import { kernels } from '../ts/core/wasm.js';
import { Conv1D, Conv2D, Rng, Tensor, gradCheck, init, memory } from '../ts/index.js';
import { expectError, expectGradOk, randTensor, stateHash } from './helpers.js';

await init();

describe('Conv1D', () => {
  it('maps [batch, length, inC] to [batch, (length - k) / stride + 1, outC]', () => {
    expect(new Conv1D(3, 1, 32).outputShape([5, 64, 1])).toEqual([5, 62, 32]);
    expect(new Conv1D(3, 2, 4, 2).outputShape([1, 8, 2])).toEqual([1, 3, 4]);
    expect(new Conv1D(4, 2, 4, 3).outputShape([1, 4, 2])).toEqual([1, 1, 4]);
    const conv = new Conv1D(3, 1, 32);
    expect(conv.weight.shape).toEqual([3, 1, 32]);
    expect(conv.bias.shape).toEqual([32]);
    expect(conv.gradWeight.shape).toEqual([3, 1, 32]);
    expect(conv.gradBias.shape).toEqual([32]);
    expect(conv.toString()).toBe('Conv1D(3, 1, 32)');
    expect(new Conv1D(3, 1, 2, 2).toString()).toBe('Conv1D(3, 1, 2, 2)');
  });

  it('computes sliding dot products on hand-checkable values', () => {
    // k = 2, one input channel, two filters: [1, 1] (sums) and [1, -1] (differences), bias [0, 10].
    const conv = new Conv1D(2, 1, 2);
    conv.weight.data.set([1, 1, 1, -1]); // [k=2, in=1, out=2]
    conv.bias.data.set([0, 10]);
    const x = Tensor.from([1, 2, 4, 8], [1, 4, 1]);
    expect(Array.from(conv.forward(x).data)).toEqual([3, 9, 6, 8, 12, 6]);
    const strided = new Conv1D(2, 1, 2, 2);
    strided.weight.data.set([1, 1, 1, -1]);
    strided.bias.data.set([0, 10]);
    expect(Array.from(strided.forward(x).data)).toEqual([3, 9, 12, 6]);
    // dx: each input collects weight · delta of every window covering it.
    const dx = conv.backwardDelta(x, Tensor.from([1, 0, 1, 0, 1, 0], [1, 3, 2]));
    expect(Array.from(dx.data)).toEqual([1, 2, 2, 1]);
  });

  it('initialises uniform in ±1/sqrt(kSize·chanIn), reproducibly from a seed', () => {
    const a = new Conv1D(3, 3, 50, 1, { rng: new Rng(4) });
    const b = new Conv1D(3, 3, 50, 1, { rng: new Rng(4) });
    const w = a.weight.data;
    expect(Math.max(...w)).toBeLessThanOrEqual(1 / 3);
    expect(Math.min(...w)).toBeGreaterThanOrEqual(-1 / 3);
    expect(Math.max(...w)).toBeGreaterThan(0.3);
    expect(Array.from(a.weight.data)).toEqual(Array.from(b.weight.data));
    expect(Array.from(a.bias.data)).toEqual(Array.from(b.bias.data));
  });

  const cases: Array<
    [k: number, cIn: number, cOut: number, stride: number, length: number, batch: number]
  > = [
    [1, 1, 1, 1, 1, 1],
    [3, 1, 4, 1, 9, 2],
    [3, 3, 5, 2, 10, 2],
    [2, 5, 3, 3, 11, 3], // stride > k: some inputs are in no window
    [7, 3, 2, 1, 7, 2], // kSize = length: one window
    [1, 3, 5, 2, 6, 1],
    [4, 2, 3, 2, 13, 2],
  ];
  for (const [k, cIn, cOut, stride, length, batch] of cases) {
    it(`passes gradCheck for Conv1D(${k}, ${cIn}, ${cOut}, ${stride}) on [${batch}, ${length}, ${cIn}]`, () => {
      const conv = new Conv1D(k, cIn, cOut, stride, { rng: new Rng(k * 100 + cIn * 10 + cOut) });
      expectGradOk(gradCheck(conv, randTensor([batch, length, cIn], length + stride)));
    });
  }

  it('rejects bad input and leaves weights and gradients unchanged', () => {
    const conv = new Conv1D(3, 1, 4);
    const hash = stateHash(conv);
    expectError(
      () => conv.forward(randTensor([32, 2, 1], 1)),
      'SHAPE_MISMATCH',
      /^Conv1D\.forward: expected input \[batch, length >= 3, 1\], got \[32, 2, 1\]$/,
    );
    expectError(
      () => conv.forward(randTensor([32, 64], 1)),
      'SHAPE_MISMATCH',
      /^Conv1D\.forward: expected input \[batch, length >= 3, 1\], got \[32, 64\]$/,
    );
    expectError(() => conv.forward(randTensor([2, 8, 2], 1)), 'SHAPE_MISMATCH', /got \[2, 8, 2\]$/);
    const x = randTensor([2, 8, 1], 2);
    conv.forward(x);
    expectError(
      () => conv.backwardUpdateGradient(x, randTensor([2, 5, 4], 3)),
      'SHAPE_MISMATCH',
      /^Conv1D\.backwardUpdateGradient: expected delta \[2, 6, 4\], got \[2, 5, 4\]$/,
    );
    expectError(
      () => conv.backwardDelta(randTensor([2, 8, 3], 2), randTensor([2, 6, 4], 3)),
      'SHAPE_MISMATCH',
      /^Conv1D\.backwardDelta: expected input \[batch, length >= 3, 1\], got \[2, 8, 3\]$/,
    );
    expect(stateHash(conv)).toBe(hash);
    expectError(
      () => new Conv1D(0, 1, 4),
      'BAD_ARGUMENT',
      /^Conv1D: expected kSize to be a positive integer, got 0$/,
    );
    expectError(
      () => new Conv1D(3, 1, 4, 1.5),
      'BAD_ARGUMENT',
      /^Conv1D: expected stride to be a positive integer, got 1.5$/,
    );
  });

  it('keeps its buffers across steps of the same shape (no allocation on the hot path)', () => {
    const conv = new Conv1D(3, 2, 4);
    const x = randTensor([4, 10, 2], 1);
    const d = randTensor([4, 8, 4], 2);
    const step = () => {
      conv.forward(x);
      conv.backwardUpdateGradient(x, d);
      return conv.backwardDelta(x, d);
    };
    const first = step();
    const at = first.ptr;
    const before = memory().liveBytes;
    const second = step();
    // The same memory under a new handle: the old one reads as overwritten, never as the new values.
    expect(second.ptr).toBe(at);
    expect(first.overwritten).toBe(true);
    expect(memory().liveBytes).toBe(before);
  });
});

describe('Conv2D', () => {
  it('maps [batch, h, w, inC] to [batch, (h - kH) / s + 1, (w - kW) / s + 1, outC]', () => {
    expect(new Conv2D(5, 5, 1, 8).outputShape([2, 28, 28, 1])).toEqual([2, 24, 24, 8]);
    expect(new Conv2D(3, 2, 3, 4, 2).outputShape([1, 7, 6, 3])).toEqual([1, 3, 3, 4]);
    const conv = new Conv2D(5, 3, 2, 7);
    expect(conv.weight.shape).toEqual([5, 3, 2, 7]);
    expect(conv.bias.shape).toEqual([7]);
    expect(conv.toString()).toBe('Conv2D(5, 3, 2, 7)');
  });

  it('computes window sums on hand-checkable values', () => {
    // A 2x2 all-ones filter over a 3x3 image 1..9 gives the 2x2 window sums, plus bias 1.
    const conv = new Conv2D(2, 2, 1, 1);
    conv.weight.data.fill(1);
    conv.bias.data.set([1]);
    const x = Tensor.from([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 3, 3, 1]);
    expect(Array.from(conv.forward(x).data)).toEqual([13, 17, 25, 29]);
    // The centre pixel is in all four windows, the corners in one.
    const dx = conv.backwardDelta(x, Tensor.from([1, 1, 1, 1], [1, 2, 2, 1]));
    expect(Array.from(dx.data)).toEqual([1, 2, 1, 2, 4, 2, 1, 2, 1]);
    conv.zeroGrad();
    conv.backwardUpdateGradient(x, Tensor.from([1, 0, 0, 0], [1, 2, 2, 1]));
    expect(Array.from(conv.gradWeight.data)).toEqual([1, 2, 4, 5]);
    expect(Array.from(conv.gradBias.data)).toEqual([1]);
  });

  const cases: Array<
    [
      kH: number,
      kW: number,
      cIn: number,
      cOut: number,
      stride: number,
      h: number,
      w: number,
      batch: number,
    ]
  > = [
    [1, 1, 1, 1, 1, 1, 1, 1],
    [3, 3, 1, 2, 1, 5, 5, 2],
    [2, 3, 3, 5, 2, 6, 7, 2],
    [2, 2, 3, 3, 3, 8, 7, 1], // stride > k
    [4, 5, 2, 3, 1, 4, 5, 2], // window = whole image
    [1, 1, 5, 3, 2, 5, 4, 2],
    [3, 2, 2, 4, 2, 7, 6, 1],
  ];
  for (const [kH, kW, cIn, cOut, stride, h, w, batch] of cases) {
    it(`passes gradCheck for Conv2D(${kH}, ${kW}, ${cIn}, ${cOut}, ${stride}) on [${batch}, ${h}, ${w}, ${cIn}]`, () => {
      const conv = new Conv2D(kH, kW, cIn, cOut, stride, {
        rng: new Rng(kH * 1000 + kW * 100 + cIn * 10 + cOut),
      });
      expectGradOk(gradCheck(conv, randTensor([batch, h, w, cIn], h * w + stride)));
    });
  }

  it('rejects bad input and leaves weights and gradients unchanged', () => {
    const conv = new Conv2D(5, 5, 1, 8);
    const hash = stateHash(conv);
    expectError(
      () => conv.forward(randTensor([2, 28, 4, 1], 1)),
      'SHAPE_MISMATCH',
      /^Conv2D\.forward: expected input \[batch, height >= 5, width >= 5, 1\], got \[2, 28, 4, 1\]$/,
    );
    expectError(() => conv.forward(randTensor([2, 784], 1)), 'SHAPE_MISMATCH', /got \[2, 784\]$/);
    expectError(
      () => conv.forward(randTensor([1, 6, 6, 3], 1)),
      'SHAPE_MISMATCH',
      /got \[1, 6, 6, 3\]$/,
    );
    const x = randTensor([1, 6, 6, 1], 2);
    conv.forward(x);
    expectError(
      () => conv.backward(randTensor([1, 2, 2, 7], 3)),
      'SHAPE_MISMATCH',
      /^Conv2D\.backward: expected delta \[1, 2, 2, 8\], got \[1, 2, 2, 7\]$/,
    );
    expect(stateHash(conv)).toBe(hash);
    expectError(
      () => new Conv2D(5, 0, 1, 8),
      'BAD_ARGUMENT',
      /^Conv2D: expected kW to be a positive integer, got 0$/,
    );
  });
});

// Issue 12, item 3: the workspace of the backward is computed and reserved (with dL/dx) before any
// gradient is written, and a size past 4 GiB (or one the kernel's 32-bit arithmetic reports as
// an overflow) throws OUT_OF_MEMORY with the gradients, the frame and the memory unchanged.
describe('Conv backward sizes past 4 GiB', () => {
  function expectUnchanged(c: Conv1D, f: () => unknown): void {
    const canary = randTensor([257], 9);
    const values = canary.toArray();
    const hash = stateHash(c);
    const before = memory();
    expectError(
      f,
      'OUT_OF_MEMORY',
      /^Conv1D\.backward: expected (a buffer below 2 GiB|buffers that fit in 4 GiB of WASM memory)/,
    );
    expect(memory()).toEqual(before);
    expect(stateHash(c)).toBe(hash);
    expect(canary.toArray()).toEqual(values);
  }

  it('a workspace length the kernel reports as an overflow (usize::MAX) is refused first', () => {
    const c = new Conv1D(3, 1, 2, 1, { rng: new Rng(1) });
    c.forward(randTensor([1, 5, 1], 1));
    c.backward(randTensor([1, 3, 2], 4)); // gradients non-zero: an overwrite shows in the hash
    const x = randTensor([2, 9, 1], 2);
    const d = randTensor([2, 7, 2], 3);
    c.forward(x); // a new shape: its backward reserves again, and asks the kernel for the size
    const k = kernels();
    const spy = vi.spyOn(k, 'conv1d_workspace_len').mockReturnValue(-1);
    try {
      expectUnchanged(c, () => c.backward(d));
    } finally {
      spy.mockRestore();
    }
    expect(c.backward(d).shape).toEqual([2, 9, 1]); // still pairs with the forward
  });

  // The two real reproductions take seconds each: test/conv.stress.ts, run by `npm run test:stress`.

  it('constructors past 4 GiB throw OUT_OF_MEMORY with nothing allocated', () => {
    const before = memory();
    expectError(
      () => new Conv1D(3, 30000, 30000),
      'OUT_OF_MEMORY',
      /^Conv1D: expected a buffer below 2 GiB \(the most one wasm32 allocation holds\), got 2700000000 elements/,
    );
    expectError(() => new Conv2D(3, 3, 20000, 20000), 'OUT_OF_MEMORY', /^Conv2D: expected/);
    expect(memory()).toEqual(before);
  });
});
