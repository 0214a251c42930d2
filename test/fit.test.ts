// fit (issue 15.3): the asynchronous form of sgd, the same loop, bit for bit; AbortSignal, progress
// reports and yields to the event loop; and `optim`, which keeps the optimiser state across calls
// (one call per epoch trains as one call of many epochs). No timing assertions: the event-loop
// test lets a timer end a run that could not end otherwise.
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  type BatchInfo,
  Dropout,
  type EpochInfo,
  type FitOptions,
  type History,
  Linear,
  LogSoftmaxCrossEntropy,
  MSELoss,
  Optim,
  type Progress,
  ReLU,
  Rng,
  Sequential,
  type SgdOptions,
  TorchletError,
  fit,
  init,
  loadDigits,
  memory,
  sgd,
} from '../ts/index.js';
import { expectError, stateHash } from './helpers.js';

await init();

const { train, test } = loadDigits();
// A few hundred samples keep each run to milliseconds; 10 batches of 32 per epoch.
const small = { x: train.x.rows(0, 320), y: train.y.rows(0, 320) };
const val = { x: test.x.rows(0, 100), y: test.y.rows(0, 100) };

function mlp(seed = 1): Sequential {
  const rng = new Rng(seed);
  return new Sequential(new Linear(64, 32, { rng }), new ReLU(), new Linear(32, 10, { rng }));
}

/** What a run reports through its callbacks, for comparing two runs. */
function recorder(): {
  log: unknown[];
  onEpoch: (e: number, l: number, i: EpochInfo) => void;
  onBatch: (b: BatchInfo) => void;
} {
  const log: unknown[] = [];
  return {
    log,
    onEpoch: (e, l, i) => void log.push(['epoch', e, l, { ...i }]),
    onBatch: (b) => void log.push(['batch', { ...b }]),
  };
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection, got a result');
}

describe('fit is sgd, asynchronous', () => {
  const cases: [string, SgdOptions][] = [
    ['plain SGD, shuffled', { epochs: 3, step: 0.05, seed: 3 }],
    [
      'adam, validation, metric, patience',
      {
        epochs: 6,
        step: 0.01,
        optimizer: 'adam',
        seed: 4,
        validation: val,
        metric: 'accuracy',
        patience: 2,
        monitor: 'metric',
      },
    ],
    [
      'nesterov, weight decay, no shuffle',
      { epochs: 2, step: 0.02, optimizer: 'nesterov', weightDecay: 1e-3, shuffle: false },
    ],
    [
      'momentum, a diverging step skipped',
      { epochs: 2, step: 1e38, optimizer: 'momentum', seed: 5, nonFinite: 'skip', validation: val },
    ],
    ['convergence threshold', { epochs: 30, step: 0.05, seed: 6, eps: 1e-2 }],
  ];
  for (const [name, options] of cases) {
    it(`same weights, history and callbacks as sgd: ${name}`, async () => {
      const a = mlp();
      const b = mlp();
      const ra = recorder();
      const rb = recorder();
      const loss = new LogSoftmaxCrossEntropy();
      const hs = sgd(a, small, loss, { ...options, onEpoch: ra.onEpoch, onBatch: ra.onBatch });
      const hf = await fit(b, small, loss, {
        ...options,
        onEpoch: rb.onEpoch,
        onBatch: rb.onBatch,
        yieldMs: 0,
      });
      expect(stateHash(b)).toBe(stateHash(a));
      expect(hf).toEqual(hs);
      expect(rb.log).toEqual(ra.log);
      a.dispose();
      b.dispose();
    });
  }
});

