// The WebGPU backend behind the Module API, in the page: every entry of the layer table (forward,
// backwardUpdateGradient, backwardDelta) and every loss (forward, backward, each reduction) on
// the GPU against the same calls in WASM on the same tensors (the backend's host mode), and the
// report's conv net trained 5 epochs with fit on the GPU (the test compares its losses with Node's
// WASM run).
import * as tl from '../../ts/index.js';
import { gpuBackend } from '../../ts/core/wasm.js';
import { inputFor, moduleTable } from '../modules.js';

export interface Diff {
  name: string;
  /** Largest |gpu - wasm| / (1 + max |wasm|) over what the call wrote. */
  err: number;
  error?: string;
}

export interface ModulesPage {
  modules: Diff[];
  losses: Diff[];
  /** `reloaded`: the test accuracy of the trained net saved and loaded again (a model file). */
  training: { loss: number[]; accuracy: number; reloaded?: number; error?: string };
  /** Codes thrown: reading a GPU output and its clone unsynced, sgd on the GPU, 'skip', workers 2. */
  refusals?: string[];
  /** `gridSearch` with workers: 0 on the GPU: each row's params, fold scores and train curves. */
  grid?: GridCheck;
  uploadsAfterWarmup?: number;
  error?: string;
}

function rel(want: Float32Array, got: Float32Array): number {
  if (want.length !== got.length) return Infinity;
  let scale = 0;
  for (const v of want) scale = Math.max(scale, Math.abs(v));
  let err = 0;
  for (let i = 0; i < want.length; i++) {
    if (Object.is(want[i], got[i])) continue;
    const d = Math.abs(want[i]! - got[i]!) / (1 + scale);
    err = Math.max(err, Number.isNaN(d) ? Infinity : d);
  }
  return err;
}

interface Calls {
  y: Float32Array;
  grads: Float32Array[];
  dx: Float32Array;
}

async function moduleCalls(
  m: tl.Module,
  x: tl.Tensor,
  delta: tl.Tensor,
  onGpu: boolean,
): Promise<Calls> {
  const gpu = gpuBackend()!;
  gpu.hostMode = !onGpu;
  try {
    const y = m.forward(x);
    m.zeroGrad();
    m.backwardUpdateGradient(x, delta);
    const dx = m.backwardDelta(x, delta);
    gpu.hostMode = false;
    await tl.sync();
    return {
      y: y.toArray(),
      grads: m.parameters().map((p) => p.grad.toArray()),
      dx: dx.toArray(),
    };
  } finally {
    gpu.hostMode = false;
  }
}

async function checkModules(): Promise<Diff[]> {
  const out: Diff[] = [];
  let seed = 1;
  for (const entry of moduleTable(tl)) {
    const s = seed++;
    try {
      const m = entry.make(new tl.Rng(s));
      // Dropout's masks are drawn on this thread per call: evaluation mode keeps both runs equal
      // (its kernels have their own cases).
      if (entry.stochastic) m.eval();
      const x = inputFor(tl, entry, s);
      const y0 = m.forward(x);
      await tl.sync();
      const rng = new tl.Rng(s + 1000);
      const delta = tl.Tensor.from(
        Float32Array.from({ length: y0.size }, () => rng.uniform(-1, 1)),
        [...y0.shape],
      );
      const want = await moduleCalls(m, x, delta, false);
      const got = await moduleCalls(m, x, delta, true);
      let err = Math.max(rel(want.y, got.y), rel(want.dx, got.dx));
      want.grads.forEach((g, i) => (err = Math.max(err, rel(g, got.grads[i]!))));
      out.push({ name: entry.name, err });
      m.dispose();
      x.dispose();
      delta.dispose();
    } catch (e) {
      out.push({ name: entry.name, err: Infinity, error: (e as Error).message });
    }
  }
  return out;
}

async function checkLosses(): Promise<Diff[]> {
  const gpu = gpuBackend()!;
  const out: Diff[] = [];
  const rng = new tl.Rng(7);
  const rows = 13;
  const cols = 10;
  const probs = (): tl.Tensor => {
    const v = Float32Array.from({ length: rows * cols }, () => rng.uniform(0.05, 1));
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let c = 0; c < cols; c++) s += v[r * cols + c]!;
      for (let c = 0; c < cols; c++) v[r * cols + c]! /= s;
    }
    return tl.Tensor.from(v, [rows, cols]);
  };
  const labels = tl.Tensor.from(
    Float32Array.from({ length: rows }, () => Math.floor(rng.uniform(0, cols))),
    [rows],
  );
  const unit = (): tl.Tensor =>
    tl.Tensor.from(
      Float32Array.from({ length: rows * cols }, () => rng.uniform(0.05, 0.95)),
      [rows, cols],
    );
  const normal = (): tl.Tensor =>
    tl.Tensor.from(
      Float32Array.from({ length: rows * cols }, () => rng.uniform(-2, 2)),
      [rows, cols],
    );
  const cases: Array<[string, (r: tl.Reduction) => tl.Loss, () => tl.Tensor, () => tl.Tensor]> = [
    ['MSELoss', (reduction) => new tl.MSELoss({ reduction }), normal, normal],
    ['BCELoss', (reduction) => new tl.BCELoss({ reduction }), unit, unit],
    [
      'CrossEntropyLoss',
      (reduction) => new tl.CrossEntropyLoss({ reduction }),
      () => labels,
      probs,
    ],
    [
      'LogSoftmaxCrossEntropy',
      (reduction) => new tl.LogSoftmaxCrossEntropy({ reduction }),
      () => labels,
      normal,
    ],
  ];
  for (const [name, make, target, prediction] of cases) {
    for (const reduction of ['batchmean', 'mean', 'sum'] as tl.Reduction[]) {
      const label = `${name} ${reduction}`;
      try {
        const loss = make(reduction);
        const y = target();
        const yhat = prediction();
        // WASM: the values on this thread.
        gpu.hostMode = true;
        let want: number;
        let wantGrad: Float32Array;
        try {
          want = loss.forward(y, yhat);
          wantGrad = loss.backward(y, yhat).toArray();
        } finally {
          gpu.hostMode = false;
        }
        // GPU: forced there although the tensors are on this thread.
        gpu.forceDevice = true;
        let got: number;
        let gotGrad: Float32Array;
        try {
          const nan = loss.forward(y, yhat);
          const g = loss.backward(y, yhat);
          const logged = await tl.readLosses();
          await tl.sync();
          gotGrad = g.toArray();
          got = Number.isNaN(nan) && logged.length === 1 ? logged[0]! : Infinity;
        } finally {
          gpu.forceDevice = false;
        }
        const err = Math.max(Math.abs(got - want) / (1 + Math.abs(want)), rel(wantGrad, gotGrad));
        out.push({ name: label, err });
        loss.dispose();
      } catch (e) {
        out.push({ name: label, err: Infinity, error: (e as Error).message });
      }
    }
  }
  return out;
}

