// Optimisers behind Optim: momentum, Nesterov and Adam against float64 references of PyTorch's
// update rules, weight decay, the finite-gradient guard (nothing moves on a throw), and Adam
// training the digits MLP. Tolerance: 1e-5 relative, for float32 updates vs the float64 reference.
import { describe, expect, it } from 'vitest';
import {
  Linear,
  LogSoftmaxCrossEntropy,
  MSELoss,
  OPTIMIZERS,
  Optim,
  ReLU,
  Rng,
  Sequential,
  Tensor,
  accuracy,
  init,
  loadDigits,
  sgd,
} from '../ts/index.js';
import { expectError, randTensor, stateHash } from './helpers.js';

await init();

const TOL = 1e-5;

/** A Linear(3, 2) with fixed weights, and a batch whose gradients are known to be finite. */
function setup(): { fc: Linear; x: Tensor; y: Tensor } {
  const fc = new Linear(3, 2, { rng: new Rng(5) });
  return { fc, x: randTensor([4, 3], 9), y: randTensor([4, 2], 10) };
}

/** Float64 replay of `steps` updates of `rule` on the same batch, from the same start. */
function reference(rule: string, steps: number, lr: number, wd: number): number[] {
  const { fc, x, y } = setup();
  const loss = new MSELoss();
  const w = Array.from(fc.weight.data, Number).concat(Array.from(fc.bias.data, Number));
  const m = new Array<number>(w.length).fill(0);
  const v = new Array<number>(w.length).fill(0);
  for (let t = 1; t <= steps; t++) {
    // The gradient at the current weights, computed by the (already tested) layer kernels.
    fc.weight.data.set(w.slice(0, 6));
    fc.bias.data.set(w.slice(6));
    fc.zeroGrad();
    fc.backwardUpdateGradient(x, loss.backward(y, fc.forward(x)));
    const g = Array.from(fc.gradWeight.data, Number).concat(Array.from(fc.gradBias.data, Number));
    for (let i = 0; i < w.length; i++) {
      const gi = g[i]! + wd * w[i]!;
      if (rule === 'sgd') w[i] = w[i]! - lr * gi;
      else if (rule === 'momentum' || rule === 'nesterov') {
        m[i] = 0.9 * m[i]! + gi;
        w[i] = w[i]! - lr * (rule === 'nesterov' ? gi + 0.9 * m[i]! : m[i]!);
      } else {
        m[i] = 0.9 * m[i]! + 0.1 * gi;
        v[i] = 0.999 * v[i]! + 0.001 * gi * gi;
        const mhat = m[i]! / (1 - 0.9 ** t);
        const vhat = v[i]! / (1 - 0.999 ** t);
        w[i] = w[i]! - (lr * mhat) / (Math.sqrt(vhat) + 1e-8);
      }
    }
  }
  return w;
}

describe('Optim update rules', () => {
  for (const rule of OPTIMIZERS) {
    for (const wd of [0, 0.1]) {
      it(`${rule} (weight decay ${wd}) matches the float64 reference over 4 steps`, () => {
        const { fc, x, y } = setup();
        const opt = new Optim(fc, new MSELoss(), 0.05, { optimizer: rule, weightDecay: wd });
        for (let i = 0; i < 4; i++) opt.step(x, y);
        expect(opt.steps).toBe(4);
        const got = Array.from(fc.weight.data).concat(Array.from(fc.bias.data));
        const want = reference(rule, 4, 0.05, wd);
        got.forEach((g, i) =>
          expect(Math.abs(g - want[i]!)).toBeLessThanOrEqual(TOL * Math.max(1, Math.abs(want[i]!))),
        );
      });
    }
  }

  it('the rules give different weights (momentum != nesterov != adam != sgd)', () => {
    const hashes = OPTIMIZERS.map((optimizer) => {
      const { fc, x, y } = setup();
      const opt = new Optim(fc, new MSELoss(), 0.05, { optimizer });
      for (let i = 0; i < 3; i++) opt.step(x, y);
      return stateHash(fc);
    });
    expect(new Set(hashes).size).toBe(4);
  });

  it('keeps the original three-argument call as plain SGD', () => {
    const a = setup();
    const b = setup();
    new Optim(a.fc, new MSELoss(), 0.05).step(a.x, a.y);
    new Optim(b.fc, new MSELoss(), 0.05, { optimizer: 'sgd' }).step(b.x, b.y);
    expect(stateHash(a.fc)).toBe(stateHash(b.fc));
  });

  it('rejects bad options', () => {
    const { fc } = setup();
    expectError(
      () => new Optim(fc, new MSELoss(), 0.1, { optimizer: 'rmsprop' as never }),
      'BAD_ARGUMENT',
      /^Optim: expected optimizer to be one of sgd, momentum, nesterov, adam, got rmsprop$/,
    );
    expectError(
      () => new Optim(fc, new MSELoss(), 0.1, { momentum: 1 }),
      'BAD_ARGUMENT',
      /expected momentum to be in \[0, 1\), got 1/,
    );
    expectError(
      () => new Optim(fc, new MSELoss(), 0.1, { weightDecay: -1 }),
      'BAD_ARGUMENT',
      /expected weightDecay to be a finite number >= 0, got -1/,
    );
    expectError(
      () => new Optim(fc, new MSELoss(), 0.1, { betas: [0.9, 1.5] }),
      'BAD_ARGUMENT',
      /expected betas\[1\] to be in \[0, 1\), got 1.5/,
    );
  });
});

