// Optim: one training step on a batch, as in the original design: forward, loss, backward,
// update with the learning rate `lr` (the original design calls it `eps`, the gradient step).
// Update rules: plain SGD (default), momentum, Nesterov, Adam, each with optional L2 weight decay;
// their state (velocity, moments) lives in WASM tensors and each parameter is updated by one kernel
// call (util.rs). The network output, the loss and the gradients are checked finite
// (non_finite_count, one call per tensor) before any weight or state moves.

import { TorchletError } from '../core/errors.js';
import { Loss } from '../core/loss.js';
import { Module, type Parameter } from '../core/module.js';
import { Tensor } from '../core/tensor.js';
import { gpuBackend, kernels } from '../core/wasm.js';
import {
  MAX_WORKERS,
  Team,
  autoWorkers,
  availableCores,
  cannotWait,
  insideTrials,
  startedThreads,
  usableWorkers,
  warnOnce,
  workerSeeds,
} from './parallel.js';
import { checkOptionKeys } from './options.js';

// An Optim dropped without dispose() gives its worker threads back when collected.
const teams = new FinalizationRegistry<Team>((team) => team.dispose());

/** The update rules `Optim` knows. */
export type OptimizerName = 'sgd' | 'momentum' | 'nesterov' | 'adam';

/** The names accepted for `optimizer`, in the order the docs list them. */
export const OPTIMIZERS: readonly OptimizerName[] = Object.freeze([
  'sgd',
  'momentum',
  'nesterov',
  'adam',
]);

/** Options for `Optim` (the fourth constructor argument). */
export interface OptimOptions {
  /** Update rule (default `'sgd'`: `w -= lr * grad`, the original step). */
  optimizer?: OptimizerName;
  /** Momentum coefficient for `'momentum'` and `'nesterov'` (default 0.9). */
  momentum?: number;
  /** Adam's decay rates of the first and second moments (default [0.9, 0.999]). */
  betas?: readonly [number, number];
  /** Adam's denominator term (default 1e-8). Not the learning rate (`lr`, the constructor's `eps`). */
  epsilon?: number;
  /** L2 weight decay: `weightDecay * w` is added to each gradient (default 0). */
  weightDecay?: number;
  /**
   * Threads each step's batch is split over (data-parallel; this thread is one of them): an
   * integer from 1 to 64, or `'auto'` (the default): the count a cost model finds fastest for
   * this net and batch (`COST` in ts/train/parallel.ts: the split compute against copying weights
   * and gradients and a wake-up per step), at most the machine's cores and one per 8 rows; 1
   * inside a worker thread (a grid search's trials) and where shared memory is unavailable (a
   * browser page that is not cross-origin isolated: said once on the console). On a page's main
   * thread, which cannot wait for threads to start, 'auto' uses those `startWorkers` started
   * (`fit` starts them itself), and a number > 1 needs them started. 'auto' decides on the first
   * batch, and trains on this thread a net the workers cannot rebuild (a module used twice, an
   * unregistered layer, a custom loss), which a number > 1 refuses. For a given seed and count the
   * result is bit-identical run to run; against 1 it differs by float32 rounding.
   */
  workers?: number | 'auto';
}

/** What `Optim.computeGradients` found. */
export interface GradientReport {
  /** The batch loss (before the update; NaN when the network output was not finite). */
  loss: number;
  /**
   * Null when output, loss and gradients are finite; otherwise the first that was not:
   * `network output`, `loss` or `gradient of <parameter>` (e.g. `gradient of 0.weight`).
   */
  nonFinite: string | null;
  /** With a non-finite network output: its first bad value and where (`NaN at flat index 3`). */
  detail?: string;
}

/** The keys of `OptimOptions`. @internal */
export const OPTIM_KEYS: readonly string[] = Object.freeze([
  'optimizer',
  'momentum',
  'betas',
  'epsilon',
  'weightDecay',
  'workers',
]);

interface Resolved {
  workers: number | 'auto';
  optimizer: OptimizerName;
  momentum: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  weightDecay: number;
}

