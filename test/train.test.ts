// Optim and sgd: a step lowers the loss, training is bit-identical for the same seed, the
// convergence threshold stops early, bad data is named, and the digits MLP reaches >= 0.95.
import { describe, expect, it } from 'vitest';
import {
  type BatchInfo,
  Dropout,
  Linear,
  LogSoftmaxCrossEntropy,
  MSELoss,
  Optim,
  ReLU,
  Rng,
  Sequential,
  Tensor,
  accuracy,
  evaluateLoss,
  init,
  loadDigits,
  memory,
  predict,
  sgd,
} from '../ts/index.js';
import { expectError, randTensor, stateHash } from './helpers.js';

await init();

function mlp(seed: number): Sequential {
  const rng = new Rng(seed);
  return new Sequential(new Linear(64, 100, { rng }), new ReLU(), new Linear(100, 10, { rng }));
}

describe('Optim', () => {
  it('step returns the batch loss and lowers it', () => {
    const net = mlp(1);
    const x = randTensor([16, 64], 1);
    const y = Tensor.from(Array.from({ length: 16 }, (_, i) => i % 10));
    const opt = new Optim(net, new LogSoftmaxCrossEntropy(), 0.2);
    const first = opt.step(x, y);
    let last = first;
    for (let i = 0; i < 50; i++) last = opt.step(x, y);
    expect(last).toBeLessThan(first * 0.5);
  });

  it('a non-finite loss throws before any weight moves', () => {
    const net = new Sequential(new Linear(2, 2));
    net.parameters()[0]!.value.data.set([1, 0, 0, 1]);
    net.parameters()[1]!.value.data.set([0, 0]);
    const hash = stateHash(net);
    const opt = new Optim(net, new MSELoss(), 0.1);
    // Output and target are finite float32, but their squared distance overflows.
    expectError(
      () => opt.step(Tensor.from([3e38, 3e38], [1, 2]), Tensor.from([-3e38, -3e38], [1, 2])),
      'NON_FINITE',
      /Optim\.step: expected a finite loss, got Infinity/,
    );
    expect(stateHash(net)).toBe(hash);
    expect(() => new Optim(net, new MSELoss(), -1)).toThrow(
      /expected eps \(the gradient step\) to be a positive finite number, got -1/,
    );
  });
});

describe('sgd on the digits', () => {
  const { train, test } = loadDigits();

  it('reaches >= 0.95 test accuracy with Linear(64,100) -> ReLU -> Linear(100,10)', () => {
    const net = mlp(1);
    const history = sgd(net, train, new LogSoftmaxCrossEntropy(), {
      batchSize: 32,
      epochs: 20,
      step: 0.05,
      seed: 1,
    });
    expect(history.loss).toHaveLength(20);
    expect(history.loss[19]!).toBeLessThan(history.loss[0]! / 5);
    expect(accuracy(net, test)).toBeGreaterThanOrEqual(0.95);
  });

  it('gives bit-identical weights for the same seed, different ones for another', () => {
    const run = (seed: number) => {
      const net = mlp(7);
      sgd(net, train, new LogSoftmaxCrossEntropy(), { batchSize: 50, epochs: 2, step: 0.05, seed });
      return stateHash(net);
    };
    expect(run(3)).toBe(run(3));
    expect(run(3)).not.toBe(run(4));
  });

  it('stops when the epoch loss changes by less than eps, and calls onEpoch', () => {
    const seen: number[] = [];
    const history = sgd(mlp(2), train, new LogSoftmaxCrossEntropy(), {
      epochs: 100,
      step: 0.05,
      eps: 0.05,
      seed: 1,
      onEpoch: (e) => seen.push(e),
    });
    expect(history.converged).toBe(true);
    expect(history.loss.length).toBeLessThan(100);
    expect(seen).toEqual(history.loss.map((_, i) => i));
  });

  it('does not grow WASM memory after the first epoch', () => {
    const net = mlp(3);
    const loss = new LogSoftmaxCrossEntropy();
    sgd(net, train, loss, { epochs: 1, step: 0.05, seed: 1 });
    const after = memory();
    sgd(net, train, loss, { epochs: 3, step: 0.05, seed: 2 });
    expect(memory().wasmBytes).toBe(after.wasmBytes);
    expect(memory().liveBytes).toBe(after.liveBytes);
  });

  it('names bad data and bad options', () => {
    const net = mlp(4);
    const hash = stateHash(net);
    expectError(
      () => sgd(net, { x: train.x, y: test.y }, new LogSoftmaxCrossEntropy()),
      'SHAPE_MISMATCH',
      /sgd: expected data\.y with 1438 rows like data\.x, got 359/,
    );
    expectError(
      () => sgd(net, train, new LogSoftmaxCrossEntropy(), { batchSize: 0 }),
      'BAD_ARGUMENT',
      /sgd: expected batchSize to be a positive integer, got 0/,
    );
    const bad = Tensor.from(train.y.toArray().map((v, i) => (i === 5 ? 12 : v)));
    expectError(
      () => sgd(net, { x: train.x, y: bad }, new LogSoftmaxCrossEntropy(), { shuffle: false }),
      'LABEL_OUT_OF_RANGE',
      /^sgd: label 12 out of range \[0, 10\) at data\.y\[5\]$/,
    );
    expect(stateHash(net)).toBe(hash);
  });
});

