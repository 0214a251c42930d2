// Metrics over a data set: accuracy (arg-max against class labels), the confusion matrix, mean
// squared error, the mean loss; `evaluate` gathers several at once. Forward runs in batches of
// 256 rows to bound memory; predictions and labels are compared in plain TS (n values, not n·k).
// Class labels are integers in [0, classes), checked (naming the first bad index) before any
// forward runs; the confusion matrix is limited to MAX_CLASSES classes (it is classes² numbers).

import { TorchletError } from '../core/errors.js';
import { Loss, type Reduction } from '../core/loss.js';
import { Module, checkTensor, withMode } from '../core/module.js';
import type { Tensor } from '../core/tensor.js';
import { kernels, onHost } from '../core/wasm.js';
import { describe } from './optim.js';
import { checkOptionKeys } from './options.js';

/** The most classes `confusionMatrix` counts (a k × k matrix of JS numbers: 8 MiB at 1024). */
export const MAX_CLASSES = 1024;

/** Throws `BAD_ARGUMENT` unless `net` is a Module. @internal */
export function checkNet(net: unknown, where: string): asserts net is Module {
  if (!(net instanceof Module)) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${where}: expected net to be a Module, got ${describe(net)}`,
    );
  }
}

/** Throws `BAD_ARGUMENT` unless `loss` is a Loss. @internal */
export function checkLoss(loss: unknown, where: string): asserts loss is Loss {
  if (!(loss instanceof Loss)) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${where}: expected loss to be a Loss (e.g. new MSELoss()), got ${describe(loss)}`,
    );
  }
}

/** Classes of a network's output on x: the values per row of the output for one sample. */
function classesOf(net: Module, x: Tensor): number {
  return net
    .outputShape([1, ...x.shape.slice(1)])
    .slice(1)
    .reduce((a, b) => a * b, 1);
}

/**
 * Class indices from y (labels [n], or one-hot rows [n, k] by arg-max), each checked to be an
 * integer in [0, classes). @throws `LABEL_OUT_OF_RANGE` naming the first bad index.
 */
function classLabels(y: Tensor, classes: number, where: string): Int32Array {
  const n = y.shape[0]!;
  const cols = y.size / n;
  const values = y.data;
  const out = new Int32Array(n);
  if (cols === 1) {
    for (let i = 0; i < n; i++) {
      const l = values[i]!;
      if (!(Number.isInteger(l) && l >= 0 && l < classes)) {
        throw new TorchletError(
          'LABEL_OUT_OF_RANGE',
          `${where}: label ${l} out of range [0, ${classes}) at y[${i}]`,
        );
      }
      out[i] = l;
    }
    return out;
  }
  argmaxRows(values, n, cols, out, 0);
  const bad = out.findIndex((l) => l >= classes);
  if (bad >= 0) {
    throw new TorchletError(
      'LABEL_OUT_OF_RANGE',
      `${where}: label ${out[bad]} (the arg-max of a one-hot row) out of range [0, ${classes}) at y[${bad}]`,
    );
  }
  return out;
}

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
  // The WebGPU backend: computed in WASM on synced values (see onHost).
  return onHost(() => {
    checkNet(net, 'predict');
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
  });
}

/**
 * Class indices from labels [n] or one-hot rows [n, k].
 * @throws TorchletError `LABEL_OUT_OF_RANGE` for a label that is not an integer in [0, 2^31)
 *   (NaN, -1, 2.5, 2^32), naming its index: nothing is truncated or wrapped.
 */
export function labelsOf(y: Tensor): Int32Array {
  checkTensor(y, 'labelsOf', 'y', { finite: false });
  return classLabels(y, 2 ** 31, 'labelsOf');
}

/**
 * Fraction of rows whose predicted class equals the label (y: class indices [n] or one-hot).
 * @throws TorchletError `LABEL_OUT_OF_RANGE` for a label that is not an integer in [0, classes),
 *   where classes is the width of the network output.
 */
