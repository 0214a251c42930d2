// Losses: forward(y, yhat) reduces each element's loss l_i over the batch; backward returns
// d(forward)/d(yhat). MSE: l = (yhat - y)²; BCE: l = -[y log yhat + (1-y) log(1-yhat)] (logs
// clamped at -100, as PyTorch); CrossEntropy on probabilities: l = -y log yhat (log clamped at
// -100); LogSoftmaxCrossEntropy from logits. Kernels: crates/kernels/src/loss.rs (they compute
// 'batchmean'; the other reductions scale their value and gradient here, in TS).
//
// The reduction (constructor option `reduction`, PyTorch's names; B = batch size yhat.shape[0],
// N = every element of yhat):
//
// | reduction             | MSELoss, BCELoss          | CrossEntropyLoss, LogSoftmaxCrossEntropy |
// |-----------------------|---------------------------|------------------------------------------|
// | 'batchmean' (default) | Σ over all N elements / B | Σ over all elements / B                  |
// | 'mean'                | Σ over all N elements / N | Σ over all elements / B (as 'batchmean') |
// | 'sum'                 | Σ over all N elements     | Σ over all elements                      |
//
// 'mean' is PyTorch's default: the mean over every element for MSELoss and BCELoss, the mean over
// the batch for the class losses (torch.nn.CrossEntropyLoss with class indices or probabilities,
// no weights). 'batchmean' (the sum over features, averaged over the batch: the original design's
// convention) is torchlet's default for all four, unchanged.
//
// What the target y means is fixed by the loss, never guessed from its values:
// - MSELoss and BCELoss (regression, reconstruction) take dense targets shaped like yhat. For an
//   output with one value per sample ([batch, 1]), a [batch] target is the same data and is read
//   as dense. A [batch] target for a wider output throws SHAPE_MISMATCH: class indices belong to
//   the class losses (or one-hot encode them yourself).
// - CrossEntropyLoss and LogSoftmaxCrossEntropy (classification) take yhat [batch, classes] and
//   either class indices [batch] (integers in [0, classes)) or dense (one-hot or soft) targets
//   [batch, classes]. The class dimension is the last one, as Softmax's; an output of rank > 2
//   throws SHAPE_MISMATCH (a class loss never normalises over several dimensions; Flatten first,
//   or move the positions into the batch).

import { TorchletError, fmtShape, nearestName } from './errors.js';
import { Validated, checkTensor, shapeError } from './module.js';
import { Slot, Tensor, sameShape } from './tensor.js';
import { type Kernels, type Ptr, deferLoss, kernels } from './wasm.js';

type ForwardKernel = (y: Ptr, yhat: Ptr, rows: number, cols: number) => number;
type BackwardKernel = (y: Ptr, yhat: Ptr, grad: Ptr, rows: number, cols: number) => void;

/** How a loss reduces its per-element losses (see the table in `ts/core/loss.ts`'s header). */
export type Reduction = 'mean' | 'sum' | 'batchmean';

/** The reductions, in the order the docs list them. */
export const REDUCTIONS: readonly Reduction[] = Object.freeze(['mean', 'sum', 'batchmean']);

/** Options of the four losses' constructors. */
export interface LossOptions {
  /**
   * `'batchmean'` (default: the sum over every element divided by the batch size), `'sum'`, or
   * `'mean'` (PyTorch's default: over every element for MSELoss and BCELoss, over the batch for
   * the class losses).
   */
  reduction?: Reduction;
}

/** Validates a loss's constructor options and returns the reduction. */
function checkReduction(options: unknown, where: string): Reduction {
  if (options === undefined) return 'batchmean';
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    const hint =
      typeof options === 'string' && (REDUCTIONS as readonly string[]).includes(options)
        ? `; did you mean { reduction: '${options}' }?`
        : '';
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${where}: expected options { reduction?: ${REDUCTIONS.map((r) => `'${r}'`).join(' | ')} }, got ${typeof options === 'string' ? JSON.stringify(options) : String(options)}${hint}`,
    );
  }
  for (const key of Object.keys(options)) {
    if (key === 'reduction') continue;
    const near = nearestName(key, ['reduction']) ?? (key === 'reduce' ? 'reduction' : undefined);
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${where}: expected the option reduction, got unknown key ${JSON.stringify(key)}${near === undefined ? '' : `; did you mean \`${near}\`?`}`,
    );
  }
  const reduction = (options as LossOptions).reduction ?? 'batchmean';
  if (!REDUCTIONS.includes(reduction)) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${where}: expected reduction to be one of ${REDUCTIONS.map((r) => `'${r}'`).join(', ')}, got ${typeof reduction === 'string' ? `'${reduction}'` : String(reduction)}`,
    );
  }
  return reduction;
}