describe('sgd toolkit: validation, early stopping, callbacks, finite guard', () => {
  const { train, test } = loadDigits();

  it('scores validation data each epoch and calls onBatch for every batch', () => {
    const batches: string[] = [];
    const infos: number[] = [];
    const history = sgd(mlp(5), train, new LogSoftmaxCrossEntropy(), {
      epochs: 3,
      batchSize: 500,
      step: 0.5,
      seed: 1,
      validation: test,
      metric: 'accuracy',
      onBatch: (b) => batches.push(`${b.epoch}.${b.batch}/${b.batches}:${b.size}`),
      onEpoch: (_e, _l, info) => infos.push(info.valMetric!),
    });
    // 1438 rows in batches of 500: 500, 500, 438.
    expect(batches).toEqual([
      '0.0/3:500',
      '0.1/3:500',
      '0.2/3:438',
      '1.0/3:500',
      '1.1/3:500',
      '1.2/3:438',
      '2.0/3:500',
      '2.1/3:500',
      '2.2/3:438',
    ]);
    expect(history.valLoss).toHaveLength(3);
    expect(history.valMetric).toEqual(infos);
    expect(history.metric).toBe('accuracy');
    expect(history.valMetric[2]!).toBeGreaterThan(0.5);
    expect(history.valLoss[2]!).toBeLessThan(history.valLoss[0]!);
  });

  it('stops after `patience` epochs without improvement and restores the best weights', () => {
    const net = mlp(6);
    const scores = [0.1, 0.5, 0.3, 0.2, 0.9, 0.9];
    let i = 0;
    let bestWeights = '';
    let weightsAfterLastEpoch = '';
    const weights = (m: Sequential): string =>
      JSON.stringify(m.parameters().map((p) => Array.from(p.value.data)));
    const history = sgd(net, train, new LogSoftmaxCrossEntropy(), {
      epochs: 6,
      step: 0.05,
      seed: 1,
      validation: test,
      patience: 2,
      monitor: 'metric',
      metric: { name: 'scripted', higherIsBetter: true, compute: () => scores[i++]! },
      onEpoch: (_e, _l, info) => {
        if (info.best) bestWeights = weights(net);
        weightsAfterLastEpoch = weights(net);
      },
    });
    expect(history.valMetric).toEqual([0.1, 0.5, 0.3, 0.2]);
    expect(history.bestEpoch).toBe(1);
    expect(history.stoppedEarly).toBe(true);
    expect(weights(net)).toBe(bestWeights);
    expect(weights(net)).not.toBe(weightsAfterLastEpoch);
  });

  it('restored weights reproduce the best validation loss exactly', () => {
    const net = mlp(7);
    const history = sgd(
      net,
      { x: train.x.rows(0, 40), y: train.y.rows(0, 40) },
      new LogSoftmaxCrossEntropy(),
      {
        epochs: 40,
        step: 0.5,
        batchSize: 8,
        seed: 2,
        validation: test,
        patience: 3,
      },
    );
    const best = history.valLoss[history.bestEpoch]!;
    expect(Math.min(...history.valLoss)).toBe(best);
    expect(evaluateLoss(net, test, new LogSoftmaxCrossEntropy())).toBe(best);
  });

  it('onEpoch returning false stops training', () => {
    const history = sgd(mlp(8), train, new LogSoftmaxCrossEntropy(), {
      epochs: 10,
      seed: 1,
      onEpoch: (e) => e < 1,
    });
    expect(history.loss).toHaveLength(2);
  });

  /** A net whose gradient overflows on one sample (x = 3e38) while the loss stays finite. */
  function overflowData(): { net: Sequential; data: { x: Tensor; y: Tensor } } {
    const net = new Sequential(new Linear(1, 1));
    net.parameters()[0]!.value.data.set([1e-38]);
    net.parameters()[1]!.value.data.set([0]);
    return {
      net,
      data: { x: Tensor.from([1, 2, 3e38, 4], [4, 1]), y: Tensor.from([0, 0, 0, 0], [4, 1]) },
    };
  }

  // Messages count epochs and batches from 1 (issue 15), callback fields from 0.
  it('throws on a non-finite gradient naming epoch and batch, before any weight moves', () => {
    const { net, data } = overflowData();
    expectError(
      () => sgd(net, data, new MSELoss(), { batchSize: 1, shuffle: false, step: 0.1 }),
      'NON_FINITE',
      /^sgd \(epoch 1 of 10, batch 3 of 4\): Optim\.step: expected a finite gradient of 0\.weight, got Infinity/,
    );
    // Batches 0 and 1 trained before the bad one; on the bad sample alone nothing moves.
    const fresh = overflowData();
    const hashValues = JSON.stringify(fresh.net.parameters().map((p) => Array.from(p.value.data)));
    expectError(
      () =>
        sgd(fresh.net, { x: fresh.data.x.rows(2, 1), y: fresh.data.y.rows(2, 1) }, new MSELoss(), {
          step: 0.1,
        }),
      'NON_FINITE',
      /^sgd \(epoch 1 of 10, batch 1 of 1\): /,
    );
    expect(JSON.stringify(fresh.net.parameters().map((p) => Array.from(p.value.data)))).toBe(
      hashValues,
    );
  });

  it("nonFinite: 'skip' skips the bad batch and trains on the others", () => {
    const { net, data } = overflowData();
    const skipped: boolean[] = [];
    const history = sgd(net, data, new MSELoss(), {
      batchSize: 1,
      shuffle: false,
      step: 0.01,
      epochs: 2,
      nonFinite: 'skip',
      onBatch: (b) => skipped.push(b.skipped),
    });
    expect(skipped).toEqual([false, false, true, false, false, false, true, false]);
    expect(history.skippedBatches).toBe(2);
    expect(history.loss.every(Number.isFinite)).toBe(true);
    expect(net.parameters()[0]!.value.data[0]).not.toBe(Math.fround(1e-38));
  });

  it('rejects toolkit options before anything moves', () => {
    const net = mlp(9);
    const hash = stateHash(net);
    expectError(
      () => sgd(net, train, new LogSoftmaxCrossEntropy(), { patience: 2 }),
      'BAD_ARGUMENT',
      /^sgd: expected validation data with patience/,
    );
    expectError(
      () =>
        sgd(net, train, new LogSoftmaxCrossEntropy(), { validation: test, metric: 'f1' as never }),
      'BAD_ARGUMENT',
      /sgd: expected metric to be one of accuracy, mse/,
    );
    expectError(
      () => sgd(net, train, new LogSoftmaxCrossEntropy(), { nonFinite: 'ignore' as never }),
      'BAD_ARGUMENT',
      /expected nonFinite 'throw' or 'skip', got ignore/,
    );
    expectError(
      () => sgd(net, train, new LogSoftmaxCrossEntropy(), { optimizer: 'adam', betas: [2, 0.9] }),
      'BAD_ARGUMENT',
      /Optim: expected betas\[0\] to be in \[0, 1\), got 2/,
    );
    expectError(
      () =>
        sgd(net, train, new LogSoftmaxCrossEntropy(), { validation: { x: test.x, y: train.y } }),
      'SHAPE_MISMATCH',
      /sgd: expected validation\.y with 359 rows like validation\.x, got 1438/,
    );
    expect(stateHash(net)).toBe(hash);
  });
});