function resolve(options: OptimOptions): Resolved {
  if (typeof options !== 'object' || options === null) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `Optim: expected options to be an object, got ${String(options)}`,
    );
  }
  checkOptionKeys(options, OPTIM_KEYS, 'Optim', {
    step: 'the third constructor argument `eps` (the gradient step)',
  });
  const optimizer = options.optimizer ?? 'sgd';
  if (!OPTIMIZERS.includes(optimizer)) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `Optim: expected optimizer to be one of ${OPTIMIZERS.join(', ')}, got ${String(optimizer)}`,
    );
  }
  const num = (value: unknown, name: string, ok: (v: number) => boolean, rule: string): number => {
    if (typeof value !== 'number' || !Number.isFinite(value) || !ok(value)) {
      throw new TorchletError(
        'BAD_ARGUMENT',
        `Optim: expected ${name} to be ${rule}, got ${String(value)}`,
      );
    }
    return value;
  };
  const betas = options.betas ?? [0.9, 0.999];
  if (!Array.isArray(betas) || betas.length !== 2) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `Optim: expected betas to be [beta1, beta2], got ${JSON.stringify(betas)}`,
    );
  }
  const unit = (v: number): boolean => v >= 0 && v < 1;
  const workers = options.workers ?? 'auto';
  if (
    workers !== 'auto' &&
    (typeof workers !== 'number' ||
      !Number.isInteger(workers) ||
      workers < 1 ||
      workers > MAX_WORKERS)
  ) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `Optim: expected workers to be an integer from 1 to ${MAX_WORKERS} or 'auto', got ${describe(workers)}`,
    );
  }
  return {
    workers,
    optimizer,
    momentum: num(options.momentum ?? 0.9, 'momentum', unit, 'in [0, 1)'),
    beta1: num(betas[0], 'betas[0]', unit, 'in [0, 1)'),
    beta2: num(betas[1], 'betas[1]', unit, 'in [0, 1)'),
    epsilon: num(options.epsilon ?? 1e-8, 'epsilon', (v) => v > 0, 'a positive finite number'),
    weightDecay: num(
      options.weightDecay ?? 0,
      'weightDecay',
      (v) => v >= 0,
      'a finite number >= 0',
    ),
  };
}

/**
 * Trains a module with one of the update rules; `step(x, y)` is the original design's call.
 * @example
 * const opt = new Optim(net, new LogSoftmaxCrossEntropy(), 0.05);                       // plain SGD
 * const adam = new Optim(net, new LogSoftmaxCrossEntropy(), 1e-3, { optimizer: 'adam' });
 * const loss = opt.step(xBatch, yBatch);
 */
export class Optim {
  /** The network being trained. */
  readonly net: Module;
  /** The loss. */
  readonly loss: Loss;
  /** The learning rate (gradient step). */
  readonly lr: number;
  /** The original design's name for `lr`. */
  get eps(): number {
    return this.lr;
  }
  /** The update rule. */
  readonly optimizer: OptimizerName;
  /** Updates applied so far (Adam's t). */
  get steps(): number {
    return this.t;
  }

  private readonly config: Resolved;
  private readonly params: Parameter[];
  /** Per parameter: velocity (momentum) or [m, v] (Adam); allocated on the first update. */
  private state: Tensor[][] | null = null;
  private t = 0;
  /** Participants per step once decided ('auto' decides on the first batch). */
  private participants: number | null = null;
  private team: Team | null = null;

  /**
   * Threads each step is split over (this one included): the `workers` option, or what `'auto'`
   * decided on the first batch (null until then).
   */
  get workers(): number | null {
    return this.participants;
  }

  /**
   * @param net The module to train. @param loss The loss. @param eps Gradient step (default 1e-3).
   * @param options Update rule and its hyperparameters (default: plain SGD).
   * @throws TorchletError `BAD_ARGUMENT` for a non-module, a bad step, a bad option or an unknown
   *   option key (with a hint: `lr` -> the constructor's `eps`).
   */
  constructor(net: Module, loss: Loss, eps = 1e-3, options: OptimOptions = {}) {
    if (!(net instanceof Module))
      throw new TorchletError(
        'BAD_ARGUMENT',
        `Optim: expected net to be a Module, got ${describe(net)}`,
      );
    if (!(loss instanceof Loss))
      throw new TorchletError(
        'BAD_ARGUMENT',
        `Optim: expected loss to be a Loss, got ${describe(loss)}`,
      );
    if (typeof eps !== 'number' || !Number.isFinite(eps) || eps <= 0) {
      throw new TorchletError(
        'BAD_ARGUMENT',
        `Optim: expected eps (the gradient step) to be a positive finite number, got ${String(eps)}`,
      );
    }
    this.config = resolve(options);
    this.net = net;
    this.loss = loss;
    this.lr = eps;
    this.optimizer = this.config.optimizer;
    // Each tensor once, even when a module is used at several positions: it steps once.
    this.params = net.parameters();
    if (typeof this.config.workers === 'number' && this.config.workers > 1) {
      if (gpuBackend() !== null) {
        throw new TorchletError(
          'BAD_ARGUMENT',
          `Optim: expected workers 1 or 'auto' with the WebGPU backend (the GPU runs each step whole), got ${this.config.workers}`,
        );
      }
      const refusal = Team.refusal(net, loss);
      if (refusal !== null) {
        throw new TorchletError(
          'BAD_ARGUMENT',
          `Optim: expected a network and loss the workers can rebuild with workers ${this.config.workers}, got ${refusal}`,
        );
      }
    }
  }