describe('optim: the optimiser state carries over from call to call', () => {
  for (const optimizer of ['adam', 'momentum', 'nesterov'] as const) {
    it(`two calls of 1 epoch = one call of 2 epochs (${optimizer}, shared optim and rng)`, async () => {
      const loss = new LogSoftmaxCrossEntropy();
      const whole = mlp();
      const h2 = sgd(whole, small, loss, { epochs: 2, step: 0.01, optimizer, seed: 9 });
      const split = mlp();
      const optim = new Optim(split, loss, 0.01, { optimizer });
      const rng = new Rng(9);
      const h0 = sgd(split, small, loss, { epochs: 1, optim, rng });
      const h1 = sgd(split, small, loss, { epochs: 1, optim, rng });
      expect(stateHash(split)).toBe(stateHash(whole));
      expect([...h0.loss, ...h1.loss]).toEqual(h2.loss);
      expect(optim.steps).toBe(20);
      // fit, one call per epoch, trains the same.
      const again = mlp();
      const o2 = new Optim(again, loss, 0.01, { optimizer });
      const r2 = new Rng(9);
      for (let e = 0; e < 2; e++) await fit(again, small, loss, { epochs: 1, optim: o2, rng: r2 });
      expect(stateHash(again)).toBe(stateHash(split));
      // The caller owns it: not disposed, its state still there.
      expect(optim.steps).toBe(20);
      optim.dispose();
      o2.dispose();
      for (const n of [whole, split, again]) n.dispose();
    });
  }

  it('without optim, each call restarts Adam (the old behaviour, now opt-in)', () => {
    const loss = new LogSoftmaxCrossEntropy();
    const whole = mlp();
    sgd(whole, small, loss, { epochs: 2, step: 0.01, optimizer: 'adam', seed: 9 });
    const split = mlp();
    const rng = new Rng(9);
    for (let e = 0; e < 2; e++)
      sgd(split, small, loss, { epochs: 1, step: 0.01, optimizer: 'adam', rng });
    expect(stateHash(split)).not.toBe(stateHash(whole));
  });

  it('a seed restarts the shuffle each call; rng continues it', () => {
    const loss = new LogSoftmaxCrossEntropy();
    // Same seed twice: both calls draw the same order (the first epoch's), so the weights after
    // two seeded calls differ from two rng calls (which draw epoch 1's order, then epoch 2's).
    const seeded = mlp();
    const o1 = new Optim(seeded, loss, 0.05);
    for (let c = 0; c < 2; c++) sgd(seeded, small, loss, { epochs: 1, optim: o1, seed: 9 });
    const continued = mlp();
    const o2 = new Optim(continued, loss, 0.05);
    const rng = new Rng(9);
    for (let c = 0; c < 2; c++) sgd(continued, small, loss, { epochs: 1, optim: o2, rng });
    const whole = mlp();
    sgd(whole, small, loss, { epochs: 2, step: 0.05, seed: 9 });
    expect(stateHash(continued)).toBe(stateHash(whole));
    expect(stateHash(seeded)).not.toBe(stateHash(whole));
    for (const n of [seeded, continued, whole]) n.dispose();
  });

  it('refuses step or update-rule options with optim, and an optim of another net or loss', () => {
    const loss = new LogSoftmaxCrossEntropy();
    const net = mlp();
    const optim = new Optim(net, loss, 0.01, { optimizer: 'adam' });
    sgd(net, small, loss, { epochs: 1, optim });
    const hash = stateHash(net);
    const steps = optim.steps;
    expectError(
      () => sgd(net, small, loss, { optim, step: 0.1 }),
      'BAD_ARGUMENT',
      /^sgd: expected no step with optim \(the Optim's own apply: step 0\.01, optimizer 'adam'\), got step 0\.1$/,
    );
    expectError(
      () => sgd(net, small, loss, { optim, optimizer: 'adam', momentum: 0.5 }),
      'BAD_ARGUMENT',
      /^sgd: expected no optimizer, momentum with optim .*, got optimizer "adam", momentum 0\.5$/,
    );
    expectError(
      () => sgd(mlp(), small, loss, { optim }),
      'BAD_ARGUMENT',
      /^sgd: expected optim built for the net being trained \(new Optim\(net, loss, …\)\), got an Optim of another module \(Sequential\)$/,
    );
    expectError(
      () => sgd(net, small, new LogSoftmaxCrossEntropy(), { optim }),
      'BAD_ARGUMENT',
      /^sgd: expected optim built with the loss passed .*, got an Optim with another LogSoftmaxCrossEntropy$/,
    );
    expectError(
      () => sgd(net, small, loss, { optim: {} as Optim }),
      'BAD_ARGUMENT',
      /^sgd: expected optim to be an Optim \(new Optim\(net, loss, step, options\)\), got an object \(Object\)$/,
    );
    expectError(
      () => sgd(net, small, loss, { optim: 'adam' as never }),
      'BAD_ARGUMENT',
      /^sgd: expected optim to be an Optim .*, got "adam"; did you mean optimizer: "adam"\?$/,
    );
    expectError(
      () => sgd(net, small, loss, { seed: 1, rng: new Rng(1) }),
      'BAD_ARGUMENT',
      /^sgd: expected seed or rng, got both/,
    );
    expectError(
      () => sgd(net, small, loss, { rng: 3 as unknown as Rng }),
      'BAD_ARGUMENT',
      /^sgd: expected rng to be an Rng, got 3$/,
    );
    expect(stateHash(net)).toBe(hash);
    expect(optim.steps).toBe(steps);
    optim.dispose();
    net.dispose();
  });
});

describe('fit: abort, progress, the event loop', () => {
  it('an already-aborted signal rejects with its reason before anything moves', async () => {
    const net = mlp();
    net.eval();
    const hash = stateHash(net);
    const live = memory().liveBytes;
    const controller = new AbortController();
    const reason = new Error('stop');
    controller.abort(reason);
    let batches = 0;
    const e = await rejection(
      fit(net, small, new LogSoftmaxCrossEntropy(), {
        signal: controller.signal,
        onBatch: () => void batches++,
      }),
    );
    expect(e).toBe(reason);
    expect(batches).toBe(0);
    expect(stateHash(net)).toBe(hash);
    expect(net.training).toBe(false);
    expect(memory().liveBytes).toBe(live);
    net.dispose();
  });

  it('abort mid-run: weights of the last batch, optim consistent, buffers freed, mode back', async () => {
    const loss = new LogSoftmaxCrossEntropy();
    const net = mlp();
    // Warm up: the layers' outputs and the loss's gradient (theirs, kept between calls) exist.
    sgd(net, small, loss, { epochs: 1, step: 0.01, seed: 1 });
    net.eval();
    const optim = new Optim(net, loss, 0.01, { optimizer: 'adam' });
    const rng = new Rng(2);
    const controller = new AbortController();
    const live = memory().liveBytes;
    let after: string | null = null;
    let seen = 0;
    const modes: boolean[] = [];
    const e = await rejection(
      fit(net, small, loss, {
        optim,
        epochs: 5,
        rng,
        // Large: the abort must be seen between batches, not only at a yield.
        yieldMs: 1e6,
        onBatch: (b) => {
          seen++;
          modes.push(net.training);
          if (b.epoch === 1 && b.batch === 3) {
            after = stateHash(net);
            controller.abort();
          }
        },
        signal: controller.signal,
      }),
    );
    expect(e).toBeInstanceOf(Error);
    expect((e as Error).name).toBe('AbortError');
    expect(seen).toBe(14);
    expect(stateHash(net)).toBe(after);
    expect(optim.steps).toBe(14);
    expect(modes.every((m) => m)).toBe(true);
    expect(net.training).toBe(false);
    // The optimiser state is consistent: a run stopped after the same 14 batches by a throwing
    // onBatch (after its update) has the same weights, and one more epoch keeps them equal.
    const ref = mlp();
    sgd(ref, small, loss, { epochs: 1, step: 0.01, seed: 1 });
    const refOptim = new Optim(ref, loss, 0.01, { optimizer: 'adam' });
    const refRng = new Rng(2);
    sgd(ref, small, loss, { optim: refOptim, epochs: 1, rng: refRng });
    expect(() =>
      sgd(ref, small, loss, {
        optim: refOptim,
        epochs: 1,
        rng: refRng,
        onBatch: (b) => {
          if (b.batch === 3) throw new Error('stop');
        },
      }),
    ).toThrow('stop');
    expect(stateHash(ref)).toBe(stateHash(net));
    sgd(ref, small, loss, { optim: refOptim, epochs: 1, rng: refRng });
    sgd(net, small, loss, { optim, epochs: 1, rng });
    expect(stateHash(ref)).toBe(stateHash(net));
    expect(optim.steps).toBe(24);
    // Nothing of the aborted fit stays: once the caller's optim (Adam's moments) and the reference
    // are freed, the live bytes are back where they were.
    optim.dispose();
    refOptim.dispose();
    ref.dispose();
    expect(memory().liveBytes).toBe(live);
    net.dispose();
  });

  it('a timer aborts a run of a million epochs: the event loop runs during fit', async () => {
    const net = mlp();
    const controller = new AbortController();
    let ticks = 0;
    const timer = setInterval(() => {
      ticks++;
      if (ticks === 3) controller.abort(new Error('timer'));
    }, 0);
    const progress: Progress[] = [];
    const e = await rejection(
      fit(net, small, new LogSoftmaxCrossEntropy(), {
        epochs: 1e6,
        step: 0.01,
        signal: controller.signal,
        onProgress: (p) => void progress.push(p),
      }),
    );
    clearInterval(timer);
    expect((e as Error).message).toBe('timer');
    expect(ticks).toBe(3);
    expect(progress.length).toBeGreaterThan(0);
    net.dispose();
  });

  it('onProgress: after each yield and each epoch, 0-based indices, fraction up to 1', async () => {
    const net = mlp();
    const progress: Progress[] = [];
    const history = await fit(net, small, new LogSoftmaxCrossEntropy(), {
      epochs: 3,
      batchSize: 64,
      step: 0.01,
      yieldMs: 0,
      onProgress: (p) => void progress.push({ ...p }),
    });
    expect(history.loss).toHaveLength(3);
    // yieldMs 0: one report per batch (5 per epoch) plus one per epoch end.
    expect(progress).toHaveLength(3 * 6);
    expect(progress.filter((p) => p.epochEnd).map((p) => [p.epoch, p.batch])).toEqual([
      [0, 4],
      [1, 4],
      [2, 4],
    ]);
    expect(progress.slice(0, 6).map((p) => p.batch)).toEqual([0, 1, 2, 3, 4, 4]);
    for (const p of progress) {
      expect(p.epochs).toBe(3);
      expect(p.batches).toBe(5);
      expect(p.samples).toBe(p.epoch * 320 + Math.min((p.batch + 1) * 64, 320));
      expect(p.fraction).toBe((p.epoch * 5 + p.batch + 1) / 15);
      expect(p.elapsedMs).toBeGreaterThanOrEqual(0);
    }
    expect(progress.at(-1)!.fraction).toBe(1);
    const elapsed = progress.map((p) => p.elapsedMs);
    expect(elapsed).toEqual([...elapsed].sort((a, b) => a - b));
    net.dispose();
  });

  it('a throwing onProgress rejects with its error and frees everything', async () => {
    const net = mlp();
    const loss = new LogSoftmaxCrossEntropy();
    sgd(net, small, loss, { epochs: 1 }); // warm-up: the layers' and the loss's own buffers
    const live = memory().liveBytes;
    const boom = new Error('boom');
    const e = await rejection(
      fit(net, small, loss, {
        yieldMs: 0,
        onProgress: () => {
          throw boom;
        },
      }),
    );
    expect(e).toBe(boom);
    expect(memory().liveBytes).toBe(live);
    expect(net.training).toBe(true);
    // The net is free again.
    await fit(net, small, new LogSoftmaxCrossEntropy(), { epochs: 1 });
    net.dispose();
  });

  it('a second sgd or fit on a net a fit is training is refused', async () => {
    const net = mlp();
    const loss = new LogSoftmaxCrossEntropy();
    let inner: unknown = null;
    const running = fit(net, small, loss, {
      epochs: 2,
      yieldMs: 0,
      onBatch: (b) => {
        if (b.epoch === 0 && b.batch === 0) {
          try {
            sgd(net, small, loss, { epochs: 1 });
          } catch (e) {
            inner = e;
          }
        }
      },
    });
    const second = await rejection(fit(net, small, loss, { epochs: 1 }));
    await running;
    expect(inner).toBeInstanceOf(TorchletError);
    expect((inner as TorchletError).message).toMatch(
      /^sgd: expected a net no other sgd or fit is training, got one a running fit is training/,
    );
    expect((second as TorchletError).code).toBe('BAD_ARGUMENT');
    // Once it ended, training is allowed again.
    sgd(net, small, loss, { epochs: 1 });
    net.dispose();
  });

  it('rejects bad fit options before anything moves; sgd names fit for them', async () => {
    const net = mlp();
    const hash = stateHash(net);
    const loss = new LogSoftmaxCrossEntropy();
    const bad: [FitOptions, RegExp][] = [
      [
        { yieldMs: -1 },
        /^fit: expected yieldMs to be a finite number of milliseconds >= 0, got -1$/,
      ],
      [{ signal: {} as AbortSignal }, /^fit: expected signal to be an AbortSignal, got an object/],
      [{ onProgress: 3 as never }, /^fit: expected onProgress to be a function, got 3$/],
      [
        { lr: 0.1 } as FitOptions,
        /^fit: expected a known option, got unknown key "lr"; did you mean `step`\?$/,
      ],
      [{ epochs: -1 }, /^fit: expected epochs to be a non-negative integer, got -1$/],
      [{ abort: null } as FitOptions, /got unknown key "abort"; did you mean `signal`\?$/],
      [
        { progress: null } as FitOptions,
        /got unknown key "progress"; did you mean `onProgress`\?$/,
      ],
    ];
    for (const [options, re] of bad) {
      const e = await rejection(fit(net, small, loss, options));
      expect(e).toBeInstanceOf(TorchletError);
      expect((e as TorchletError).code).toBe('BAD_ARGUMENT');
      expect((e as TorchletError).message).toMatch(re);
    }
    for (const key of ['signal', 'onProgress', 'yieldMs'])
      expectError(
        () => sgd(net, small, loss, { [key]: undefined } as SgdOptions),
        'BAD_ARGUMENT',
        new RegExp(
          `^sgd: expected an option of sgd, got ${key}, an option of fit \\(the asynchronous form`,
        ),
      );
    expect(stateHash(net)).toBe(hash);
    net.dispose();
  });

  it('Dropout trains in training mode during fit and the mode comes back', async () => {
    const rng = new Rng(1);
    const net = new Sequential(
      new Linear(64, 16, { rng }),
      new Dropout(0.5),
      new Linear(16, 10, { rng }),
    );
    net.eval();
    const modes: boolean[] = [];
    const h: History = await fit(net, small, new LogSoftmaxCrossEntropy(), {
      epochs: 1,
      onBatch: () => void modes.push(net.children()[1]!.training),
    });
    expect(h.loss).toHaveLength(1);
    expect(modes.every((m) => m)).toBe(true);
    expect(net.children().every((m) => !m.training)).toBe(true);
    net.dispose();
  });

  it('MSELoss with a reduction trains through fit like sgd', async () => {
    const ae = (): Sequential => new Sequential(mlp(), new Linear(10, 64, { rng: new Rng(2) }));
    const [a, b] = [ae(), ae()];
    const data = { x: small.x, y: small.x };
    const loss = new MSELoss({ reduction: 'mean' });
    const hs = sgd(a, data, loss, { epochs: 1, seed: 1, step: 0.05 });
    const hf = await fit(b, data, loss, { epochs: 1, seed: 1, step: 0.05 });
    expect(hf.loss).toEqual(hs.loss);
    expect(stateHash(b)).toBe(stateHash(a));
    a.dispose();
    b.dispose();
  });
});

// Browsers have no setImmediate: fit yields through a MessageChannel there (setTimeout(0) is
// clamped to 4 ms once nested), and through setTimeout(0) where neither exists.
describe('fit yields without setImmediate', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });
  for (const [name, stub] of [
    ['MessageChannel (browsers)', ['setImmediate']],
    ['setTimeout(0) (neither)', ['setImmediate', 'MessageChannel']],
  ] as const) {
    it(`through ${name}: same weights as sgd, and a timer can abort it`, async () => {
      for (const g of stub) vi.stubGlobal(g, undefined);
      expect(typeof setImmediate).toBe('undefined');
      const loss = new LogSoftmaxCrossEntropy();
      const [a, b] = [mlp(), mlp()];
      sgd(a, small, loss, { epochs: 2, seed: 1, step: 0.05 });
      await fit(b, small, loss, { epochs: 2, seed: 1, step: 0.05, yieldMs: 0 });
      expect(stateHash(b)).toBe(stateHash(a));
      const controller = new AbortController();
      setTimeout(() => controller.abort(new Error('timer')), 5);
      const e = await rejection(
        fit(b, small, loss, { epochs: 1e6, signal: controller.signal, yieldMs: 0 }),
      );
      expect((e as Error).message).toBe('timer');
      a.dispose();
      b.dispose();
    });
  }
});