describe('training and evaluation modes', () => {
  it('sgd trains in training mode (Dropout drops), scores validation in evaluation mode, and restores the modes', () => {
    const { train, test } = loadDigits();
    const rng = new Rng(3);
    const drop = new Dropout(0.5, { rng: new Rng(4) });
    const net = new Sequential(
      new Linear(64, 32, { rng }),
      new ReLU(),
      drop,
      new Linear(32, 10, { rng }),
    );
    drop.eval(); // a mode the caller chose: sgd must give it back
    const seen: boolean[] = [];
    const history = sgd(net, train, new LogSoftmaxCrossEntropy(), {
      epochs: 3,
      step: 0.05,
      seed: 1,
      validation: test,
      metric: 'accuracy',
      onBatch: () => seen.push(drop.training),
    });
    expect(new Set(seen)).toEqual(new Set([true]));
    expect([net.training, drop.training]).toEqual([true, false]);
    expect(history.valMetric.at(-1)!).toBeGreaterThan(0.5); // chance is 0.1
    // Evaluation helpers switch Dropout off: the same predictions twice, and the modes kept.
    drop.train();
    expect(Array.from(predict(net, test.x))).toEqual(Array.from(predict(net, test.x)));
    expect(drop.training).toBe(true);
    expect(evaluateLoss(net, test, new LogSoftmaxCrossEntropy())).toBe(
      evaluateLoss(net, test, new LogSoftmaxCrossEntropy()),
    );
    net.dispose();
  });
});