export function accuracy(net: Module, data: Dataset): number {
  // The WebGPU backend: computed in WASM on synced values (see onHost).
  return onHost(() => {
    checkNet(net, 'accuracy');
    const n = checkDataset(data, 'accuracy');
    const labels = classLabels(data.y, classesOf(net, data.x), 'accuracy');
    const predicted = predict(net, data.x);
    let correct = 0;
    for (let i = 0; i < n; i++) correct += predicted[i] === labels[i] ? 1 : 0;
    return correct / n;
  });
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
 * @param classes Number of classes, an integer from the width of the network output up to
 *   MAX_CLASSES = 1024 (default: the output width, which must be at most MAX_CLASSES).
 * @throws TorchletError `LABEL_OUT_OF_RANGE` for a label that is not an integer in [0, classes);
 *   `BAD_ARGUMENT` for more than MAX_CLASSES classes or fewer than the output width.
 */
export function confusionMatrix(net: Module, data: Dataset, classes?: number): ConfusionMatrix {
  // The WebGPU backend: computed in WASM on synced values (see onHost).
  return onHost(() => {
    const where = 'confusionMatrix';
    checkNet(net, where);
    const n = checkDataset(data, where);
    const width = classesOf(net, data.x);
    if (width > MAX_CLASSES) {
      throw new TorchletError(
        'BAD_ARGUMENT',
        `${where}: expected a network output of at most ${MAX_CLASSES} classes (the matrix is classes²), got ${width}`,
      );
    }
    const k = classes ?? width;
    if (typeof k !== 'number' || !Number.isInteger(k) || k < width || k > MAX_CLASSES) {
      throw new TorchletError(
        'BAD_ARGUMENT',
        `${where}: expected classes to be an integer in [${width}, ${MAX_CLASSES}] (the output width to the limit), got ${describe(k)}`,
      );
    }
    const labels = classLabels(data.y, k, where);
    const predicted = predict(net, data.x);
    const matrix = Array.from({ length: k }, () => new Array<number>(k).fill(0));
    for (let i = 0; i < n; i++) matrix[labels[i]!]![predicted[i]!]! += 1;
    return { classes: k, matrix };
  });
}

/** Mean over samples of the summed squared error between the output and dense targets y. */
export function meanSquaredError(net: Module, data: Dataset, batchSize = 256): number {
  // The WebGPU backend: computed in WASM on synced values (see onHost).
  return onHost(() => {
    checkNet(net, 'meanSquaredError');
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
  });
}

/**
 * A data set's loss from its batches' losses, under the loss's reduction: as if the data were one
 * batch (the mean weighted by batch size for 'batchmean' and 'mean', the total for 'sum').
 * @internal
 */
export class LossTotal {
  private total = 0;
  private samples = 0;
  constructor(private readonly reduction: Reduction) {}
  /** Adds one batch's (reduced) loss. */
  add(value: number, count: number): void {
    this.total += this.reduction === 'sum' ? value : value * count;
    this.samples += count;
  }
  /** The data set's loss (NaN when no batch was added). */
  get value(): number {
    if (this.samples === 0) return NaN;
    return this.reduction === 'sum' ? this.total : this.total / this.samples;
  }
}

/**
 * The loss of the network over a data set, in batches, in evaluation mode, reduced as the loss
 * says over the whole set (per sample for 'batchmean', per element for 'mean', the total for
 * 'sum'): the batch size changes nothing but rounding.
 */
export function evaluateLoss(net: Module, data: Dataset, loss: Loss, batchSize = 256): number {
  // The WebGPU backend: computed in WASM on synced values (see onHost).
  return onHost(() => {
    checkNet(net, 'evaluateLoss');
    const n = checkDataset(data, 'evaluateLoss');
    checkLoss(loss, 'evaluateLoss');
    checkBatchSize(batchSize, 'evaluateLoss');
    const total = new LossTotal(loss.reduction);
    withMode(net, false, () => {
      for (let start = 0; start < n; start += batchSize) {
        const count = Math.min(batchSize, n - start);
        total.add(
          loss.forward(data.y.rows(start, count), net.forward(data.x.rows(start, count))),
          count,
        );
      }
    });
    return total.value;
  });
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
 * @throws TorchletError `BAD_ARGUMENT` for an unknown option key (with a hint) or metric, and
 *   what each metric throws (all checked before any forward runs for the built-in metrics).
 * @example evaluate(net, test, { loss, metrics: ['accuracy', 'mse'] }) // { loss: 0.12, accuracy: 0.96, mse: … }
 */
export function evaluate(
  net: Module,
  data: Dataset,
  options: EvaluateOptions = {},
): Record<string, number> {
  // The WebGPU backend: computed in WASM on synced values (see onHost).
  return onHost(() => {
    checkNet(net, 'evaluate');
    checkDataset(data, 'evaluate');
    checkOptionKeys(options, ['loss', 'metrics'], 'evaluate');
    if (options.loss !== undefined) checkLoss(options.loss, 'evaluate');
    if (options.metrics !== undefined && !Array.isArray(options.metrics)) {
      throw new TorchletError(
        'BAD_ARGUMENT',
        `evaluate: expected metrics to be an array of metrics, got ${describe(options.metrics)}`,
      );
    }
    const metrics = (options.metrics ?? ['accuracy']).map((m) => metricOf(m, 'evaluate'));
    // Labels first: a bad label must throw before any metric has run.
    if (metrics.some((m) => m === METRICS.accuracy))
      classLabels(data.y, classesOf(net, data.x), 'evaluate');
    const out: Record<string, number> = {};
    if (options.loss !== undefined) out['loss'] = evaluateLoss(net, data, options.loss);
    for (const m of metrics) out[m.name] = m.compute(net, data);
    return out;
  });
}
