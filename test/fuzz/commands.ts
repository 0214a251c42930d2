// The stateful fuzzer's commands (issue 12): each is one public call (or a short, fixed group of
// them) on the World, with the model's prediction of its outcome and the checks of its result.
// Handles and tensors are picked by index modulo the current count, so a shrunk sequence stays
// meaningful; every value comes from a seed in the command, so a failing path replays exactly.
import fc from 'fast-check';
import {
  AutoEncoder,
  MSELoss,
  type Module,
  Optim,
  Reshape,
  Rng,
  Sequential,
  Upsample1D,
  Tensor,
  deserialize,
  memory,
  serialize,
} from '../../ts/index.js';
import {
  ENTRIES,
  type Handle,
  SQUARE,
  type SquareKind,
  type UserTensor,
  WIDTH,
  World,
  close,
  drawValues,
  fail,
  guarded,
  isDisposed,
  makeSquare,
  sameBits,
  stats,
  current,
  tensorBytes,
} from './world.js';
import { KNOWN } from './known.js';

type Cmd = fc.Command<object, World>;

// Float32 kernels against float64 math: forward values, and gradients against central differences.
const FWD_ATOL = 2e-5;
const FWD_RTOL = 2e-4;
const GRAD_ATOL = 1e-3;
const GRAD_RTOL = 1e-2;
/** Numeric gradients only when inputs + parameters are at most this many floats. */
const NUMERIC_MAX = 160;

function pick<T>(list: readonly T[], i: number): T {
  return list[i % list.length]!;
}

/** Handle `i` modulo the count; a negative `i` picks the one that ran a forward last. */
function handleAt(w: World, i: number): Handle {
  if (i < 0 && w.recent !== null) return w.recent;
  return pick(w.handles, Math.abs(i));
}

function name(h: Handle): string {
  return `h${h.id}`;
}

function addHandle(
  w: World,
  m: Module,
  label: string,
  inner: readonly number[],
  rng: Rng,
  extra: Partial<Pick<Handle, 'draw' | 'square' | 'view' | 'children' | 'huge'>> = {},
): Handle {
  const h: Handle = {
    id: w.newId(),
    m,
    label,
    inner,
    rng,
    draw: extra.draw ?? { kind: 'uniform' },
    square: extra.square ?? false,
    view: extra.view ?? false,
    huge: extra.huge ?? false,
    children: extra.children ?? [],
    disposedSelf: false,
    lastX: null,
    outputs: [],
    optims: {},
  };
  w.handles.push(h);
  return h;
}

/** The float64 forward of `h` on `x` with `params` (parameters() order), or null when it has none. */
function reference(h: Handle, x: Float64Array, shape: readonly number[], params: Float64Array[]) {
  return h.m.referenceForward(x, shape, params, h.m.frame);
}

/** Checks a forward result against the float64 reference on the input values `x`. */
function checkForward(
  h: Handle,
  x: Float32Array,
  shape: readonly number[],
  y: Float32Array,
  what: string,
): void {
  const p64 = h.m.parameters().map((p) => Float64Array.from(p.value.toArray()));
  const ref = reference(h, Float64Array.from(x), shape, p64);
  if (ref !== null) close(`${what}: output`, y, ref, FWD_ATOL, FWD_RTOL);
}

/**
 * Central differences of L = sum(delta · f(x, θ)) over the float64 reference: dL/dx and dL/dθ
 * (θ in parameters() order), or null when the module has no reference or is too large.
 */
function numericGrads(
  h: Handle,
  xVals: Float32Array,
  shape: readonly number[],
  delta: Float32Array,
): { dx: Float64Array; dp: Float64Array[] } | null {
  const params = h.m.parameters();
  const x = Float64Array.from(xVals);
  const p64 = params.map((p) => Float64Array.from(p.value.toArray()));
  if (x.length + p64.reduce((a, p) => a + p.length, 0) > NUMERIC_MAX) return null;
  const loss = (): number | null => {
    const y = reference(h, x, shape, p64);
    if (y === null) return null;
    let s = 0;
    for (let i = 0; i < y.length; i++) s += y[i]! * delta[i]!;
    return s;
  };
  if (loss() === null) return null;
  const eps = 1e-6;
  const base = loss()!;
  // A kink (ReLU at exactly 0, tied maxima) has no derivative: where the one-sided differences
  // disagree the element is NaN, which `close` skips.
  const diff = (v: Float64Array): Float64Array => {
    const g = new Float64Array(v.length);
    for (let i = 0; i < v.length; i++) {
      const keep = v[i]!;
      v[i] = keep + eps;
      const up = loss()!;
      v[i] = keep - eps;
      const down = loss()!;
      v[i] = keep;
      const right = (up - base) / eps;
      const left = (base - down) / eps;
      g[i] = Math.abs(right - left) > 1e-3 * (1 + Math.abs(right)) ? NaN : (up - down) / (2 * eps);
    }
    return g;
  };
  return { dx: diff(x), dp: p64.map(diff) };
}

/** Values of every live parameter and gradient in the world, by tensor. */
function snapshot(w: World): Map<Tensor, Float32Array> {
  const s = new Map<Tensor, Float32Array>();
  for (const p of w.params()) {
    s.set(p.value, p.value.toArray());
    s.set(p.grad, p.grad.toArray());
  }
  return s;
}

/** Every tensor in `before` not in `except` holds the same bits now. */
function unchangedExcept(
  w: World,
  before: Map<Tensor, Float32Array>,
  except: Set<Tensor>,
  what: string,
) {
  for (const [t, v] of before) {
    if (except.has(t) || t.disposed) continue;
    if (!sameBits(t.toArray(), v)) fail(`${what}: changed a tensor of another module`);
  }
  void w;
}

