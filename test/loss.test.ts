// Losses: values against float64, gradients by central differences (gradCheckLoss), labels as
// indices or one-hot for the class losses, dense targets for MSE/BCE, PyTorch's clamps, the
// reductions, and the errors.
import { describe, expect, it } from 'vitest';
import {
  BCELoss,
  CrossEntropyLoss,
  LogSoftmaxCrossEntropy,
  type LossOptions,
  MSELoss,
  REDUCTIONS,
  type Reduction,
  Rng,
  Softmax,
  Tensor,
  gradCheckLoss,
  init,
} from '../ts/index.js';
import { expectError, expectGradOk, randTensor } from './helpers.js';

await init();

function probabilities(rows: number, cols: number, seed: number): Tensor {
  const rng = new Rng(seed);
  return Tensor.from(
    Float32Array.from({ length: rows * cols }, () => rng.uniform(0.05, 0.95)),
    [rows, cols],
  );
}

function oneHot(labels: number[], cols: number): Tensor {
  const t = Tensor.zeros([labels.length, cols]);
  labels.forEach((l, r) => {
    t.data[r * cols + l] = 1;
  });
  return t;
}

describe('losses', () => {
  for (const [rows, cols] of [
    [1, 1],
    [3, 4],
    [5, 17],
    [2, 10],
  ] as const) {
    it(`pass gradCheckLoss on [${rows}, ${cols}]`, () => {
      const labels = Array.from({ length: rows }, (_, r) => (r * 3) % cols);
      const dense = probabilities(rows, cols, rows + cols + 100);
      expectGradOk(
        gradCheckLoss(new MSELoss(), randTensor([rows, cols], 1), randTensor([rows, cols], 2)),
      );
      expectGradOk(gradCheckLoss(new BCELoss(), dense, probabilities(rows, cols, 3)));
      expectGradOk(
        gradCheckLoss(new CrossEntropyLoss(), oneHot(labels, cols), probabilities(rows, cols, 4)),
      );
      expectGradOk(
        gradCheckLoss(
          new LogSoftmaxCrossEntropy(),
          oneHot(labels, cols),
          randTensor([rows, cols], 5, 4),
        ),
      );
      expectGradOk(
        gradCheckLoss(new LogSoftmaxCrossEntropy(), dense, randTensor([rows, cols], 6, 4)),
      ); // soft targets
    });
  }

  it('class losses accept class indices and one-hot alike', () => {
    const labels = Tensor.from([2, 0, 1]);
    const logits = randTensor([3, 4], 9, 3);
    const hot = oneHot([2, 0, 1], 4);
    const probs = new Softmax().forward(logits);
    for (const [loss, yhat] of [
      [new LogSoftmaxCrossEntropy(), logits],
      [new CrossEntropyLoss(), probs],
    ] as const) {
      expect(loss.forward(labels, yhat)).toBe(loss.forward(hot, yhat));
      expect(Array.from(loss.backward(labels, yhat).data)).toEqual(
        Array.from(loss.backward(hot, yhat).data),
      );
    }
  });

  // Issue 12.13: a regression target [batch] was read as class indices (real values threw
  // LABEL_OUT_OF_RANGE, zeros were one-hot encoded to 1.0).
  it('MSE and BCE read a [batch] target as dense for a [batch, 1] output', () => {
    const yhat = Tensor.from([0.5, 0.25, 0.75], [3, 1]);
    for (const y of [Tensor.from([0.1, 2.5, -1]), Tensor.zeros([3])]) {
      const column = Tensor.from(y.data.slice(), [3, 1]);
      for (const loss of [new MSELoss(), new BCELoss()]) {
        if (loss instanceof BCELoss && y.data.some((v) => v < 0 || v > 1)) continue;
        expect(loss.forward(y, yhat)).toBe(loss.forward(column, yhat));
        expect(Array.from(loss.backward(y, yhat).data)).toEqual(
          Array.from(loss.backward(column, yhat).data),
        );
      }
    }
    // All-zero targets: the loss is against 0, not a one-hot 1.0.
    expect(new MSELoss().forward(Tensor.zeros([3]), yhat)).toBeCloseTo(
      (0.25 + 0.0625 + 0.5625) / 3,
      6,
    );
    expect(new MSELoss().forward(Tensor.from([0.1, 2.5, -1]), yhat)).toBeCloseTo(
      (0.16 + 2.25 ** 2 + 1.75 ** 2) / 3,
      5,
    );
  });

  it('MSE and BCE refuse class indices for a wider output, naming the class losses', () => {
    for (const loss of [new MSELoss(), new BCELoss()]) {
      expectError(
        () => loss.forward(Tensor.from([0, 1]), probabilities(2, 3, 1)),
        'SHAPE_MISMATCH',
        new RegExp(
          `^${loss.type}\\.forward: expected y \\[2, 3\\] \\(dense, like yhat; class indices \\[batch\\] belong to CrossEntropyLoss and LogSoftmaxCrossEntropy\\), got \\[2\\]$`,
        ),
      );
    }
  });

  // Issue 12.13: LogSoftmaxCrossEntropy on [2, 3, 4] normalised over all 12 values of a sample,
  // while Softmax normalises the last dimension. The rule: class losses take [batch, classes].
  it('class losses take yhat [batch, classes] and refuse rank > 2', () => {
    const yhat = probabilities(2, 12, 7);
    const cube = Tensor.from(yhat.data.slice(), [2, 3, 4]);
    for (const loss of [new LogSoftmaxCrossEntropy(), new CrossEntropyLoss()]) {
      for (const y of [Tensor.zeros([2, 3, 4]), Tensor.from([0, 1])]) {
        expectError(
          () => loss.forward(y, cube),
          'SHAPE_MISMATCH',
          new RegExp(
            `^${loss.type}\\.forward: expected yhat \\[batch, classes\\] \\(the class dimension is the last, as Softmax's; Flatten first\\), got \\[2, 3, 4\\]$`,
          ),
        );
        expectError(() => loss.backward(y, cube), 'SHAPE_MISMATCH', /backward: expected yhat/);
      }
    }
  });

  it('MSE and BCE sum over every non-batch dimension of a dense target', () => {
    const yhat = probabilities(2, 12, 8);
    const cube = Tensor.from(yhat.data.slice(), [2, 3, 4]);
    const y = probabilities(2, 12, 9);
    const yCube = Tensor.from(y.data.slice(), [2, 3, 4]);
    for (const loss of [new MSELoss(), new BCELoss()])
      expect(loss.forward(yCube, cube)).toBe(loss.forward(y, yhat));
  });

  it('LogSoftmaxCrossEntropy equals CrossEntropyLoss after Softmax, and is stable at 1e4', () => {
    const labels = Tensor.from([1, 3]);
    const logits = randTensor([2, 5], 4, 2);
    const probs = new Softmax().forward(logits);
    expect(new LogSoftmaxCrossEntropy().forward(labels, logits)).toBeCloseTo(
      new CrossEntropyLoss().forward(labels, probs),
      5,
    );
    const huge = Tensor.from([1e4, 0, -1e4, 0], [2, 2]);
    const value = new LogSoftmaxCrossEntropy().forward(Tensor.from([1, 0]), huge);
    expect(value).toBeCloseTo((1e4 + 1e4) / 2, 0);
    expect(Number.isFinite(value)).toBe(true);
  });

  it('MSE is the batch mean of per-sample sums', () => {
    const y = Tensor.from([0, 0, 1, 1], [2, 2]);
    const yhat = Tensor.from([1, 0, 1, 3], [2, 2]);
    expect(new MSELoss().forward(y, yhat)).toBe((1 + 4) / 2);
    expect(Array.from(new MSELoss().backward(y, yhat).data)).toEqual([1, 0, 0, 2]);
  });

  it('BCE clamps at -100 and stays finite at 0 and 1', () => {
    const value = new BCELoss().forward(Tensor.from([1, 0], [1, 2]), Tensor.from([0, 1], [1, 2]));
    expect(value).toBeCloseTo(200, 3);
    const grad = new BCELoss().backward(
      Tensor.from([1, 0], [1, 2]),
      Tensor.from([0, 1], [1, 2]),
    ).data;
    expect(grad.every(Number.isFinite)).toBe(true);
  });

  it('reject bad targets with a message naming what was wrong', () => {
    const loss = new CrossEntropyLoss();
    const probs = probabilities(20, 10, 1);
    const labels = Tensor.from(Array.from({ length: 20 }, (_, i) => (i === 17 ? 10 : i % 10)));
    expectError(
      () => loss.forward(labels, probs),
      'LABEL_OUT_OF_RANGE',
      /^CrossEntropyLoss\.forward: label 10 out of range \[0, 10\) at y\[17\]$/,
    );
    expectError(
      () => loss.forward(Tensor.from([0.5, 1]), probabilities(2, 3, 1)),
      'LABEL_OUT_OF_RANGE',
      /label 0\.5 out of range/,
    );
    expectError(
      () => new MSELoss().forward(randTensor([3, 4], 1), randTensor([3, 5], 1)),
      'SHAPE_MISMATCH',
      /MSELoss\.forward: expected y \[3, 5\] \(dense, like yhat; class indices \[batch\] belong to CrossEntropyLoss and LogSoftmaxCrossEntropy\), got \[3, 4\]/,
    );
    expectError(
      () => new CrossEntropyLoss().forward(randTensor([3, 4], 1), probabilities(3, 5, 1)),
      'SHAPE_MISMATCH',
      /CrossEntropyLoss\.forward: expected y \[3\] \(class indices\) or \[3, 5\] \(like yhat\), got \[3, 4\]/,
    );
    expectError(
      () => new BCELoss().forward(randTensor([2, 2], 1), Tensor.from([0.5, 1.5, 0.2, 0.1], [2, 2])),
      'BAD_ARGUMENT',
      /BCELoss\.forward: expected yhat \(probabilities\) in \[0, 1\], got 1\.5 at flat index 1/,
    );
    expectError(
      () =>
        new LogSoftmaxCrossEntropy().forward(
          Tensor.from([0, 1]),
          Tensor.from([0, NaN, 1, 2], [2, 2]),
        ),
      'NON_FINITE',
      /LogSoftmaxCrossEntropy\.forward: expected finite yhat, got NaN/,
    );
    expectError(
      () => new MSELoss().backward(Tensor.zeros([0, 2]), Tensor.zeros([0, 2])),
      'EMPTY_BATCH',
      /MSELoss\.backward/,
    );
  });
});

