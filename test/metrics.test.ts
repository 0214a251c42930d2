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
  evaluateLoss,
  init,
  labelsOf,
  meanSquaredError,
  predict,
} from '../ts/index.js';
import { expectError, stateHash } from './helpers.js';

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

// Issue 12: labels are integers in [0, classes) for every metric (10, -1, 2.5 and 2^32 used to be
// counted, truncated or wrapped to class 0), the confusion matrix has a documented class limit
// (100000 classes aborted V8), and a non-module, a non-loss or an unknown option is a
// BAD_ARGUMENT, not a TypeError. Each throws before any forward runs: the state is unchanged.
describe('metrics reject what they cannot count', () => {
  const x = Tensor.from([5, -1, -1, 5, -2, -3, 1, 1], [4, 2]);

  for (const bad of [10, 3, -1, 2.5, 2 ** 32]) {
    it(`label ${bad} -> LABEL_OUT_OF_RANGE naming y[2], in accuracy, evaluate and confusionMatrix`, () => {
      const net = fixed();
      const hash = stateHash(net);
      const y = Tensor.from([0, 1, bad, 2]);
      const label = new RegExp(`label ${bad} out of range \\[0, 3\\) at y\\[2\\]$`);
      for (const [where, f] of [
        ['accuracy', () => accuracy(net, { x, y })],
        ['evaluate', () => evaluate(net, { x, y })],
        ['evaluate', () => evaluate(net, { x, y }, { loss: new MSELoss(), metrics: ['accuracy'] })],
        ['confusionMatrix', () => confusionMatrix(net, { x, y })],
      ] as const) {
        expectError(f, 'LABEL_OUT_OF_RANGE', new RegExp(`^${where}: ${label.source}`));
      }
      expect(stateHash(net)).toBe(hash);
    });
  }

  it('labelsOf neither truncates nor wraps', () => {
    expect(Array.from(labelsOf(Tensor.from([0, 3, 2 ** 30])))).toEqual([0, 3, 2 ** 30]);
    for (const bad of [2.5, -1, 2 ** 32, 2 ** 31, NaN]) {
      expectError(
        () => labelsOf(Tensor.from([1, bad])),
        'LABEL_OUT_OF_RANGE',
        new RegExp(`^labelsOf: label ${bad} out of range \\[0, 2147483648\\) at y\\[1\\]$`),
      );
    }
  });

  it('a one-hot y wider than the output names the row whose arg-max has no class', () => {
    const y = Tensor.from([1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0], [4, 4]);
    expectError(
      () => accuracy(fixed(), { x, y }),
      'LABEL_OUT_OF_RANGE',
      /^accuracy: label 3 \(the arg-max of a one-hot row\) out of range \[0, 3\) at y\[1\]$/,
    );
  });

  it('confusionMatrix counts at most 1024 classes, and no fewer than the output width', () => {
    const y = Tensor.from([0, 1, 2, 2]);
    expect(confusionMatrix(fixed(), { x, y }, 5).matrix).toEqual([
      [1, 0, 0, 0, 0],
      [0, 1, 0, 0, 0],
      [1, 0, 1, 0, 0],
      [0, 0, 0, 0, 0],
      [0, 0, 0, 0, 0],
    ]);
    expect(confusionMatrix(fixed(), { x, y }, 1024).matrix).toHaveLength(1024);
    for (const bad of [100000, 1025, 2, 0, 2.5, NaN, '4']) {
      expectError(
        () => confusionMatrix(fixed(), { x, y }, bad as number),
        'BAD_ARGUMENT',
        /^confusionMatrix: expected classes to be an integer in \[3, 1024\] \(the output width to the limit\), got /,
      );
    }
    const wide = new Linear(2, 1025);
    expectError(
      () => confusionMatrix(wide, { x, y }),
      'BAD_ARGUMENT',
      /^confusionMatrix: expected a network output of at most 1024 classes \(the matrix is classes²\), got 1025$/,
    );
  });

  it('a non-module, a non-loss or an unknown option is a BAD_ARGUMENT, not a TypeError', () => {
    const y = Tensor.from([0, 1, 2, 2]);
    const net = fixed();
    const hash = stateHash(net);
    const cases: Array<[() => unknown, RegExp]> = [
      [() => predict('net' as never, x), /^predict: expected net to be a Module, got "net"$/],
      [
        () => accuracy(null as never, { x, y }),
        /^accuracy: expected net to be a Module, got null$/,
      ],
      [
        () => evaluate({} as never, { x, y }),
        /^evaluate: expected net to be a Module, got an object/,
      ],
      [
        () => confusionMatrix(5 as never, { x, y }),
        /^confusionMatrix: expected net to be a Module/,
      ],
      [() => meanSquaredError(undefined as never, { x, y }), /^meanSquaredError: expected net/],
      [
        () => evaluateLoss(net, { x, y }, 'mse' as never),
        /^evaluateLoss: expected loss to be a Loss \(e\.g\. new MSELoss\(\)\), got "mse"$/,
      ],
      [
        () => evaluate(net, { x, y }, { loss: 'mse' as never }),
        /^evaluate: expected loss to be a Loss/,
      ],
      [
        () => evaluate(net, { x, y }, { metric: ['accuracy'] } as never),
        /^evaluate: expected a known option, got unknown key "metric"; did you mean `metrics`\?$/,
      ],
      [
        () => evaluate(net, { x, y }, { metrics: 'accuracy' } as never),
        /^evaluate: expected metrics to be an array of metrics, got "accuracy"$/,
      ],
      [() => evaluate(net, { x, y }, null as never), /^evaluate: expected options to be an object/],
    ];
    for (const [f, re] of cases) expectError(f, 'BAD_ARGUMENT', re);
    expect(stateHash(net)).toBe(hash);
  });
});