function ownTensors(h: Handle): Set<Tensor> {
  const s = new Set<Tensor>();
  for (const p of h.m.parameters()) {
    s.add(p.value);
    s.add(p.grad);
  }
  return s;
}

/** After a call that may have run a direct forward (Optim.step), the model adopts its output. */
function adoptOutput(h: Handle, x: UserTensor): void {
  const out = h.m.output;
  const cur = h.outputs.at(-1);
  if (out !== null && out !== cur?.t) {
    h.outputs.push({ t: out, vals: out.toArray() });
    h.lastX = { t: x.t, vals: x.vals, params: null };
  }
}

// ---- creation ---------------------------------------------------------------------------------

class CreateLayer implements Cmd {
  constructor(
    readonly entry: number,
    readonly seed: number,
  ) {}
  check = () => true;
  run(_m: object, w: World): void {
    const e = pick(ENTRIES, this.entry);
    const rng = new Rng(this.seed);
    const r = guarded(w, `create ${e.name}`, 'ok', () => e.make(rng));
    if (!r.ok) return;
    addHandle(w, r.value, `table entry ${e.name}, seed ${this.seed}`, e.input.slice(1), rng, {
      draw: e.draw,
      view: e.view,
    });
  }
  toString(): string {
    return `h = ${pick(ENTRIES, this.entry).name}(rng ${this.seed})`;
  }
}

class CreateSquare implements Cmd {
  constructor(
    readonly kind: SquareKind,
    readonly seed: number,
  ) {}
  check = () => true;
  run(_m: object, w: World): void {
    const rng = new Rng(this.seed);
    const r = guarded(w, `create ${this.kind}`, 'ok', () => makeSquare(this.kind, rng));
    if (r.ok) addHandle(w, r.value, `${this.kind} [b,${WIDTH}]`, [WIDTH], rng, { square: true });
  }
  toString(): string {
    return `h = square ${this.kind}(rng ${this.seed})`;
  }
}

/**
 * A Sequential or AutoEncoder over square modules of the world: `picks` index the live square
 * handles, so the same module may sit at two positions, or in two containers, or a container
 * inside another.
 */
class CreateContainer implements Cmd {
  constructor(
    readonly type: 'Sequential' | 'AutoEncoder' | 'Huge',
    readonly picks: number[],
    readonly seed: number,
  ) {}
  check = () => true;
  run(_m: object, w: World): void {
    const rng = new Rng(this.seed);
    let pool = w.handles.filter((h) => h.square && !isDisposed(h));
    if (pool.length === 0) {
      const kind = pick(SQUARE, this.seed);
      pool = [
        addHandle(w, makeSquare(kind, rng), `${kind} [b,${WIDTH}]`, [WIDTH], rng, { square: true }),
      ];
    }
    const kids = this.picks.map((i) => pick(pool, i));
    const desc = kids.map(name).join(', ');
    if (this.type === 'Huge') {
      // Square modules, then an upsampling whose output needs 8 GiB per sample: every forward
      // throws OUT_OF_MEMORY, after the modules before it could have run (nothing may change).
      const label = `Sequential(${desc}, Reshape(${WIDTH}, 1), Upsample1D(2^29))`;
      const r = guarded(
        w,
        `new ${label}`,
        'ok',
        () =>
          new Sequential(...kids.map((k) => k.m), new Reshape(WIDTH, 1), new Upsample1D(2 ** 29)),
      );
      if (r.ok) addHandle(w, r.value, label, [WIDTH], rng, { children: kids, huge: true });
    } else if (this.type === 'Sequential') {
      const r = guarded(
        w,
        `new Sequential(${desc})`,
        'ok',
        () => new Sequential(...kids.map((k) => k.m)),
      );
      if (r.ok)
        addHandle(w, r.value, `Sequential(${desc})`, [WIDTH], rng, {
          square: true,
          children: kids,
        });
    } else {
      const enc = kids[0]!;
      const dec = kids[1] ?? kids[0]!;
      const r = guarded(
        w,
        `new AutoEncoder(${name(enc)}, ${name(dec)})`,
        'ok',
        () => new AutoEncoder(enc.m, dec.m),
      );
      if (r.ok)
        addHandle(w, r.value, `AutoEncoder(${name(enc)}, ${name(dec)})`, [WIDTH], rng, {
          square: true,
          children: [enc, dec],
        });
    }
  }
  toString(): string {
    return `h = ${this.type}(picks ${this.picks.join(',')})`;
  }
}

// ---- forward ----------------------------------------------------------------------------------

type ForwardMode =
  | 'valid'
  | 'zeroDim'
  | 'stretch'
  | 'rows'
  | 'overwrittenInput'
  | 'chain'
  | 'view'
  | 'transposed'
  | 'badDim'
  | 'extraDim'
  | 'emptyBatch'
  | 'nan'
  | 'disposedInput';