// Issue 15.7: reduction 'mean' | 'sum' | 'batchmean' (PyTorch's meanings; 'batchmean' the default).
describe('loss reductions', () => {
  const make = {
    MSELoss: (o?: LossOptions) => new MSELoss(o),
    BCELoss: (o?: LossOptions) => new BCELoss(o),
    CrossEntropyLoss: (o?: LossOptions) => new CrossEntropyLoss(o),
    LogSoftmaxCrossEntropy: (o?: LossOptions) => new LogSoftmaxCrossEntropy(o),
  };

  it('scale the batch mean by hand-checkable factors: sum x batch, mean / features (dense)', () => {
    const y = Tensor.from([0, 0, 1, 1, 0, 0], [2, 3]);
    const yhat = Tensor.from([1, 0, 1, 3, 0, 2], [2, 3]);
    // Squared errors 1, 0, 0, 4, 0, 4: sum 9, 2 samples, 6 elements.
    expect(new MSELoss().reduction).toBe('batchmean');
    expect(new MSELoss().forward(y, yhat)).toBe(4.5);
    expect(new MSELoss({ reduction: 'batchmean' }).forward(y, yhat)).toBe(4.5);
    expect(new MSELoss({ reduction: 'sum' }).forward(y, yhat)).toBe(9);
    expect(new MSELoss({ reduction: 'mean' }).forward(y, yhat)).toBe(1.5);
    // d/dyhat of Σ (yhat - y)² is 2 (yhat - y) = [2, 0, 0, 4, 0, 4].
    const grad = (r: Reduction) => Array.from(new MSELoss({ reduction: r }).backward(y, yhat).data);
    expect(grad('sum')).toEqual([2, 0, 0, 4, 0, 4]);
    expect(grad('batchmean')).toEqual([1, 0, 0, 2, 0, 2]);
    expect(grad('mean')).toEqual([2 / 6, 0, 0, 4 / 6, 0, 4 / 6].map(Math.fround));
  });

  it("class losses: 'mean' is the batch mean (PyTorch's CrossEntropyLoss), 'sum' the sum", () => {
    const labels = Tensor.from([2, 0, 1]);
    const logits = randTensor([3, 4], 9, 3);
    const probs = new Softmax().forward(logits);
    for (const [name, yhat] of [
      ['LogSoftmaxCrossEntropy', logits],
      ['CrossEntropyLoss', probs],
    ] as const) {
      const base = make[name]().forward(labels, yhat);
      expect(make[name]({ reduction: 'mean' }).forward(labels, yhat)).toBe(base);
      expect(make[name]({ reduction: 'sum' }).forward(labels, yhat)).toBe(Math.fround(base * 3));
      const g = Array.from(make[name]().backward(labels, yhat).data);
      expect(Array.from(make[name]({ reduction: 'mean' }).backward(labels, yhat).data)).toEqual(g);
      // A scaled gradient's zeros come back +0 (the axpy adds into zeros): `+ 0` maps -0 to +0.
      expect(
        Array.from(make[name]({ reduction: 'sum' }).backward(labels, yhat).data, (v) => v + 0),
      ).toEqual(g.map((v) => Math.fround(v * 3) + 0));
    }
  });

  it('pass gradCheckLoss under every reduction (referenceForward follows it)', () => {
    const labels = [1, 0, 3];
    for (const reduction of REDUCTIONS) {
      expectGradOk(
        gradCheckLoss(new MSELoss({ reduction }), randTensor([3, 4], 1), randTensor([3, 4], 2)),
      );
      expectGradOk(
        gradCheckLoss(new BCELoss({ reduction }), probabilities(3, 4, 5), probabilities(3, 4, 3)),
      );
      expectGradOk(
        gradCheckLoss(
          new CrossEntropyLoss({ reduction }),
          oneHot(labels, 4),
          probabilities(3, 4, 4),
        ),
      );
      expectGradOk(
        gradCheckLoss(
          new LogSoftmaxCrossEntropy({ reduction }),
          oneHot(labels, 4),
          randTensor([3, 4], 5, 4),
        ),
      );
    }
  });

  it('forwardBackward (the training step) follows the reduction too', () => {
    const y = randTensor([4, 5], 11);
    const yhat = randTensor([4, 5], 12);
    for (const reduction of REDUCTIONS) {
      const loss = new MSELoss({ reduction });
      const { loss: value, gradient } = loss.forwardBackward(y, yhat);
      expect(value).toBe(loss.forward(y, yhat));
      expect(Array.from(gradient!.data)).toEqual(Array.from(loss.backward(y, yhat).data));
    }
  });

  it('reject a bad reduction or option with BAD_ARGUMENT naming the valid ones', () => {
    for (const name of Object.keys(make) as (keyof typeof make)[]) {
      expectError(
        () => make[name]({ reduction: 'avg' as Reduction }),
        'BAD_ARGUMENT',
        new RegExp(
          `^${name}: expected reduction to be one of 'mean', 'sum', 'batchmean', got 'avg'$`,
        ),
      );
    }
    expectError(
      () => new MSELoss({ reduction: 'none' as Reduction }),
      'BAD_ARGUMENT',
      /got 'none'$/,
    );
    expectError(
      () => new BCELoss({ reduce: 'sum' } as LossOptions),
      'BAD_ARGUMENT',
      /^BCELoss: expected the option reduction, got unknown key "reduce"; did you mean `reduction`\?$/,
    );
    expectError(
      () => new MSELoss('sum' as LossOptions),
      'BAD_ARGUMENT',
      /^MSELoss: expected options \{ reduction\?: 'mean' \| 'sum' \| 'batchmean' \}, got "sum"; did you mean \{ reduction: 'sum' \}\?$/,
    );
    expectError(() => new MSELoss(null as never), 'BAD_ARGUMENT', /got null$/);
  });
});
