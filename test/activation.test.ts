// Activations: values, shapes, gradCheck, and the errors.
import { describe, expect, it } from 'vitest';
import { ReLU, Sigmoid, Softmax, TanH, Tensor, gradCheck, init } from '../ts/index.js';
import { expectError, expectGradOk, randTensor } from './helpers.js';

await init();

describe('activations', () => {
  it('compute the right values, saturating without NaN at ±89', () => {
    const x = Tensor.from([-89, -1, 0, 1, 89, 1e-30], [1, 6]);
    expect(Array.from(new ReLU().forward(x).data)).toEqual(
      [0, 0, 0, 1, 89, 1e-30].map(Math.fround),
    );
    const t = new TanH().forward(x).data;
    expect(t[0]).toBe(-1);
    expect(t[4]).toBe(1);
    expect(t[3]).toBeCloseTo(Math.tanh(1), 6);
    expect(t[5]).toBeCloseTo(1e-30, 36);
    const s = new Sigmoid().forward(x).data;
    expect(s[0]).toBeLessThan(1e-30);
    expect(s[4]).toBe(1);
    expect(s[2]).toBe(0.5);
  });

  it('Softmax rows sum to 1', () => {
    const y = new Softmax().forward(randTensor([4, 7], 1, 5)).data;
    for (let r = 0; r < 4; r++) {
      let sum = 0;
      for (let j = 0; j < 7; j++) sum += y[r * 7 + j]!;
      expect(sum).toBeCloseTo(1, 6);
    }
  });

  for (const shape of [
    [1, 1],
    [3, 5],
    [2, 17],
    [4, 3, 2],
  ]) {
    it(`pass gradCheck on ${JSON.stringify(shape)}`, () => {
      expectGradOk(gradCheck(new TanH(), randTensor(shape, 1, 2)));
      expectGradOk(gradCheck(new Sigmoid(), randTensor(shape, 2, 3)));
      expectGradOk(gradCheck(new ReLU(), randTensor(shape, 3, 2, 0.01)));
      expectGradOk(gradCheck(new Softmax(), randTensor(shape, 4, 2)));
    });
  }

  it('reject bad input with the module named', () => {
    const nan = Tensor.from([1, NaN], [1, 2]);
    expectError(
      () => new TanH().forward(nan),
      'NON_FINITE',
      /^TanH\.forward: expected finite input, got NaN at flat index 1$/,
    );
    expectError(
      () => new Softmax().forward(Tensor.from([1, 2])),
      'SHAPE_MISMATCH',
      /Softmax\.forward: expected input \[batch, \.\.\., classes\]/,
    );
    expectError(() => new ReLU().forward(Tensor.zeros([0, 3])), 'EMPTY_BATCH', /ReLU\.forward/);
    const s = new Sigmoid();
    const x = randTensor([2, 3], 1);
    s.forward(x);
    expectError(
      () => s.backwardDelta(randTensor([2, 3], 2), randTensor([2, 3], 3)),
      'STALE',
      /expected the input of this module's last forward/,
    );
  });
});
