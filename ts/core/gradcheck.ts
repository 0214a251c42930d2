// gradCheck, in the spirit of Torch's nn.Jacobian: central differences on the module's float64
// reference (`referenceForward`, when it has one) or on its own float32 forward give the true
// gradients; the WASM forward, backwardDelta and backwardUpdateGradient are compared with them. It
// also checks that two backward calls accumulate 2x and that zeroGrad clears. Leaves the
// gradients zeroed.

import type { Loss } from './loss.js';
import { type Module, checkTensor } from './module.js';
import { Rng } from './rng.js';
import { Tensor } from './tensor.js';

/** Tolerances: |wasm - reference| <= atol + rtol * |reference| element-wise. */
export interface GradCheckOptions {
  /** Central-difference step in float64 (default 1e-6: truncation error ~1e-12, rounding ~1e-10). */
  h?: number;
  /** Absolute tolerance (default 1e-4: float32 sums of up to ~1,000 terms of size ~1). */
  atol?: number;
  /** Relative tolerance (default 1e-3). */
  rtol?: number;
  /** Seed of the random output weights that turn the output into a scalar (default 0). */
  seed?: number;
}

/** What `gradCheck` found: worst errors as a fraction of the tolerance (<= 1 passes). */
export interface GradCheckResult {
  /** True when every check passed. */
  ok: boolean;
  /** Human-readable failures, empty when ok. */
  failures: string[];
  /** Worst error ratio per checked quantity: `forward`, `input`, then each parameter name. */
  ratios: Record<string, number>;
}

/** Worst |got - want| / (atol + rtol |want|) and its index. */
function worst(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  atol: number,
  rtol: number,
): [number, number] {
  let ratio = 0;
  let at = -1;
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    // NaN must fail, never compare equal: (NaN <= x) is false, so treat it as infinitely wrong.
    const r =
      Number.isNaN(g) || Number.isNaN(w) ? Infinity : Math.abs(g - w) / (atol + rtol * Math.abs(w));
    if (r > ratio) [ratio, at] = [r, i];
  }
  return [ratio, at];
}

function record(
  result: GradCheckResult,
  name: string,
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  atol: number,
  rtol: number,
): void {
  const [ratio, at] = worst(got, want, atol, rtol);
  result.ratios[name] = ratio;
  if (!(ratio <= 1)) {
    result.ok = false;
    result.failures.push(
      `${name}: element ${at}: got ${got[at]}, want ${want[at]} (atol ${atol}, rtol ${rtol})`,
    );
  }
}

/** d(Σ r ⊙ f(v))/dv by central differences, perturbing each element of `v` in place. */
function numericGradient(v: Float64Array, h: number, f: () => number): Float64Array {
  const g = new Float64Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const old = v[i]!;
    v[i] = old + h;
    const plus = f();
    v[i] = old - h;
    const minus = f();
    v[i] = old;
    g[i] = (plus - minus) / (2 * h);
  }
  return g;
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/**
 * Checks a module's forward and both backward passes against central differences: of its float64
 * `referenceForward` when it has one (tolerances atol 1e-4, rtol 1e-3 by default), else of its own
 * float32 forward (h 1e-2, atol and rtol 1e-2 by default: float32 rounding limits the difference
 * quotient). Also checks that two backward calls accumulate 2x and that zeroGrad clears.
 * Keep modules small: it costs two forwards per input and parameter element. Avoid inputs at kinks
 * (ReLU at 0, pooling ties); a layer with randomness needs a reference that replays its last call.
 * @example
 * const r = gradCheck(new Linear(5, 3), Tensor.from(values, [4, 5]));
 * if (!r.ok) console.log(r.failures);
 */
export function gradCheck(
  module: Module,
  input: Tensor,
  options: GradCheckOptions = {},
): GradCheckResult {
  const result: GradCheckResult = { ok: true, failures: [], ratios: {} };
  checkTensor(input, 'gradCheck', 'input');
  const outShape = module.outputShape(input.shape, 'forward');
  const params = module.parameters();
  const y = module.forward(input).toArray();
  const frame = module.frame;
  const x64 = Float64Array.from(input.data);
  const p64 = params.map((p) => Float64Array.from(p.value.data));
  const reference = (): Float64Array | null =>
    module.referenceForward(x64, input.shape, p64, frame);
  const exact = reference() !== null;
  const {
    h = exact ? 1e-6 : 1e-2,
    atol = exact ? 1e-4 : 1e-2,
    rtol = exact ? 1e-3 : 1e-2,
    seed = 0,
  } = options;
  const rng = new Rng(seed);
  const outSize = outShape.reduce((a, b) => a * b, 1);
  // Output weights are float32-representable so WASM and float64 see the same numbers.
  const r = Float32Array.from({ length: outSize }, () => rng.uniform(-1, 1));
  if (exact) record(result, 'forward', y, reference()!, atol, rtol);

  const delta = Tensor.from(r, outShape);
  const probe = input.clone();
  try {
    module.zeroGrad();
    module.backwardUpdateGradient(input, delta);
    const first = params.map((p) => p.grad.toArray());
    const dx = module.backwardDelta(input, delta).toArray();
    module.backwardUpdateGradient(input, delta);
    params.forEach((p, i) => {
      const twice = first[i]!.map((v) => 2 * v);
      record(result, `${p.name} (accumulated twice)`, p.grad.data, twice, 1e-6, 1e-6);
    });
    module.zeroGrad();
    params.forEach((p) =>
      record(
        result,
        `${p.name} (after zeroGrad)`,
        p.grad.data,
        new Float64Array(p.grad.size),
        0,
        0,
      ),
    );

    // The scalar Σ r ⊙ f: the float64 reference on x64/p64, or the float32 forward with x64/p64
    // written into the probe input and the parameters (restored below).
    const scalar = exact
      ? (): number => dot(r, reference()!)
      : (): number => {
          probe.data.set(x64);
          params.forEach((p, i) => p.value.data.set(p64[i]!));
          return dot(r, module.forward(probe).data);
        };
    record(result, 'input', dx, numericGradient(x64, h, scalar), atol, rtol);
    params.forEach((p, i) =>
      record(result, p.name, first[i]!, numericGradient(p64[i]!, h, scalar), atol, rtol),
    );
  } finally {
    if (!exact) {
      params.forEach((p, i) => p.value.data.set(p64[i]!));
      module.forward(input);
    }
    delta.dispose();
    probe.dispose();
  }
  return result;
}

/**
 * Checks a loss's forward and backward against float64 central differences of its reference.
 * @param y Dense target shaped like yhat (one-hot for class losses).
 */
export function gradCheckLoss(
  loss: Loss,
  y: Tensor,
  yhat: Tensor,
  options: GradCheckOptions = {},
): GradCheckResult {
  const { h = 1e-6, atol = 1e-4, rtol = 1e-3 } = options;
  const result: GradCheckResult = { ok: true, failures: [], ratios: {} };
  checkTensor(y, 'gradCheckLoss', 'y');
  checkTensor(yhat, 'gradCheckLoss', 'yhat');
  const rows = yhat.shape[0]!;
  const cols = yhat.size / rows;
  const y64 = Float64Array.from(y.data);
  const yhat64 = Float64Array.from(yhat.data);
  const value = loss.forward(y, yhat);
  record(result, 'forward', [value], [loss.referenceForward(y64, yhat64, rows, cols)], atol, rtol);
  const grad = loss.backward(y, yhat);
  const numeric = numericGradient(yhat64, h, () => loss.referenceForward(y64, yhat64, rows, cols));
  record(result, 'yhat', grad.data, numeric, atol, rtol);
  return result;
}
