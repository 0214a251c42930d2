// The training loop of the original design, in one generator (`steps`) that yields after each
// batch: sgd() drives it synchronously, fit() (fit.ts) asynchronously. Each epoch shuffles with a
// seeded generator, gathers each batch into reused buffers with one kernel call and runs an
// `Optim` step (any update rule, or the caller's Optim with its state). Per epoch it can score
// validation data, stop early with patience (restoring the best weights) and call back; a NaN/Inf
// loss or gradient throws naming epoch and batch, or skips the batch.

import { TorchletError } from '../core/errors.js';
import type { Loss } from '../core/loss.js';
import {
  type Dataset,
  type Metric,
  type MetricName,
  checkDataset,
  checkLoss,
  checkNet,
  LossTotal,
  evaluateLoss,
  metricOf,
} from './metrics.js';
import { type Module, enterMode } from '../core/module.js';
import { OPTIM_KEYS, Optim, type OptimOptions, describe, nonFiniteError } from './optim.js';
import { checkOptionKeys } from './options.js';
import { Rng, checkSeed, defaultRng } from '../core/rng.js';
import { Slot, type Tensor, U32Buffer } from '../core/tensor.js';
import { gpuBackend, kernels } from '../core/wasm.js';

export type { Dataset } from './metrics.js';
export { accuracy, evaluateLoss, labelsOf, predict } from './metrics.js';

/** What `onEpoch` receives after the loss. */
export interface EpochInfo {
  /** Validation loss of this epoch (with `validation`). */
  valLoss?: number;
  /** Validation metric of this epoch (with `validation` and `metric`). */
  valMetric?: number;
  /** Batches skipped this epoch for a non-finite output, loss or gradient (`nonFinite: 'skip'`). */
  skipped: number;
  /** True when this epoch is the best so far on the monitored value. */
  best: boolean;
}

/** What `onBatch` receives. */
export interface BatchInfo {
  /** Epoch index, from 0. */
  epoch: number;
  /** Batch index within the epoch, from 0. */
  batch: number;
  /** Batches per epoch. */
  batches: number;
  /** Samples in this batch. */
  size: number;
  /** The batch loss before the update (NaN/Inf when skipped). */
  loss: number;
  /** True when the batch was skipped for a non-finite output, loss or gradient. */
  skipped: boolean;
}

/** Options for `sgd`; the update rule's options (`optimizer`, `momentum`, …) are those of `Optim`. */
export interface SgdOptions extends OptimOptions {
  /**
   * Samples per batch (default 32); the last batch of an epoch may be smaller. Buffers are sized by
   * min(batchSize, samples), so a batchSize above the sample count means one full batch.
   */
  batchSize?: number;
  /** Maximum number of epochs (default 10). */
  epochs?: number;
  /** Convergence threshold: stop when the epoch loss changes by less than eps (default 0: never). */
  eps?: number;
  /** Gradient step, i.e. the learning rate (default 1e-3). Not with `optim` (it has its own). */
  step?: number;
  /**
   * Train with this `Optim`: its update rule, step and state (velocity, Adam's moments and step
   * count) carry over from call to call, so one call per epoch trains as one call of many epochs.
   * The caller owns it (it is not disposed); it must have been built for this `net` and `loss`.
   * Not with `step` or the update-rule options (they are the Optim's). Default: a new Optim per
   * call, from `step` and the update-rule options, disposed at the end.
   */
  optim?: Optim;
  /** Shuffle the samples each epoch (default true). */
  shuffle?: boolean;
  /**
   * Seed of the shuffling generator, an integer in [0, 2^32): each call starts a new generator
   * from it (default: the shared `defaultRng`, which continues from call to call). Not with `rng`.
   */
  seed?: number;
  /**
   * The shuffling generator itself, which continues from call to call (the caller owns it). Each
   * epoch's order is a fresh shuffle of 0..n-1 drawn from it, so two calls of one epoch with the
   * same `rng` (and `optim`) give the weights of one call of two epochs with `seed` its seed.
   */
  rng?: Rng;
  /**
   * Called after each epoch with its index (from 0), mean training loss and validation scores.
   * Returning `false` (exactly) stops training after this epoch.
   */
  onEpoch?: (epoch: number, loss: number, info: EpochInfo) => unknown;
  /** Called after each batch. */
  onBatch?: (info: BatchInfo) => void;
  /** Data scored after each epoch (loss, and `metric` when given). */
  validation?: Dataset;
  /** Metric computed on the validation data each epoch: `'accuracy'`, `'mse'` or a `Metric`. */
  metric?: MetricName | Metric;
  /**
   * Early stopping: stop after this many epochs without improvement of the monitored validation
   * value, then restore the weights of the best epoch. Needs `validation`.
   */
  patience?: number;
  /** What early stopping watches: the validation `'loss'` (default) or the validation `'metric'`. */
  monitor?: 'loss' | 'metric';
  /**
   * On a NaN/Inf network output, loss or gradient: `'throw'` (default; names epoch and batch) or
   * `'skip'` the batch (counted in `skippedBatches`; a validation loss that is not finite is then
   * recorded as NaN instead of throwing).
   */
  nonFinite?: 'throw' | 'skip';
}