  /**
   * Forward, loss, backward and update on one batch.
   * @returns The batch loss before the update.
   * @throws TorchletError `NON_FINITE` when the network output, the loss or a gradient is NaN or
   *   infinite: weights and optimiser state are untouched (the gradients are left as computed, to
   *   inspect; unchanged when the output or the loss was the non-finite one).
   */
  step(x: Tensor, y: Tensor): number {
    const report = this.computeGradients(x, y);
    if (report.nonFinite !== null) {
      throw nonFiniteError(this, report, 'Optim.step');
    }
    this.update();
    return report.loss;
  }

  /**
   * Forward, loss and backward (gradients zeroed first) without moving any weight, with the
   * finiteness checks of the network output, the loss and every gradient (one kernel call each).
   * When the output (a NaN weight, an overflow) or the loss is not finite, no loss or backward
   * runs and the gradients are unchanged; the report says so instead of throwing.
   */
  computeGradients(x: Tensor, y: Tensor): GradientReport {
    const n = this.participants ?? this.plannedWorkers(x.shape);
    let report: GradientReport;
    if (n > 1 && this.team === null && this.config.workers === 'auto') {
      // 'auto' is a choice, not a demand: threads that cannot start mean training on this one.
      try {
        this.team = this.startTeam(n);
        this.team.start(x, y);
      } catch (e) {
        this.team?.dispose();
        this.team = null;
        teams.unregister(this);
        this.oneThreadAfter(e);
        return this.computeGradients(x, y);
      }
    }
    if (n > 1) {
      this.team ??= this.startTeam(n);
      report = this.team.computeGradients(x, y, (xs, ys, a) => this.forwardBackward(xs, ys, a));
    } else {
      report = this.forwardBackward(x, y);
    }
    if (report.nonFinite !== null) return report;
    const k = kernels();
    for (const p of this.params) {
      if (k.non_finite_count(p.grad.ptr, p.grad.size) > 0)
        return { loss: report.loss, nonFinite: `gradient of ${p.name}` };
    }
    return report;
  }

  /** Forward, loss and backward on this thread (no gradient check: the caller checks the sums). */
  private forwardBackward(x: Tensor, y: Tensor, scale = 1): GradientReport {
    const yhat = this.net.forward(x);
    const k = kernels();
    // Checked here, not left to the loss (whose own check throws): 'skip' must see it as a report.
    if (k.non_finite_count(yhat.ptr, yhat.size) > 0) {
      const data = yhat.data;
      const i = data.findIndex((v) => !Number.isFinite(v));
      return { loss: NaN, nonFinite: 'network output', detail: `${data[i]} at flat index ${i}` };
    }
    // A share of a split batch: its gradient counts by its share of the rows (parallel.ts).
    const { loss, gradient } = this.loss.forwardBackward(y, yhat, scale);
    if (gradient === null) return { loss, nonFinite: 'loss' };
    // beta 0: each gradient overwritten on its module's first visit, added on later ones (reuse),
    // which is zeroGrad + backwardUpdateGradient in one pass.
    this.net.backwardUpdateGradient(x, gradient, 0);
    return { loss, nonFinite: null };
  }

  /**
   * The participant count, fixed on the first call from the option ('auto': from this batch
   * shape). `willStart`: the caller starts the threads before the first step (fit does, awaiting
   * them); otherwise 'auto' on a page's main thread, which cannot wait for threads to start, uses
   * only those `startWorkers` started. @internal
   */
  plannedWorkers(batchShape: readonly number[], willStart = false): number {
    if (this.participants !== null) return this.participants;
    const asked = this.config.workers;
    let n: number;
    if (asked === 'auto') {
      // The GPU backend runs each step whole on the GPU: no threads.
      n =
        insideTrials() || gpuBackend() !== null
          ? 1
          : autoWorkers(this.net, batchShape, availableCores());
      if (n > 1 && !willStart && cannotWait()) n = Math.min(n, 1 + startedThreads());
      // A net the workers cannot rebuild (shared modules, unregistered layers) or a custom loss
      // trains on this thread: 'auto' only splits what splitting supports.
      if (n > 1 && Team.refusal(this.net, this.loss) !== null) n = 1;
    } else {
      n = usableWorkers(asked);
    }
    this.participants = n;
    return n;
  }