// Issue 12: the training API under hostile use. Buffers are sized by the data, not by batchSize
// (item 2); 'skip' also skips batches whose network output is not finite (item 8); a non-module,
// a non-loss, a non-function callback or a misspelt option is a BAD_ARGUMENT with a hint, thrown
// before anything moves (item 14).
describe('sgd under hostile options', () => {
  const { train, test } = loadDigits();
  const small = { x: train.x.rows(0, 100), y: train.y.rows(0, 100) };

  it('sizes its batch buffers by min(batchSize, n): batchSize 6e8 on 100 samples is one batch', () => {
    const net = mlp(11);
    const base = memory().liveBytes;
    let peak = 0;
    const sizes: number[] = [];
    const history = sgd(net, small, new LogSoftmaxCrossEntropy(), {
      batchSize: 6e8,
      epochs: 2,
      seed: 1,
      onBatch: (b) => {
        sizes.push(b.size);
        peak = Math.max(peak, memory().liveBytes - base);
      },
    });
    expect(sizes).toEqual([100, 100]);
    expect(history.loss.every(Number.isFinite)).toBe(true);
    // 100 rows of x, y and indices plus the layers' activations: far below 6e8 indices (2.4 GB).
    expect(peak).toBeLessThan(1 << 20);
  });

  it("'skip' skips batches whose output is NaN (a NaN weight) and counts them", () => {
    const net = mlp(12);
    net.parameters()[2]!.value.data[0] = NaN;
    const hash = stateHash(net);
    const seen: BatchInfo[] = [];
    const history = sgd(net, small, new LogSoftmaxCrossEntropy(), {
      batchSize: 32,
      epochs: 2,
      seed: 1,
      nonFinite: 'skip',
      validation: { x: test.x.rows(0, 50), y: test.y.rows(0, 50) },
      onBatch: (b) => seen.push(b),
    });
    expect(seen.map((b) => b.skipped)).toEqual(new Array(8).fill(true));
    expect(seen.every((b) => Number.isNaN(b.loss))).toBe(true);
    expect(history.skippedBatches).toBe(8);
    expect(history.loss.every(Number.isNaN)).toBe(true);
    expect(history.valLoss.every(Number.isNaN)).toBe(true);
    expect(stateHash(net)).toBe(hash);
    // The default still throws, naming epoch, batch and the output.
    expectError(
      () => sgd(net, small, new LogSoftmaxCrossEntropy(), { seed: 1 }),
      'NON_FINITE',
      /^sgd \(epoch 1 of 10, batch 1 of \d+\): Optim\.step: expected a finite network output, got NaN at flat index \d+; weights were not updated/,
    );
    expect(stateHash(net)).toBe(hash);
  });

  it("'skip' survives step 1e38: the overflowed batches are skipped, the validation loss is NaN", () => {
    const history = sgd(mlp(13), small, new LogSoftmaxCrossEntropy(), {
      batchSize: 25,
      epochs: 3,
      step: 1e38,
      seed: 1,
      nonFinite: 'skip',
      validation: { x: test.x.rows(0, 50), y: test.y.rows(0, 50) },
      patience: 5,
    });
    expect(history.skippedBatches).toBeGreaterThan(0);
    expect(history.loss).toHaveLength(3);
    expect(history.valLoss.some(Number.isNaN)).toBe(true);
  });

  it('rejects a non-module, a non-loss, bad callbacks and unknown keys (with a hint), changing nothing', () => {
    const net = mlp(14);
    const loss = new LogSoftmaxCrossEntropy();
    const hash = stateHash(net);
    const cases: Array<[() => unknown, RegExp]> = [
      [() => sgd(null as never, small, loss), /^sgd: expected net to be a Module, got null$/],
      [() => sgd('net' as never, small, loss), /^sgd: expected net to be a Module, got "net"$/],
      [() => sgd(net, small, 'mse' as never), /^sgd: expected loss to be a Loss/],
      [
        () => sgd(net, small, loss, { onEpoch: 5 as never }),
        /^sgd: expected onEpoch to be a function, got 5$/,
      ],
      [
        () => sgd(net, small, loss, { onBatch: 'log' as never }),
        /^sgd: expected onBatch to be a function, got "log"$/,
      ],
      [
        () => sgd(net, small, loss, { shuffle: 'yes' as never }),
        /^sgd: expected shuffle to be true or false, got "yes"$/,
      ],
      [() => sgd(net, small, loss, null as never), /^sgd: expected options to be an object/],
      [
        () => sgd(net, small, loss, { lr: 0.5 } as never),
        /^sgd: expected a known option, got unknown key "lr"; did you mean `step`\?$/,
      ],
      [() => sgd(net, small, loss, { learningRate: 0.5 } as never), /did you mean `step`\?$/],
      [() => sgd(net, small, loss, { batch_size: 8 } as never), /did you mean `batchSize`\?$/],
      [() => sgd(net, small, loss, { epoch: 3 } as never), /did you mean `epochs`\?$/],
      [() => sgd(net, small, loss, { optimiser: 'adam' } as never), /did you mean `optimizer`\?$/],
      [() => sgd(net, small, loss, { metrics: 'accuracy' } as never), /did you mean `metric`\?$/],
      [() => sgd(net, small, loss, { valdation: test } as never), /did you mean `validation`\?$/],
      [
        () => sgd(net, small, loss, { frobnicate: 1 } as never),
        /^sgd: expected one of the options batchSize, epochs, .*weightDecay, workers, got unknown key "frobnicate"$/,
      ],
    ];
    for (const [f, re] of cases) expectError(f, 'BAD_ARGUMENT', re);
    expect(stateHash(net)).toBe(hash);
  });

  it('passes only the update-rule options on to Optim', () => {
    const history = sgd(mlp(15), small, new LogSoftmaxCrossEntropy(), {
      epochs: 1,
      seed: 1,
      step: 0.01,
      optimizer: 'adam',
      betas: [0.8, 0.9],
      epsilon: 1e-7,
      weightDecay: 1e-4,
      validation: small,
      metric: 'accuracy',
      monitor: 'metric',
      patience: 2,
      shuffle: true,
      nonFinite: 'throw',
      eps: 0,
      batchSize: 16,
      onEpoch: () => {},
      onBatch: () => {},
    });
    expect(history.loss).toHaveLength(1);
  });
});

