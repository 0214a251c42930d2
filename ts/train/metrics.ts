// Metrics over a data set: accuracy (arg-max against class labels), the confusion matrix, mean
// squared error, the mean loss; `evaluate` gathers several at once. Forward runs in batches of
// 256 rows to bound memory; predictions and labels are compared in plain TS (n values, not n·k).

import { TorchletError } from '../core/errors.js';
import type { Loss } from '../core/loss.js';
import { type Module, checkTensor, withMode } from '../core/module.js';
import type { Tensor } from '../core/tensor.js';
import { kernels } from '../core/wasm.js';

/** A data set: inputs x [n, ...] and targets y (class indices [n] or dense [n, ...]). */
export interface Dataset {
  /** Inputs, one sample per row. */
  x: Tensor;
  /** Targets, one per row of x. */
  y: Tensor;
}

/** The metrics known by name: `accuracy` and `mse` (mean squared error per sample). */
export type MetricName = 'accuracy' | 'mse';

/** A metric: its name, its direction and how to compute it on a data set. */
export interface Metric {
  /** Name used in histories, tables and files. */
  name: string;
  /** True when larger is better (accuracy); false for errors and losses. */
  higherIsBetter: boolean;
  /** The value of the metric for `net` on `data`. */
  compute(net: Module, data: Dataset): number;
}

/** The built-in metrics by name. */
export const METRICS: Readonly<Record<MetricName, Metric>> = Object.freeze({
  accuracy: { name: 'accuracy', higherIsBetter: true, compute: accuracy },
  mse: { name: 'mse', higherIsBetter: false, compute: meanSquaredError },
});

/** A metric from its name, or the metric itself. @throws `BAD_ARGUMENT` for an unknown name. */
export function metricOf(metric: MetricName | Metric, where: string): Metric {
  if (typeof metric === 'string' && Object.hasOwn(METRICS, metric)) return METRICS[metric];
  if (
    typeof metric === 'object' &&
    metric !== null &&
    typeof metric.compute === 'function' &&
    typeof metric.name === 'string'
  )
    return metric;
  throw new TorchletError(
    'BAD_ARGUMENT',
    `${where}: expected metric to be one of ${Object.keys(METRICS).join(', ')} or a { name, higherIsBetter, compute } object, got ${JSON.stringify(metric)}`,
  );
}

/** Rows of a data set, checking that x and y agree. @internal */
export function checkDataset(data: Dataset, where: string, name = 'data'): number {
  if (typeof data !== 'object' || data === null) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${where}: expected ${name} { x, y }, got ${String(data)}`,
    );
  }
  checkTensor(data.x, where, `${name}.x`);
  checkTensor(data.y, where, `${name}.y`);
  const n = data.x.shape[0]!;
  if (data.y.shape[0] !== n) {
    throw new TorchletError(
      'SHAPE_MISMATCH',
      `${where}: expected ${name}.y with ${n} rows like ${name}.x, got ${data.y.shape[0]}`,
    );
  }
  return n;
}

/** Throws `BAD_ARGUMENT` unless `batchSize` is a positive integer. */
function checkBatchSize(batchSize: number, where: string): void {
  if (typeof batchSize !== 'number' || !Number.isInteger(batchSize) || batchSize < 1) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${where}: expected batchSize to be a positive integer, got ${String(batchSize)}`,
    );
  }
}

function argmaxRows(
  data: Float32Array,
  rows: number,
  cols: number,
  out: Int32Array,
  offset: number,
): void {
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let j = 1; j < cols; j++) if (data[r * cols + j]! > data[r * cols + best]!) best = j;
    out[offset + r] = best;
  }
}

/**
 * Class predictions: the arg-max of the network output for each row of x, in evaluation mode
 * (Dropout off; every module's mode is restored after). So are all the metrics below.
 * @param batchSize Rows per forward pass (default 256), to bound memory.
 */
export function predict(net: Module, x: Tensor, batchSize = 256): Int32Array {
  checkTensor(x, 'predict', 'x');
  checkBatchSize(batchSize, 'predict');
  const n = x.shape[0]!;
  const out = new Int32Array(n);
  withMode(net, false, () => {
    for (let start = 0; start < n; start += batchSize) {
      const count = Math.min(batchSize, n - start);
      const y = net.forward(x.rows(start, count));
      argmaxRows(y.data, count, y.size / count, out, start);
    }
  });
  return out;
}