/** What `sgd` and `fit` return. */
export interface History {
  /**
   * Training loss of each epoch, over the batches not skipped, reduced as the loss says over the
   * epoch's samples (the mean per sample for 'batchmean', per element for 'mean', the total for
   * 'sum'); NaN for an epoch whose batches were all skipped.
   */
  loss: number[];
  /** True when training stopped because the loss changed by less than `eps`. */
  converged: boolean;
  /** Validation loss of each epoch (empty without `validation`). */
  valLoss: number[];
  /** Validation metric of each epoch (empty without `metric`). */
  valMetric: number[];
  /** Name of the validation metric, or null. */
  metric: string | null;
  /** Epoch with the best monitored validation value (-1 without `validation`). */
  bestEpoch: number;
  /** True when early stopping ended training (the best weights were restored). */
  stoppedEarly: boolean;
  /** Batches skipped for a non-finite output, loss or gradient, over all epochs. */
  skippedBatches: number;
}

/** The keys of `SgdOptions` (with those of `OptimOptions`). @internal */
export const SGD_KEYS: readonly string[] = Object.freeze([
  'batchSize',
  'epochs',
  'eps',
  'step',
  'optim',
  'shuffle',
  'seed',
  'rng',
  'onEpoch',
  'onBatch',
  'validation',
  'metric',
  'patience',
  'monitor',
  'nonFinite',
  ...OPTIM_KEYS,
]);

/** The options only `fit` takes. @internal */
export const FIT_ONLY: readonly string[] = Object.freeze(['signal', 'onProgress', 'yieldMs']);

/** Checks a numeric option with `ok`, or throws `BAD_ARGUMENT` saying `rule`. @internal */
export function checkOption(
  value: number,
  where: string,
  name: string,
  ok: (v: number) => boolean,
  rule: string,
): number {
  if (typeof value !== 'number' || !ok(value)) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${where}: expected ${name} to be ${rule}, got ${String(value)}`,
    );
  }
  return value;
}

/** Everything a run needs, validated before anything moves. @internal */
export interface Plan {
  where: string;
  net: Module;
  data: Dataset;
  loss: Loss;
  options: SgdOptions;
  n: number;
  batchSize: number;
  epochs: number;
  batches: number;
  eps: number;
  optim: Optim;
  /** True when the run built `optim` (and disposes it). */
  ownsOptim: boolean;
  rng: Rng;
  shuffle: boolean;
  validation: Dataset | undefined;
  metric: Metric | null;
  patience: number | null;
  monitor: 'loss' | 'metric';
  skip: boolean;
}

/** Nets an sgd or fit is training now: a second run on one of them would interleave its steps. */
const busy = new WeakSet<Module>();

/** Throws `BAD_ARGUMENT` when a running sgd or fit is training `net`. @internal */
export function checkIdle(net: Module, where: string): void {
  if (busy.has(net)) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${where}: expected a net no other sgd or fit is training, got one a running fit is training (await it, or abort it first)`,
    );
  }
}

/**
 * Validates sgd's and fit's shared arguments and options; moves nothing, allocates no WASM.
 * @internal
 */
