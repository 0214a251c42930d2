// Data-parallel training (issue 13, ts/train/parallel.ts): each step's batch split over this
// thread and worker threads, gradients summed in a fixed order. What must hold:
// - determinism: for a given seed and worker count, weights bit-identical run to run;
// - agreement with one worker within float32 rounding: one step's gradients within 2e-6 of the
//   largest gradient of their tensor (the split changes only the order of the batch sums), the
//   loss within 1e-6 relative; after a few epochs of training, weights within 1e-4;
// - every feature of the loop unchanged: validation, early stopping, non-finite guard (naming
//   the flat index in the whole batch), callbacks, optimiser state, save and load mid-training;
// - errors in a worker surface as the same TorchletError, change no weight, and leave the team
//   usable; threads never leak (stopWorkers ends them; fit's abort gives them back).
import { afterAll, describe, expect, it, vi } from 'vitest';
import {
  BCELoss,
  Conv1D,
  CrossEntropyLoss,
  Dropout,
  Flatten,
  Linear,
  LogSoftmaxCrossEntropy,
  MAX_WORKERS,
  MSELoss,
  MaxPool1D,
  type Module,
  Optim,
  type OptimizerName,
  ReLU,
  Rng,
  Sequential,
  Sigmoid,
  Softmax,
  TanH,
  Tensor,
  TorchletError,
  availableCores,
  deserialize,
  fit,
  init,
  register,
  memory,
  serialize,
  sgd,
  startWorkers,
  stopWorkers,
  workerThreads,
} from '../ts/index.js';
import { autoWorkers, flopsPerSample, runningTrials, stepNs } from '../ts/train/parallel.js';
import { expectError, randTensor, stateHash } from './helpers.js';

await init();
afterAll(() => stopWorkers());

const TIMEOUT = 60_000;

function mlp(seed: number, nIn = 20, hidden = 16, out = 5): Sequential {
  const rng = new Rng(seed);
  return new Sequential(
    new Linear(nIn, hidden, { rng }),
    new TanH(),
    new Linear(hidden, out, { rng }),
  );
}

function convNet(seed: number): Sequential {
  const rng = new Rng(seed);
  return new Sequential(
    new Conv1D(3, 1, 4, 1, { rng }),
    new MaxPool1D(2),
    new Flatten(),
    new Linear(4 * 15, 5, { rng }),
  );
}

function labels(n: number, classes: number, seed: number): Tensor {
  const rng = new Rng(seed);
  return Tensor.from(
    Float32Array.from({ length: n }, () => rng.int(classes)),
    [n],
  );
}

/** Max over elements of |a - b|, and the largest |a|. */
function gap(a: Float32Array, b: Float32Array): { diff: number; scale: number } {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(a[i]!));
  }
  return { diff, scale };
}

function gradients(net: Module): Float32Array[] {
  return net.parameters().map((p) => p.grad.toArray());
}

function weights(net: Module): Float32Array[] {
  return net.parameters().map((p) => p.value.toArray());
}

function expectClose(a: Float32Array[], b: Float32Array[], relative: number): void {
  a.forEach((t, i) => {
    const { diff, scale } = gap(t, b[i]!);
    expect(diff).toBeLessThanOrEqual(relative * Math.max(scale, 1e-30));
  });
}

