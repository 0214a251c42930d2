// Sequential: modules chained in order. forward validates the whole chain's shapes before any
// kernel runs (so a bad shape at layer 3 changes nothing), then runs each layer; backward walks
// back through the layers' kept inputs. Errors carry the position: `Sequential[2] (Linear).…`.
// AutoEncoder is the two-module Sequential (encoder, decoder) with named halves and latent(x).

import { TorchletError } from './errors.js';
import { Module, type Parameter, checkTensor } from './module.js';
import { type Tensor, sameShape } from './tensor.js';

/**
 * Modules applied one after another.
 * @example
 * const net = new Sequential(new Linear(64, 100), new ReLU(), new Linear(100, 10));
 * const logits = net.forward(x);
 */
export class Sequential extends Module {
  readonly type: string = 'Sequential';
  /** The layers, in order. */
  readonly modules: readonly Module[];

  constructor(...modules: Module[]) {
    super();
    modules.forEach((m, i) => {
      if (!(m instanceof Module)) {
        throw new TorchletError('BAD_ARGUMENT', `Sequential: expected a Module at position ${i}, got ${m === null ? 'null' : typeof m}`);
      }
    });
    this.modules = Object.freeze([...modules]);
  }

  // The last input shape that validated and the shapes after each layer for it: a training loop
  // asks for the same batch shape every step, and the layers are fixed, so it is reused as is.
  private shapeCache: { input: readonly number[]; shapes: readonly (readonly number[])[] } | null = null;

  /** The shapes after each layer for an input shape, validating every step. */
  shapes(inputShape: readonly number[], method = 'forward'): number[][] {
    return this.layerShapes(inputShape, method).map((s) => [...s]);
  }

  /** `shapes` without the copies (cached; callers must not modify them). */
  private layerShapes(inputShape: readonly number[], method = 'forward'): readonly (readonly number[])[] {
    const cached = this.shapeCache;
    if (cached !== null && sameShape(cached.input, inputShape)) return cached.shapes;
    const shapes: number[][] = [];
    let s: readonly number[] = inputShape;
    for (let i = 0; i < this.modules.length; i++) {
      try {
        s = this.modules[i]!.outputShape(s, method);
      } catch (e) {
        throw this.rethrow(e, i);
      }
      shapes.push(Object.freeze([...s]) as number[]);
    }
    this.shapeCache = { input: Object.freeze([...inputShape]), shapes: Object.freeze(shapes) };
    return this.shapeCache.shapes;
  }

  outputShape(s: readonly number[], method = 'forward'): number[] {
    const shapes = this.layerShapes(s, method);
    return [...(shapes.length === 0 ? s : shapes[shapes.length - 1]!)];
  }

  override parameters(): Parameter[] {
    return this.modules.flatMap((m, i) => m.parameters().map((p) => ({ ...p, name: `${i}.${p.name}` })));
  }

  override forward(x: Tensor): Tensor {
    this.checkLive('forward');
    checkTensor(x, `${this.type}.forward`, 'input');
    const shapes = this.layerShapes(x.shape, 'forward');
    return this.runForward(x, shapes.length === 0 ? x.shape : shapes[shapes.length - 1]!);
  }

  protected forwardImpl(x: Tensor): Tensor {
    const shapes = this.layerShapes(x.shape);
    let h = x;
    for (let i = 0; i < this.modules.length; i++) h = this.modules[i]!.runForward(h, shapes[i]!);
    return h;
  }

  /** Input of layer i in the last forward. */
  private inputOf(i: number, x: Tensor): Tensor {
    return i === 0 ? x : this.modules[i - 1]!.output!;
  }

  override backwardUpdateGradientImpl(x: Tensor, delta: Tensor): void {
    // The first layer's delta is not needed for parameter gradients: skip computing it.
    let d = delta;
    for (let i = this.modules.length - 1; i >= 0; i--) {
      const m = this.modules[i]!;
      const input = this.inputOf(i, x);
      m.backwardUpdateGradientImpl(input, d);
      if (i > 0) d = m.backwardDeltaImpl(input, d);
    }
  }

  override backwardSetGradientImpl(x: Tensor, delta: Tensor): void {
    // As backwardUpdateGradientImpl, each layer overwriting its gradients (zeroGrad included).
    let d = delta;
    for (let i = this.modules.length - 1; i >= 0; i--) {
      const m = this.modules[i]!;
      const input = this.inputOf(i, x);
      m.backwardSetGradientImpl(input, d);
      if (i > 0) d = m.backwardDeltaImpl(input, d);
    }
  }

  backwardDeltaImpl(x: Tensor, delta: Tensor): Tensor {
    let d = delta;
    for (let i = this.modules.length - 1; i >= 0; i--) d = this.modules[i]!.backwardDeltaImpl(this.inputOf(i, x), d);
    return d;
  }

  /** Parameter gradients and the delta to the input in one backward pass (input of the last forward). */
  override backward(delta: Tensor): Tensor {
    this.checkLive('backward');
    const x = this.requireInput('backward');
    this.checkBackward(x, delta, 'backward');
    let d = delta;
    for (let i = this.modules.length - 1; i >= 0; i--) {
      const m = this.modules[i]!;
      const input = this.inputOf(i, x);
      m.backwardUpdateGradientImpl(input, d);
      d = m.backwardDeltaImpl(input, d);
    }
    return d;
  }