/**
 * Base class of the losses: `forward(y, yhat)` → the reduced loss, `backward(y, yhat)` → dL/dyhat.
 * A subclass's kernels compute the sum over every element divided by the batch size
 * ('batchmean'); the base scales value and gradient for the other reductions.
 */
export abstract class Loss {
  /** Stable type name. */
  abstract readonly type: string;
  /** How the per-element losses are reduced (default `'batchmean'`). */
  readonly reduction: Reduction;
  private readonly targetSlot = new Slot();
  private writerName: string | null = null;
  /** `Type.backward`, built once: the name an overwritten gradient gives. */
  private get writer(): string {
    return (this.writerName ??= `${this.type}.backward`);
  }
  private readonly gradSlot = new Slot();
  // `Type.forward` / `Type.backward`, built once (every step validates under one of them).
  private readonly whereNames: { forward?: string; backward?: string } = {};
  /** The kernel's 'batchmean' gradient, before scaling (other reductions only). */
  private readonly rawSlot = new Slot();
  // The calls `prepare` validated (see `replay`), keyed on y: yhat's shape, and whether y itself
  // was the dense target (else its one-hot conversion in targetSlot).
  private readonly checked = new Validated<{ shape: readonly number[]; dense: boolean }>();
  /** `dense`: y shaped like yhat; `classes`: yhat [batch, classes], y indices or dense. */
  protected abstract readonly targets: 'dense' | 'classes';
  /** @internal The WASM kernel of the forward: the loss of rows x cols values. */
  protected abstract forwardKernel(k: Kernels): ForwardKernel;
  /** @internal The WASM kernel of the backward: writes dL/dyhat. */
  protected abstract backwardKernel(k: Kernels): BackwardKernel;

  /**
   * @param options `reduction` (default `'batchmean'`). @param where The class name for messages.
   * @throws TorchletError `BAD_ARGUMENT` for options that are not an object, an unknown key or an
   *   unknown reduction (naming the valid ones).
   */
  constructor(options?: LossOptions, where = 'Loss') {
    this.reduction = checkReduction(options, where);
  }

  /**
   * The loss, reduced over the batch as `reduction` says.
   * @param y Target: dense, shaped like yhat ([batch] also for a [batch, 1] yhat); the class
   *   losses also take class indices [batch] (integers in [0, classes)).
   * @param yhat Prediction: [batch, ...] (MSE, BCE) or [batch, classes] (the class losses).
   * @throws TorchletError `SHAPE_MISMATCH`, `LABEL_OUT_OF_RANGE`, `NON_FINITE`, `EMPTY_BATCH`.
   */
  forward(y: Tensor, yhat: Tensor): number {
    const target = this.prepare(y, yhat, 'forward');
    const rows = yhat.shape[0]!;
    const cols = yhat.size / rows;
    const value = this.forwardKernel(kernels())(target.ptr, yhat.ptr, rows, cols);
    // On the GPU the value stays there (readLosses): NaN here.
    if (Number.isNaN(value) && deferLoss((v) => this.scaleValue(v, rows, cols))) return NaN;
    return this.scaleValue(value, rows, cols);
  }

  /**
   * dL/dyhat, shaped like yhat (valid until the next call; reading it later throws `OVERWRITTEN`).
   * @throws As `forward`.
   */
  backward(y: Tensor, yhat: Tensor): Tensor {
    const target = this.prepare(y, yhat, 'backward');
    const rows = yhat.shape[0]!;
    return this.gradient(kernels(), target, yhat, rows, yhat.size / rows);
  }

