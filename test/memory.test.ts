// Memory (issue 7.5): WASM memory never shrinks, so leaks and transient peaks are permanent. Checked
// with `memory()` (live bytes allocated through torchlet, and the WASM memory size), exactly (±0):
// training 50 epochs grows neither after the first epoch; a grid search (in this thread, and in
// worker threads) returns live bytes to the baseline; 100,000 tensor create/dispose cycles (and
// 10,000 of whole modules) return to the start; a disposed tensor or module throws DISPOSED without
// allocating; an allocation that cannot fit throws OUT_OF_MEMORY and the next operation works.
import { describe, expect, it } from 'vitest';
import {
  Conv1D,
  Flatten,
  type GridParams,
  Linear,
  LogSoftmaxCrossEntropy,
  MSELoss,
  MaxPool1D,
  Optim,
  ReLU,
  Rng,
  Sequential,
  Tensor,
  TorchletError,
  type Torchlet,
  gridSearch,
  init,
  loadDigits,
  memory,
  sgd,
} from '../ts/index.js';
import { TIMEOUT, tier } from './tiers.js';

await init();

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (!(e instanceof TorchletError)) throw e;
    return e.code;
  }
  return 'no error';
}

describe('memory()', () => {
  it('reports live bytes exactly and the WASM memory size', () => {
    const start = memory();
    expect(start.wasmBytes % 65536).toBe(0);
    const a = Tensor.zeros([10, 10]);
    const b = Tensor.zeros([3]);
    expect(memory().liveBytes - start.liveBytes).toBe(400 + 16); // 16-byte granules: 12 bytes -> 16
    a.dispose();
    b.dispose();
    expect(memory().liveBytes).toBe(start.liveBytes);
  });
});

describe('training keeps memory flat', () => {
  it(
    '50 epochs on the digits grow WASM memory and live bytes by 0 bytes after the first epoch',
    () => {
      const { train, test } = loadDigits();
      const rng = new Rng(5);
      const net = new Sequential(
        new Linear(64, 100, { rng }),
        new ReLU(),
        new Linear(100, 10, { rng }),
      );
      const perEpoch: Array<{ liveBytes: number; wasmBytes: number }> = [];
      sgd(net, train, new LogSoftmaxCrossEntropy(), {
        epochs: 50,
        batchSize: 32,
        step: 0.05,
        seed: 1,
        validation: test,
        metric: 'accuracy',
        onEpoch: () => {
          perEpoch.push(memory());
        },
      });
      expect(perEpoch).toHaveLength(50);
      const moved = perEpoch.filter(
        (m) => m.liveBytes !== perEpoch[0]!.liveBytes || m.wasmBytes !== perEpoch[0]!.wasmBytes,
      );
      expect(moved).toEqual([]);
      console.log(
        `50 epochs: WASM memory growth after epoch 1: ${perEpoch[49]!.wasmBytes - perEpoch[0]!.wasmBytes} bytes, live bytes ${perEpoch[49]!.liveBytes - perEpoch[0]!.liveBytes}`,
      );
      for (const t of [train.x, train.y, test.x, test.y]) t.dispose();
      net.dispose();
    },
    TIMEOUT,
  );

  it('a conv net trained with Adam, twice: live bytes return to the same value, memory does not grow', () => {
    const rng = new Rng(2);
    const x = Tensor.from(
      Float32Array.from({ length: 40 * 12 }, () => rng.uniform(-1, 1)),
      [40, 12, 1],
    );
    const y = Tensor.from(Array.from({ length: 40 }, (_, i) => i % 3));
    const before = memory();
    const net = new Sequential(
      new Conv1D(3, 1, 4, 1, { rng }),
      new ReLU(),
      new MaxPool1D(2),
      new Flatten(),
      new Linear(20, 3, { rng }),
    );
    const loss = new LogSoftmaxCrossEntropy();
    const options = { epochs: 3, batchSize: 7, step: 0.01, seed: 1, optimizer: 'adam' as const };
    sgd(net, { x, y }, loss, options);
    const after = memory();
    sgd(net, { x, y }, loss, options);
    expect(memory()).toEqual(after);
    net.dispose();
    loss.dispose();
    expect(memory().liveBytes).toBe(before.liveBytes);
    x.dispose();
    y.dispose();
  });
});

describe('grid search returns live bytes to the baseline', () => {
  const buildNet = (p: GridParams, t: Torchlet) =>
    new t.Sequential(
      new t.Linear(64, p.hidden as number),
      new t.ReLU(),
      new t.Linear(p.hidden as number, 10),
    );
  for (const workers of [0, 1]) {
    it(
      `3 configs x 3 folds, ${workers === 0 ? 'in this thread' : 'in a worker thread'}`,
      async () => {
        const { train } = loadDigits();
        const x = train.x.rows(0, 300);
        const y = train.y.rows(0, 300);
        const baseline = memory().liveBytes;
        const rows = await gridSearch(buildNet, { hidden: [8, 16, 24] }, x, y, {
          cv: 3,
          workers,
          train: { epochs: 2, step: 0.05 },
        });
        expect(rows).toHaveLength(3);
        expect(rows.every((r) => r.error === undefined)).toBe(true);
        expect(memory().liveBytes - baseline).toBe(0);
        train.x.dispose();
        train.y.dispose();
      },
      TIMEOUT,
    );
  }
});