describe('one step, split', () => {
  const cases: [
    string,
    () => { net: () => Module; loss: () => import('../ts/index.js').Loss; x: Tensor; y: Tensor },
  ][] = [
    [
      'LogSoftmaxCrossEntropy, class labels',
      () => ({
        net: () => mlp(1),
        loss: () => new LogSoftmaxCrossEntropy(),
        x: randTensor([37, 20], 2),
        y: labels(37, 5, 3),
      }),
    ],
    [
      "MSELoss 'sum'",
      () => ({
        net: () => mlp(4),
        loss: () => new MSELoss({ reduction: 'sum' }),
        x: randTensor([30, 20], 5),
        y: randTensor([30, 5], 6),
      }),
    ],
    [
      "MSELoss 'mean'",
      () => ({
        net: () => mlp(7),
        loss: () => new MSELoss({ reduction: 'mean' }),
        x: randTensor([33, 20], 8),
        y: randTensor([33, 5], 9),
      }),
    ],
    [
      'BCELoss after Sigmoid',
      () => ({
        net: () => new Sequential(mlp(10), new Sigmoid()),
        loss: () => new BCELoss(),
        x: randTensor([24, 20], 11),
        y: Tensor.from(
          randTensor([24, 5], 12)
            .toArray()
            .map((v) => (v > 0 ? 1 : 0)),
          [24, 5],
        ),
      }),
    ],
    [
      'CrossEntropyLoss after Softmax, dense targets',
      () => ({
        net: () => new Sequential(mlp(13), new Softmax()),
        loss: () => new CrossEntropyLoss(),
        x: randTensor([19, 20], 14),
        y: Tensor.from(
          Float32Array.from({ length: 19 * 5 }, (_, i) => (i % 5 === i % 3 ? 1 : 0)),
          [19, 5],
        ),
      }),
    ],
    [
      'a convolution',
      () => ({
        net: () => convNet(15),
        loss: () => new LogSoftmaxCrossEntropy(),
        x: randTensor([29, 32, 1], 16),
        y: labels(29, 5, 17),
      }),
    ],
  ];
  for (const [name, make] of cases) {
    it(
      `${name}: gradients and loss of 2 and 3 workers agree with 1 within float32 rounding`,
      () => {
        const { net, loss, x, y } = make();
        const one = net();
        const l1 = new Optim(one, loss(), 0.1, { workers: 1 }).computeGradients(x, y);
        for (const workers of [2, 3]) {
          const many = net();
          const optim = new Optim(many, loss(), 0.1, { workers });
          const r = optim.computeGradients(x, y);
          expect(optim.workers).toBe(workers);
          expect(r.nonFinite).toBeNull();
          expect(Math.abs(r.loss - l1.loss)).toBeLessThanOrEqual(1e-6 * Math.abs(l1.loss));
          expectClose(gradients(many), gradients(one), 2e-6);
          // The weights did not move, and the same step again gives the same bits.
          expect(weights(many)).toEqual(weights(one));
          const first = stateHash(many);
          optim.computeGradients(x, y);
          expect(stateHash(many)).toBe(first);
          optim.dispose();
          many.dispose();
        }
        one.dispose();
      },
      TIMEOUT,
    );
  }

  it(
    'batches of changing size (8, 40, 8 rows): the team grows its buffers and still matches one worker',
    () => {
      const one = mlp(23);
      const many = mlp(23);
      const o1 = new Optim(one, new LogSoftmaxCrossEntropy(), 0.1, { workers: 1 });
      const o3 = new Optim(many, new LogSoftmaxCrossEntropy(), 0.1, { workers: 3 });
      for (const [rows, seed] of [
        [8, 24],
        [40, 25],
        [8, 26],
      ] as const) {
        const x = randTensor([rows, 20], seed);
        const y = labels(rows, 5, seed + 100);
        o1.computeGradients(x, y);
        expect(o3.computeGradients(x, y).nonFinite).toBeNull();
        expectClose(gradients(many), gradients(one), 2e-6);
      }
      expect(workerThreads()).toBeGreaterThanOrEqual(2);
      o3.dispose();
    },
    TIMEOUT,
  );

  it(
    'a batch smaller than the team leaves workers idle and still matches one worker',
    () => {
      const x = randTensor([2, 20], 20);
      const y = labels(2, 5, 21);
      const one = mlp(22);
      new Optim(one, new LogSoftmaxCrossEntropy(), 0.1, { workers: 1 }).computeGradients(x, y);
      const many = mlp(22);
      const optim = new Optim(many, new LogSoftmaxCrossEntropy(), 0.1, { workers: 4 });
      expect(optim.computeGradients(x, y).nonFinite).toBeNull();
      expectClose(gradients(many), gradients(one), 2e-6);
      optim.dispose();
    },
    TIMEOUT,
  );
});

