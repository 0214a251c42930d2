// The PyTorch vectors on the WebGPU backend, in the page: every case of test/fixtures/vectors.txt
// and loss-reductions.txt (fetched from the test server) run on the GPU — modules forward,
// backwardUpdateGradient and backwardDelta; losses forward (read back with readLosses) and
// backward, from one-hot targets and again from class indices — and compared with PyTorch's
// stored results, as test/fixtures.test.ts does for WASM. The test asserts the tolerances and
// that the page checked as many cases as the files hold.
import * as tl from '../../ts/index.js';
import { gpuBackend } from '../../ts/core/wasm.js';
import { worst } from '../compare.js';
import {
  FAMILIES,
  type Family,
  LOSS_CLASSES,
  LOSS_TYPES,
  type VecCase,
  type VecTensor,
  buildModule,
  moduleFamilies,
  parseVectors,
} from '../vectors-core.js';

/** One family's worst comparison in a case. */
export interface Worst {
  /** Largest error / tolerance (<= 1 passes). */
  ratio: number;
  /** Largest |gpu - torch| over finite pairs. */
  abs: number;
  /** Where the worst ratio was: tensor and element. */
  where: string;
}

export interface VectorResult {
  file: string;
  name: string;
  type: string;
  worst: Partial<Record<Family, Worst>>;
  /** GPU dispatches the case encoded (0 would mean it ran in WASM). */
  dispatches: number;
  error?: string;
}

export interface VectorsPage {
  /** Cases parsed per file. */
  files: Record<string, number>;
  results: VectorResult[];
  error?: string;
}

/** A case's comparisons, kept per family (a failure is recorded, not thrown, so all show). */
class Checks {
  readonly worst: Partial<Record<Family, Worst>> = {};
  constructor(private readonly c: VecCase) {}

  get(name: string): VecTensor {
    const t = this.c.tensors.get(name);
    if (!t) throw new Error(`${this.c.name}: no tensor ${name}`);
    return t;
  }

  check(got: ArrayLike<number>, want: ArrayLike<number>, family: Family, what: string): void {
    const { rtol, atol } = FAMILIES[family];
    const w = worst(got, want, rtol, atol);
    let abs = 0;
    for (let i = 0; i < Math.min(got.length, want.length); i++) {
      const d = Math.abs(got[i]! - want[i]!);
      if (Number.isFinite(d)) abs = Math.max(abs, d);
    }
    const cur = this.worst[family];
    const where = `${what}[${w.index}]: got ${w.got}, want ${w.want}`;
    this.worst[family] = {
      ratio: Math.max(cur?.ratio ?? 0, w.ratio),
      abs: Math.max(cur?.abs ?? 0, abs),
      where: cur === undefined || w.ratio > cur.ratio ? where : cur.where,
    };
  }
}

/**
 * Runs `f` with every GPU entry on the GPU: a loss would otherwise run in WASM on inputs this
 * thread wrote (the vectors' tensors). Modules need no forcing (their kernels always dispatch),
 * and forcing would move their zero-fills there too, which Dropout's mask, drawn on this thread
 * into a zero-filled buffer, cannot follow.
 */
function onDevice<T>(f: () => T): T {
  const gpu = gpuBackend()!;
  gpu.forceDevice = true;
  try {
    return f();
  } finally {
    gpu.forceDevice = false;
  }
}

const tensor = (t: VecTensor): tl.Tensor => tl.Tensor.from(t.values, t.shape);
const sameShape = (a: readonly number[], b: readonly number[]): boolean =>
  a.length === b.length && a.every((d, i) => d === b[i]);

async function moduleCase(c: VecCase, k: Checks): Promise<void> {
  const m = buildModule(c);
  const { forward, backward } = moduleFamilies(c.type);
  const params = m.parameters();
  const names = params.map((p) => `param.${p.name}`).sort();
  const want = [...c.tensors.keys()].filter((n) => n.startsWith('param.')).sort();
  if (names.join() !== want.join()) throw new Error(`parameters ${names} against ${want}`);
  for (const p of params) p.value.data.set(k.get(`param.${p.name}`).values);
  const x = tensor(k.get('x'));
  const delta = tensor(k.get('delta'));
  const y = m.forward(x);
  m.zeroGrad();
  m.backwardUpdateGradient(x, delta);
  const dx = m.backwardDelta(x, delta);
  await tl.sync();
  if (!sameShape(y.shape, k.get('y').shape)) throw new Error(`y shape ${y.shape}`);
  if (!sameShape(dx.shape, x.shape)) throw new Error(`dx shape ${dx.shape}`);
  k.check(y.data, k.get('y').values, forward, 'y');
  for (const p of params) {
    k.check(p.grad.data, k.get(`grad.${p.name}`).values, backward, `grad.${p.name}`);
  }
  k.check(dx.data, k.get('dx').values, backward, 'dx');
  m.dispose();
  x.dispose();
  delta.dispose();
}

