// The core checks the browser test runs inside headless Chromium (page.ts) and again in Node
// (browser.test.ts), against whichever torchlet build it is given: gradCheck of every entry of
// the shared module table (test/modules.ts) and of every loss, then a short seeded training run
// whose loss history must match bit for bit. It returns plain data (no assertions), so the page
// can hand it to the test as JSON.
import type * as Torchlet from '../../ts/index.js';
import { inputFor, moduleTable } from '../modules.js';

type T = typeof Torchlet;

/** One gradCheck: what was checked and its verdict. */
export interface CheckResult {
  name: string;
  ok: boolean;
  failures: string[];
}

/** Everything the checks found. */
export interface CoreResults {
  /** One entry per gradCheck run. */
  checks: CheckResult[];
  /** Exported Module / Loss subclasses that no check covered (must be empty: add a case above). */
  uncovered: string[];
  /** The seeded conv-net run: epoch losses, the test accuracy after it, and a fingerprint of
   * the trained weights' bits (issue 7.7: bit-identical weights in Node and Chromium). */
  training: { loss: number[]; accuracy: number; weights: string };
  /** WASM memory in bytes after the run. */
  wasmBytes: number;
}

/** Uniform values in [-scale, scale), kept `gap` away from 0 (ReLU's kink). */
function rand(tl: T, shape: number[], seed: number, scale = 1, gap = 0): Torchlet.Tensor {
  const rng = new tl.Rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return tl.Tensor.from(
    Float32Array.from({ length: n }, () => {
      const v = rng.uniform(-scale, scale);
      return Math.abs(v) < gap ? v + Math.sign(v || 1) * gap : v;
    }),
    shape,
  );
}

/** Values in [0.05, 0.95): probabilities for BCE / cross-entropy inputs. */
function probs(tl: T, shape: number[], seed: number): Torchlet.Tensor {
  const rng = new tl.Rng(seed);
  return tl.Tensor.from(
    Float32Array.from({ length: shape[0]! * shape[1]! }, () => rng.uniform(0.05, 0.95)),
    shape,
  );
}

function oneHot(tl: T, labels: number[], cols: number): Torchlet.Tensor {
  const t = tl.Tensor.zeros([labels.length, cols]);
  labels.forEach((l, r) => {
    t.data[r * cols + l] = 1;
  });
  return t;
}

/** Runs every check against the build `tl` (after `await tl.init()`). */
export async function runCoreChecks(tl: T): Promise<CoreResults> {
  const checks: CheckResult[] = [];
  const covered = new Set<string>();
  const record = (name: string, r: Torchlet.GradCheckResult, ...classes: string[]): void => {
    checks.push({ name, ok: r.ok, failures: r.failures });
    for (const c of classes) covered.add(c);
  };
  // Every layer and container, variants included, with the table's inputs (away from ReLU's
  // kink, distinct values for max pooling).
  const rng = new tl.Rng(3);
  moduleTable(tl).forEach((e, i) => {
    const m = e.make(rng);
    const x = inputFor(tl, e, 100 + i);
    record(e.name, tl.gradCheck(m, x), e.type);
    m.dispose();
    x.dispose();
  });

  const labels = [2, 0, 3];
  record(
    'MSELoss',
    tl.gradCheckLoss(new tl.MSELoss(), rand(tl, [3, 4], 13), rand(tl, [3, 4], 14)),
    'MSELoss',
  );
  record(
    'BCELoss',
    tl.gradCheckLoss(new tl.BCELoss(), probs(tl, [3, 4], 15), probs(tl, [3, 4], 16)),
    'BCELoss',
  );
  record(
    'CrossEntropyLoss',
    tl.gradCheckLoss(new tl.CrossEntropyLoss(), oneHot(tl, labels, 4), probs(tl, [3, 4], 17)),
    'CrossEntropyLoss',
  );
  record(
    'LogSoftmaxCrossEntropy',
    tl.gradCheckLoss(
      new tl.LogSoftmaxCrossEntropy(),
      oneHot(tl, labels, 4),
      rand(tl, [3, 4], 18, 4),
    ),
    'LogSoftmaxCrossEntropy',
  );

  // Abstract bases (Container) have no description of their own and nothing to run.
  const exported = Object.entries(tl)
    .filter(
      ([, v]) =>
        typeof v === 'function' && (Object.hasOwn(v, 'spec') || v.prototype instanceof tl.Loss),
    )
    .map(([name]) => name);
  const uncovered = [...new Set([...tl.MODULE_TYPES, ...exported])].filter(
    (name) => !covered.has(name),
  );

  // fetchDigits, not loadDigits: browsers have no file to read.
  const training = trainConv(tl, await tl.fetchDigits());
  return { checks, uncovered, training, wasmBytes: tl.memory().wasmBytes };
}