export function plan(
  net: Module,
  data: Dataset,
  loss: Loss,
  options: SgdOptions,
  where: string,
): Plan {
  checkNet(net, where);
  const n = checkDataset(data, where);
  checkLoss(loss, where);
  for (const name of ['onEpoch', 'onBatch'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'function') {
      throw new TorchletError(
        'BAD_ARGUMENT',
        `${where}: expected ${name} to be a function, got ${describe(options[name])}`,
      );
    }
  }
  if (options.shuffle !== undefined && typeof options.shuffle !== 'boolean') {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${where}: expected shuffle to be true or false, got ${describe(options.shuffle)}`,
    );
  }
  if (options.seed !== undefined) checkSeed(options.seed, where);
  if (options.rng !== undefined) {
    if (!(options.rng instanceof Rng)) {
      throw new TorchletError(
        'BAD_ARGUMENT',
        `${where}: expected rng to be an Rng, got ${describe(options.rng)}`,
      );
    }
    if (options.seed !== undefined) {
      throw new TorchletError(
        'BAD_ARGUMENT',
        `${where}: expected seed or rng, got both (seed starts a new generator; rng continues one)`,
      );
    }
  }
  const batchSize = checkOption(
    options.batchSize ?? 32,
    where,
    'batchSize',
    (v) => Number.isInteger(v) && v >= 1,
    'a positive integer',
  );
  const epochs = checkOption(
    options.epochs ?? 10,
    where,
    'epochs',
    (v) => Number.isInteger(v) && v >= 0,
    'a non-negative integer',
  );
  const eps = checkOption(
    options.eps ?? 0,
    where,
    'eps',
    (v) => v >= 0 && Number.isFinite(v),
    'a finite number >= 0',
  );
  const validation = options.validation;
  if (validation !== undefined) checkDataset(validation, where, 'validation');
  const metric = options.metric === undefined ? null : metricOf(options.metric, where);
  const patience =
    options.patience === undefined
      ? null
      : checkOption(
          options.patience,
          where,
          'patience',
          (v) => Number.isInteger(v) && v >= 1,
          'a positive integer',
        );
  if (patience !== null && validation === undefined) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${where}: expected validation data with patience (early stopping watches it), got none`,
    );
  }
  const monitor = options.monitor ?? 'loss';
  if (monitor !== 'loss' && monitor !== 'metric') {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${where}: expected monitor 'loss' or 'metric', got ${String(monitor)}`,
    );
  }
  if (monitor === 'metric' && (metric === null || validation === undefined)) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${where}: expected validation data and a metric with monitor 'metric', got ${metric === null ? 'no metric' : 'no validation data'}`,
    );
  }
  const onNonFinite = options.nonFinite ?? 'throw';
  if (onNonFinite !== 'throw' && onNonFinite !== 'skip') {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${where}: expected nonFinite 'throw' or 'skip', got ${String(onNonFinite)}`,
    );
  }
  if (onNonFinite === 'skip' && gpuBackend() !== null) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${where}: expected nonFinite 'throw' with the WebGPU backend (its checks run at the epoch's end, too late to skip a batch), got 'skip'`,
    );
  }
  const optim = checkOptim(net, loss, options, where);
  checkIdle(net, where);
  // Validate shapes once, on one sample, and every class label, before anything moves (a bad
  // label in a late batch would otherwise throw after earlier batches had updated the weights).
  checkLabels(data.y, net.outputShape(data.x.rows(0, 1).shape, 'forward'), where, 'data.y');
  if (validation !== undefined) {
    checkLabels(
      validation.y,
      net.outputShape(validation.x.rows(0, 1).shape, 'forward'),
      where,
      'validation.y',
    );
  }
  return {
    where,
    net,
    data,
    loss,
    options,
    n,
    batchSize,
    epochs,
    batches: Math.ceil(n / batchSize),
    eps,
    // An Optim allocates its state at its first update, so building one here moves nothing.
    optim: optim ?? new Optim(net, loss, stepOf(options, where), optimOptionsOf(options)),
    ownsOptim: optim === null,
    rng: options.rng ?? (options.seed === undefined ? defaultRng : new Rng(options.seed)),
    shuffle: options.shuffle ?? true,
    validation,
    metric,
    patience,
    monitor,
    skip: onNonFinite === 'skip',
  };
}

/** `step`, checked (`step` is the original design's name of the learning rate). */
function stepOf(options: SgdOptions, where: string): number {
  return checkOption(
    options.step ?? 1e-3,
    where,
    'step',
    (v) => v > 0 && Number.isFinite(v),
    'a positive finite number',
  );
}