  /**
   * `forward`, then, when the loss is finite, `backward`, with one validation and one label
   * conversion (Optim's step).
   * @param share Multiplies dL/dyhat (not the loss): a data-parallel thread's share of the batch,
   *   so that the threads' gradients add up to the whole batch's (default 1).
   * @returns The reduced loss and dL/dyhat (null when the loss is not finite; as `backward`'s
   *   result, valid until the next call).
   * @throws As `forward`, and `BAD_ARGUMENT` for a share that is not a finite number > 0.
   */
  forwardBackward(
    y: Tensor,
    yhat: Tensor,
    share = 1,
  ): {
    /** The reduced loss, as `forward` returns it. */
    loss: number;
    /** dL/dyhat, as `backward` returns it (null when the loss is not finite). */
    gradient: Tensor | null;
  } {
    if (share !== 1 && !(typeof share === 'number' && share > 0 && Number.isFinite(share))) {
      throw new TorchletError(
        'BAD_ARGUMENT',
        `${this.type}.forwardBackward: expected share to be a finite number > 0, got ${String(share)}`,
      );
    }
    const target = this.prepare(y, yhat, 'forward');
    const rows = yhat.shape[0]!;
    const cols = yhat.size / rows;
    const k = kernels();
    const value = this.forwardKernel(k)(target.ptr, yhat.ptr, rows, cols);
    if (Number.isNaN(value) && deferLoss((v) => this.scaleValue(v, rows, cols))) {
      // On the GPU: the loss is read later (readLosses), its finiteness checked then.
      return { loss: NaN, gradient: this.gradient(k, target, yhat, rows, cols, share) };
    }
    const loss = this.scaleValue(value, rows, cols);
    if (!Number.isFinite(loss)) return { loss, gradient: null };
    return { loss, gradient: this.gradient(k, target, yhat, rows, cols, share) };
  }

  /**
   * The factor that turns a 'batchmean' value into this reduction's: the batch size ('sum'), one
   * over the elements per sample (dense 'mean'), else 1.
   */
  private factor(rows: number, cols: number): number {
    if (this.reduction === 'sum') return rows;
    if (this.reduction === 'mean' && this.targets === 'dense') return 1 / cols;
    return 1;
  }

  /** A 'batchmean' value scaled for the reduction, rounded once to float32. */
  private scaleValue(value: number, rows: number, cols: number): number {
    if (this.reduction === 'sum') return rows === 1 ? value : Math.fround(value * rows);
    if (this.reduction === 'mean' && this.targets === 'dense')
      return cols === 1 ? value : Math.fround(value / cols);
    return value;
  }

  /** dL/dyhat into the next gradient buffer: the kernel's, scaled for the reduction and share. */
  private gradient(
    k: Kernels,
    target: Tensor,
    yhat: Tensor,
    rows: number,
    cols: number,
    share = 1,
  ): Tensor {
    const scale = this.factor(rows, cols) * share;
    const grad = this.gradSlot.next(yhat.shape, this.writer);
    if (scale === 1) {
      this.backwardKernel(k)(target.ptr, yhat.ptr, grad.ptr, rows, cols);
      return grad;
    }
    // NOTE: no kernel scales in place (and the ABI is frozen for this change), so the kernel
    // writes a scratch buffer and sgd_update, an axpy (p -= step · g), adds it times num / den to
    // the zeroed gradient: two SIMD passes, ~5x cheaper than a JS loop over the view. The factor
    // is rounded to float32 once ('sum': an integer, exact; 'mean': 1 / cols; times the share).
    const raw = this.rawSlot.get(yhat.shape);
    this.backwardKernel(k)(target.ptr, yhat.ptr, raw.ptr, rows, cols);
    k.fill_zero(grad.ptr, grad.size);
    k.sgd_update(raw.ptr, grad.ptr, grad.size, -scale);
    return grad;
  }

  /**
   * Reduces a float64 sum over every element as `reduction` says (for `referenceForward`).
   * @param sum The sum of the per-element losses. @param rows Batch size. @param cols Elements per
   *   sample.
   */
  protected reduce(sum: number, rows: number, cols: number): number {
    if (this.reduction === 'sum') return sum;
    if (this.reduction === 'mean' && this.targets === 'dense') return sum / (rows * cols);
    return sum / rows;
  }

  /** Float64 reference of `forward` on a dense target (following `reduction`), for gradCheck. */
  abstract referenceForward(
    y: Float64Array,
    yhat: Float64Array,
    rows: number,
    cols: number,
  ): number;

  /** Frees the loss's buffers. */
  dispose(): void {
    this.targetSlot.dispose();
    this.gradSlot.dispose();
    this.rawSlot.dispose();
  }

  /** Extra range checks on the prediction (e.g. probabilities in [0, 1]). */
  protected checkPrediction(_yhat: Tensor, _where: string): void {}

  /** Validates, converts class indices to one-hot, and returns the dense target (yhat's shape). */
  private prepare(y: Tensor, yhat: Tensor, method: 'forward' | 'backward'): Tensor {
    const where = (this.whereNames[method] ??= `${this.type}.${method}`);
    return this.replay(y, yhat, where) ?? this.validate(y, yhat, where);
  }