describe('training', () => {
  const data = { x: randTensor([200, 20], 30), y: labels(200, 5, 31) };
  const train = (workers: number, optimizer: OptimizerName, seed = 1): Module => {
    const net = mlp(32);
    sgd(net, data, new LogSoftmaxCrossEntropy(), {
      batchSize: 32,
      epochs: 4,
      step: optimizer === 'adam' ? 0.01 : 0.1,
      optimizer,
      seed,
      workers,
    });
    return net;
  };

  for (const optimizer of ['sgd', 'momentum', 'adam'] as const) {
    it(
      `${optimizer}: bit-identical run to run with 2 workers, within 1e-4 of 1 worker`,
      () => {
        const a = train(2, optimizer);
        const b = train(2, optimizer);
        expect(stateHash(a)).toBe(stateHash(b));
        const one = train(1, optimizer);
        expectClose(weights(a), weights(one), 1e-4);
        expect(stateHash(a)).not.toBe(stateHash(one));
      },
      TIMEOUT,
    );
  }

  it(
    'Dropout: bit-identical run to run with 2 workers',
    () => {
      const run = (): string => {
        const rng = new Rng(40);
        const net = new Sequential(
          new Linear(20, 16, { rng }),
          new Dropout(0.3, { rng }),
          new Linear(16, 5, { rng }),
        );
        sgd(net, data, new LogSoftmaxCrossEntropy(), {
          batchSize: 32,
          epochs: 2,
          step: 0.1,
          seed: 2,
          workers: 2,
        });
        return stateHash(net);
      };
      expect(run()).toBe(run());
    },
    TIMEOUT,
  );

  it(
    'fit gives sgd bit for bit with 3 workers',
    async () => {
      const options = { batchSize: 32, epochs: 3, step: 0.1, seed: 5, workers: 3 };
      const a = mlp(41);
      const b = mlp(41);
      const ha = sgd(a, data, new LogSoftmaxCrossEntropy(), options);
      const hb = await fit(b, data, new LogSoftmaxCrossEntropy(), options);
      expect(hb.loss).toEqual(ha.loss);
      expect(stateHash(b)).toBe(stateHash(a));
    },
    TIMEOUT,
  );

  it(
    'validation, early stopping and callbacks work as with one worker',
    () => {
      const validation = { x: randTensor([60, 20], 42), y: labels(60, 5, 43) };
      const run = (workers: number) => {
        const net = mlp(44);
        const batches: number[] = [];
        const epochs: number[] = [];
        const h = sgd(net, data, new LogSoftmaxCrossEntropy(), {
          batchSize: 50,
          epochs: 30,
          step: 0.5,
          seed: 3,
          workers,
          validation,
          metric: 'accuracy',
          patience: 2,
          onBatch: (b) => batches.push(b.size),
          onEpoch: (e) => void epochs.push(e),
        });
        return { h, batches, epochs, net };
      };
      const one = run(1);
      const two = run(2);
      expect(two.batches).toEqual(one.batches);
      expect(two.h.valLoss.length).toBe(two.epochs.length);
      expect(two.h.valMetric.length).toBe(two.epochs.length);
      expect(two.h.stoppedEarly).toBe(true);
      // The restored weights are the best epoch's, which the history names.
      const best = two.h.bestEpoch;
      expect(two.h.valLoss[best]).toBe(Math.min(...two.h.valLoss));
      two.h.valLoss.forEach((v, i) =>
        expect(Math.abs(v - one.h.valLoss[i]!)).toBeLessThan(1e-4 * Math.abs(v) + 1e-6),
      );
    },
    TIMEOUT,
  );

  it(
    'save and load mid-training, then more epochs: the same weights as straight through',
    () => {
      const loss = new LogSoftmaxCrossEntropy();
      const straight = mlp(45);
      const rngA = new Rng(9);
      const optimA = new Optim(straight, loss, 0.01, { optimizer: 'sgd', workers: 2 });
      sgd(straight, data, loss, { batchSize: 32, epochs: 2, rng: rngA, optim: optimA });
      sgd(straight, data, loss, { batchSize: 32, epochs: 2, rng: rngA, optim: optimA });

      const first = mlp(45);
      const rngB = new Rng(9);
      sgd(first, data, loss, { batchSize: 32, epochs: 2, rng: rngB, step: 0.01, workers: 2 });
      const loaded = deserialize(serialize(first));
      sgd(loaded, data, loss, { batchSize: 32, epochs: 2, rng: rngB, step: 0.01, workers: 2 });
      expect(weights(loaded)).toEqual(weights(straight));
      optimA.dispose();
    },
    TIMEOUT,
  );
});