  /**
   * After worker threads failed to start: with 'auto', trains on this thread from now on (said
   * once on the console) and returns true; with a number, returns false (the caller throws).
   * @internal
   */
  oneThreadAfter(error: unknown): boolean {
    if (this.config.workers !== 'auto') return false;
    this.participants = 1;
    // One reason, whichever call met it first (startWorkers names itself in its messages).
    const reason = (error as Error).message.replace(/^startWorkers: /, '');
    warnOnce(`could not start worker threads (${reason})`);
    return true;
  }

  private startTeam(n: number): Team {
    const team = new Team(this.net, this.loss, n, this.params, workerSeeds(this.net, n - 1));
    teams.register(this, team, this);
    return team;
  }

  /** Applies one update from the current gradients (one kernel call per parameter). */
  update(): void {
    const k = kernels();
    const c = this.config;
    const state = this.ensureState();
    this.t += 1;
    // Adam's bias corrections, computed for Adam only (two powers per step, otherwise for nothing).
    const adam = c.optimizer === 'adam';
    const bias1 = adam ? 1 - c.beta1 ** this.t : 1;
    const invSqrtBias2 = adam ? 1 / Math.sqrt(1 - c.beta2 ** this.t) : 1;
    for (let i = 0; i < this.params.length; i++) {
      const p = this.params[i]!;
      const s = state[i]!;
      const n = p.value.size;
      if (c.optimizer === 'sgd') {
        if (c.weightDecay === 0) k.sgd_update(p.grad.ptr, p.value.ptr, n, this.lr);
        else k.sgd_decay_update(p.grad.ptr, p.value.ptr, n, this.lr, c.weightDecay);
      } else if (c.optimizer === 'adam') {
        k.adam_update(
          p.grad.ptr,
          p.value.ptr,
          s[0]!.ptr,
          s[1]!.ptr,
          n,
          this.lr / bias1,
          c.beta1,
          c.beta2,
          c.epsilon,
          c.weightDecay,
          invSqrtBias2,
        );
      } else {
        k.momentum_update(
          p.grad.ptr,
          p.value.ptr,
          s[0]!.ptr,
          n,
          this.lr,
          c.momentum,
          c.weightDecay,
          c.optimizer === 'nesterov' ? 1 : 0,
        );
      }
    }
  }

  /**
   * Frees the optimiser state (velocity, moments; the next update starts it afresh) and gives its
   * worker threads back (the next step takes them again).
   */
  dispose(): void {
    for (const s of this.state ?? []) for (const t of s) t.dispose();
    this.state = null;
    this.t = 0;
    if (this.team !== null) {
      teams.unregister(this);
      this.team.dispose();
      this.team = null;
    }
  }

  private ensureState(): Tensor[][] {
    if (this.state !== null) return this.state;
    const buffers = this.optimizer === 'sgd' ? 0 : this.optimizer === 'adam' ? 2 : 1;
    const state: Tensor[][] = [];
    try {
      for (const p of this.params)
        state.push(Array.from({ length: buffers }, () => Tensor.zeros(p.value.shape)));
    } catch (e) {
      for (const s of state) for (const t of s) t.dispose();
      throw e;
    }
    this.state = state;
    return state;
  }
}

/** @internal The `NON_FINITE` error for a failed `computeGradients`, naming the value and where. */
export function nonFiniteError(optim: Optim, report: GradientReport, where: string): TorchletError {
  let got = report.detail ?? String(report.loss);
  if (report.nonFinite !== 'loss' && report.detail === undefined) {
    const p = optim.net.parameters().find((q) => `gradient of ${q.name}` === report.nonFinite);
    const data = p?.grad.data;
    const i = data?.findIndex((v) => !Number.isFinite(v)) ?? -1;
    got = i < 0 ? 'a non-finite value' : `${data![i]} at flat index ${i}`;
  }
  return new TorchletError(
    'NON_FINITE',
    `${where}: expected a finite ${report.nonFinite}, got ${got}; weights were not updated (lower the step?)`,
  );
}

/** A short description of a value that is not what was expected (for messages). @internal */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'object') return `an object (${value.constructor?.name ?? 'no prototype'})`;
  return String(value);
}
