// Linear: shapes and errors (state unchanged after a throw), hand-checkable values, gradCheck.
import { describe, expect, it, vi } from 'vitest';
import { Linear, Rng, Tensor, TorchletError, gradCheck, init, memory } from '../ts/index.js';
import { expectError, expectGradOk, randTensor, stateHash } from './helpers.js';

await init();

describe('Linear', () => {
  it('computes y = x W + b on hand-checkable values', () => {
    const fc = new Linear(2, 3);
    fc.weight.data.set([1, 2, 3, 4, 5, 6]); // [in=2, out=3]
    fc.bias.data.set([0.5, -1, 0]);
    const x = Tensor.from([1, 1, 2, -1], [2, 2]);
    expect(Array.from(fc.forward(x).data)).toEqual([5.5, 6, 9, -1.5, -2, 0]);
    expect(fc.output!.shape).toEqual([2, 3]);
  });

  it('initialises uniform in ±1/sqrt(in), reproducibly from a seed', () => {
    const a = new Linear(64, 100, { rng: new Rng(3) });
    const b = new Linear(64, 100, { rng: new Rng(3) });
    const w = a.weight.data;
    expect(Math.max(...w)).toBeLessThanOrEqual(1 / 8);
    expect(Math.min(...w)).toBeGreaterThanOrEqual(-1 / 8);
    expect(Math.max(...w)).toBeGreaterThan(0.12);
    expect(Array.from(a.weight.data)).toEqual(Array.from(b.weight.data));
    expect(Array.from(a.bias.data)).toEqual(Array.from(b.bias.data));
  });

  for (const [nIn, nOut, batch] of [
    [1, 1, 1],
    [5, 3, 4],
    [17, 9, 3],
    [4, 16, 5],
  ] as const) {
    it(`passes gradCheck for Linear(${nIn}, ${nOut}) on batch ${batch}`, () => {
      const fc = new Linear(nIn, nOut, { rng: new Rng(nIn * 100 + nOut) });
      expectGradOk(gradCheck(fc, randTensor([batch, nIn], batch)));
    });
  }

  it('rejects bad input and leaves weights and gradients unchanged', () => {
    const fc = new Linear(64, 10);
    const hash = stateHash(fc);
    expectError(
      () => fc.forward(randTensor([32, 63], 1)),
      'SHAPE_MISMATCH',
      /^Linear\.forward: expected input \[batch, 64\], got \[32, 63\]$/,
    );
    expectError(
      () => fc.forward(randTensor([64], 1)),
      'SHAPE_MISMATCH',
      /expected input \[batch, 64\], got \[64\]/,
    );
    const nan = randTensor([2, 64], 1);
    nan.data[70] = NaN;
    expectError(
      () => fc.forward(nan),
      'NON_FINITE',
      /^Linear\.forward: expected finite input, got NaN at flat index 70$/,
    );
    expectError(
      () => fc.forward(Tensor.zeros([0, 64])),
      'EMPTY_BATCH',
      /Linear\.forward: expected input with at least one sample, got shape \[0, 64\]/,
    );
    const x = randTensor([3, 64], 2);
    fc.forward(x);
    expectError(
      () => fc.backwardUpdateGradient(x, randTensor([3, 9], 3)),
      'SHAPE_MISMATCH',
      /backwardUpdateGradient: expected delta \[3, 10\], got \[3, 9\]/,
    );
    const badDelta = randTensor([3, 10], 3);
    badDelta.data[0] = Infinity;
    expectError(
      () => fc.backwardDelta(x, badDelta),
      'NON_FINITE',
      /Linear\.backwardDelta: expected finite delta/,
    );
    expectError(
      () => fc.updateParameters(NaN),
      'BAD_ARGUMENT',
      /expected a finite gradientStep, got NaN/,
    );
    expectError(
      () => fc.forward([1, 2, 3] as never),
      'BAD_ARGUMENT',
      /expected input to be a Tensor, got an Array/,
    );
    expect(stateHash(fc)).toBe(hash);
    expect(() => new Linear(0, 3)).toThrow(/expected nIn to be a positive integer, got 0/);
  });

  it('updateParameters subtracts step * grad', () => {
    const fc = new Linear(2, 1);
    fc.weight.data.set([1, 2]);
    fc.bias.data.set([3]);
    fc.gradWeight.data.set([10, -10]);
    fc.gradBias.data.set([1]);
    fc.updateParameters(0.5);
    expect(Array.from(fc.weight.data)).toEqual([-4, 7]);
    expect(Array.from(fc.bias.data)).toEqual([2.5]);
    fc.updateParameters(); // default step 1e-3
    expect(fc.bias.data[0]).toBeCloseTo(2.499, 6);
  });
});

// Issue 12, item 4: a constructor allocates its four tensors all or none.
describe('Linear construction that does not fit', () => {
  it('new Linear(25000, 25000) throws OUT_OF_MEMORY with nothing allocated', () => {
    const before = memory();
    expectError(
      () => new Linear(25000, 25000),
      'OUT_OF_MEMORY',
      /^Linear: expected a buffer below 2 GiB \(the most one wasm32 allocation holds\), got 625000000 elements/,
    );
    expect(memory()).toEqual(before);
  });

  it('four tensors each below 2 GiB but past 4 GiB together: OUT_OF_MEMORY, nothing allocated', () => {
    const before = memory();
    expectError(
      () => new Linear(23170, 23170),
      'OUT_OF_MEMORY',
      /^Linear: expected parameters that fit in 4 GiB of WASM memory, got \d+ bytes needed/,
    );
    expect(memory()).toEqual(before);
  });

  it('an allocation failing midway frees the tensors made before it', () => {
    const before = memory();
    let calls = 0;
    const real = Tensor.zeros.bind(Tensor);
    const spy = vi.spyOn(Tensor, 'zeros').mockImplementation((shape) => {
      calls += 1;
      if (calls === 3) throw new TorchletError('OUT_OF_MEMORY', 'Tensor.zeros: simulated');
      return real(shape);
    });
    try {
      expectError(() => new Linear(64, 64), 'OUT_OF_MEMORY', /simulated/);
    } finally {
      spy.mockRestore();
    }
    expect(calls).toBe(3);
    expect(memory().liveBytes).toBe(before.liveBytes);
  });
});
