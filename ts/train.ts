// The training loop of the original design, and evaluation helpers. sgd() shuffles with its own
// seeded generator, gathers each batch into reused buffers with one kernel call (no per-step
// allocation), and stops early when the epoch loss changes by less than `eps`.

import { TorchletError } from './errors.js';
import type { Loss } from './loss.js';
import { Module, checkTensor } from './module.js';
import { Optim } from './optim.js';
import { Rng, defaultRng } from './rng.js';
import { Slot, Tensor, U32Buffer } from './tensor.js';
import { kernels } from './wasm.js';

/** A data set: inputs x [n, ...] and targets y (class indices [n] or dense [n, ...]). */
export interface Dataset {
  /** Inputs, one sample per row. */
  x: Tensor;
  /** Targets, one per row of x. */
  y: Tensor;
}

/** Options for `sgd`. */
export interface SgdOptions {
  /** Samples per batch (default 32); the last batch of an epoch may be smaller. */
  batchSize?: number;
  /** Maximum number of epochs (default 10). */
  epochs?: number;
  /** Convergence threshold: stop when the epoch loss changes by less than eps (default 0: never). */
  eps?: number;
  /** Gradient step, i.e. the learning rate (default 1e-3). */
  step?: number;
  /** Shuffle the samples each epoch (default true). */
  shuffle?: boolean;
  /** Seed of the shuffling generator (default: draw from the shared `defaultRng`). */
  seed?: number;
  /** Called after each epoch with its index (from 0) and mean training loss. */
  onEpoch?: (epoch: number, loss: number) => void;
}

/** What `sgd` returns. */
export interface History {
  /** Mean training loss of each epoch. */
  loss: number[];
  /** True when training stopped because the loss changed by less than `eps`. */
  converged: boolean;
}

function checkOption(value: number, where: string, name: string, ok: (v: number) => boolean, rule: string): number {
  if (typeof value !== 'number' || !ok(value)) {
    throw new TorchletError('BAD_ARGUMENT', `${where}: expected ${name} to be ${rule}, got ${String(value)}`);
  }
  return value;
}

function checkDataset(data: Dataset, where: string): number {
  if (typeof data !== 'object' || data === null) {
    throw new TorchletError('BAD_ARGUMENT', `${where}: expected data { x, y }, got ${String(data)}`);
  }
  checkTensor(data.x, where, 'data.x');
  checkTensor(data.y, where, 'data.y');
  const n = data.x.shape[0]!;
  if (data.y.shape[0] !== n) {
    throw new TorchletError('SHAPE_MISMATCH', `${where}: expected data.y with ${n} rows like data.x, got ${data.y.shape[0]}`);
  }
  return n;
}

/**
 * Mini-batch gradient descent, as in the original design.
 * @returns The loss history.
 * @example
 * const history = sgd(net, train, new LogSoftmaxCrossEntropy(), { batchSize: 32, epochs: 20, step: 0.05, seed: 1 });
 */
