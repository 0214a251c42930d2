// The core checks the browser test runs inside headless Chromium (page.ts) and again in Node
// (browser.test.ts), against whichever torchlet build it is given: gradCheck of every exported
// module and loss, then a short seeded training run whose loss history must match bit for bit.
// It returns plain data (no assertions), so the page can hand it to the test as JSON.
import type * as Torchlet from '../../ts/index.js';

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
  return tl.Tensor.from(Float32Array.from({ length: n }, () => {
    const v = rng.uniform(-scale, scale);
    return Math.abs(v) < gap ? v + Math.sign(v || 1) * gap : v;
  }), shape);
}

/** Values in [0.05, 0.95): probabilities for BCE / cross-entropy inputs. */
function probs(tl: T, shape: number[], seed: number): Torchlet.Tensor {
  const rng = new tl.Rng(seed);
  return tl.Tensor.from(Float32Array.from({ length: shape[0]! * shape[1]! }, () => rng.uniform(0.05, 0.95)), shape);
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
  const rng = new tl.Rng(3);
  // Inputs keep away from ReLU's kink and from pooling ties (distinct random values).
  record('Linear', tl.gradCheck(new tl.Linear(5, 3, { rng }), rand(tl, [4, 5], 1)), 'Linear');
  record('TanH', tl.gradCheck(new tl.TanH(), rand(tl, [3, 5], 2, 2)), 'TanH');
  record('Sigmoid', tl.gradCheck(new tl.Sigmoid(), rand(tl, [3, 5], 3, 3)), 'Sigmoid');
  record('ReLU', tl.gradCheck(new tl.ReLU(), rand(tl, [3, 5], 4, 2, 0.01)), 'ReLU');
  record('Softmax', tl.gradCheck(new tl.Softmax(), rand(tl, [3, 7], 5, 2)), 'Softmax');
  record('Conv1D', tl.gradCheck(new tl.Conv1D(3, 2, 4, 2, { rng }), rand(tl, [2, 9, 2], 6)), 'Conv1D');
  record('Conv2D', tl.gradCheck(new tl.Conv2D(2, 3, 2, 3, 1, { rng }), rand(tl, [2, 4, 5, 2], 7)), 'Conv2D');
  record('MaxPool1D', tl.gradCheck(new tl.MaxPool1D(2, 2), rand(tl, [2, 8, 3], 8)), 'MaxPool1D');
  record('MaxPool2D', tl.gradCheck(new tl.MaxPool2D(2, 2, 2), rand(tl, [2, 4, 4, 3], 9)), 'MaxPool2D');
  record('Flatten', tl.gradCheck(new tl.Flatten(), rand(tl, [2, 3, 4], 10)), 'Flatten');
  record('Reshape', tl.gradCheck(new tl.Reshape(4, 3), rand(tl, [2, 3, 4], 19)), 'Reshape');
  record('Upsample1D', tl.gradCheck(new tl.Upsample1D(2), rand(tl, [2, 3, 2], 20)), 'Upsample1D');
  record('Upsample2D', tl.gradCheck(new tl.Upsample2D(2, 3), rand(tl, [2, 2, 3, 2], 21)), 'Upsample2D');
  const seq = new tl.Sequential(new tl.Linear(6, 5, { rng }), new tl.TanH(), new tl.Linear(5, 3, { rng }));
  record('Sequential', tl.gradCheck(seq, rand(tl, [4, 6], 11)), 'Sequential');
  const ae = new tl.AutoEncoder(
    new tl.Sequential(new tl.Linear(6, 3, { rng }), new tl.TanH()),
    new tl.Sequential(new tl.Linear(3, 6, { rng }), new tl.Sigmoid()),
  );
  record('AutoEncoder', tl.gradCheck(ae, rand(tl, [4, 6], 12)), 'AutoEncoder');

  const labels = [2, 0, 3];
  record('MSELoss', tl.gradCheckLoss(new tl.MSELoss(), rand(tl, [3, 4], 13), rand(tl, [3, 4], 14)), 'MSELoss');
  record('BCELoss', tl.gradCheckLoss(new tl.BCELoss(), probs(tl, [3, 4], 15), probs(tl, [3, 4], 16)), 'BCELoss');
  record('CrossEntropyLoss', tl.gradCheckLoss(new tl.CrossEntropyLoss(), oneHot(tl, labels, 4), probs(tl, [3, 4], 17)), 'CrossEntropyLoss');
  record('LogSoftmaxCrossEntropy', tl.gradCheckLoss(new tl.LogSoftmaxCrossEntropy(), oneHot(tl, labels, 4), rand(tl, [3, 4], 18, 4)), 'LogSoftmaxCrossEntropy');

  const uncovered = Object.entries(tl)
    .filter(([, v]) => typeof v === 'function' && (v.prototype instanceof tl.Module || v.prototype instanceof tl.Loss))
    .map(([name]) => name)
    .filter((name) => !covered.has(name));

  // fetchDigits, not loadDigits: browsers have no file to read.
  const training = trainConv(tl, await tl.fetchDigits());
  return { checks, uncovered, training, wasmBytes: tl.memory().wasmBytes };
}

/** The report's conv net on the digits: 5 seeded epochs. Same numbers in every engine. */
function trainConv(tl: T, { train, test }: Torchlet.DigitsSplit): CoreResults['training'] {
  const { net, inputShape } = tl.preset('conv1d', { seed: 1 });
  const trainSet = { x: tl.asSamples(train.x, inputShape), y: train.y };
  const history = tl.sgd(net, trainSet, new tl.LogSoftmaxCrossEntropy(), { batchSize: 32, epochs: 5, step: 0.05, seed: 1 });
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
