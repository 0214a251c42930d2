// Metrics: hand-checkable accuracy, confusion matrix and mean squared error on a fixed Linear,
// and `evaluate` gathering them by name.
import { describe, expect, it } from 'vitest';
import {
  Linear,
  MSELoss,
  Tensor,
  accuracy,
  confusionMatrix,
  evaluate,
  init,
  meanSquaredError,
  predict,
} from '../ts/index.js';
import { expectError } from './helpers.js';

await init();

/** Linear(2, 3) computing y = [x0, x1, x0 + x1]: the arg-max is readable from x. */
function fixed(): Linear {
  const fc = new Linear(2, 3);
  fc.weight.data.set([1, 0, 1, 0, 1, 1]);
  fc.bias.data.set([0, 0, 0]);
  return fc;
}

describe('metrics', () => {
  const x = Tensor.from([5, -1, -1, 5, -2, -3, 1, 1], [4, 2]); // predicts 0, 1, 0, 2
  const y = Tensor.from([0, 1, 2, 2]);

  it('predict, accuracy and the confusion matrix agree with a hand count', () => {
    expect(Array.from(predict(fixed(), x))).toEqual([0, 1, 0, 2]);
    expect(accuracy(fixed(), { x, y })).toBe(0.75);
    expect(confusionMatrix(fixed(), { x, y })).toEqual({
      classes: 3,
      matrix: [
        [1, 0, 0],
        [0, 1, 0],
        [1, 0, 1],
      ],
    });
    expectError(
      () => confusionMatrix(fixed(), { x, y: Tensor.from([0, 1, 3, 2]) }),
      'LABEL_OUT_OF_RANGE',
      /confusionMatrix: label 3 out of range \[0, 3\) at y\[2\]/,
    );
  });

  it('meanSquaredError sums over features and averages over samples', () => {
    const target = Tensor.from([5, -1, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0], [4, 3]);
    // Row 0 is exact; rows 1-3 err by [-1,5,4], [-2,-3,-5], [1,1,2]: 42 + 38 + 6 = 86, / 4.
    expect(meanSquaredError(fixed(), { x, y: target })).toBeCloseTo(86 / 4, 5);
    const all = evaluate(fixed(), { x, y: target }, { loss: new MSELoss(), metrics: ['mse'] });
    expect(all['mse']).toBeCloseTo(21.5, 5);
    expect(all['loss']).toBeCloseTo(21.5, 5);
    expect(evaluate(fixed(), { x, y })).toEqual({ accuracy: 0.75 });
    expectError(
      () => evaluate(fixed(), { x, y }, { metrics: ['f1' as never] }),
      'BAD_ARGUMENT',
      /evaluate: expected metric to be one of accuracy, mse/,
    );
  });
});
