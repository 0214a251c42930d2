// Cross-language vectors (issue 7.1): every module and loss against PyTorch's float64 results in
// test/fixtures/vectors.txt (and each loss x reduction in loss-reductions.txt) (scripts/gen-fixtures.py; crates/kernels/tests/fixtures.rs checks the
// same file against the Rust kernels). Tolerances, |got - want| <= atol + rtol·|want|:
// - dot products (Linear, Conv, containers): rtol 1e-5, atol 2e-6 — float32 accumulation over up
//   to 63 terms of size ~1 (a few ulp of the partial sums).
// - element-wise activations and Softmax forward: rtol 2e-6 (a few ulp: the Cephes exp/tanh), atol 1e-37
//   (results below float32's normal range may flush or lose bits).
// - activation backward: rtol 1e-5, atol 2e-7 — it reads the float32 forward output y, so
//   1 - y² and y(1 - y) carry an absolute error of ~ulp(1) = 6e-8 (PyTorch's float32 does the same).
// - losses: rtol 1e-5, atol 1e-6 (float64 accumulation inside the kernels); pooling, upsampling,
//   Flatten and Reshape: exact forward, backward rtol 1e-6 (overlapping pooling windows and
//   upsampled copies add deltas in another order); AvgPool and Dropout: rtol 1e-6 both ways (a mean
//   of up to 6 values; x times 1/(1 - p) rounded once).
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { type Loss, MODULE_TYPES, REDUCTIONS, type Reduction, Tensor, init } from '../ts/index.js';
import { assertClose } from './compare.js';
import { FAMILIES, LOSS_CLASSES, type Tol, moduleFamilies } from './vectors-core.js';
import {
  LOSS_REDUCTIONS_PATH,
  type VecCase,
  type VecTensor,
  buildModule,
  readVectors,
} from './vectors.js';

await init();

/** The families' tolerances (test/vectors-core.ts, shared with the WebGPU page). */
const LOSS = FAMILIES.loss;
function tolerances(c: VecCase): { forward: Tol; backward: Tol } {
  const f = moduleFamilies(c.type);
  return { forward: FAMILIES[f.forward], backward: FAMILIES[f.backward] };
}

const LOSSES: Record<string, () => Loss> = Object.fromEntries(
  Object.entries(LOSS_CLASSES).map(([name, make]) => [name, () => make()]),
);

const cases = readVectors();
// Worst error as a fraction of its tolerance, per tolerance class (printed for trend tracking).
const worstRatio = new Map<Tol, number>();
function check(got: ArrayLike<number>, want: ArrayLike<number>, tol: Tol, what: string): void {
  const r = assertClose(got, want, tol.rtol, tol.atol, what);
  worstRatio.set(tol, Math.max(worstRatio.get(tol) ?? 0, r));
}
afterAll(() => {
  const names = new Map<Tol, string>(
    Object.entries(FAMILIES).map(([name, tol]) => [tol as Tol, name]),
  );
  console.log(
    `worst error / tolerance: ${[...worstRatio].map(([t, r]) => `${names.get(t)} ${r.toPrecision(2)}`).join(', ')}`,
  );
});
const moduleCases = cases.filter((c) => !(c.type in LOSSES));
const lossCases = cases.filter((c) => c.type in LOSSES);
const get = (c: VecCase, name: string): VecTensor => {
  const t = c.tensors.get(name);
  if (!t) throw new Error(`${c.name}: no tensor ${name}`);
  return t;
};
const tensor = (t: VecTensor): Tensor => Tensor.from(t.values, t.shape);

describe('vectors.txt', () => {
  it('covers every module and loss type, with edge values', () => {
    const types = new Set(cases.map((c) => c.type));
    for (const t of [...MODULE_TYPES, ...Object.keys(LOSSES)]) expect(types, t).toContain(t);
    const all = cases.flatMap((c) => [...c.tensors.values()].flatMap((t) => Array.from(t.values)));
    for (const v of [88, -88, 89, -89, 1e4, -1e4]) expect(all).toContain(v);
    expect(all.some((v) => Object.is(v, -0))).toBe(true);
    expect(all.some((v) => v !== 0 && Math.abs(v) < 1.2e-38)).toBe(true); // a subnormal
    const values = cases.reduce(
      (n, c) => n + [...c.tensors.values()].reduce((m, t) => m + t.values.length, 0),
      0,
    );
    console.log(
      `vectors.txt: ${cases.length} cases (${moduleCases.length} modules, ${lossCases.length} losses), ${values} values`,
    );
  });
});

