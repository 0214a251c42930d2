// The five training workloads of issue 5, described once: torchlet builds them from presets, and
// the same layer list (with torchlet's initial weights, in torchlet's layouts) is rebuilt in
// TF.js (bench/tfjs.ts) and PyTorch (bench/torch_bench.py), so every framework does the same work.

import {
  LogSoftmaxCrossEntropy,
  BCELoss,
  type Loss,
  type Module,
  Linear,
  ReLU,
  Sequential,
} from '../ts/index.js';
import { Rng, loadDigits, loadMnist, preset, asSamples, type Dataset } from '../ts/index.js';
import { Optim } from '../ts/index.js';
import { Slot, U32Buffer } from '../ts/core/tensor.js';
import { kernels } from '../ts/core/wasm.js';

/** One layer, framework-neutral. Weights come from torchlet in `parameters()` order. */
export type LayerSpec =
  | { type: 'linear'; nIn: number; nOut: number }
  | { type: 'conv1d'; k: number; cIn: number; cOut: number }
  | { type: 'conv2d'; k: number; cIn: number; cOut: number }
  | { type: 'maxpool1d'; k: number }
  | { type: 'maxpool2d'; k: number }
  | { type: 'flatten' }
  | { type: 'relu' | 'tanh' | 'sigmoid' };

/** A training workload. */
export interface Workload {
  id: string;
  title: string;
  data: 'digits' | 'mnist';
  /** Per-sample input shape (channels last). */
  inputShape: number[];
  batch: number;
  lr: number;
  /** 'ce': softmax cross-entropy on logits, mean over the batch; 'bce': binary cross-entropy
   * summed over features, mean over the batch (torchlet's convention), target = input. */
  loss: 'ce' | 'bce';
  layers: LayerSpec[];
  /** The torchlet network with its initial weights. */
  build(seed: number): Module;
  /** Multiply-adds x 2 per training sample (forward + both backward GEMMs, first-layer delta
   * skipped), for the GFLOP/s column. */
  flopsPerSample: number;
}

const lin = (nIn: number, nOut: number): LayerSpec => ({ type: 'linear', nIn, nOut });

export const WORKLOADS: Workload[] = [
  {
    id: 'W1',
    title: 'digits MLP 64-100-10, batch 32',
    data: 'digits',
    inputShape: [64],
    batch: 32,
    lr: 0.05,
    loss: 'ce',
    layers: [lin(64, 100), { type: 'relu' }, lin(100, 10)],
    build: (seed) => preset('mlp', { seed }).net,
    flopsPerSample: 2 * (64 * 100 * 2 + 100 * 10 * 3),
  },
  {
    id: 'W2',
    title: 'MNIST MLP 784-100-10, batch 64',
    data: 'mnist',
    inputShape: [784],
    batch: 64,
    lr: 0.05,
    loss: 'ce',
    layers: [lin(784, 100), { type: 'relu' }, lin(100, 10)],
    build: (seed) => {
      const rng = new Rng(seed);
      return new Sequential(
        new Linear(784, 100, { rng }),
        new ReLU(),
        new Linear(100, 10, { rng }),
      );
    },
    flopsPerSample: 2 * (784 * 100 * 2 + 100 * 10 * 3),
  },
  {
    id: 'W3',
    title: 'Conv1D(3,1,32) net on digits, batch 32',
    data: 'digits',
    inputShape: [64, 1],
    batch: 32,
    lr: 0.05,
    loss: 'ce',
    layers: [
      { type: 'conv1d', k: 3, cIn: 1, cOut: 32 },
      { type: 'maxpool1d', k: 2 },
      { type: 'flatten' },
      lin(992, 100),
      { type: 'relu' },
      lin(100, 10),
    ],
    build: (seed) => preset('conv1d', { seed }).net,
    flopsPerSample: 2 * (62 * 3 * 32 * 2 + 992 * 100 * 3 + 100 * 10 * 3),
  },
  {
    id: 'W4',
    title: 'LeNet-style conv net on MNIST, batch 64',
    data: 'mnist',
    inputShape: [28, 28, 1],
    batch: 64,
    lr: 0.05,
    loss: 'ce',
    layers: [
      { type: 'conv2d', k: 5, cIn: 1, cOut: 8 },
      { type: 'relu' },
      { type: 'maxpool2d', k: 2 },
      { type: 'conv2d', k: 5, cIn: 8, cOut: 16 },
      { type: 'relu' },
      { type: 'maxpool2d', k: 2 },
      { type: 'flatten' },
      lin(256, 10),
    ],
    build: (seed) => preset('lenet', { seed }).net,
    flopsPerSample: 2 * (24 * 24 * 25 * 8 * 2 + 8 * 8 * 200 * 16 * 3 + 256 * 10 * 3),
  },
  {
    id: 'W5',
    title: 'autoencoder 64-200-50-200-64, batch 32',
    data: 'digits',
    inputShape: [64],
    batch: 32,
    lr: 0.05,
    loss: 'bce',
    layers: [
      lin(64, 200),
      { type: 'tanh' },
      lin(200, 50),
      { type: 'tanh' },
      lin(50, 200),
      { type: 'tanh' },
      lin(200, 64),
      { type: 'sigmoid' },
    ],
    build: (seed) => preset('autoencoder', { seed }).net,
    flopsPerSample: 2 * (64 * 200 * 2 + (200 * 50 + 50 * 200 + 200 * 64) * 3),
  },
];