describe('Optim finite guard', () => {
  /** Linear(1, 1) whose loss is finite (9) but whose weight gradient overflows (3e38 * 6). */
  function overflowing(): { fc: Linear; x: Tensor; y: Tensor } {
    const fc = new Linear(1, 1);
    fc.weight.data.set([1e-38]);
    fc.bias.data.set([0]);
    return { fc, x: Tensor.from([3e38], [1, 1]), y: Tensor.from([0], [1, 1]) };
  }

  for (const optimizer of OPTIMIZERS) {
    it(`${optimizer}: a non-finite gradient throws and moves no weight or optimiser state`, () => {
      const { fc, x, y } = overflowing();
      const opt = new Optim(fc, new MSELoss(), 0.1, { optimizer });
      const before = [fc.weight.data[0], fc.bias.data[0]];
      expectError(
        () => opt.step(x, y),
        'NON_FINITE',
        /^Optim\.step: expected a finite gradient of weight, got Infinity at flat index 0; weights were not updated/,
      );
      expect([fc.weight.data[0], fc.bias.data[0]]).toEqual(before);
      expect(opt.steps).toBe(0);
      // A good batch afterwards trains from the untouched state.
      const good = Tensor.from([1], [1, 1]);
      expect(opt.step(good, y)).toBeCloseTo(1e-38 ** 2, 6);
      expect(opt.steps).toBe(1);
    });
  }
});

// Issue 12, item 8: a non-finite network output (a NaN weight, an overflowed step) is reported by
// computeGradients like a non-finite loss, instead of the loss's own check throwing through it.
describe('Optim and a non-finite network output', () => {
  function poisoned(): { net: Sequential; x: Tensor; y: Tensor } {
    const rng = new Rng(2);
    const net = new Sequential(new Linear(3, 4, { rng }), new ReLU(), new Linear(4, 2, { rng }));
    net.parameters()[2]!.value.data[1] = NaN;
    return { net, x: randTensor([5, 3], 3), y: Tensor.from([0, 1, 1, 0, 1]) };
  }

  it('computeGradients reports it and touches no gradient', () => {
    const { net, x, y } = poisoned();
    const opt = new Optim(net, new LogSoftmaxCrossEntropy(), 0.1, { optimizer: 'adam' });
    const hash = stateHash(net);
    const report = opt.computeGradients(x, y);
    expect(report.nonFinite).toBe('network output');
    expect(report.loss).toBeNaN();
    expect(report.detail).toMatch(/^NaN at flat index \d+$/);
    expect(stateHash(net)).toBe(hash);
  });

  it('step throws NON_FINITE naming the output, and nothing moves', () => {
    const { net, x, y } = poisoned();
    const opt = new Optim(net, new LogSoftmaxCrossEntropy(), 0.1, { optimizer: 'momentum' });
    const hash = stateHash(net);
    expectError(
      () => opt.step(x, y),
      'NON_FINITE',
      /^Optim\.step: expected a finite network output, got NaN at flat index 1; weights were not updated/,
    );
    expect(stateHash(net)).toBe(hash);
    expect(opt.steps).toBe(0);
  });
});

// Issue 12, item 14: an unknown option key is an error with a hint, not a silent default.
describe('Optim options', () => {
  it('rejects unknown keys, pointing at the likely one', () => {
    const fc = new Linear(2, 2, { rng: new Rng(1) });
    const loss = new MSELoss();
    const hash = stateHash(fc);
    for (const [options, re] of [
      [
        { lr: 0.5 },
        /^Optim: expected a known option, got unknown key "lr"; did you mean the third constructor argument `eps` \(the gradient step\)\?$/,
      ],
      [{ weight_decay: 0.1 }, /; did you mean `weightDecay`\?$/],
      [{ optimiser: 'adam' }, /; did you mean `optimizer`\?$/],
      [{ momentun: 0.5 }, /; did you mean `momentum`\?$/],
      [{ beta: [0.9, 0.99] }, /; did you mean `betas`\?$/],
      [{ eps: 1e-6 }, /; did you mean `epsilon`\?$/],
      [
        { zzz: 1 },
        /^Optim: expected one of the options optimizer, momentum, betas, epsilon, weightDecay, workers, got unknown key "zzz"$/,
      ],
      [{ constructor: 1 }, /got unknown key "constructor"$/],
    ] as Array<[object, RegExp]>) {
      expectError(() => new Optim(fc, loss, 0.1, options as never), 'BAD_ARGUMENT', re);
    }
    expectError(
      () => new Optim(null as never, loss),
      'BAD_ARGUMENT',
      /^Optim: expected net to be a Module, got null$/,
    );
    expectError(
      () => new Optim(fc, 'mse' as never),
      'BAD_ARGUMENT',
      /^Optim: expected loss to be a Loss, got "mse"$/,
    );
    expect(stateHash(fc)).toBe(hash);
  });
});

describe('Adam on the digits', () => {
  it('reaches >= 0.93 test accuracy in 5 epochs', () => {
    const { train, test } = loadDigits();
    const rng = new Rng(1);
    const net = new Sequential(
      new Linear(64, 100, { rng }),
      new ReLU(),
      new Linear(100, 10, { rng }),
    );
    sgd(net, train, new LogSoftmaxCrossEntropy(), {
      epochs: 5,
      step: 3e-3,
      optimizer: 'adam',
      seed: 1,
    });
    expect(accuracy(net, test)).toBeGreaterThanOrEqual(0.93);
  });
});