async function train(): Promise<ModulesPage['training']> {
  try {
    const { train: t, test } = await tl.fetchDigits();
    const { net, inputShape } = tl.preset('conv1d', { seed: 1 });
    const history = await tl.fit(
      net,
      { x: tl.asSamples(t.x, inputShape), y: t.y },
      new tl.LogSoftmaxCrossEntropy(),
      { batchSize: 32, epochs: 5, step: 0.05, seed: 1, workers: 1 },
    );
    const testSet = { x: tl.asSamples(test.x, inputShape), y: test.y };
    const accuracy = tl.accuracy(net, testSet);
    // A model file written from the GPU-trained weights, read back into a fresh network.
    const copy = tl.deserialize(tl.serialize(net));
    const reloaded = tl.accuracy(copy, testSet);
    net.dispose();
    copy.dispose();
    return { loss: history.loss, accuracy, reloaded };
  } catch (e) {
    return { loss: [], accuracy: NaN, error: (e as Error).stack ?? String(e) };
  }
}

export type GridCheck = { params: tl.GridParams; scores: number[]; train: number[][] }[];

/** The search the GPU page and the WASM side both run (workers: 0, trials in this thread). */
export async function gridCheck(t: typeof tl): Promise<GridCheck> {
  const { train } = await t.fetchDigits();
  const x = t.Tensor.from(train.x.data.slice(0, 300 * 64), [300, 64]);
  const y = t.Tensor.from(train.y.data.slice(0, 300), [300]);
  const rows = await t.gridSearch(
    (p, m) =>
      new m.Sequential(
        new m.Linear(64, Number(p.hidden)),
        new m.ReLU(),
        new m.Linear(Number(p.hidden), 10),
      ),
    { hidden: [16, 32] },
    x,
    y,
    { cv: 2, workers: 0, seed: 1, train: { epochs: 3, step: 0.3, batchSize: 32 } },
  );
  x.dispose();
  y.dispose();
  // Grid order, not rank order: rounding may swap close ranks.
  return [...rows]
    .sort((a, b) => Number(a.params.hidden) - Number(b.params.hidden))
    .map((r) => ({
      params: r.params,
      scores: r.scores,
      train: r.curves.map((c) => c.train),
    }));
}

async function refusals(): Promise<string[]> {
  const codes: string[] = [];
  const code = (f: () => unknown): void => {
    try {
      f();
      codes.push('none');
    } catch (e) {
      codes.push((e as tl.TorchletError).code);
    }
  };
  const net = new tl.Sequential(new tl.Linear(4, 3), new tl.ReLU());
  const x = tl.Tensor.from(new Float32Array(8).fill(0.5), [2, 4]);
  const y = net.forward(x);
  code(() => y.data);
  // A clone of a value on the GPU is made there: it too needs a read.
  const copy = y.clone();
  code(() => copy.data);
  const read = await y.read();
  codes.push(read.length === 6 ? 'read' : 'bad read');
  const copied = await copy.read();
  codes.push(copied.every((v, i) => Object.is(v, read[i])) ? 'clone' : 'bad clone');
  copy.dispose();
  const data = { x, y: tl.Tensor.from([1, 0, 0, 0, 1, 0], [2, 3]) };
  code(() => tl.sgd(net, data, new tl.MSELoss(), { epochs: 1 }));
  await tl.fit(net, data, new tl.MSELoss(), { epochs: 1, nonFinite: 'skip' }).then(
    () => codes.push('none'),
    (e: tl.TorchletError) => codes.push(e.code),
  );
  code(() => new tl.Optim(net, new tl.MSELoss(), 0.1, { workers: 2 }));
  return codes;
}

/** Everything above, on the WebGPU backend. Node runs it too (test/gpu/node-run.ts). */
export async function runModuleChecks(options: { training?: boolean } = {}): Promise<ModulesPage> {
  await tl.init({ backend: 'webgpu' });
  return {
    modules: await checkModules(),
    losses: await checkLosses(),
    training:
      options.training === false ? { loss: [], accuracy: NaN, error: 'not run' } : await train(),
    refusals: await refusals(),
    grid: await gridCheck(tl),
  };
}

const w = globalThis as unknown as { __result: ModulesPage; location?: Location };
if (w.location !== undefined)
  void runModuleChecks().then(
    (r) => (w.__result = r),
    (e: unknown) =>
      (w.__result = {
        modules: [],
        losses: [],
        training: { loss: [], accuracy: NaN },
        error: (e as Error).stack ?? String(e),
      }),
  );