class Forward implements Cmd {
  constructor(
    readonly h: number,
    readonly batch: number,
    readonly mode: ForwardMode,
    readonly seed: number,
  ) {}
  check = () => true;
  run(_m: object, w: World): void {
    if (w.handles.length === 0) return;
    const h = handleAt(w, this.h);
    let shape = [this.batch, ...h.inner];
    if (this.mode === 'badDim') shape[shape.length - 1]! += 1;
    // Inner dimensions reversed: valid for element-wise and view layers (Flatten sees [b, 4, 3]).
    if (this.mode === 'transposed') shape = [this.batch, ...[...h.inner].reverse()];
    if (this.mode === 'extraDim') shape = [...shape, 2];
    if (this.mode === 'emptyBatch') shape[0] = 0;
    // A longer (or shorter) sequence: valid for convolutions, pools and upsampling on [b, L, C].
    if (this.mode === 'stretch' && shape.length >= 3) {
      shape[1] = shape[1]! + (this.seed % 7) - 2;
      if (KNOWN.zeroSizeDim) shape[1] = Math.max(shape[1]!, 1); // F6 (test/fuzz/known.ts)
    }
    // A zero-size inner dimension: an empty result or a TorchletError (off while F6 is open).
    if (this.mode === 'zeroDim' && shape.length >= 2 && !KNOWN.zeroSizeDim)
      shape[1 + (this.seed % (shape.length - 1))] = 0;
    let x: { t: Tensor; vals: Float32Array };
    const src = w.recent?.outputs.at(-1);
    const stale = w.handles.flatMap((k) => k.outputs.slice(0, -1)).find((o) => o.t.overwritten);
    let mode = this.mode;
    if (mode === 'overwrittenInput' && stale !== undefined) {
      // An output a later forward overwrote: reading it must throw, so must using it.
      x = { t: stale.t, vals: stale.vals };
      shape = [...stale.t.shape];
    } else if (
      this.mode === 'chain' &&
      h.square &&
      w.recent?.square &&
      src &&
      live(src.t) &&
      fits(src.t)
    ) {
      // Feed the last forward's output (possibly this module's own) straight back in.
      x = { t: src.t, vals: src.vals };
      shape = [...src.t.shape];
    } else if (this.mode === 'rows') {
      // Rows of a taller user tensor, as a view (disposing that tensor disposes the view).
      const tall = w.input([shape[0]! + 2, ...shape.slice(1)], h.draw, this.seed);
      const per = tall.t.size / tall.t.shape[0]!;
      x = { t: tall.t.rows(1, shape[0]!), vals: tall.vals.slice(per, per * (shape[0]! + 1)) };
    } else if (this.mode === 'view') {
      // A reshaped view of a flat user tensor (disposing that tensor disposes the view).
      const flat = w.input([shape.reduce((a, b) => a * b, 1)], h.draw, this.seed);
      x = { t: flat.t.reshape(shape), vals: flat.vals };
    } else {
      const u = w.input(shape, h.draw, this.seed);
      if (this.mode === 'nan' && u.t.size > 0) {
        u.t.data[0] = NaN;
        u.vals[0] = NaN;
      }
      if (this.mode === 'disposedInput') {
        u.t.dispose();
        u.disposed = true;
      }
      x = u;
    }
    const what = `${name(h)}.forward(x[${shape.join(',')}], ${this.mode}) (${h.label})`;
    const dead = isDisposed(h);
    if (mode === 'overwrittenInput' && stale === undefined) mode = 'valid';
    const must =
      mode === 'emptyBatch' ||
      mode === 'nan' ||
      mode === 'disposedInput' ||
      mode === 'overwrittenInput';
    const valid =
      mode === 'valid' ||
      mode === 'chain' ||
      mode === 'view' ||
      mode === 'rows' ||
      (mode === 'zeroDim' && KNOWN.zeroSizeDim);
    // Its own current output as input: the forward would write what it reads. Computing it or
    // refusing it (nothing changed, the output still readable) are both honest.
    const aliased = this.mode === 'chain' && x.t === h.outputs.at(-1)?.t;
    const expect = dead
      ? 'DISPOSED'
      : h.huge
        ? valid
          ? 'OUT_OF_MEMORY'
          : 'either'
        : valid && !aliased
          ? 'ok'
          : 'either';
    const bytes = memory().liveBytes;
    const r = guarded(w, what, expect, () => h.m.forward(x.t));
    if (!r.ok) return;
    // Memory stays flat: a forward of the shape this module last ran allocates nothing.
    const prev = h.outputs.at(-1);
    if (
      prev !== undefined &&
      sameShapeArr(prev.t.shape, r.value.shape) &&
      h.lastX !== null &&
      sameShapeArr(h.lastX.t.shape, shape) &&
      memory().liveBytes !== bytes
    )
      fail(`${what}: live bytes moved by ${memory().liveBytes - bytes} on a repeated shape`);
    if (must) fail(`${what}: mode ${mode} must throw, it returned`);
    const y = r.value.toArray();
    h.outputs.push({ t: r.value, vals: y });
    h.lastX = { t: x.t, vals: x.vals, params: paramValues(h) };
    w.recent = h;
    checkForward(h, x.vals, shape, y, what);
  }
  toString(): string {
    return `h[${this.h}].forward(batch ${this.batch}, ${this.mode}, seed ${this.seed})`;
  }
}

// ---- backward ---------------------------------------------------------------------------------

type BackwardKind =
  | 'backward'
  | 'delta'
  | 'deltaStale'
  | 'update0'
  | 'update1'
  | 'updateStale'
  | 'badDelta'
  | 'disposedDelta'
  | 'deltaOtherShape'
  | 'outputAsDelta'
  | 'dxAsDelta';

/** The dL/d(input) each module's last backward returned (a delta for the next: aliasing). */
const lastDx = new WeakMap<Handle, Tensor>();