  protected override checkBackward(input: Tensor, delta: Tensor, method: string): void {
    super.checkBackward(input, delta, method);
    if (input !== this.lastInput) {
      throw new TorchletError('BAD_ARGUMENT', `${this.type}.${method}: expected the input of the last forward (layers keep their inputs), got another tensor; call forward(input) first`);
    }
  }

  override zeroGrad(): void {
    for (const m of this.modules) m.zeroGrad();
  }

  override updateParameters(gradientStep = 1e-3): void {
    if (typeof gradientStep !== 'number' || !Number.isFinite(gradientStep)) {
      throw new TorchletError('BAD_ARGUMENT', `${this.type}.updateParameters: expected a finite gradientStep, got ${String(gradientStep)}`);
    }
    for (const m of this.modules) m.updateParameters(gradientStep);
  }

  override dispose(): void {
    for (const m of this.modules) m.dispose();
    super.dispose();
  }

  referenceForward(x: Float64Array, shape: readonly number[], params: Float64Array[]): Float64Array {
    const shapes = this.layerShapes(shape);
    let h = x;
    let s: readonly number[] = shape;
    let p = 0;
    this.modules.forEach((m, i) => {
      const n = m.parameters().length;
      h = m.referenceForward(h, s, params.slice(p, p + n));
      p += n;
      s = shapes[i]!;
    });
    return h;
  }

  private rethrow(e: unknown, i: number): unknown {
    if (!(e instanceof TorchletError)) return e;
    const err = new TorchletError(e.code, `${this.type}[${i}] (${this.modules[i]!.type}).${e.message.replace(/^[A-Za-z0-9]+\./, '')}`);
    return err;
  }
}

/**
 * An encoder and a decoder trained as one network: `forward(x) = decoder(encoder(x))`, backward
 * through the decoder then the encoder. Parameters are named `encoder.<name>` / `decoder.<name>`.
 * @param encoder Maps x [batch, ...] to the code (any Module, usually a Sequential).
 * @param decoder Maps the code back to the input's shape.
 * @throws TorchletError `BAD_ARGUMENT` when either is not a Module.
 * @example
 * const ae = new AutoEncoder(
 *   new Sequential(new Linear(64, 50), new TanH()),
 *   new Sequential(new Linear(50, 64), new Sigmoid()),
 * );
 * sgd(ae, { x, y: x }, new BCELoss(), { step: 0.1 });
 * const code = ae.latent(x); // [batch, 50]
 */
export class AutoEncoder extends Sequential {
  override readonly type: string = 'AutoEncoder';
  /** First half: input to code. */
  readonly encoder: Module;
  /** Second half: code to reconstruction. */
  readonly decoder: Module;

  constructor(encoder: Module, decoder: Module) {
    super(...AutoEncoder.check(encoder, decoder));
    this.encoder = encoder;
    this.decoder = decoder;
  }

  private static check(encoder: unknown, decoder: unknown): [Module, Module] {
    for (const [name, m] of [['encoder', encoder], ['decoder', decoder]] as const) {
      if (!(m instanceof Module)) {
        throw new TorchletError('BAD_ARGUMENT', `AutoEncoder: expected ${name} to be a Module, got ${m === null ? 'null' : typeof m}`);
      }
    }
    return [encoder as Module, decoder as Module];
  }

  override parameters(): Parameter[] {
    const named = (prefix: string, m: Module): Parameter[] => m.parameters().map((p) => ({ ...p, name: `${prefix}.${p.name}` }));
    return [...named('encoder', this.encoder), ...named('decoder', this.decoder)];
  }

  /**
   * The code of x: the encoder alone (returns the encoder's output, overwritten by its next
   * forward). The encoder's kept state then belongs to x, so a following backward needs a new
   * `forward` first.
   * @param x Input [batch, ...] as for `forward`.
   * @throws TorchletError as `forward`, naming `AutoEncoder.latent`.
   */
  latent(x: Tensor): Tensor {
    this.checkLive('latent');
    checkTensor(x, 'AutoEncoder.latent', 'input');
    let shape: number[];
    try {
      shape = this.encoder.outputShape(x.shape, 'latent');
    } catch (e) {
      // Same position format as forward's errors: `AutoEncoder[0] (Sequential).…`.
      if (!(e instanceof TorchletError)) throw e;
      throw new TorchletError(e.code, `${this.type}[0] (${this.encoder.type}).${e.message.replace(/^[A-Za-z0-9]+\./, '')}`);
    }
    this.lastInput = null;
    return this.encoder.runForward(x, shape);
  }

  /** `AutoEncoder(<encoder layers>, <decoder layers>)`, Sequential halves as `A -> B -> …`. */
  override toString(): string {
    const half = (m: Module): string => (m instanceof Sequential ? m.modules.map(String).join(' -> ') : String(m));
    return `AutoEncoder(${half(this.encoder)}, ${half(this.decoder)})`;
  }
}