/** The report's conv net on the digits: 5 seeded epochs, one thread. Same numbers in every engine. */
function trainConv(tl: T, { train, test }: Torchlet.DigitsSplit): CoreResults['training'] {
  const { net, inputShape } = tl.preset('conv1d', { seed: 1 });
  const trainSet = { x: tl.asSamples(train.x, inputShape), y: train.y };
  const history = tl.sgd(net, trainSet, new tl.LogSoftmaxCrossEntropy(), {
    batchSize: 32,
    epochs: 5,
    step: 0.05,
    seed: 1,
    // Fixed, not 'auto': a page's main thread and Node may pick different counts.
    workers: 1,
  });
  const accuracy = tl.accuracy(net, { x: tl.asSamples(test.x, inputShape), y: test.y });
  const weights = weightFingerprint(net);
  net.dispose();
  return { loss: history.loss, accuracy, weights };
}

/** FNV-1a (32-bit) over every weight's float32 bit pattern, in parameter order. */
function weightFingerprint(net: Torchlet.Module): string {
  let h = 0x811c9dc5;
  for (const p of net.parameters()) {
    for (const w of new Uint32Array(p.value.toArray().buffer)) {
      for (let s = 0; s < 32; s += 8) h = Math.imul(h ^ ((w >>> s) & 0xff), 0x01000193) >>> 0;
    }
  }
  return h.toString(16).padStart(8, '0');
}

/** What data-parallel training did on a page (or in Node, for comparison). */
export interface ParallelResults {
  /** `crossOriginIsolated` on the page (true in Node, which needs no isolation). */
  isolated: boolean;
  /** The error of a synchronous step with workers 2 before any thread was started ('' if none). */
  unstarted: string;
  /** What `startWorkers(2)` returned. */
  started: number;
  /** `sgd` with 2 workers and `fit` with 3: epoch losses and a fingerprint of the weights. */
  sgd: { loss: number[]; weights: string; workers: number | null };
  fit: { loss: number[]; weights: string };
}

/**
 * Data-parallel training (issue 13): a seeded digits MLP trained with `sgd` on 2 workers and with
 * `fit` on 3 (fit starts the third thread itself). The test compares the losses and weights with
 * Node's, bit for bit. In a page's main thread a synchronous step cannot wait for threads to
 * start, so the first step, before `startWorkers`, must name it.
 */
export async function dataParallel(tl: T): Promise<ParallelResults | { error: string }> {
  try {
    const { train } = await tl.fetchDigits();
    const make = (): Torchlet.Module => {
      const rng = new tl.Rng(7);
      return new tl.Sequential(
        new tl.Linear(64, 64, { rng }),
        new tl.ReLU(),
        new tl.Linear(64, 10, { rng }),
      );
    };
    const loss = new tl.LogSoftmaxCrossEntropy();
    const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated ?? true;
    let unstarted = '';
    if (typeof window !== 'undefined') {
      try {
        const optim = new tl.Optim(make(), loss, 0.1, { workers: 2 });
        optim.step(train.x.rows(0, 32), train.y.rows(0, 32));
      } catch (e) {
        unstarted = e instanceof Error ? e.message : String(e);
      }
    }
    const started = await tl.startWorkers(2);
    const options = { batchSize: 64, epochs: 2, step: 0.1, seed: 3 };
    const net = make();
    const optim = new tl.Optim(net, loss, 0.1, { workers: 2 });
    const h = tl.sgd(net, train, loss, { batchSize: 64, epochs: 2, seed: 3, optim });
    const workers = optim.workers;
    optim.dispose();
    const net3 = make();
    const h3 = await tl.fit(net3, train, loss, { ...options, workers: 3 });
    return {
      isolated,
      unstarted,
      started,
      sgd: { loss: h.loss, weights: weightFingerprint(net), workers },
      fit: { loss: h3.loss, weights: weightFingerprint(net3) },
    };
  } catch (e) {
    return { error: e instanceof Error ? `${e.message}\n${e.stack}` : String(e) };
  }
}