function makeLoss(type: string, reduction?: tl.Reduction): tl.Loss {
  const make = LOSS_CLASSES[type];
  if (make === undefined) throw new Error(`not a loss: ${type}`);
  return make(reduction === undefined ? {} : { reduction });
}

/** A loss case: the value and gradient, and again from class indices when the target is one-hot. */
async function lossCase(c: VecCase, k: Checks): Promise<void> {
  const loss = makeLoss(c.type, c.args.reduction as tl.Reduction | undefined);
  if (c.args.reduction !== undefined && loss.reduction !== c.args.reduction)
    throw new Error(`reduction ${loss.reduction}`);
  const y = tensor(k.get('target'));
  const yhat = tensor(k.get('yhat'));
  const targets: Array<[string, tl.Tensor]> = [['', y]];
  if (c.args.labels === '1') {
    const [rows, cols] = yhat.shape as [number, number];
    const labels = tl.Tensor.from(
      Array.from({ length: rows }, (_, r) => y.data.subarray(r * cols, (r + 1) * cols).indexOf(1)),
    );
    targets.push([' (labels)', labels]);
  }
  const want = k.get('loss').values[0]!;
  for (const [label, t] of targets) {
    // Deferred: the forward returns NaN and logs its value on the GPU. One target at a time: the
    // next backward would overwrite the gradient tensor this one returns.
    const { returned, grad } = onDevice(() => ({
      returned: loss.forward(t, yhat),
      grad: loss.backward(t, yhat),
    }));
    const logged = await tl.readLosses();
    await tl.sync();
    if (!Number.isNaN(returned) || logged.length !== 1)
      throw new Error(`forward returned ${returned} and logged ${logged.length}: not on the GPU`);
    k.check(logged, [want], 'loss', `loss${label}`);
    k.check(grad.data, k.get('grad').values, 'loss', `grad${label}`);
    if (t !== y) t.dispose();
  }
  loss.dispose();
  y.dispose();
  yhat.dispose();
}

/** The vector files the checks read, by name; the page fetches them from its server. */
export const VECTOR_FILES = ['vectors.txt', 'loss-reductions.txt'] as const;

/**
 * Every case of the given vector files' texts on the WebGPU backend. It takes the texts, not
 * paths, so that a runner without the page's server (Node's WebGPU) can call it too.
 */
export async function runVectorChecks(texts: Record<string, string>): Promise<VectorsPage> {
  await tl.init({ backend: 'webgpu' });
  const gpu = gpuBackend()!;
  const files: Record<string, number> = {};
  const results: VectorResult[] = [];
  for (const [file, text] of Object.entries(texts)) {
    const cases = parseVectors(text);
    files[file] = cases.length;
    for (const c of cases) {
      const k = new Checks(c);
      const before = gpu.dispatches;
      const r: VectorResult = { file, name: c.name, type: c.type, worst: k.worst, dispatches: 0 };
      try {
        await (LOSS_TYPES.includes(c.type) ? lossCase(c, k) : moduleCase(c, k));
      } catch (e) {
        r.error = (e as Error).message;
      }
      r.dispatches = gpu.dispatches - before;
      results.push(r);
    }
  }
  return { files, results };
}

async function fetchTexts(): Promise<Record<string, string>> {
  const texts: Record<string, string> = {};
  for (const file of VECTOR_FILES) {
    const res = await fetch(`./${file}`);
    if (!res.ok) throw new Error(`${file}: HTTP ${res.status}`);
    texts[file] = await res.text();
  }
  return texts;
}

const w = globalThis as unknown as { __result: VectorsPage; location?: Location };
if (w.location !== undefined)
  void fetchTexts()
    .then(runVectorChecks)
    .then(
      (r) => (w.__result = r),
      (e: unknown) =>
        (w.__result = { files: {}, results: [], error: (e as Error).stack ?? String(e) }),
    );
