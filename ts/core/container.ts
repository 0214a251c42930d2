// Containers: Sequential chains modules; AutoEncoder is the two-module Sequential (encoder,
// decoder) with named halves and latent(x). A container owns one Frame per position, so what each
// position received and produced is kept by the call, not by the module: a module used at several
// positions (tied weights, one ReLU instance reused) gets each position's gradients, added.
// forward validates the whole chain's shapes before any kernel runs (a bad shape at layer 3
// changes nothing); errors carry the position: `Sequential[2] (Linear).…`.

import { TorchletError } from './errors.js';
import {
  type Call,
  Frame,
  type LayerSpec,
  Module,
  type Parameter,
  type Reservation,
  checkTensor,
} from './module.js';
import { type Tensor, sameShape } from './tensor.js';

/**
 * Base of the containers: children, one frame per position, parameters listed once each, and the
 * position prefix on errors. Subclasses say how a forward and a backward walk the children.
 */
export abstract class Container extends Module {
  /** The children, in order. */
  readonly modules: readonly Module[];

  protected constructor(type: string, modules: readonly Module[]) {
    super();
    modules.forEach((m, i) => {
      if (!(m instanceof Module)) {
        throw new TorchletError(
          'BAD_ARGUMENT',
          `${type}: expected a Module at position ${i}, got ${m === null ? 'null' : typeof m}`,
        );
      }
    });
    this.modules = Object.freeze([...modules]);
  }

  override children(): readonly Module[] {
    return this.modules;
  }

  /** The name of the child at position i in parameter names (`0`, `encoder`, …). */
  protected childName(i: number): string {
    const names = this.spec?.children;
    return Array.isArray(names) ? names[i]! : String(i);
  }

  /** Every child's parameters, prefixed with the child's name; a tensor shared by several children once. */
  override parameters(): Parameter[] {
    const seen = new Set<Tensor>();
    const out: Parameter[] = [];
    this.modules.forEach((m, i) => {
      for (const p of m.parameters()) {
        if (seen.has(p.value)) continue;
        seen.add(p.value);
        out.push({ ...p, name: `${this.childName(i)}.${p.name}` });
      }
    });
    return out;
  }

  /** @internal A frame holding one child frame per position. */
  override createFrame(): Frame {
    const frame = new Frame(this);
    for (const m of this.modules) frame.children.push(m.createFrame());
    return frame;
  }

  // A container's forward and backward are its children's (runForward / runBackward): no hook runs.
  protected updateOutput(_call: Call): void {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${this.type}: a container runs its children, not updateOutput`,
    );
  }

  protected updateGradInput(_call: Call, _delta: Tensor, _gradInput: Tensor): void {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${this.type}: a container runs its children, not updateGradInput`,
    );
  }

  /** The children's float64 references chained (null when a child has none). */
  override referenceForward(
    x: Float64Array,
    shape: readonly number[],
    params: Float64Array[],
    frame: Frame,
  ): Float64Array | null {
    const byTensor = new Map(this.parameters().map((p, i) => [p.value, params[i]!]));
    let h: Float64Array | null = x;
    let s: readonly number[] = shape;
    for (let i = 0; i < this.modules.length && h !== null; i++) {
      const m = this.modules[i]!;
      h = m.referenceForward(
        h,
        s,
        m.parameters().map((p) => byTensor.get(p.value)!),
        frame.children[i]!,
      );
      s = m.outputShape(s);
    }
    return h;
  }

  /** Frees every child (a child shared with another network is freed there too). */
  override dispose(): void {
    for (const m of this.modules) m.dispose();
    super.dispose();
  }

  /** The error `e` of the child at position i, prefixed `Type[i] (ChildType).`. */
  protected rethrow(e: unknown, i: number): unknown {
    if (!(e instanceof TorchletError)) return e;
    return new TorchletError(
      e.code,
      `${this.type}[${i}] (${this.modules[i]!.type}).${e.message.replace(/^[A-Za-z0-9]+\./, '')}`,
    );
  }
}

/**
 * Modules applied one after another. A module may appear at several positions (its gradients
 * from each are added) and in several networks.
 * @example
 * const net = new Sequential(new Linear(64, 100), new ReLU(), new Linear(100, 10));
 * const logits = net.forward(x);
 */
export class Sequential extends Container {
  /** The layer's description: model files, `toString` and `fromArchitecture` derive from it. */
  static readonly spec: LayerSpec<Sequential> = {
    type: 'Sequential',
    args: [],
    children: 'index',
    // The list itself, not spread: 100,000 arguments would overflow the stack.
    build: (_a, children) => new Sequential(children),
  };

  /** The modules in order, as arguments or as one array (`new Sequential(layers)`, any length). */
  constructor(...modules: Module[]);
  constructor(modules: readonly Module[]);
  constructor(...args: (Module | readonly Module[])[]) {
    const list =
      args.length === 1 && Array.isArray(args[0]) ? (args[0] as readonly Module[]) : args;
    super('Sequential', list as readonly Module[]);
  }

  // The last two input shapes that validated and the shapes after each layer for them: a
  // training loop asks for the same batch shape every step (and another for its last, partial
  // batch), and the layers are fixed, so they are reused as they are.
  private shapeCache: { input: readonly number[]; shapes: readonly (readonly number[])[] } | null =
    null;
  private shapeCachePrev: typeof this.shapeCache = null;

  /** The shapes after each layer for an input shape, validating every step. */
  shapes(inputShape: readonly number[], method = 'forward'): number[][] {
    return this.layerShapes(inputShape, method).map((s) => [...s]);
  }