  /**
   * The dense target when this call repeats one `validate` accepted (a training loop's step),
   * else null: a y of the same shape at the same address, a yhat of the same shape, nothing freed
   * or grown since (the seam version), both intact and finite (their values change each step),
   * yhat in range (checkPrediction, which throws as the full check would), and class indices that
   * the one_hot kernel accepts: it checks every label before writing anything, and a refusal
   * sends the call to `validate`, which names the label.
   */
  private replay(y: Tensor, yhat: Tensor, where: string): Tensor | null {
    if (!(y instanceof Tensor) || !(yhat instanceof Tensor) || !y.intact || !yhat.intact)
      return null;
    const c = this.checked.find(y);
    if (c === null || !sameShape(yhat.shape, c.shape)) return null;
    const k = kernels();
    if (k.non_finite_count(yhat.ptr, yhat.size) > 0 || k.non_finite_count(y.ptr, y.size) > 0)
      return null;
    this.checkPrediction(yhat, where);
    if (c.dense) return y;
    // The slot already holds this shape (nothing grew since): get() allocates nothing.
    const target = this.targetSlot.get(yhat.shape);
    const rows = yhat.shape[0]!;
    try {
      k.one_hot(y.ptr, target.ptr, rows, yhat.size / rows);
    } catch (e) {
      if (e instanceof TorchletError && e.code === 'OUT_OF_BOUNDS') return null;
      throw e;
    }
    return target;
  }

  /** The full check of `prepare` (and the one-hot conversion); notes the call for `replay`. */
  private validate(y: Tensor, yhat: Tensor, where: string): Tensor {
    const target = this.check(y, yhat, where);
    this.checked.note(y, { shape: yhat.shape, dense: target === y });
    return target;
  }

  private check(y: Tensor, yhat: Tensor, where: string): Tensor {
    checkTensor(yhat, where, 'yhat');
    checkTensor(y, where, 'y');
    const classes = this.targets === 'classes';
    if (classes ? yhat.shape.length !== 2 : yhat.shape.length < 2) {
      const rule = classes
        ? "yhat [batch, classes] (the class dimension is the last, as Softmax's; Flatten first)"
        : 'yhat [batch, ...]';
      throw shapeError(where, rule, yhat.shape);
    }
    const rows = yhat.shape[0]!;
    const cols = yhat.size / rows;
    this.checkPrediction(yhat, where);
    if (sameShape(y.shape, yhat.shape)) return y;
    const perSample = y.shape.length === 1 && y.shape[0] === rows;
    // One value per sample: a [batch] target is the same data as [batch, 1].
    if (!classes && perSample && cols === 1) return y;
    if (!classes || !perSample) {
      const wanted = classes
        ? `y [${rows}] (class indices) or ${fmtShape(yhat.shape)} (like yhat)`
        : `y ${fmtShape(yhat.shape)} (dense, like yhat; class indices [batch] belong to CrossEntropyLoss and LogSoftmaxCrossEntropy)`;
      throw new TorchletError(
        'SHAPE_MISMATCH',
        `${where}: expected ${wanted}, got ${fmtShape(y.shape)}`,
      );
    }
    const labels = y.data;
    for (let i = 0; i < rows; i++) {
      const label = labels[i]!;
      if (!Number.isInteger(label) || label < 0 || label >= cols) {
        throw new TorchletError(
          'LABEL_OUT_OF_RANGE',
          `${where}: label ${label} out of range [0, ${cols}) at y[${i}]`,
        );
      }
    }
    const target = this.targetSlot.get(yhat.shape);
    kernels().one_hot(y.ptr, target.ptr, rows, cols);
    return target;
  }
}

/** Throws unless every value of `x` lies in [lo, hi]. */
function checkRange(x: Tensor, lo: number, hi: number, where: string, what: string): void {
  if (kernels().count_outside(x.ptr, x.size, lo, hi) === 0) return;
  const data = x.data;
  const i = data.findIndex((v) => !(v >= lo && v <= hi));
  throw new TorchletError(
    'BAD_ARGUMENT',
    `${where}: expected ${what} in [${lo}, ${hi}], got ${data[i]} at flat index ${i}`,
  );
}

/**
 * Squared error (yhat - y)², reduced as `reduction` says (default: summed over features and
 * averaged over the batch; `'mean'` is PyTorch's `nn.MSELoss()`).
 * @example new MSELoss().forward(y, yhat)
 */
export class MSELoss extends Loss {
  readonly type = 'MSELoss';
  protected readonly targets = 'dense';
  /** @param options `reduction` (default `'batchmean'`; see {@link LossOptions}). */
  constructor(options?: LossOptions) {
    super(options, 'MSELoss');
  }
  /** @internal */
  protected forwardKernel(k: Kernels): ForwardKernel {
    return k.mse_loss_forward;
  }
  /** @internal */
  protected backwardKernel(k: Kernels): BackwardKernel {
    return k.mse_loss_backward;
  }
  referenceForward(y: Float64Array, yhat: Float64Array, rows: number, cols: number): number {
    let s = 0;
    for (let i = 0; i < y.length; i++) s += (yhat[i]! - y[i]!) ** 2;
    return this.reduce(s, rows, cols);
  }
}