describe('non-finite values and errors', () => {
  // Inputs near the float32 maximum are finite (the input check passes) but overflow the sums.
  const overflowing = (rows: number, row: number, seed: number): Tensor => {
    const xs = randTensor([rows, 20], seed).toArray();
    xs.fill(3e38, row * 20, (row + 1) * 20);
    return Tensor.from(xs, [rows, 20]);
  };
  // All-ones weights: a row of 3e38 sums to 6e39, infinite in float32.
  const linear = (seed: number): Module => {
    const net = new Sequential(new Linear(20, 5, { rng: new Rng(seed) }));
    net.parameters()[0]!.value.data.fill(1);
    return net;
  };

  it(
    "an overflow in a worker's rows: 'network output', at the flat index one worker names",
    () => {
      const x = overflowing(8, 6, 51); // row 6: the second worker's rows are 4..7 with 2 workers
      const y = labels(8, 5, 52);
      const one = new Optim(linear(50), new LogSoftmaxCrossEntropy(), 0.1, { workers: 1 });
      const expected = one.computeGradients(x, y);
      expect(expected.nonFinite).toBe('network output');
      const net = linear(50);
      const optim = new Optim(net, new LogSoftmaxCrossEntropy(), 0.1, { workers: 2 });
      const before = weights(net);
      const r = optim.computeGradients(x, y);
      expect(r.nonFinite).toBe('network output');
      expect(r.detail).toBe(expected.detail);
      expect(r.detail).toBe('Infinity at flat index 30');
      expectError(() => optim.step(x, y), 'NON_FINITE', /network output/);
      expect(weights(net)).toEqual(before);
      optim.dispose();
    },
    TIMEOUT,
  );

  it(
    "nonFinite 'skip' skips the batch whose worker share overflows, and trains on",
    () => {
      const bad = { x: overflowing(64, 40, 53), y: labels(64, 5, 54) };
      const options = { batchSize: 32, epochs: 1, step: 0.1, shuffle: false, workers: 2 };
      const h = sgd(linear(55), bad, new LogSoftmaxCrossEntropy(), {
        ...options,
        nonFinite: 'skip',
      });
      expect(h.skippedBatches).toBe(1);
      expect(Number.isFinite(h.loss[0])).toBe(true);
      expectError(
        () => sgd(linear(55), bad, new LogSoftmaxCrossEntropy(), options),
        'NON_FINITE',
        /epoch 1 of 1, batch 2 of 2.*network output/,
      );
    },
    TIMEOUT,
  );

  it(
    "a label out of range in a worker's rows throws LABEL_OUT_OF_RANGE, moves nothing, and the team goes on",
    () => {
      const net = mlp(56);
      const optim = new Optim(net, new LogSoftmaxCrossEntropy(), 0.1, { workers: 2 });
      const x = randTensor([10, 20], 57);
      const good = labels(10, 5, 58);
      optim.step(x, good);
      const before = weights(net);
      const ys = good.toArray();
      ys[9] = 7;
      expectError(() => optim.step(x, Tensor.from(ys, [10])), 'LABEL_OUT_OF_RANGE', /label 7/);
      expect(weights(net)).toEqual(before);
      expect(Number.isFinite(optim.step(x, good))).toBe(true);
      optim.dispose();
    },
    TIMEOUT,
  );
});