class Backward implements Cmd {
  constructor(
    readonly h: number,
    readonly kind: BackwardKind,
    readonly seed: number,
  ) {}
  check = () => true;
  run(_m: object, w: World): void {
    if (w.handles.length === 0) return;
    const h = handleAt(w, this.h);
    const last = h.lastX;
    const xShape = last !== null && live(last.t) ? [...last.t.shape] : [2, ...h.inner];
    let outShape: number[];
    try {
      outShape = small(h.m.outputShape(xShape), xShape);
    } catch {
      outShape = xShape;
    }
    if (this.kind === 'badDelta') outShape = [...outShape.slice(0, -1), outShape.at(-1)! + 1];
    // Its own current output, or the dx its last backward returned, as the delta: a backward that
    // reads what it writes. Computing it right or refusing it (nothing changed) are both honest.
    const reuse =
      this.kind === 'outputAsDelta'
        ? h.outputs.at(-1)?.t
        : this.kind === 'dxAsDelta'
          ? lastDx.get(h)
          : undefined;
    const aliased = reuse !== undefined && live(reuse) && sameShapeArr(reuse.shape, outShape);
    const delta = aliased ? reuse : w.temp(outShape, this.seed);
    const deltaVals = delta.toArray();
    if (this.kind === 'disposedDelta') delta.dispose();
    const stale = this.kind === 'deltaStale' || this.kind === 'updateStale';
    const other = this.kind === 'deltaOtherShape';
    // Another input of the same shape (stale), or of the inner dimensions reversed (other).
    const xs = other
      ? [xShape[0]!, ...xShape.slice(1).reverse(), ...(xShape.length === 2 ? [1] : [])]
      : xShape;
    const x = stale || other || last === null ? w.input(xs, h.draw, this.seed + 1).t : last.t;
    const dead = isDisposed(h);
    const inputGone = last !== null && !live(last.t);
    const expect = dead
      ? 'DISPOSED'
      : this.kind === 'badDelta' || this.kind === 'disposedDelta' || other || h.huge
        ? 'either'
        : last === null || stale
          ? 'STALE'
          : inputGone || aliased
            ? 'either'
            : 'ok';
    const label = `${name(h)}.${this.kind}(delta[${outShape.join(',')}]) (${h.label})`;
    const before = snapshot(w);
    const gradsBefore = h.m.parameters().map((p) => (p.grad.disposed ? null : p.grad.toArray()));
    const r = guarded(w, label, expect, () => {
      switch (this.kind) {
        case 'backward':
        case 'outputAsDelta':
        case 'dxAsDelta':
          return h.m.backward(delta);
        case 'delta':
        case 'deltaStale':
        case 'badDelta':
        case 'disposedDelta':
        case 'deltaOtherShape':
          return h.m.backwardDelta(x, delta);
        case 'update0':
          h.m.backwardUpdateGradient(x, delta, 0);
          return null;
        default:
          h.m.backwardUpdateGradient(x, delta, 1);
          return null;
      }
    });
    if (!r.ok) return;
    if (this.kind === 'badDelta') fail(`${label}: a delta of the wrong shape must throw`);
    if (this.kind === 'disposedDelta') fail(`${label}: a disposed delta must throw`);
    if (other)
      fail(
        `${label}: an input that is not the last forward's (shape [${xs.join(',')}]) must throw STALE`,
      );
    if (inputGone) return; // it returned although its input was disposed: values are unspecified
    const own = ownTensors(h);
    unchangedExcept(w, before, own, label);
    const moved =
      last!.params === null || !paramValues(h).every((v, i) => sameBits(v, last!.params![i]!));
    const num = moved ? null : numericGrads(h, last!.vals, last!.t.shape, deltaVals);
    const params = h.m.parameters();
    if (r.value !== null) {
      lastDx.set(h, r.value);
      const dx = r.value.toArray();
      if (!sameShapeArr(r.value.shape, last!.t.shape))
        fail(
          `${label}: dx shaped [${r.value.shape.join(',')}], the input was [${last!.t.shape.join(',')}]`,
        );
      if (num !== null) close(`${label}: dx`, dx, num.dx, GRAD_ATOL, GRAD_RTOL);
    }
    const beta = this.kind === 'update0' ? 0 : this.kind === 'delta' ? null : 1;
    params.forEach((p, i) => {
      const g = p.grad.toArray();
      const g0 = gradsBefore[i]!;
      if (beta === null) {
        if (!sameBits(g, g0!)) fail(`${label}: backwardDelta changed the gradient of ${p.name}`);
      } else if (num !== null) {
        const want = num.dp[i]!.map((d, j) => (beta === 1 ? g0![j]! : 0) + d);
        close(`${label}: gradient of ${p.name}`, g, want, GRAD_ATOL, GRAD_RTOL);
      }
    });
  }
  toString(): string {
    return `h[${this.h}].${this.kind}(seed ${this.seed})`;
  }
}

/** `shape`, or `instead` when `shape` is too large to draw (a huge module's output). */
function small(shape: number[], instead: number[]): number[] {
  return shape.reduce((a, b) => a * b, 1) > 1 << 16 ? instead : shape;
}

/** A `[b, WIDTH]` tensor: what a square module takes. */
function fits(t: Tensor): boolean {
  return t.shape.length === 2 && t.shape[1] === WIDTH;
}

function live(t: Tensor): boolean {
  return !t.disposed && !t.overwritten;
}

function paramValues(h: Handle): Float32Array[] {
  return h.m.parameters().map((p) => p.value.toArray());
}