describe('create/dispose cycles', () => {
  it(
    '100,000 tensor cycles (and 10,000 module cycles) leave live bytes where they started',
    () => {
      const start = memory();
      const shapes = [[1], [3, 5], [16, 17], [2, 3, 4], [0, 4], [1000]];
      for (let i = 0; i < 100_000; i++) {
        const t = Tensor.zeros(shapes[i % shapes.length]!);
        if (i % 3 === 0) t.reshape([t.size]).dispose(); // a view: disposing it frees nothing
        t.dispose();
      }
      expect(memory().liveBytes).toBe(start.liveBytes);
      const x = Tensor.from(new Float32Array(8 * 6).fill(0.5), [8, 6]);
      const y = Tensor.from(new Float32Array(8 * 2).fill(0.25), [8, 2]);
      const loss = new MSELoss();
      const live = memory().liveBytes;
      for (let i = 0; i < tier(10_000, 100_000); i++) {
        const net = new Sequential(new Linear(6, 4), new ReLU(), new Linear(4, 2));
        const opt = new Optim(net, loss, 0.01, { optimizer: i % 2 ? 'adam' : 'momentum' });
        opt.step(x, y);
        opt.dispose();
        net.dispose();
      }
      // The loss keeps its gradient buffer (allocated on the first backward); nothing else stays.
      loss.dispose();
      x.dispose();
      y.dispose();
      expect(memory().liveBytes).toBe(start.liveBytes);
      expect(live).toBe(start.liveBytes + 8 * 6 * 4 + 8 * 2 * 4);
      expect(memory().wasmBytes).toBe(start.wasmBytes);
    },
    TIMEOUT,
  );
});

describe('disposed tensors and modules', () => {
  it('every use of a disposed tensor throws DISPOSED, and allocates nothing', () => {
    const t = Tensor.from([1, 2, 3, 4, 5, 6], [2, 3]);
    const view = t.rows(0, 1);
    t.dispose();
    const net = new Sequential(new Linear(3, 2));
    const live = memory().liveBytes;
    const uses: Array<[string, () => unknown]> = [
      ['data', () => t.data],
      ['toArray', () => t.toArray()],
      ['ptr', () => t.ptr],
      ['reshape', () => t.reshape([6])],
      ['rows', () => t.rows(0, 1)],
      ['a view of it', () => view.data],
      ['forward', () => net.forward(t)],
      ['loss', () => new MSELoss().forward(t, t)],
      ['sgd', () => sgd(net, { x: t, y: t }, new MSELoss())],
    ];
    for (const [what, use] of uses) expect(codeOf(use), what).toBe('DISPOSED');
    expect(memory().liveBytes).toBe(live);
    net.dispose();
  });

  it('a disposed module throws DISPOSED naming it, and allocates nothing', () => {
    const x = Tensor.from([1, 2, 3, 4, 5, 6], [2, 3]);
    for (const net of [
      new Linear(3, 2),
      new Sequential(new Linear(3, 4), new ReLU(), new Linear(4, 2)),
    ]) {
      net.forward(x);
      net.dispose();
      net.dispose(); // idempotent
      const live = memory().liveBytes;
      let message = '';
      try {
        net.forward(x);
      } catch (e) {
        expect((e as TorchletError).code).toBe('DISPOSED');
        message = (e as Error).message;
      }
      expect(message).toMatch(new RegExp(`^${net.type}.*forward: expected .+, got .*disposed`));
      expect(memory().liveBytes).toBe(live);
    }
    x.dispose();
  });
});

describe('allocation failure', () => {
  it('a 5 GiB request throws OUT_OF_MEMORY with the sizes, and the next operation works', () => {
    const before = memory();
    let message = '';
    try {
      Tensor.zeros([5 * 2 ** 28]); // 5 GiB of float32
    } catch (e) {
      expect((e as TorchletError).code).toBe('OUT_OF_MEMORY');
      message = (e as Error).message;
    }
    expect(message).toMatch(/expected an allocation below 2 GiB .*, got 5368709120 bytes/);
    // Past the 2 GiB cap of one block, and (Linear) past what WASM memory can grow to.
    expect(codeOf(() => Tensor.zeros([(2 ** 32 - 2 ** 17) / 4]))).toBe('OUT_OF_MEMORY');
    expect(codeOf(() => new Linear(40_000, 30_000))).toBe('OUT_OF_MEMORY');
    expect(memory().liveBytes).toBe(before.liveBytes);
    const net = new Sequential(new Linear(4, 3), new ReLU(), new Linear(3, 2));
    const x = Tensor.from(new Float32Array(8).fill(1), [2, 4]);
    const y = Tensor.from(new Float32Array(4).fill(0.5), [2, 2]);
    expect(Number.isFinite(new Optim(net, new MSELoss(), 0.1).step(x, y))).toBe(true);
    for (const t of [x, y, net]) t.dispose();
  });
});