describe('options and refusals', () => {
  it("a loss's share scales its gradient (not its value), by one rounding; a bad share is refused", () => {
    for (const loss of [new LogSoftmaxCrossEntropy(), new MSELoss({ reduction: 'mean' })]) {
      const yhat = randTensor([6, 5], 100);
      const y = loss instanceof MSELoss ? randTensor([6, 5], 101) : labels(6, 5, 102);
      const whole = loss.forwardBackward(y, yhat);
      const full = whole.gradient!.toArray();
      const quarter = loss.forwardBackward(y, yhat, 0.25);
      expect(quarter.loss).toBe(whole.loss);
      // A power-of-two share is exact: a quarter of each float, bit for bit.
      expect(quarter.gradient!.toArray()).toEqual(full.map((v) => v * 0.25));
      for (const bad of [0, -1, NaN, Infinity, '0.5']) {
        expectError(
          () => loss.forwardBackward(y, yhat, bad as never),
          'BAD_ARGUMENT',
          /forwardBackward: expected share to be a finite number > 0/,
        );
      }
    }
  });

  it('refuses a bad workers value, naming it', () => {
    for (const bad of [0, 1.5, -1, 65, 'all', NaN]) {
      expectError(
        () => new Optim(mlp(60), new MSELoss(), 0.1, { workers: bad as never }),
        'BAD_ARGUMENT',
        /workers to be an integer from 1 to 64 or 'auto'/,
      );
    }
  });

  it('refuses a shared module or a custom loss with workers > 1; auto trains those on one thread', () => {
    const shared = new Linear(5, 5, { rng: new Rng(61) });
    const net = new Sequential(shared, new TanH(), shared);
    expectError(
      () => new Optim(net, new MSELoss(), 0.1, { workers: 2 }),
      'BAD_ARGUMENT',
      /workers can rebuild.*same Linear/,
    );
    class MyLoss extends MSELoss {}
    expectError(
      () => new Optim(mlp(62), new MyLoss(), 0.1, { workers: 2 }),
      'BAD_ARGUMENT',
      /not built in.*MyLoss/,
    );
    const auto = new Optim(net, new MSELoss(), 0.1);
    auto.computeGradients(randTensor([512, 5], 63), randTensor([512, 5], 64));
    expect(auto.workers).toBe(1);
  });

  it('a layer registered in this thread only: refused with workers > 1, one thread with auto', () => {
    class Rectifier extends ReLU {
      static override readonly spec = {
        ...ReLU.spec,
        type: 'ParallelTestReLU',
        build: () => new Rectifier(),
      };
    }
    register(Rectifier);
    const rng = new Rng(66);
    const net = new Sequential(
      new Linear(784, 100, { rng }),
      new Rectifier(),
      new Linear(100, 10, { rng }),
    );
    expectError(
      () => new Optim(net, new LogSoftmaxCrossEntropy(), 0.1, { workers: 2 }),
      'BAD_ARGUMENT',
      /registered in this thread only \(ParallelTestReLU\): worker threads know the built-in layers/,
    );
    const auto = new Optim(net, new LogSoftmaxCrossEntropy(), 0.1);
    auto.computeGradients(randTensor([64, 784], 67), labels(64, 10, 68));
    expect(auto.workers).toBe(1);
  });

  it('workers with optim is refused (the Optim has its own)', () => {
    const net = mlp(65);
    const optim = new Optim(net, new MSELoss(), 0.1);
    expectError(
      () =>
        sgd(net, { x: randTensor([4, 20], 1), y: randTensor([4, 5], 2) }, new MSELoss(), {
          optim,
          workers: 2,
        }),
      'BAD_ARGUMENT',
      /expected no workers with optim/,
    );
  });

  it(
    "'auto': the cost model's fastest count, at least 8 rows each, 1 for a small step",
    () => {
      // W1 of the bench (1.4 MFLOP a step): synchronising costs more than a half step saves.
      expect(autoWorkers(mlp(1, 64, 100, 10), [32, 64], 8)).toBe(1);
      // W2's MLP (30 MFLOP, 80k parameters): both cores here; 5 of 64, where this thread's serial
      // reduction of 80k parameters per worker outgrows the shrinking shares.
      const big = mlp(2, 784, 100, 10);
      expect(autoWorkers(big, [64, 784], 2)).toBe(2);
      expect(autoWorkers(big, [64, 784], 64)).toBe(5);
      for (let n = 1; n <= 8; n++) {
        const t = stepNs(n, 64 * flopsPerSample(big, [64, 784]), 79510);
        if (n !== 5)
          expect(t).toBeGreaterThan(stepNs(5, 64 * flopsPerSample(big, [64, 784]), 79510));
      }
      expect(autoWorkers(big, [16, 784], 64)).toBe(1); // a quarter of the work: not worth a split
      // A convolution: 63 MFLOP on 2,624 parameters would split wide, but 16 rows make 2 shares.
      const conv = new Sequential(new Conv1D(5, 8, 64, 1, { rng: new Rng(3) }));
      expect(autoWorkers(conv, [16, 256, 8], 64)).toBe(2);
      const auto = new Optim(big, new LogSoftmaxCrossEntropy(), 0.1);
      expect(auto.workers).toBeNull();
      auto.computeGradients(randTensor([64, 784], 3), labels(64, 10, 4));
      expect(auto.workers).toBe(autoWorkers(big, [64, 784], availableCores()));
      auto.dispose();
    },
    TIMEOUT,
  );
});