/**
 * Binary cross-entropy on probabilities yhat in [0, 1] (each log clamped at -100, as PyTorch).
 * @example new Sequential(new Linear(200, 64), new Sigmoid()) // then BCELoss against pixels in [0, 1]
 */
export class BCELoss extends Loss {
  readonly type = 'BCELoss';
  protected readonly targets = 'dense';
  /** @param options `reduction` (default `'batchmean'`; see {@link LossOptions}). */
  constructor(options?: LossOptions) {
    super(options, 'BCELoss');
  }
  /** @internal */
  protected forwardKernel(k: Kernels): ForwardKernel {
    return k.bce_loss_forward;
  }
  /** @internal */
  protected backwardKernel(k: Kernels): BackwardKernel {
    return k.bce_loss_backward;
  }
  protected override checkPrediction(yhat: Tensor, where: string): void {
    checkRange(yhat, 0, 1, where, 'yhat (probabilities)');
  }
  referenceForward(y: Float64Array, yhat: Float64Array, rows: number, cols: number): number {
    let s = 0;
    for (let i = 0; i < y.length; i++) {
      s -=
        y[i]! * Math.max(Math.log(yhat[i]!), -100) +
        (1 - y[i]!) * Math.max(Math.log(1 - yhat[i]!), -100);
    }
    return this.reduce(s, rows, cols);
  }
}

/**
 * Cross-entropy on probabilities (e.g. after Softmax): -Σ y log yhat, the log clamped at -100.
 * `backward` is the derivative of that forward as computed: -y/yhat (over the batch size) where
 * the log is not clamped, 0 where it is (yhat below ~3.78e-44, where the clamped forward is flat).
 * @example new CrossEntropyLoss().forward(labels, softmaxOutput)
 */
export class CrossEntropyLoss extends Loss {
  readonly type = 'CrossEntropyLoss';
  protected readonly targets = 'classes';
  /** @param options `reduction` (default `'batchmean'`; see {@link LossOptions}). */
  constructor(options?: LossOptions) {
    super(options, 'CrossEntropyLoss');
  }
  /** @internal */
  protected forwardKernel(k: Kernels): ForwardKernel {
    return k.cross_entropy_loss_forward;
  }
  /** @internal */
  protected backwardKernel(k: Kernels): BackwardKernel {
    return k.cross_entropy_loss_backward;
  }
  protected override checkPrediction(yhat: Tensor, where: string): void {
    checkRange(yhat, 0, 1, where, 'yhat (probabilities)');
  }
  referenceForward(y: Float64Array, yhat: Float64Array, rows: number, cols: number): number {
    let s = 0;
    for (let i = 0; i < y.length; i++) s -= y[i]! * Math.max(Math.log(yhat[i]!), -100);
    return this.reduce(s, rows, cols);
  }
}

/**
 * Cross-entropy from logits, computed stably as -Σ y (yhat - logsumexp(yhat)) (softmax folded in).
 * @example new LogSoftmaxCrossEntropy().forward(labels, logits)
 */
export class LogSoftmaxCrossEntropy extends Loss {
  readonly type = 'LogSoftmaxCrossEntropy';
  protected readonly targets = 'classes';
  /** @param options `reduction` (default `'batchmean'`; see {@link LossOptions}). */
  constructor(options?: LossOptions) {
    super(options, 'LogSoftmaxCrossEntropy');
  }
  /** @internal */
  protected forwardKernel(k: Kernels): ForwardKernel {
    return k.log_softmax_cross_entropy_forward;
  }
  /** @internal */
  protected backwardKernel(k: Kernels): BackwardKernel {
    return k.log_softmax_cross_entropy_backward;
  }
  referenceForward(y: Float64Array, yhat: Float64Array, rows: number, cols: number): number {
    let s = 0;
    for (let r = 0; r < rows; r++) {
      const row = yhat.subarray(r * cols, (r + 1) * cols);
      const max = Math.max(...row);
      let sum = 0;
      for (let j = 0; j < cols; j++) sum += Math.exp(row[j]! - max);
      const lse = max + Math.log(sum);
      for (let j = 0; j < cols; j++) s -= y[r * cols + j]! * (row[j]! - lse);
    }
    return this.reduce(s, rows, cols);
  }
}