function sameShapeArr(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

// ---- parameters and optimisers ----------------------------------------------------------------

class ZeroGrad implements Cmd {
  constructor(readonly h: number) {}
  check = () => true;
  run(_m: object, w: World): void {
    if (w.handles.length === 0) return;
    const h = handleAt(w, this.h);
    const before = snapshot(w);
    const label = `${name(h)}.zeroGrad() (${h.label})`;
    const r = guarded(w, label, isDisposed(h) ? 'DISPOSED' : 'ok', () => h.m.zeroGrad());
    if (!r.ok) return;
    const own = new Set(h.m.parameters().map((p) => p.grad));
    unchangedExcept(w, before, own, label);
    for (const p of h.m.parameters())
      if (p.grad.toArray().some((v) => v !== 0)) fail(`${label}: ${p.name}'s gradient is not zero`);
  }
  toString(): string {
    return `h[${this.h}].zeroGrad()`;
  }
}

class UpdateParameters implements Cmd {
  constructor(
    readonly h: number,
    readonly lr: number,
  ) {}
  check = () => true;
  run(_m: object, w: World): void {
    if (w.handles.length === 0) return;
    const h = handleAt(w, this.h);
    const before = snapshot(w);
    const label = `${name(h)}.updateParameters(${this.lr}) (${h.label})`;
    const bad = !Number.isFinite(this.lr);
    const expect = isDisposed(h)
      ? bad
        ? (['DISPOSED', 'BAD_ARGUMENT'] as const).slice()
        : 'DISPOSED'
      : bad
        ? 'BAD_ARGUMENT'
        : 'ok';
    const r = guarded(w, label, expect, () => h.m.updateParameters(this.lr));
    if (!r.ok) return;
    const own = new Set(h.m.parameters().map((p) => p.value));
    unchangedExcept(w, before, own, label);
    for (const p of h.m.parameters()) {
      const v0 = before.get(p.value)!;
      const g = p.grad.toArray();
      const want = Float64Array.from(v0, (v, i) => v - this.lr * g[i]!);
      close(`${label}: ${p.name}`, p.value.toArray(), want, 1e-6, 1e-6);
    }
  }
  toString(): string {
    return `h[${this.h}].updateParameters(${this.lr})`;
  }
}

class OptimStep implements Cmd {
  constructor(
    readonly h: number,
    readonly kind: 'sgd' | 'adam',
    readonly batch: number,
    readonly seed: number,
  ) {}
  check = () => true;
  run(_m: object, w: World): void {
    if (w.handles.length === 0) return;
    const h = handleAt(w, this.h);
    const label = `Optim(${name(h)}, MSELoss, ${this.kind}).step (${h.label})`;
    const dead = isDisposed(h);
    const x = w.input([this.batch, ...h.inner], h.draw, this.seed);
    let optim = h.optims[this.kind];
    if (optim === undefined) {
      const r = guarded(
        w,
        `new ${label}`,
        'ok',
        () => new Optim(h.m, new MSELoss(), 0.05, { optimizer: this.kind }),
      );
      if (!r.ok) return;
      optim = h.optims[this.kind] = r.value;
    }
    let outShape: number[];
    try {
      outShape = small(h.m.outputShape(x.t.shape), [...x.t.shape]);
    } catch {
      outShape = [...x.t.shape];
    }
    const y = w.temp(outShape, this.seed + 1);
    const before = snapshot(w);
    const o = optim;
    const state = (o as unknown as { state: Tensor[][] | null }).state;
    const moments = state?.map((s) => s.map((t) => t.toArray())) ?? null;
    const t = o.steps + 1;
    const r = guarded(w, label, dead ? 'DISPOSED' : h.huge ? 'either' : 'ok', () => o.step(x.t, y));
    if (!dead) adoptOutput(h, x);
    if (!dead) w.recent = h;
    if (!r.ok) return;
    if (!Number.isFinite(r.value)) fail(`${label}: returned a non-finite loss ${r.value}`);
    const own = ownTensors(h);
    unchangedExcept(w, before, own, label);
    if (this.kind === 'sgd') {
      for (const p of h.m.parameters()) {
        const v0 = before.get(p.value)!;
        const g = p.grad.toArray();
        const want = Float64Array.from(v0, (v, i) => v - 0.05 * g[i]!);
        close(`${label}: ${p.name}`, p.value.toArray(), want, 1e-6, 1e-6);
      }
    } else {
      // Adam (betas 0.9, 0.999, epsilon 1e-8) in float64 from the moments before the step.
      const after = (o as unknown as { state: Tensor[][] }).state;
      h.m.parameters().forEach((p, i) => {
        const v0 = before.get(p.value)!;
        const g = p.grad.toArray();
        const m0 = moments?.[i]?.[0] ?? new Float32Array(g.length);
        const s0 = moments?.[i]?.[1] ?? new Float32Array(g.length);
        // The kernel's coefficients are float32: 1 - beta rounded, as it computes them.
        const [b1, b2] = [Math.fround(0.9), Math.fround(0.999)];
        const [c1, c2] = [Math.fround(1 - b1), Math.fround(1 - b2)];
        const m1 = Float64Array.from(g, (gi, j) => b1 * m0[j]! + c1 * gi);
        const s1 = Float64Array.from(g, (gi, j) => b2 * s0[j]! + c2 * gi * gi);
        const lr = 0.05 / (1 - 0.9 ** t);
        const corr = 1 / Math.sqrt(1 - 0.999 ** t);
        const want = Float64Array.from(
          v0,
          (v, j) => v - (lr * m1[j]!) / (Math.sqrt(s1[j]!) * corr + 1e-8),
        );
        close(`${label}: first moment of ${p.name}`, after[i]![0]!.toArray(), m1, 1e-7, 1e-5);
        close(`${label}: second moment of ${p.name}`, after[i]![1]!.toArray(), s1, 1e-9, 1e-5);
        close(`${label}: ${p.name}`, p.value.toArray(), want, 1e-5, 1e-4);
      });
    }
  }
  toString(): string {
    return `Optim(h[${this.h}], ${this.kind}).step(batch ${this.batch}, seed ${this.seed})`;
  }
}

class Dispose implements Cmd {
  constructor(readonly h: number) {}
  check = () => true;
  run(_m: object, w: World): void {
    if (w.handles.length === 0) return;
    const h = handleAt(w, this.h);
    const live = memory().liveBytes;
    guarded(w, `${name(h)}.dispose()`, 'ok', () => h.m.dispose());
    const mark = (k: Handle): void => {
      k.disposedSelf = true;
      k.children.forEach(mark);
    };
    mark(h);
    if (memory().liveBytes > live) fail(`${name(h)}.dispose(): live bytes grew`);
  }
  toString(): string {
    return `h[${this.h}].dispose()`;
  }
}

class SetMode implements Cmd {
  constructor(
    readonly h: number,
    readonly training: boolean,
  ) {}
  check = () => true;
  run(_m: object, w: World): void {
    if (w.handles.length === 0) return;
    const h = handleAt(w, this.h);
    guarded(w, `${name(h)}.train(${this.training})`, 'ok', () => h.m.train(this.training));
  }
  toString(): string {
    return `h[${this.h}].train(${this.training})`;
  }
}

// ---- outputs, tensors, memory -----------------------------------------------------------------

class ReadOutput implements Cmd {
  constructor(
    readonly h: number,
    readonly k: number,
  ) {}
  check = () => true;
  run(_m: object, w: World): void {
    const hs = w.handles.filter((h) => h.outputs.length > 0);
    if (hs.length === 0) return;
    const h = this.h < 0 && w.recent !== null ? w.recent : pick(hs, Math.abs(this.h));
    if (h.outputs.length === 0) return;
    const i = this.k % h.outputs.length;
    const o = h.outputs[i]!;
    const isCurrent = i === h.outputs.length - 1;
    const inputGone = h.lastX !== null && !live(h.lastX.t);
    const label = `${name(h)}'s output #${i} of ${h.outputs.length}.toArray() (${h.label})`;
    // dispose() frees a module's own outputs; disposing a module inside it need not.
    // A view layer's output is its input's memory, which the module does not own.
    const expect =
      h.disposedSelf && !h.view
        ? (['DISPOSED', 'OVERWRITTEN'] as const).slice()
        : isDisposed(h)
          ? 'either'
          : isCurrent
            ? h.view && inputGone
              ? 'DISPOSED'
              : 'ok'
            : h.view
              ? 'either'
              : 'OVERWRITTEN';
    const r = guarded(w, label, expect, () => o.t.toArray());
    if (r.ok && !sameBits(r.value, o.vals)) fail(`${label}: the values changed since the forward`);
  }
  toString(): string {
    return `read output h[${this.h}]#${this.k}`;
  }
}

class CreateTensor implements Cmd {
  constructor(
    readonly n: number,
    readonly bad: boolean,
    readonly seed: number,
  ) {}
  check = () => true;
  run(_m: object, w: World): void {
    const live = memory().liveBytes;
    if (this.bad) {
      guarded(w, `Tensor.from(…, [${this.n}, NaN])`, 'BAD_ARGUMENT', () =>
        Tensor.from(new Float32Array(this.n), [this.n, NaN]),
      );
      return;
    }
    const vals = drawValues(this.n, { kind: 'uniform', scale: 100 }, new Rng(this.seed));
    const r = guarded(w, `Tensor.from(${this.n} values)`, 'ok', () => Tensor.from(vals, [this.n]));
    if (!r.ok) return;
    w.tensors.push({ t: r.value, vals, disposed: false });
    const grew = memory().liveBytes - live;
    if (grew !== tensorBytes(this.n))
      fail(
        `Tensor.from(${this.n} values): live bytes grew by ${grew}, expected ${tensorBytes(this.n)}`,
      );
  }
  toString(): string {
    return this.bad ? `Tensor.from(bad shape)` : `Tensor.from(${this.n} values, seed ${this.seed})`;
  }
}

class DisposeTensor implements Cmd {
  constructor(readonly i: number) {}
  check = () => true;
  run(_m: object, w: World): void {
    if (w.tensors.length === 0) return;
    const u = pick(w.tensors, this.i);
    const live = memory().liveBytes;
    guarded(w, `tensor[${u.t.shape.join(',')}].dispose()`, 'ok', () => u.t.dispose());
    const freed = live - memory().liveBytes;
    const want = u.disposed ? 0 : tensorBytes(u.t.size);
    if (freed !== want) fail(`tensor.dispose(): freed ${freed} bytes, expected ${want}`);
    u.disposed = true;
  }
  toString(): string {
    return `tensors[${this.i}].dispose()`;
  }
}

class CloneTensor implements Cmd {
  constructor(readonly i: number) {}
  check = () => true;
  run(_m: object, w: World): void {
    if (w.tensors.length === 0) return;
    const u = pick(w.tensors, this.i);
    const live = memory().liveBytes;
    const label = `tensor[${u.t.shape.join(',')}].clone()`;
    const r = guarded(w, label, u.disposed ? 'DISPOSED' : 'ok', () => u.t.clone());
    if (!r.ok) return;
    const c: UserTensor = { t: r.value, vals: u.vals.slice(), disposed: false };
    w.tensors.push(c);
    if (!sameBits(c.t.toArray(), u.vals)) fail(`${label}: the copy differs`);
    const grew = memory().liveBytes - live;
    if (grew !== tensorBytes(u.t.size))
      fail(`${label}: live bytes grew by ${grew}, expected ${tensorBytes(u.t.size)}`);
  }
  toString(): string {
    return `tensors[${this.i}].clone()`;
  }
}

/**
 * `Tensor.from(a.data, a.shape)` on a large tensor: the copy's allocation may grow WASM memory,
 * which detaches the source view it reads from.
 */
class FromData implements Cmd {
  constructor(readonly mib: number) {}
  check = () => true;
  run(_m: object, w: World): void {
    const live = memory().liveBytes;
    const n = this.mib * 262_144;
    const a = Tensor.zeros([n]);
    try {
      a.data[0] = 3.5;
      a.data[n - 1] = -1.25;
      const r = guarded(w, `Tensor.from(a.data, [${n}])`, 'ok', () => Tensor.from(a.data, a.shape));
      if (!r.ok) return;
      const b = r.value;
      const d = b.data;
      if (d[0] !== 3.5 || d[n - 1] !== -1.25 || d[1] !== 0) fail('Tensor.from(a.data): wrong copy');
      b.dispose();
    } finally {
      a.dispose();
    }
    if (memory().liveBytes !== live)
      fail(`Tensor.from(a.data, …): live bytes moved by ${memory().liveBytes - live}`);
  }
  toString(): string {
    return `Tensor.from(a.data) of ${this.mib} MiB`;
  }
}

/** Allocates a large tensor (WASM memory may grow, detaching every view), writes it, frees it. */
class MemoryGrowth implements Cmd {
  constructor(readonly mib: number) {}
  check = () => true;
  run(_m: object, w: World): void {
    const live = memory().liveBytes;
    const n = this.mib * 262_144;
    const r = guarded(w, `Tensor.zeros([${n}])`, 'ok', () => Tensor.zeros([n]));
    if (!r.ok) return;
    const big = r.value;
    const d = big.data;
    d[0] = 1.5;
    d[n - 1] = -2.5;
    w.checkIntact(`after allocating ${this.mib} MiB`);
    if (big.data[0] !== 1.5 || big.data[n - 1] !== -2.5) fail('the large tensor lost its writes');
    big.dispose();
    if (memory().liveBytes !== live)
      fail(
        `allocating and freeing ${this.mib} MiB moved live bytes by ${memory().liveBytes - live}`,
      );
  }
  toString(): string {
    return `allocate and free ${this.mib} MiB`;
  }
}

class Canary implements Cmd {
  constructor(readonly seed: number) {}
  check = () => true;
  run(_m: object, w: World): void {
    w.canary(this.seed);
  }
  toString(): string {
    return `canary(${this.seed})`;
  }
}

/** serialize then deserialize: the same parameters, the same outputs, and no bytes kept. */
class SaveLoad implements Cmd {
  constructor(
    readonly h: number,
    readonly seed: number,
  ) {}
  check = () => true;
  run(_m: object, w: World): void {
    if (w.handles.length === 0) return;
    const h = handleAt(w, this.h);
    const label = `deserialize(serialize(${name(h)})) (${h.label})`;
    const live = memory().liveBytes;
    const dead = isDisposed(h);
    // Model files store trees: a module at two positions is refused (BAD_ARGUMENT), as documented.
    const shared = repeats(h);
    const expect = dead ? 'either' : shared ? 'BAD_ARGUMENT' : 'ok';
    const saved = guarded(w, `serialize(${name(h)})`, expect, () => serialize(h.m));
    if (!saved.ok) return;
    if (dead) {
      if (KNOWN.serializeDisposed) return; // F1 (test/fuzz/known.ts)
      fail(`serialize(${name(h)}): saved a disposed module`);
    }
    if (this.seed % 3 === 0) {
      // One byte changed: BAD_FILE (the checksum) or a working model, never a trap or a leak.
      const bytes = new Uint8Array(saved.value.slice(0));
      const at = (this.seed >> 2) % bytes.length;
      bytes[at] = bytes[at]! ^ (1 << (this.seed & 7) || 1);
      const bad = guarded(w, `deserialize(${name(h)}'s file, byte ${at} changed)`, 'either', () =>
        deserialize(bytes),
      );
      if (bad.ok) bad.value.dispose();
      if (memory().liveBytes !== live)
        fail(`deserialize of a changed file: live bytes moved by ${memory().liveBytes - live}`);
      return;
    }
    const r = guarded(w, label, 'ok', () => deserialize(saved.value));
    if (!r.ok) return;
    const copy = r.value;
    try {
      const a = h.m.parameters();
      const b = copy.parameters();
      if (a.length !== b.length) fail(`${label}: ${b.length} parameters, expected ${a.length}`);
      a.forEach((p, i) => {
        const q = b[i]!;
        if (p.name !== q.name) fail(`${label}: parameter ${i} is ${q.name}, expected ${p.name}`);
        if (!sameBits(p.value.toArray(), q.value.toArray())) fail(`${label}: ${p.name} differs`);
      });
      if (h.lastX !== null) {
        // Same forward on both in evaluation mode (no dropout): bit-identical outputs.
        const x = Tensor.from(h.lastX.vals, h.lastX.t.shape);
        try {
          copy.eval();
          const y = copy.forward(x).toArray();
          const p64 = h.m.parameters().map((p) => Float64Array.from(p.value.toArray()));
          const ref = copy.referenceForward(
            Float64Array.from(h.lastX.vals),
            x.shape,
            p64,
            copy.frame,
          );
          if (ref !== null) close(`${label}: the copy's output`, y, ref, FWD_ATOL, FWD_RTOL);
        } finally {
          x.dispose();
        }
      }
    } finally {
      copy.dispose();
    }
    if (memory().liveBytes !== live)
      fail(`${label}: live bytes moved by ${memory().liveBytes - live} after disposing the copy`);
  }
  toString(): string {
    return `save/load h[${this.h}]`;
  }
}

/** True when a module sits at two positions of `h`'s tree. */
function repeats(h: Handle): boolean {
  const seen = new Set<Handle>();
  const walk = (k: Handle): boolean => {
    if (seen.has(k)) return true;
    seen.add(k);
    return k.children.some(walk);
  };
  return walk(h);
}

// ---- the arbitrary ----------------------------------------------------------------------------

const seed = fc.integer({ min: 0, max: 0xffff });
const idx = fc.nat({ max: 63 });
/** A handle: by index, or (-1) the one that ran a forward last, so passes pair up often. */
const hIdx = fc.oneof({ arbitrary: idx, weight: 1 }, { arbitrary: fc.constant(-1), weight: 2 });
const batch = fc.constantFrom(1, 2, 3, 1, 2, 3, 9, 33);

const create: fc.Arbitrary<Cmd>[] = [
  fc.tuple(idx, seed).map(([e, s]) => new CreateLayer(e, s)),
  fc.tuple(fc.constantFrom(...SQUARE), seed).map(([k, s]) => new CreateSquare(k, s)),
  fc
    .tuple(
      fc.constantFrom('Sequential' as const, 'AutoEncoder' as const, 'Huge' as const),
      fc.array(idx, { minLength: 1, maxLength: 4 }),
      seed,
    )
    .map(([t, p, s]) => new CreateContainer(t, p, s)),
];

const forward = fc
  .tuple(
    hIdx,
    batch,
    fc.constantFrom<ForwardMode>(
      'valid',
      'valid',
      'valid',
      'valid',
      'chain',
      'chain',
      'view',
      'rows',
      'stretch',
      'stretch',
      'zeroDim',
      'overwrittenInput',
      'transposed',
      'badDim',
      'extraDim',
      'emptyBatch',
      'nan',
      'disposedInput',
    ),
    seed,
  )
  .map(([h, b, m, s]) => new Forward(h, b, m, s));

const backward = fc
  .tuple(
    hIdx,
    fc.constantFrom<BackwardKind>(
      'backward',
      'backward',
      'delta',
      'delta',
      'update0',
      'update1',
      'deltaStale',
      'updateStale',
      'deltaOtherShape',
      'badDelta',
      'disposedDelta',
      'outputAsDelta',
      'dxAsDelta',
      'dxAsDelta',
    ),
    seed,
  )
  .map(([h, k, s]) => new Backward(h, k, s));

/** A sequence: one to three modules first, then commands weighted towards passes. */
export function sequenceArbitrary(maxCommands: number, replayPath?: string) {
  const cmds: fc.Arbitrary<Cmd>[] = [
    ...create,
    create[0]!,
    create[2]!,
    forward,
    forward,
    forward,
    forward,
    backward,
    backward,
    backward,
    backward,
    hIdx.map((h) => new ZeroGrad(h)),
    fc
      .tuple(hIdx, fc.constantFrom(0.1, -0.5, 0, NaN, Infinity))
      .map(([h, lr]) => new UpdateParameters(h, lr)),
    fc
      .tuple(hIdx, fc.constantFrom('sgd' as const, 'adam' as const), batch, seed)
      .map(([h, k, b, s]) => new OptimStep(h, k, b, s)),
    fc
      .tuple(hIdx, fc.constantFrom('sgd' as const, 'adam' as const), batch, seed)
      .map(([h, k, b, s]) => new OptimStep(h, k, b, s)),
    hIdx.map((h) => new Dispose(h)),
    fc.tuple(hIdx, fc.boolean()).map(([h, t]) => new SetMode(h, t)),
    fc.tuple(hIdx, idx).map(([h, k]) => new ReadOutput(h, k)),
    fc
      .tuple(fc.integer({ min: 1, max: 64 }), fc.boolean(), seed)
      .map(([n, b, s]) => new CreateTensor(n, b, s)),
    idx.map((i) => new DisposeTensor(i)),
    idx.map((i) => new CloneTensor(i)),
    fc.integer({ min: 1, max: 8 }).map((m) => new MemoryGrowth(m)),
    fc.integer({ min: 1, max: 24 }).map((m) => new FromData(m)),
    seed.map((s) => new Canary(s)),
    fc.tuple(hIdx, seed).map(([h, s]) => new SaveLoad(h, s)),
  ];
  return fc.tuple(
    fc.array(fc.oneof(...create), { minLength: 1, maxLength: 3 }),
    fc.commands(cmds, { maxCommands, ...(replayPath === undefined ? {} : { replayPath }) }),
  );
}

/** Runs a sequence on a fresh world: every command, then the checks, then the teardown. */
export function runSequence(setup: readonly Cmd[], cmds: Iterable<Cmd>): void {
  // One World is both fast-check's model and the real system (the model lives beside the objects).
  const w = new World();
  stats.sequences += 1;
  try {
    fc.modelRun(() => ({ model: w as object, real: w }), wrap(chain(setup, cmds), w));
  } catch (e) {
    // The first failure is the one to report: a teardown after it may fail too (a leak).
    try {
      w.teardown();
    } catch {
      // reported through e
    }
    throw e;
  }
  w.teardown();
}

function* chain(setup: readonly Cmd[], cmds: Iterable<Cmd>): Iterable<Cmd> {
  yield* setup;
  yield* cmds;
}

/** Each command followed by the world's invariants (canaries, user tensors, current outputs). */
function* wrap(cmds: Iterable<Cmd>, w: World): Iterable<Cmd> {
  for (const c of cmds) {
    yield {
      check: (m) => c.check(m),
      run: (m, r) => {
        stats.commands += 1;
        current.kind = ((c as { cmd?: object }).cmd ?? c).constructor.name;
        c.run(m, r);
        w.checkIntact(`after ${c.toString()}`);
        checkCurrentOutputs(w, c.toString());
      },
      toString: () => c.toString(),
    };
  }
}

/** Every live module's current output still holds what its forward returned. */
function checkCurrentOutputs(w: World, after: string): void {
  for (const h of w.handles) {
    const o = h.outputs.at(-1);
    if (o === undefined || isDisposed(h) || (h.view && o.t.disposed)) continue;
    let now: Float32Array;
    try {
      now = o.t.toArray();
    } catch (e) {
      fail(
        `after ${after}: ${name(h)}'s current output became unreadable: ${(e as Error).message}`,
      );
    }
    if (!sameBits(now, o.vals))
      fail(`after ${after}: ${name(h)}'s current output changed (${h.label})`);
  }
}