/**
 * The "larger LeNet-style MNIST run" for the GPU bench (bench/webgpu.ts): W4's network at
 * batch 512, where a GPU has enough work per dispatch to show. Not in `WORKLOADS`: the CPU peers'
 * rows would add minutes to `npm run bench` and say nothing W4 does not.
 */
export const W6: Workload = {
  ...WORKLOADS.find((w) => w.id === 'W4')!,
  id: 'W6',
  title: 'LeNet-style conv net on MNIST, batch 512',
  batch: 512,
  lr: 0.1,
};

/** Training data of a workload: x [n, ...inputShape], y labels [n] or the input itself. The
 * test split is freed at once; `dispose()` frees the rest. */
export function workloadData(w: Workload): Dataset & { dispose(): void } {
  const split = w.data === 'digits' ? loadDigits() : loadMnist();
  split.test.x.dispose();
  split.test.y.dispose();
  const { x, y } = split.train;
  const dispose = (): void => {
    x.dispose();
    y.dispose();
  };
  return { x: asSamples(x, w.inputShape), y: w.loss === 'bce' ? x : y, dispose };
}

/** The torchlet loss of a workload. */
export function workloadLoss(w: Workload): Loss {
  return w.loss === 'ce' ? new LogSoftmaxCrossEntropy() : new BCELoss();
}

/** The batch order of round r: a permutation of [0, n) from Rng(seed + r), shared by all. */
export function batchOrder(n: number, seed: number, round: number): Uint32Array {
  return new Rng(seed + round).shuffle(new Uint32Array(n).map((_, i) => i));
}

/**
 * torchlet's training step as `sgd()` runs it, for the bench's own loops: gather the batch that
 * `order` holds at `start` into reused buffers, then `Optim.step`. Owns the network it trains,
 * built with `seed`.
 */
export class BenchStepper {
  readonly net: Module;
  private readonly optim: Optim;
  private readonly indices: U32Buffer;
  private readonly xSlot = new Slot();
  private readonly ySlot = new Slot();
  private readonly xShape: number[];
  private readonly yShape: number[];
  private readonly xCols: number;
  private readonly yCols: number;
  private readonly k = kernels();

  constructor(
    private readonly w: Workload,
    private readonly data: Dataset,
    seed: number,
    workers = 1,
  ) {
    const n = data.x.shape[0]!;
    this.net = w.build(seed);
    // Explicit: the single-thread figures must not follow 'auto' (the machine's cores).
    this.optim = new Optim(this.net, workloadLoss(w), w.lr, { workers });
    this.indices = new U32Buffer(w.batch);
    this.xCols = data.x.size / n;
    this.yCols = data.y.size / n;
    this.xShape = [w.batch, ...data.x.shape.slice(1)];
    this.yShape = [w.batch, ...data.y.shape.slice(1)];
  }

  /** One step on rows `order[start .. start + batch)`; returns `Optim.step`'s loss (NaN on the
   * GPU backend, where `readLosses()` returns it). */
  step(order: Uint32Array, start: number): number {
    const { w, data, indices, k } = this;
    indices.resize(w.batch);
    indices.data.set(order.subarray(start, start + w.batch));
    const xb = this.xSlot.get(this.xShape);
    const yb = this.ySlot.get(this.yShape);
    k.gather_rows(data.x.ptr, indices.ptr, xb.ptr, w.batch, this.xCols);
    k.gather_rows(data.y.ptr, indices.ptr, yb.ptr, w.batch, this.yCols);
    return this.optim.step(xb, yb);
  }

  /** Frees the buffers and the network (not the data). */
  dispose(): void {
    this.optim.dispose();
    this.indices.dispose();
    this.xSlot.dispose();
    this.ySlot.dispose();
    this.net.dispose();
  }
}