describe('threads', () => {
  it(
    'startWorkers checks its count; stopWorkers ends every thread',
    async () => {
      await expect(startWorkers(0)).rejects.toThrow(TorchletError);
      await expect(startWorkers(3)).resolves.toBe(3);
      expect(workerThreads()).toBeGreaterThanOrEqual(2);
      await stopWorkers();
      expect(workerThreads()).toBe(0);
      // And a later step starts them again.
      const optim = new Optim(mlp(70), new MSELoss(), 0.1, { workers: 2 });
      optim.step(randTensor([8, 20], 71), randTensor([8, 5], 72));
      expect(workerThreads()).toBe(1);
      optim.dispose();
    },
    TIMEOUT,
  );

  it(
    'threads are reused, not leaked: many runs, the same threads; WASM memory back where it was',
    () => {
      const data = { x: randTensor([64, 20], 73), y: labels(64, 5, 74) };
      // One loss: each loss keeps its gradient buffer until disposed or collected.
      const loss = new LogSoftmaxCrossEntropy();
      sgd(mlp(75), data, loss, { epochs: 1, workers: 3 });
      const threads = workerThreads();
      const used = memory().liveBytes;
      for (let i = 0; i < 5; i++) {
        const net = mlp(75);
        sgd(net, data, loss, { epochs: 1, workers: 3 });
        net.dispose();
      }
      expect(workerThreads()).toBe(threads);
      expect(memory().liveBytes).toBeLessThanOrEqual(used);
    },
    TIMEOUT,
  );

  it(
    'threads stopped under an Optim: its next step starts new ones, with the same result',
    () => {
      const x = randTensor([16, 20], 80);
      const y = labels(16, 5, 81);
      const a = mlp(82);
      const b = mlp(82);
      const oa = new Optim(a, new LogSoftmaxCrossEntropy(), 0.1, { workers: 2 });
      const ob = new Optim(b, new LogSoftmaxCrossEntropy(), 0.1, { workers: 2 });
      oa.step(x, y);
      ob.step(x, y);
      void stopWorkers(); // both teams' threads end here
      expect(workerThreads()).toBe(0);
      oa.step(x, y);
      ob.step(x, y);
      expect(stateHash(a)).toBe(stateHash(b));
      const c = mlp(82);
      const oc = new Optim(c, new LogSoftmaxCrossEntropy(), 0.1, { workers: 2 });
      oc.step(x, y);
      oc.step(x, y);
      expect(stateHash(c)).toBe(stateHash(a));
      for (const o of [oa, ob, oc]) o.dispose();
    },
    TIMEOUT,
  );

  it(
    'an sgd that throws in a worker gives its threads back',
    () => {
      const before = workerThreads();
      const xs = randTensor([64, 20], 83).toArray();
      xs.fill(3e38, 50 * 20, 51 * 20);
      const net = new Sequential(new Linear(20, 5, { rng: new Rng(84) }));
      net.parameters()[0]!.value.data.fill(1);
      const bad = { x: Tensor.from(xs, [64, 20]), y: labels(64, 5, 85) };
      const options = { batchSize: 64, epochs: 1, step: 0.1, shuffle: false, workers: 2 };
      expectError(
        () => sgd(net, bad, new LogSoftmaxCrossEntropy(), options),
        'NON_FINITE',
        /network output/,
      );
      const h = sgd(
        mlp(86),
        { x: randTensor([64, 20], 87), y: labels(64, 5, 88) },
        new LogSoftmaxCrossEntropy(),
        options,
      );
      expect(Number.isFinite(h.loss[0])).toBe(true);
      expect(workerThreads()).toBe(Math.max(before, 1));
    },
    TIMEOUT,
  );

  it('startWorkers refuses a bad count or options before starting any thread', async () => {
    const before = workerThreads();
    for (const count of [0, 1.5, MAX_WORKERS + 1, Number.NaN]) {
      await expect(startWorkers(count)).rejects.toThrow(
        new RegExp(`startWorkers: expected an integer from 1 to ${MAX_WORKERS}, got ${count}`),
      );
    }
    await expect(startWorkers(2, { workerURL: 'x' } as never)).rejects.toThrow(
      /startWorkers: expected a known option, got unknown key "workerURL"; did you mean `workerUrl`\?/,
    );
    await expect(startWorkers(2, [] as never)).rejects.toThrow(
      /startWorkers: expected options to be an object, got an array/,
    );
    await expect(startWorkers(2, { workerUrl: 42 } as never)).rejects.toThrow(
      /startWorkers: expected workerUrl to be a URL or a path, got 42/,
    );
    expect(workerThreads()).toBe(before);
  });

  it(
    "a worker script that is not there: 'auto' trains on one thread and says so once; a number throws",
    async () => {
      const missing = new URL('file:///nonexistent/gridworker.js');
      await expect(startWorkers(2, { workerUrl: missing })).rejects.toThrow(
        /startWorkers: expected the worker script file:\/\/\/nonexistent\/gridworker.js .* got no such file/,
      );
      const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
      try {
        const big = mlp(90, 784, 100, 10);
        const auto = new Optim(big, new LogSoftmaxCrossEntropy(), 0.1);
        const x = randTensor([64, 784], 91);
        const y = labels(64, 10, 92);
        expect(Number.isFinite(auto.step(x, y))).toBe(true);
        expect(auto.workers).toBe(1);
        const h = await fit(mlp(93, 784, 100, 10), { x, y }, new LogSoftmaxCrossEntropy(), {
          epochs: 1,
        });
        expect(Number.isFinite(h.loss[0])).toBe(true);
        expect(warn).toHaveBeenCalledTimes(1);
        expect(String(warn.mock.calls[0]![0])).toMatch(
          /^torchlet: training on 1 worker: could not start worker threads \(.*no such file/,
        );
        const fixed = new Optim(mlp(94, 784, 100, 10), new LogSoftmaxCrossEntropy(), 0.1, {
          workers: 2,
        });
        expectError(
          () => fixed.step(x, y),
          'BAD_ARGUMENT',
          /expected the worker script .* no such file/,
        );
      } finally {
        warn.mockRestore();
        await stopWorkers(); // forgets the URL
      }
      const again = new Optim(mlp(95), new LogSoftmaxCrossEntropy(), 0.1, { workers: 2 });
      again.step(randTensor([8, 20], 96), labels(8, 5, 97));
      expect(workerThreads()).toBe(1);
      again.dispose();
    },
    TIMEOUT,
  );

  it(
    'an aborted fit gives its threads back: the next run uses them',
    async () => {
      const data = { x: randTensor([256, 20], 76), y: labels(256, 5, 77) };
      const controller = new AbortController();
      const net = mlp(78);
      const run = fit(net, data, new LogSoftmaxCrossEntropy(), {
        epochs: 50,
        batchSize: 8,
        workers: 2,
        yieldMs: 0,
        signal: controller.signal,
        onBatch: (b) => {
          if (b.epoch === 1 && b.batch === 3) controller.abort();
        },
      });
      await expect(run).rejects.toThrow(/abort/i);
      const threads = workerThreads();
      const h = sgd(mlp(79), data, new LogSoftmaxCrossEntropy(), { epochs: 1, workers: 2 });
      expect(Number.isFinite(h.loss[0])).toBe(true);
      expect(workerThreads()).toBe(threads);
    },
    TIMEOUT,
  );
});

describe('grid search', () => {
  // Last in this file: it marks the process as one that runs grid trials.
  it("'auto' trains on one thread in a grid search's trial threads (the search fills the cores)", () => {
    const big = mlp(98, 784, 100, 10);
    const before = new Optim(big, new LogSoftmaxCrossEntropy(), 0.1);
    expect(before.plannedWorkers([64, 784])).toBe(autoWorkers(big, [64, 784], availableCores()));
    runningTrials();
    const inTrial = new Optim(big, new LogSoftmaxCrossEntropy(), 0.1);
    expect(inTrial.plannedWorkers([64, 784])).toBe(1);
    // A number still splits (the caller asked for it).
    const asked = new Optim(big, new LogSoftmaxCrossEntropy(), 0.1, { workers: 2 });
    expect(asked.plannedWorkers([64, 784])).toBe(2);
  });
});