function optimOptionsOf(options: SgdOptions): OptimOptions {
  const out: Record<string, unknown> = {};
  for (const key of OPTIM_KEYS) {
    if (Object.hasOwn(options, key)) out[key] = options[key as keyof OptimOptions];
  }
  return out;
}

/** The caller's Optim, checked against net, loss and the options it excludes; null without one. */
function checkOptim(net: Module, loss: Loss, options: SgdOptions, where: string): Optim | null {
  const optim = options.optim;
  if (optim === undefined) return null;
  if (!(optim instanceof Optim)) {
    const hint = typeof optim === 'string' ? `; did you mean optimizer: ${describe(optim)}?` : '';
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${where}: expected optim to be an Optim (new Optim(net, loss, step, options)), got ${describe(optim)}${hint}`,
    );
  }
  const clash = ['step', ...OPTIM_KEYS].filter((k) => options[k as keyof SgdOptions] !== undefined);
  if (clash.length > 0) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${where}: expected no ${clash.join(', ')} with optim (the Optim's own apply: step ${optim.lr}, optimizer '${optim.optimizer}'), got ${clash.map((k) => `${k} ${describe(options[k as keyof SgdOptions])}`).join(', ')}`,
    );
  }
  if (optim.net !== net) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${where}: expected optim built for the net being trained (new Optim(net, loss, …)), got an Optim of another module (${optim.net.constructor.name})`,
    );
  }
  if (optim.loss !== loss) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${where}: expected optim built with the loss passed (new Optim(net, loss, …)), got an Optim with another ${optim.loss.type}`,
    );
  }
  return optim;
}

/** Where the loop stands; `steps` updates one object in place and yields it. @internal */
export interface Position {
  epoch: number;
  batch: number;
  samples: number;
  epochEnd: boolean;
  /**
   * WebGPU backend: the loop waits for its driver to read the epoch's losses back (`losses`) and
   * `sync()` the tensors before the epoch's end runs on this thread.
   */
  needSync: boolean;
  losses: Float32Array | null;
}

/**
 * The training loop: yields after each batch and after each epoch's end (validation, `onEpoch`),
 * returns the history. Buffers, the owned Optim and the modes are released in its `finally`,
 * which also runs when the driver stops it early (`return()`, on abort). @internal
 */