/** Class indices from labels [n] or one-hot rows [n, k]. */
export function labelsOf(y: Tensor): Int32Array {
  checkTensor(y, 'labelsOf', 'y', { finite: false });
  const n = y.shape[0]!;
  const cols = y.size / n;
  if (cols === 1) return Int32Array.from(y.data);
  const out = new Int32Array(n);
  argmaxRows(y.data, n, cols, out, 0);
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

/** A confusion matrix: `matrix[label][predicted]` counts, over `classes` classes. */
export interface ConfusionMatrix {
  /** Number of classes (rows and columns). */
  classes: number;
  /** `matrix[label][predicted]`: how many samples of class `label` were predicted `predicted`. */
  matrix: number[][];
}

/**
 * The confusion matrix of the network's arg-max predictions against the labels.
 * @param classes Number of classes (default: the width of the network output).
 * @throws TorchletError `LABEL_OUT_OF_RANGE` for a label outside [0, classes).
 */
export function confusionMatrix(net: Module, data: Dataset, classes?: number): ConfusionMatrix {
  const n = checkDataset(data, 'confusionMatrix');
  const k =
    classes ??
    net
      .outputShape([1, ...data.x.shape.slice(1)])
      .slice(1)
      .reduce((a, b) => a * b, 1);
  const labels = labelsOf(data.y);
  const bad = labels.findIndex((l) => !(l >= 0 && l < k));
  if (bad >= 0)
    throw new TorchletError(
      'LABEL_OUT_OF_RANGE',
      `confusionMatrix: label ${labels[bad]} out of range [0, ${k}) at y[${bad}]`,
    );
  const predicted = predict(net, data.x);
  const matrix = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  for (let i = 0; i < n; i++) matrix[labels[i]!]![predicted[i]!]! += 1;
  return { classes: k, matrix };
}

/** Mean over samples of the summed squared error between the output and dense targets y. */
export function meanSquaredError(net: Module, data: Dataset, batchSize = 256): number {
  const n = checkDataset(data, 'meanSquaredError');
  checkBatchSize(batchSize, 'meanSquaredError');
  let total = 0;
  withMode(net, false, () => {
    for (let start = 0; start < n; start += batchSize) {
      const count = Math.min(batchSize, n - start);
      const yhat = net.forward(data.x.rows(start, count));
      const y = data.y.rows(start, count);
      if (y.size !== yhat.size) {
        throw new TorchletError(
          'SHAPE_MISMATCH',
          `meanSquaredError: expected y with ${yhat.size / count} values per row like the output, got ${y.size / count}`,
        );
      }
      total += kernels().mse_loss_forward(y.ptr, yhat.ptr, count, yhat.size / count) * count;
    }
  });
  return total / n;
}

/** Mean loss of the network over a data set, in batches, in evaluation mode. */
export function evaluateLoss(net: Module, data: Dataset, loss: Loss, batchSize = 256): number {
  const n = checkDataset(data, 'evaluateLoss');
  checkBatchSize(batchSize, 'evaluateLoss');
  let total = 0;
  withMode(net, false, () => {
    for (let start = 0; start < n; start += batchSize) {
      const count = Math.min(batchSize, n - start);
      total +=
        loss.forward(data.y.rows(start, count), net.forward(data.x.rows(start, count))) * count;
    }
  });
  return total / n;
}

/** Options for `evaluate`. */
export interface EvaluateOptions {
  /** Also report the mean of this loss as `loss`. */
  loss?: Loss;
  /** Metrics to compute (default `['accuracy']`). */
  metrics?: ReadonlyArray<MetricName | Metric>;
}

/**
 * Several metrics (and optionally the loss) on one data set, keyed by metric name.
 * @example evaluate(net, test, { loss, metrics: ['accuracy', 'mse'] }) // { loss: 0.12, accuracy: 0.96, mse: … }
 */
export function evaluate(
  net: Module,
  data: Dataset,
  options: EvaluateOptions = {},
): Record<string, number> {
  checkDataset(data, 'evaluate');
  const metrics = (options.metrics ?? ['accuracy']).map((m) => metricOf(m, 'evaluate'));
  const out: Record<string, number> = {};
  if (options.loss !== undefined) out['loss'] = evaluateLoss(net, data, options.loss);
  for (const m of metrics) out[m.name] = m.compute(net, data);
  return out;
}
