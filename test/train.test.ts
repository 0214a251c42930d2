// Optim and sgd: a step lowers the loss, training is bit-identical for the same seed, the
// convergence threshold stops early, bad data is named, and the digits MLP reaches >= 0.95.
import { describe, expect, it } from 'vitest';
import {
  Linear, LogSoftmaxCrossEntropy, MSELoss, Optim, ReLU, Rng, Sequential, Tensor, accuracy, init, loadDigits, memory, sgd,
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
    expectError(() => opt.step(Tensor.from([3e38, 3e38], [1, 2]), Tensor.from([-3e38, -3e38], [1, 2])), 'NON_FINITE', /Optim\.step: expected a finite loss, got Infinity/);
    expect(stateHash(net)).toBe(hash);
    expect(() => new Optim(net, new MSELoss(), -1)).toThrow(/expected eps \(the gradient step\) to be a positive finite number, got -1/);
  });
});

describe('sgd on the digits', () => {
  const { train, test } = loadDigits();

  it('reaches >= 0.95 test accuracy with Linear(64,100) -> ReLU -> Linear(100,10)', () => {
    const net = mlp(1);
    const history = sgd(net, train, new LogSoftmaxCrossEntropy(), { batchSize: 32, epochs: 20, step: 0.05, seed: 1 });
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
      epochs: 100, step: 0.05, eps: 0.05, seed: 1, onEpoch: (e) => seen.push(e),
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
    expectError(() => sgd(net, { x: train.x, y: test.y }, new LogSoftmaxCrossEntropy()), 'SHAPE_MISMATCH', /sgd: expected data\.y with 1438 rows like data\.x, got 359/);
    expectError(() => sgd(net, train, new LogSoftmaxCrossEntropy(), { batchSize: 0 }), 'BAD_ARGUMENT', /sgd: expected batchSize to be a positive integer, got 0/);
    const bad = Tensor.from(train.y.toArray().map((v, i) => (i === 5 ? 12 : v)));
    expectError(() => sgd(net, { x: train.x, y: bad }, new LogSoftmaxCrossEntropy(), { shuffle: false }), 'LABEL_OUT_OF_RANGE', /sgd \(epoch 0, batch 0\): LogSoftmaxCrossEntropy\.forward: label 12 out of range \[0, 10\) at y\[5\]/);
    expect(stateHash(net)).toBe(hash);
  });
});
