// Module: the base of every layer. forward(x) computes and keeps `output`; backwardUpdateGradient
// adds parameter gradients; backwardDelta returns dL/d(input). Public methods validate first
// (shapes, finiteness, liveness) and only then call the `*Impl` hooks, so a throw changes nothing.

import { TorchletError, fmtShape } from './errors.js';
import { Tensor, Slot, sameShape } from './tensor.js';
import { kernels } from './wasm.js';

/** A trainable tensor and its gradient (same shape). */
export interface Parameter {
  /** Dotted name, e.g. `0.weight` inside a Sequential. */
  name: string;
  /** The values. */
  value: Tensor;
  /** The accumulated gradient. */
  grad: Tensor;
}

/** Throws `DISPOSED`/`BAD_ARGUMENT`/`EMPTY_BATCH`/`NON_FINITE` for a bad tensor argument. */
export function checkTensor(x: unknown, where: string, what: string, opts: { finite?: boolean; batch?: boolean } = {}): asserts x is Tensor {
  if (!(x instanceof Tensor)) {
    throw new TorchletError('BAD_ARGUMENT', `${where}: expected ${what} to be a Tensor, got ${describe(x)}`);
  }
  if (x.disposed) {
    throw new TorchletError('DISPOSED', `${where}: expected ${what} to be a live tensor, got a disposed one of shape ${fmtShape(x.shape)}`);
  }
  if ((opts.batch ?? true) && (x.shape.length === 0 || x.shape[0] === 0)) {
    throw new TorchletError('EMPTY_BATCH', `${where}: expected ${what} with at least one sample, got shape ${fmtShape(x.shape)}`);
  }
  if ((opts.finite ?? true) && kernels().non_finite_count(x.ptr, x.size) > 0) {
    const data = x.data;
    const i = data.findIndex((v) => !Number.isFinite(v));
    throw new TorchletError('NON_FINITE', `${where}: expected finite ${what}, got ${data[i]} at flat index ${i}`);
  }
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an Array (wrap it with Tensor.from(values, shape))';
  if (ArrayBuffer.isView(x)) return `a ${x.constructor.name} (wrap it with Tensor.from(values, shape))`;
  return typeof x === 'object' ? `a ${(x as object).constructor?.name ?? 'object'}` : typeof x;
}

/** Throws `SHAPE_MISMATCH` in the standard format. */
export function shapeError(where: string, expected: string, got: readonly number[]): TorchletError {
  return new TorchletError('SHAPE_MISMATCH', `${where}: expected ${expected}, got ${fmtShape(got)}`);
}

/** Checks a positive integer constructor argument. */
export function checkPositiveInt(value: unknown, where: string, name: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new TorchletError('BAD_ARGUMENT', `${where}: expected ${name} to be a positive integer, got ${String(value)}`);
  }
  return value;
}

/**
 * Base class of all layers (the Lua Torch `nn.Module` contract).
 * `output` is the last forward result: it is overwritten by the next `forward`.
 */
export abstract class Module {
  /** Stable type name (used in messages and model files; not minified). */
  abstract readonly type: string;
  /** `train()`/`eval()` flag, for layers that behave differently (none yet). */
  training = true;
  /** The input of the last `forward`, used by `backward(delta)`. */
  protected lastInput: Tensor | null = null;
  protected readonly outputSlot = new Slot();
  protected readonly gradInputSlot = new Slot();

  /**
   * The output shape for an input shape.
   * @throws TorchletError `SHAPE_MISMATCH` naming the module, `method`, expected and got.
   */
  abstract outputShape(inputShape: readonly number[], method?: string): number[];

  /** The trainable parameters, in a fixed order. */
  parameters(): Parameter[] {
    return [];
  }

  private parameterCache: readonly Parameter[] | null = null;

  /**
   * @internal `parameters()` computed once: a module's parameters are fixed at construction, so
   * the hot path (liveness checks, zeroGrad, updates) walks this list and allocates nothing.
   */
  parameterList(): readonly Parameter[] {
    if (this.parameterCache === null) this.parameterCache = Object.freeze(this.parameters());
    return this.parameterCache;
  }

  protected lastOutput: Tensor | null = null;
  /** True for layers whose backward reads what forward kept (its output, arg-max indices). */
  protected readonly usesForwardState: boolean = false;

  /** The last forward result (overwritten by the next `forward`), or null before any. */
  get output(): Tensor | null {
    return this.lastOutput;
  }

  /**
   * Computes the output for a batch.
   * @param x Input tensor, batch first.
   * @returns `this.output` (overwritten by the next call).
   * @throws TorchletError on a bad shape, a NaN/Inf, an empty batch or a disposed tensor.
   */
  forward(x: Tensor): Tensor {
    this.checkLive('forward');
    checkTensor(x, `${this.type}.forward`, 'input');
    const shape = this.outputShape(x.shape, 'forward');
    return this.runForward(x, shape);
  }

  /** @internal Forward without validation; containers call it after validating the whole chain. */
  runForward(x: Tensor, outShape: readonly number[]): Tensor {
    const y = this.forwardImpl(x, outShape);
    this.lastInput = x;
    this.lastOutput = y;
    return y;
  }