describe('modules match PyTorch', () => {
  for (const c of moduleCases) {
    it(c.name, () => {
      const m = buildModule(c);
      const { forward, backward } = tolerances(c);
      const params = m.parameters();
      expect(params.map((p) => `param.${p.name}`).sort()).toEqual(
        [...c.tensors.keys()].filter((k) => k.startsWith('param.')).sort(),
      );
      for (const p of params) {
        const v = get(c, `param.${p.name}`);
        expect(p.value.shape, p.name).toEqual(v.shape);
        p.value.data.set(v.values);
      }
      const x = tensor(get(c, 'x'));
      const delta = tensor(get(c, 'delta'));
      const y = m.forward(x);
      expect(y.shape).toEqual(get(c, 'y').shape);
      check(y.data, get(c, 'y').values, forward, `${c.name} y`);
      m.zeroGrad();
      m.backwardUpdateGradient(x, delta);
      for (const p of params) {
        check(p.grad.data, get(c, `grad.${p.name}`).values, backward, `${c.name} grad.${p.name}`);
      }
      const dx = m.backwardDelta(x, delta);
      expect(dx.shape).toEqual(x.shape);
      check(dx.data, get(c, 'dx').values, backward, `${c.name} dx`);
      m.dispose();
      x.dispose();
      delta.dispose();
    });
  }
});

/** Checks a loss case's value and gradient, and again from class indices when the target is one-hot. */
function checkLoss(c: VecCase, loss: Loss): void {
  const y = tensor(get(c, 'target'));
  const yhat = tensor(get(c, 'yhat'));
  const want = get(c, 'loss').values[0]!;
  check([loss.forward(y, yhat)], [want], LOSS, `${c.name} loss`);
  check(loss.backward(y, yhat).data, get(c, 'grad').values, LOSS, `${c.name} grad`);
  if (c.args.labels === '1') {
    // The same one-hot target given as class indices [batch] gives the same numbers.
    const [rows, cols] = yhat.shape as [number, number];
    const labels = Tensor.from(
      Array.from({ length: rows }, (_, r) => y.data.subarray(r * cols, (r + 1) * cols).indexOf(1)),
    );
    check([loss.forward(labels, yhat)], [want], LOSS, `${c.name} loss (labels)`);
    check(loss.backward(labels, yhat).data, get(c, 'grad').values, LOSS, `${c.name} grad (labels)`);
    labels.dispose();
  }
  loss.dispose();
  y.dispose();
  yhat.dispose();
}

describe('losses match PyTorch', () => {
  for (const c of lossCases) {
    it(c.name, () => checkLoss(c, LOSSES[c.type]!()));
  }
});

// loss-reductions.txt: every loss under every reduction, against torch.nn.functional's own
// reductions (issue 15.7).
describe('loss reductions match PyTorch', () => {
  const reductionCases = readVectors(readFileSync(LOSS_REDUCTIONS_PATH, 'utf8'));
  it('covers every loss x reduction, and class losses with probability targets', () => {
    const seen = new Set(reductionCases.map((c) => `${c.type} ${c.args.reduction}`));
    for (const type of Object.keys(LOSSES))
      for (const r of REDUCTIONS) expect(seen, `${type} ${r}`).toContain(`${type} ${r}`);
    expect(
      reductionCases.some((c) => c.type === 'LogSoftmaxCrossEntropy' && c.args.labels === '0'),
    ).toBe(true);
  });
  for (const c of reductionCases) {
    it(c.name, () => {
      const reduction = c.args.reduction as Reduction;
      const loss = LOSS_CLASSES[c.type]!({ reduction });
      expect(loss.reduction).toBe(reduction);
      checkLoss(c, loss);
    });
  }
});