export function* steps(p: Plan, pos: Position): Generator<Position, History, void> {
  const { net, data, loss, options, n, batchSize, batches, optim, rng, skip } = p;
  const { validation, metric, patience, monitor } = p;
  busy.add(net);
  // Training mode for the steps (Dropout drops); validation runs in evaluation mode.
  const restoreMode = enterMode(net, true);
  const xSlot = new Slot();
  const ySlot = new Slot();
  let indices: U32Buffer | null = null;
  try {
    const order = new Uint32Array(n).map((_, i) => i);
    // Never more than n rows per batch: a batchSize of 6e8 on 100 samples allocates 100 indices.
    indices = new U32Buffer(Math.min(batchSize, n));
    const xCols = data.x.size / n;
    const yCols = data.y.size / n;
    const xShape = [0, ...data.x.shape.slice(1)];
    const yShape = [0, ...data.y.shape.slice(1)];
    const history: History = {
      loss: [],
      converged: false,
      valLoss: [],
      valMetric: [],
      metric: metric?.name ?? null,
      bestEpoch: -1,
      stoppedEarly: false,
      skippedBatches: 0,
    };
    const params = net.parameters();
    const k = kernels();
    const gpu = gpuBackend();
    let best: Float32Array[] | null = null;
    let bestValue = NaN;
    for (let epoch = 0; epoch < p.epochs; epoch++) {
      if (p.shuffle) {
        // A fresh shuffle of 0..n-1 each epoch: the order depends on the generator alone, so a
        // run split over several calls sharing `rng` draws the orders of one long run.
        for (let i = 0; i < n; i++) order[i] = i;
        rng.shuffle(order);
      }
      const total = new LossTotal(loss.reduction);
      // On the GPU each step's loss is read back at the epoch's end: the batch sizes wait here.
      const sizes: number[] = [];
      let skipped = 0;
      pos.epoch = epoch;
      pos.epochEnd = false;
      for (let b = 0; b < batches; b++) {
        const start = b * batchSize;
        const count = Math.min(batchSize, n - start);
        indices.resize(count);
        indices.data.set(order.subarray(start, start + count));
        // Batch shapes: only the last batch of an epoch may differ, so Slot.get mostly hits.
        if (count !== xShape[0]) {
          xShape[0] = count;
          yShape[0] = count;
        }
        const xb = xSlot.get(xShape);
        const yb = ySlot.get(yShape);
        k.gather_rows(data.x.ptr, indices.ptr, xb.ptr, count, xCols);
        k.gather_rows(data.y.ptr, indices.ptr, yb.ptr, count, yCols);
        let report;
        try {
          report = optim.computeGradients(xb, yb);
        } catch (e) {
          if (e instanceof TorchletError) {
            throw new TorchletError(e.code, `${at(p, epoch, b)}: ${e.message}`);
          }
          throw e;
        }
        const skipBatch = report.nonFinite !== null;
        if (skipBatch && !skip)
          throw nonFiniteError(optim, report, `${at(p, epoch, b)}: Optim.step`);
        if (skipBatch) {
          skipped += 1;
        } else {
          optim.update();
          if (gpu !== null) sizes.push(count);
          else total.add(report.loss, count);
        }
        options.onBatch?.({
          epoch,
          batch: b,
          batches,
          size: count,
          loss: report.loss,
          skipped: skipBatch,
        });
        pos.batch = b;
        pos.samples += count;
        yield pos;
      }
      history.skippedBatches += skipped;
      if (gpu !== null) {
        pos.needSync = true;
        yield pos;
        pos.needSync = false;
        addGpuLosses(p, pos, total, sizes, epoch);
        // The epoch's end (validation, metrics, callbacks, early stopping) reads values at once:
        // it runs in WASM on what sync() copied back.
        gpu.hostMode = true;
      }
      const epochLoss = total.value;
      history.loss.push(epochLoss);
      const info: EpochInfo = { skipped, best: false };
      if (validation !== undefined) {
        info.valLoss = scoreLoss(net, validation, loss, skip);
        history.valLoss.push(info.valLoss);
      }
      if (validation !== undefined && metric !== null) {
        info.valMetric = metric.compute(net, validation);
        history.valMetric.push(info.valMetric);
      }
      if (validation !== undefined) {
        const value = monitor === 'metric' ? info.valMetric! : info.valLoss!;
        const higher = monitor === 'metric' && metric!.higherIsBetter;
        // NaN (a diverged epoch under 'skip') is never better than a number.
        const better =
          history.bestEpoch < 0 ||
          (Number.isNaN(bestValue) && !Number.isNaN(value)) ||
          (higher ? value > bestValue : value < bestValue);
        if (better) {
          bestValue = value;
          history.bestEpoch = epoch;
          info.best = true;
          if (patience !== null) best = snapshot(params, best);
        }
      }
      const stop = options.onEpoch?.(epoch, epochLoss, info) === false;
      if (gpu !== null) gpu.hostMode = false;
      pos.epochEnd = true;
      yield pos;
      if (patience !== null && epoch - history.bestEpoch >= patience) {
        history.stoppedEarly = true;
        break;
      }
      const prev = history.loss[history.loss.length - 2];
      if (prev !== undefined && Math.abs(prev - epochLoss) < p.eps) {
        history.converged = true;
        break;
      }
      if (stop) break;
    }
    if (best !== null) params.forEach((q, i) => q.value.data.set(best![i]!));
    return history;
  } finally {
    const gpu = gpuBackend();
    if (gpu !== null) gpu.hostMode = false;
    indices?.dispose();
    xSlot.dispose();
    ySlot.dispose();
    if (p.ownsOptim) optim.dispose();
    restoreMode();
    busy.delete(net);
  }
}

/** Where a batch is, for messages: they count from 1 for people (callback fields stay indices). */
function at(p: Plan, epoch: number, b: number): string {
  return `${p.where} (epoch ${epoch + 1} of ${p.epochs}, batch ${b + 1} of ${p.batches})`;
}

/**
 * The epoch's losses read back from the GPU (one per step, in order) into `total`.
 * @throws TorchletError `NON_FINITE` naming the first batch whose loss was NaN or infinite (on the
 *   GPU the check comes at the epoch's end, after the updates).
 */