  /**
   * Adds the gradient of the loss w.r.t. the parameters into `grad` (accumulates; see `zeroGrad`).
   * @param input The input the last forward saw. @param delta dL/d(output).
   */
  backwardUpdateGradient(input: Tensor, delta: Tensor): void {
    this.checkBackward(input, delta, 'backwardUpdateGradient');
    this.backwardUpdateGradientImpl(input, delta);
  }

  /**
   * The gradient of the loss w.r.t. the input (overwritten by the next call).
   * @param input The input the last forward saw. @param delta dL/d(output).
   */
  backwardDelta(input: Tensor, delta: Tensor): Tensor {
    this.checkBackward(input, delta, 'backwardDelta');
    return this.backwardDeltaImpl(input, delta);
  }

  /**
   * `backwardUpdateGradient` then `backwardDelta` on the input of the last `forward`
   * (Lua's `Module:backward`). Returns dL/d(input).
   */
  backward(delta: Tensor): Tensor {
    this.checkLive('backward');
    const input = this.requireInput('backward');
    this.checkBackward(input, delta, 'backward');
    this.backwardUpdateGradientImpl(input, delta);
    return this.backwardDeltaImpl(input, delta);
  }

  /**
   * @internal `zeroGrad()` then `backwardUpdateGradient(input, delta)` (same results, same
   * errors), in one pass where a layer can write its gradients instead of zeroing and adding.
   */
  backwardSetGradient(input: Tensor, delta: Tensor): void {
    try {
      this.checkBackward(input, delta, 'backwardUpdateGradient');
    } catch (e) {
      this.zeroGrad();
      throw e;
    }
    this.backwardSetGradientImpl(input, delta);
  }

  /** @internal */
  backwardUpdateGradientImpl(_input: Tensor, _delta: Tensor): void {}
  /** @internal The gradients of this backward alone; layers that can overwrite override it. */
  backwardSetGradientImpl(input: Tensor, delta: Tensor): void {
    this.zeroGrad();
    this.backwardUpdateGradientImpl(input, delta);
  }
  /** @internal */
  abstract backwardDeltaImpl(input: Tensor, delta: Tensor): Tensor;
  /** @internal */
  protected abstract forwardImpl(x: Tensor, outShape: readonly number[]): Tensor;

  /** Sets every parameter gradient to zero. */
  zeroGrad(): void {
    this.checkLive('zeroGrad');
    const k = kernels();
    for (const p of this.parameterList()) k.fill_zero(p.grad.ptr, p.grad.size);
  }

  /**
   * One plain gradient step: `value -= gradientStep * grad` for every parameter.
   * @throws TorchletError `BAD_ARGUMENT` for a non-finite step.
   */
  updateParameters(gradientStep = 1e-3): void {
    if (typeof gradientStep !== 'number' || !Number.isFinite(gradientStep)) {
      throw new TorchletError('BAD_ARGUMENT', `${this.type}.updateParameters: expected a finite gradientStep, got ${String(gradientStep)}`);
    }
    this.checkLive('updateParameters');
    const k = kernels();
    for (const p of this.parameterList()) k.sgd_update(p.grad.ptr, p.value.ptr, p.value.size, gradientStep);
  }

  /** `Type()`; layers with arguments override it (e.g. `Linear(64, 100)`). */
  toString(): string {
    return `${this.type}()`;
  }

  /** Frees this module's parameters and buffers. */
  dispose(): void {
    for (const p of this.parameters()) {
      p.value.dispose();
      p.grad.dispose();
    }
    this.outputSlot.dispose();
    this.gradInputSlot.dispose();
    this.lastInput = null;
    this.lastOutput = null;
  }

  /**
   * The float64 reference of `forward` (plain TS, for gradCheck): the same math on `x` with
   * parameters `params` (in `parameters()` order).
   */
  abstract referenceForward(x: Float64Array, shape: readonly number[], params: Float64Array[]): Float64Array;

  /** Throws `DISPOSED` naming this module when `dispose()` freed its parameters. */
  protected checkLive(method: string): void {
    for (const p of this.parameterList()) {
      if (p.value.disposed || p.grad.disposed) {
        throw new TorchletError('DISPOSED', `${this.type}.${method}: expected a live module, got a disposed one (its ${p.name} was freed by dispose())`);
      }
    }
  }

  protected requireInput(method: string): Tensor {
    if (this.lastInput === null || this.lastInput.disposed) {
      throw new TorchletError('BAD_ARGUMENT', `${this.type}.${method}: expected a forward pass first, got none (or its input was disposed)`);
    }
    return this.lastInput;
  }

  /** Validates `input` and `delta` for a backward call. */
  protected checkBackward(input: Tensor, delta: Tensor, method: string): void {
    const where = `${this.type}.${method}`;
    this.checkLive(method);
    checkTensor(input, where, 'input', { finite: false });
    checkTensor(delta, where, 'delta');
    const outShape = this.outputShape(input.shape, method);
    if (!sameShape(delta.shape, outShape)) throw shapeError(where, `delta ${fmtShape(outShape)}`, delta.shape);
    if (this.usesForwardState && input !== this.lastInput) {
      throw new TorchletError('BAD_ARGUMENT', `${where}: expected the input of the last forward (this layer's backward reads its forward output), got another tensor; call forward(input) first`);
    }
  }
}