describe('a data set loss under each reduction', () => {
  const { train } = loadDigits();
  const data = { x: train.x.rows(0, 1024), y: train.y.rows(0, 1024) };
  const cols = 10;

  it('evaluateLoss reduces over the whole set, whatever the batch size', () => {
    const net = mlp(3);
    const batchmean = evaluateLoss(net, data, new LogSoftmaxCrossEntropy());
    const sum = new LogSoftmaxCrossEntropy({ reduction: 'sum' });
    // 'sum' is the total over every sample: batches of 256 or 100 (the last one 24) add up alike.
    expect(evaluateLoss(net, data, sum)).toBeCloseTo(batchmean * 1024, 1);
    expect(evaluateLoss(net, data, sum, 100)).toBeCloseTo(batchmean * 1024, 1);
    const y = Tensor.from(
      new Float32Array(1024 * cols).map((_, i) => (i % 7) / 7),
      [1024, cols],
    );
    const dense = { x: data.x, y };
    const mse = evaluateLoss(net, dense, new MSELoss(), 100);
    // 'mean' for MSE is per element: the per-sample value over the columns.
    expect(evaluateLoss(net, dense, new MSELoss({ reduction: 'mean' }), 100)).toBeCloseTo(
      mse / cols,
      5,
    );
  });

  it("sgd's epoch loss under 'sum' is the epoch's total, not a size-weighted sum of sums", () => {
    // Batches of 32 over 1024 rows: the summed loss's gradient is exactly 32 times the
    // batch mean's, so a step 32 times smaller walks the same path.
    const a = mlp(4);
    const b = mlp(4);
    const mean = sgd(a, data, new LogSoftmaxCrossEntropy(), { epochs: 2, step: 0.05, seed: 9 });
    const sum = sgd(b, data, new LogSoftmaxCrossEntropy({ reduction: 'sum' }), {
      epochs: 2,
      step: 0.05 / 32,
      seed: 9,
    });
    sum.loss.forEach((l, e) => expect(l / 1024).toBeCloseTo(mean.loss[e]!, 4));
  });
});
