// Losses: forward(y, yhat) is the mean over the batch of each sample's summed loss; backward
// returns d(forward)/d(yhat). MSE: Σ(yhat - y)²; BCE: -Σ[y log yhat + (1-y) log(1-yhat)] (logs
// clamped at -100, as PyTorch); CrossEntropy on probabilities: -Σ y log yhat (log clamped at
// -100); LogSoftmaxCrossEntropy from logits. Kernels: crates/kernels/src/loss.rs.
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

import { TorchletError, fmtShape } from './errors.js';
import { checkTensor, shapeError } from './module.js';
import { Slot, type Tensor, sameShape } from './tensor.js';
import { type Kernels, type Ptr, kernels } from './wasm.js';

type ForwardKernel = (y: Ptr, yhat: Ptr, rows: number, cols: number) => number;
type BackwardKernel = (y: Ptr, yhat: Ptr, grad: Ptr, rows: number, cols: number) => void;

/** Base class of the losses: `forward(y, yhat)` → mean loss, `backward(y, yhat)` → dL/dyhat. */
export abstract class Loss {
  /** Stable type name. */
  abstract readonly type: string;
  private readonly targetSlot = new Slot();
  private writerName: string | null = null;
  /** `Type.backward`, built once: the name an overwritten gradient gives. */
  private get writer(): string {
    return (this.writerName ??= `${this.type}.backward`);
  }
  private readonly gradSlot = new Slot();
  /** `dense`: y shaped like yhat; `classes`: yhat [batch, classes], y indices or dense. */
  protected abstract readonly targets: 'dense' | 'classes';
  protected abstract forwardKernel(k: Kernels): ForwardKernel;
  protected abstract backwardKernel(k: Kernels): BackwardKernel;

  /**
   * The mean loss over the batch.
   * @param y Target: dense, shaped like yhat ([batch] also for a [batch, 1] yhat); the class
   *   losses also take class indices [batch] (integers in [0, classes)).
   * @param yhat Prediction: [batch, ...] (MSE, BCE) or [batch, classes] (the class losses).
   * @throws TorchletError `SHAPE_MISMATCH`, `LABEL_OUT_OF_RANGE`, `NON_FINITE`, `EMPTY_BATCH`.
   */
  forward(y: Tensor, yhat: Tensor): number {
    const [target, rows, cols] = this.prepare(y, yhat, 'forward');
    return this.forwardKernel(kernels())(target.ptr, yhat.ptr, rows, cols);
  }

  /**
   * dL/dyhat, shaped like yhat (valid until the next call; reading it later throws `OVERWRITTEN`).
   * @throws As `forward`.
   */
  backward(y: Tensor, yhat: Tensor): Tensor {
    const [target, rows, cols] = this.prepare(y, yhat, 'backward');
    const grad = this.gradSlot.next(yhat.shape, this.writer);
    this.backwardKernel(kernels())(target.ptr, yhat.ptr, grad.ptr, rows, cols);
    return grad;
  }

  /**
   * `forward`, then, when the loss is finite, `backward`, with one validation and one label
   * conversion (Optim's step).
   * @returns The mean loss and dL/dyhat (null when the loss is not finite; as `backward`'s result,
   *   valid until the next call).
   * @throws As `forward`.
   */
  forwardBackward(y: Tensor, yhat: Tensor): { loss: number; gradient: Tensor | null } {
    const [target, rows, cols] = this.prepare(y, yhat, 'forward');
    const k = kernels();
    const loss = this.forwardKernel(k)(target.ptr, yhat.ptr, rows, cols);
    if (!Number.isFinite(loss)) return { loss, gradient: null };
    const gradient = this.gradSlot.next(yhat.shape, this.writer);
    this.backwardKernel(k)(target.ptr, yhat.ptr, gradient.ptr, rows, cols);
    return { loss, gradient };
  }

  /** Float64 reference of `forward` on a dense target, for gradCheck. */
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
  }

  /** Extra range checks on the prediction (e.g. probabilities in [0, 1]). */
  protected checkPrediction(_yhat: Tensor, _where: string): void {}

  /** Validates, converts class indices to one-hot, and returns the dense target with its shape. */
  private prepare(y: Tensor, yhat: Tensor, method: string): [Tensor, number, number] {
    const where = `${this.type}.${method}`;
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
    if (sameShape(y.shape, yhat.shape)) return [y, rows, cols];
    const perSample = y.shape.length === 1 && y.shape[0] === rows;
    // One value per sample: a [batch] target is the same data as [batch, 1].
    if (!classes && perSample && cols === 1) return [y, rows, cols];
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
    return [target, rows, cols];
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
 * Squared error, summed over features and averaged over the batch.
 * @example new MSELoss().forward(y, yhat)
 */
export class MSELoss extends Loss {
  readonly type = 'MSELoss';
  protected readonly targets = 'dense';
  protected forwardKernel(k: Kernels): ForwardKernel {
    return k.mse_loss_forward;
  }
  protected backwardKernel(k: Kernels): BackwardKernel {
    return k.mse_loss_backward;
  }
  referenceForward(y: Float64Array, yhat: Float64Array, rows: number): number {
    let s = 0;
    for (let i = 0; i < y.length; i++) s += (yhat[i]! - y[i]!) ** 2;
    return s / rows;
  }
}

/**
 * Binary cross-entropy on probabilities yhat in [0, 1] (each log clamped at -100, as PyTorch).
 * @example new Sequential(new Linear(200, 64), new Sigmoid()) // then BCELoss against pixels in [0, 1]
 */
export class BCELoss extends Loss {
  readonly type = 'BCELoss';
  protected readonly targets = 'dense';
  protected forwardKernel(k: Kernels): ForwardKernel {
    return k.bce_loss_forward;
  }
  protected backwardKernel(k: Kernels): BackwardKernel {
    return k.bce_loss_backward;
  }
  protected override checkPrediction(yhat: Tensor, where: string): void {
    checkRange(yhat, 0, 1, where, 'yhat (probabilities)');
  }
  referenceForward(y: Float64Array, yhat: Float64Array, rows: number): number {
    let s = 0;
    for (let i = 0; i < y.length; i++) {
      s -=
        y[i]! * Math.max(Math.log(yhat[i]!), -100) +
        (1 - y[i]!) * Math.max(Math.log(1 - yhat[i]!), -100);
    }
    return s / rows;
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
  protected forwardKernel(k: Kernels): ForwardKernel {
    return k.cross_entropy_loss_forward;
  }
  protected backwardKernel(k: Kernels): BackwardKernel {
    return k.cross_entropy_loss_backward;
  }
  protected override checkPrediction(yhat: Tensor, where: string): void {
    checkRange(yhat, 0, 1, where, 'yhat (probabilities)');
  }
  referenceForward(y: Float64Array, yhat: Float64Array, rows: number): number {
    let s = 0;
    for (let i = 0; i < y.length; i++) s -= y[i]! * Math.max(Math.log(yhat[i]!), -100);
    return s / rows;
  }
}

/**
 * Cross-entropy from logits, computed stably as -Σ y (yhat - logsumexp(yhat)) (softmax folded in).
 * @example new LogSoftmaxCrossEntropy().forward(labels, logits)
 */
export class LogSoftmaxCrossEntropy extends Loss {
  readonly type = 'LogSoftmaxCrossEntropy';
  protected readonly targets = 'classes';
  protected forwardKernel(k: Kernels): ForwardKernel {
    return k.log_softmax_cross_entropy_forward;
  }
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
    return s / rows;
  }
}