  /** `shapes` without the copies (cached, frozen). */
  private layerShapes(
    inputShape: readonly number[],
    method = 'forward',
  ): readonly (readonly number[])[] {
    const cached = this.shapeCache;
    if (cached !== null && sameShape(cached.input, inputShape)) return cached.shapes;
    const prev = this.shapeCachePrev;
    if (prev !== null && sameShape(prev.input, inputShape)) {
      this.shapeCachePrev = cached;
      this.shapeCache = prev;
      return prev.shapes;
    }
    const shapes: (readonly number[])[] = [];
    let s: readonly number[] = inputShape;
    for (let i = 0; i < this.modules.length; i++) {
      try {
        s = this.modules[i]!.outputShape(s, method);
      } catch (e) {
        throw this.rethrow(e, i);
      }
      shapes.push(Object.freeze([...s]));
    }
    this.shapeCachePrev = cached;
    this.shapeCache = { input: Object.freeze([...inputShape]), shapes: Object.freeze(shapes) };
    return this.shapeCache.shapes;
  }

  outputShape(s: readonly number[], method = 'forward'): number[] {
    const shapes = this.layerShapes(s, method);
    return [...(shapes.length === 0 ? s : shapes[shapes.length - 1]!)];
  }

  /** @internal Every position's buffers, before any child runs (an OUT_OF_MEMORY changes nothing). */
  override reserveForward(
    frame: Frame,
    inShape: readonly number[],
    _outShape: readonly number[],
    r: Reservation,
  ): void {
    const shapes = this.layerShapes(inShape);
    let s = inShape;
    for (let i = 0; i < this.modules.length; i++) {
      this.modules[i]!.reserveForward(frame.children[i]!, s, shapes[i]!, r);
      s = shapes[i]!;
    }
  }

  /** @internal Every position's dL/d(input) and scratch, before any gradient is written. */
  override reserveBackward(frame: Frame, grads: boolean, wantDelta: boolean, r: Reservation): void {
    for (let i = this.modules.length - 1; i >= 0; i--) {
      this.modules[i]!.reserveBackward(frame.children[i]!, grads, i > 0 || wantDelta, r);
    }
  }

  /** @internal Each child forwards in its own position's frame. */
  override runForward(frame: Frame, x: Tensor, _outShape: readonly number[]): Tensor {
    const shapes = this.layerShapes(x.shape);
    const last = this.modules.length - 1;
    let h = x;
    for (let i = 0; i <= last; i++) {
      const child = frame.children[i]!;
      child.outputEscapes = i === last && frame.outputEscapes;
      h = this.modules[i]!.runForward(child, h, shapes[i]!);
    }
    frame.record(x, h);
    return h;
  }

  /** `Sequential(A -> B -> …)`. */
  override toString(): string {
    return `${this.type}(${this.modules.map(String).join(' -> ')})`;
  }

  /** @internal Back through the positions in reverse; the first layer's delta only when asked. */
  override runBackward(
    frame: Frame,
    delta: Tensor,
    beta: 0 | 1 | null,
    wantDelta: boolean,
  ): Tensor | null {
    let d: Tensor | null = delta;
    for (let i = this.modules.length - 1; i >= 0 && d !== null; i--) {
      const child = frame.children[i]!;
      child.gradInputEscapes = i === 0 && frame.gradInputEscapes;
      d = this.modules[i]!.runBackward(child, d, beta, i > 0 || wantDelta);
    }
    return wantDelta ? d : null;
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
  /** The layer's description: model files, `toString` and `fromArchitecture` derive from it. */
  static override readonly spec: LayerSpec<Sequential> = {
    type: 'AutoEncoder',
    args: [],
    children: ['encoder', 'decoder'],
    build: (_a, c) => new AutoEncoder(c[0]!, c[1]!),
  };

  /** First half: input to code. */
  readonly encoder: Module;
  /** Second half: code to reconstruction. */
  readonly decoder: Module;
  // latent() runs the encoder here, apart from training's frames, so it disturbs no backward.
  private latentFrame: Frame | null = null;

  constructor(encoder: Module, decoder: Module) {
    super(...AutoEncoder.check(encoder, decoder));
    this.encoder = encoder;
    this.decoder = decoder;
  }

  private static check(encoder: unknown, decoder: unknown): [Module, Module] {
    for (const [name, m] of [
      ['encoder', encoder],
      ['decoder', decoder],
    ] as const) {
      if (!(m instanceof Module)) {
        throw new TorchletError(
          'BAD_ARGUMENT',
          `AutoEncoder: expected ${name} to be a Module, got ${m === null ? 'null' : typeof m}`,
        );
      }
    }
    return [encoder as Module, decoder as Module];
  }

  /**
   * The code of x: the encoder alone, in a frame of its own (a pending backward of the whole
   * network is not disturbed). Valid until the next `latent`.
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
      throw this.rethrow(e, 0);
    }
    this.latentFrame ??= this.encoder.createFrame();
    return this.encoder.forwardIn(this.latentFrame, x, shape, 'AutoEncoder.latent');
  }

  override dispose(): void {
    this.latentFrame?.dispose();
    this.latentFrame = null;
    super.dispose();
  }

  /** `AutoEncoder(<encoder layers>, <decoder layers>)`, Sequential halves as `A -> B -> …`. */
  override toString(): string {
    const half = (m: Module): string =>
      m instanceof Sequential ? m.modules.map(String).join(' -> ') : String(m);
    return `AutoEncoder(${half(this.encoder)}, ${half(this.decoder)})`;
  }
}