function addGpuLosses(
  p: Plan,
  pos: Position,
  total: LossTotal,
  sizes: readonly number[],
  epoch: number,
): void {
  const losses = pos.losses;
  pos.losses = null;
  if (losses === null || losses.length !== sizes.length) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${at(p, epoch, 0)}: expected ${sizes.length} losses read back from the GPU, got ${losses?.length ?? 'none'} (another loss ran on the GPU during training)`,
    );
  }
  for (let b = 0; b < sizes.length; b++) {
    if (!Number.isFinite(losses[b]!)) {
      throw new TorchletError(
        'NON_FINITE',
        `${at(p, epoch, b)}: the loss was ${losses[b]} (on the GPU this is found at the epoch's end, after the epoch's updates)`,
      );
    }
    total.add(losses[b]!, sizes[b]!);
  }
}

/** A fresh position for `steps`. @internal */
export function startPosition(): Position {
  return { epoch: 0, batch: -1, samples: 0, epochEnd: false, needSync: false, losses: null };
}

/**
 * Mini-batch training, as in the original design (plain SGD unless `optimizer` or `optim` says
 * otherwise). Synchronous: it returns when training ends; `fit` is the same loop, asynchronous.
 * @returns The loss history, with validation scores when asked.
 * @throws TorchletError for bad data or options (before anything moves; an unknown option key
 *   names the likely one: `lr` -> `step`), and `NON_FINITE` naming epoch and batch (counted from
 *   1: `sgd (epoch 3 of 20, batch 5 of 47)`) when the network output, a loss or a gradient is
 *   NaN/Inf (unless `nonFinite: 'skip'`).
 * @example
 * const history = sgd(net, train, new LogSoftmaxCrossEntropy(), {
 *   batchSize: 32, epochs: 50, step: 1e-3, optimizer: 'adam', seed: 1,
 *   validation: test, metric: 'accuracy', patience: 5,
 * });
 */
export function sgd(net: Module, data: Dataset, loss: Loss, options: SgdOptions = {}): History {
  const where = 'sgd';
  checkFitOnly(options, where);
  checkOptionKeys(options, SGD_KEYS, where);
  if (gpuBackend() !== null) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${where}: expected the WASM backend (sgd returns at once, and the WebGPU backend's values come back asynchronously), got backend 'webgpu'; train with \`await fit(net, data, loss, options)\`, which takes the same options`,
    );
  }
  const it = steps(plan(net, data, loss, options, where), startPosition());
  let r = it.next();
  while (r.done !== true) r = it.next();
  return r.value;
}

/** Throws `BAD_ARGUMENT` for an option of fit given to sgd, naming fit. */
function checkFitOnly(options: unknown, where: string): void {
  if (typeof options !== 'object' || options === null) return;
  const key = FIT_ONLY.find((k) => Object.hasOwn(options, k));
  if (key !== undefined) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${where}: expected an option of sgd, got ${key}, an option of fit (the asynchronous form: await fit(net, data, loss, { ${key} }))`,
    );
  }
}

/** The validation loss; with `skip`, NaN instead of a NON_FINITE throw for a diverged network. */
function scoreLoss(net: Module, data: Dataset, loss: Loss, skip: boolean): number {
  try {
    return evaluateLoss(net, data, loss);
  } catch (e) {
    if (skip && e instanceof TorchletError && e.code === 'NON_FINITE') return NaN;
    throw e;
  }
}

/** Throws `LABEL_OUT_OF_RANGE` for class labels y [n] outside [0, classes) of an output [1, classes]. */
function checkLabels(y: Tensor, outShape: readonly number[], where: string, name: string): void {
  if (y.shape.length !== 1 || outShape.length !== 2) return;
  const classes = outShape[1]!;
  const labels = y.data;
  const i = labels.findIndex((l) => !Number.isInteger(l) || l < 0 || l >= classes);
  if (i >= 0)
    throw new TorchletError(
      'LABEL_OUT_OF_RANGE',
      `${where}: label ${labels[i]} out of range [0, ${classes}) at ${name}[${i}]`,
    );
}

/** Copies every parameter's values (reusing `into` when given). */
function snapshot(
  params: ReturnType<Module['parameters']>,
  into: Float32Array[] | null,
): Float32Array[] {
  if (into === null) return params.map((p) => p.value.toArray());
  params.forEach((p, i) => into[i]!.set(p.value.data));
  return into;
}