export function sgd(net: Module, data: Dataset, loss: Loss, options: SgdOptions = {}): History {
  const where = 'sgd';
  const n = checkDataset(data, where);
  const batchSize = checkOption(options.batchSize ?? 32, where, 'batchSize', (v) => Number.isInteger(v) && v >= 1, 'a positive integer');
  const epochs = checkOption(options.epochs ?? 10, where, 'epochs', (v) => Number.isInteger(v) && v >= 0, 'a non-negative integer');
  const eps = checkOption(options.eps ?? 0, where, 'eps', (v) => v >= 0 && Number.isFinite(v), 'a finite number >= 0');
  const step = checkOption(options.step ?? 1e-3, where, 'step', (v) => v > 0 && Number.isFinite(v), 'a positive finite number');
  // Validate shapes once, on one sample, before anything moves.
  const probe = data.x.rows(0, 1);
  net.outputShape(probe.shape, 'forward');
  const rng = options.seed === undefined ? defaultRng : new Rng(options.seed);
  const optim = new Optim(net, loss, step);
  const order = new Uint32Array(n).map((_, i) => i);
  const indices = new U32Buffer(batchSize);
  const xSlot = new Slot();
  const ySlot = new Slot();
  const xCols = data.x.size / n;
  const yCols = data.y.size / n;
  const history: History = { loss: [], converged: false };
  try {
    for (let epoch = 0; epoch < epochs; epoch++) {
      if (options.shuffle ?? true) rng.shuffle(order);
      let total = 0;
      for (let start = 0; start < n; start += batchSize) {
        const count = Math.min(batchSize, n - start);
        indices.resize(count);
        indices.data.set(order.subarray(start, start + count));
        const xb = xSlot.get([count, ...data.x.shape.slice(1)]);
        const yb = ySlot.get([count, ...data.y.shape.slice(1)]);
        kernels().gather_rows(data.x.ptr, indices.ptr, xb.ptr, count, xCols);
        kernels().gather_rows(data.y.ptr, indices.ptr, yb.ptr, count, yCols);
        let value: number;
        try {
          value = optim.step(xb, yb);
        } catch (e) {
          if (e instanceof TorchletError) throw new TorchletError(e.code, `sgd (epoch ${epoch}, batch ${start / batchSize}): ${e.message}`);
          throw e;
        }
        total += value * count;
      }
      const epochLoss = total / n;
      history.loss.push(epochLoss);
      options.onEpoch?.(epoch, epochLoss);
      const prev = history.loss[history.loss.length - 2];
      if (prev !== undefined && Math.abs(prev - epochLoss) < eps) {
        history.converged = true;
        break;
      }
    }
  } finally {
    indices.dispose();
    xSlot.dispose();
    ySlot.dispose();
  }
  return history;
}

/**
 * Class predictions: the arg-max of the network output for each row of x.
 * @param batchSize Rows per forward pass (default 256), to bound memory.
 */
export function predict(net: Module, x: Tensor, batchSize = 256): Int32Array {
  checkTensor(x, 'predict', 'x');
  const n = x.shape[0]!;
  const out = new Int32Array(n);
  for (let start = 0; start < n; start += batchSize) {
    const count = Math.min(batchSize, n - start);
    const y = net.forward(x.rows(start, count));
    const cols = y.size / count;
    const data = y.data;
    for (let r = 0; r < count; r++) {
      let best = 0;
      for (let j = 1; j < cols; j++) if (data[r * cols + j]! > data[r * cols + best]!) best = j;
      out[start + r] = best;
    }
  }
  return out;
}

/** Fraction of rows whose predicted class equals the label (y: class indices [n] or one-hot). */
export function accuracy(net: Module, data: Dataset): number {
  const n = checkDataset(data, 'accuracy');
  const predicted = predict(net, data.x);
  const labels = labelsOf(data.y);
  let correct = 0;
  for (let i = 0; i < n; i++) correct += predicted[i] === labels[i] ? 1 : 0;
  return correct / n;
}

/** Class indices from labels [n] or one-hot rows [n, k]. */
export function labelsOf(y: Tensor): Int32Array {
  const n = y.shape[0]!;
  const cols = y.size / n;
  const data = y.data;
  if (cols === 1) return Int32Array.from(data);
  const out = new Int32Array(n);
  for (let r = 0; r < n; r++) {
    let best = 0;
    for (let j = 1; j < cols; j++) if (data[r * cols + j]! > data[r * cols + best]!) best = j;
    out[r] = best;
  }
  return out;
}

/** Mean loss of the network over a data set, in batches. */
export function evaluateLoss(net: Module, data: Dataset, loss: Loss, batchSize = 256): number {
  const n = checkDataset(data, 'evaluateLoss');
  let total = 0;
  for (let start = 0; start < n; start += batchSize) {
    const count = Math.min(batchSize, n - start);
    total += loss.forward(data.y.rows(start, count), net.forward(data.x.rows(start, count))) * count;
  }
  return total / n;
}
