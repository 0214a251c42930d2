// Parser for the PyTorch vector files (test/fixtures/vectors.txt, loss-reductions.txt and
// sharing.txt, written by scripts/gen-fixtures.py and scripts/gen-sharing-fixtures.py), a builder
// for the module specs they name, and the tolerance family of each case type. No Node imports, so
// a browser page can bundle it (test/browser/gpu-vectors.ts); test/vectors.ts adds the file reads
// for Node.
// crates/kernels/tests/fixtures.rs holds the Rust twin of `parseVectors`: both parse each value as
// float64 and round it to float32.
import {
  type ArgValue,
  AutoEncoder,
  BCELoss,
  CrossEntropyLoss,
  LogSoftmaxCrossEntropy,
  type Loss,
  type LossOptions,
  MSELoss,
  type Module,
  Rng,
  Sequential,
} from '../ts/index.js';
import { layerClass } from '../ts/core/registry.js';

/** One tensor of a case: its shape (`[]` for a scalar) and float32 values. */
export interface VecTensor {
  shape: number[];
  values: Float32Array;
}

/** One `case … end` record. */
export interface VecCase {
  name: string;
  type: string;
  args: Record<string, string>;
  tensors: Map<string, VecTensor>;
}

function parseValue(s: string): number {
  if (s === 'inf') return Infinity;
  if (s === '-inf') return -Infinity;
  if (s === 'nan') return NaN;
  const v = Number(s);
  if (Number.isNaN(v)) throw new Error(`vectors.txt: bad number ${s}`);
  return v;
}

/** Parses the text of one vector file. */
export function parseVectors(text: string): VecCase[] {
  const cases: VecCase[] = [];
  let cur: VecCase | null = null;
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const [head, ...rest] = line.split(' ');
    if (head === 'case') {
      const [name, type, ...kv] = rest;
      const args = Object.fromEntries(
        kv.map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]),
      );
      cur = { name: name!, type: type!, args, tensors: new Map() };
    } else if (head === 'end') {
      cases.push(cur!);
      cur = null;
    } else {
      const [dims, ...vals] = rest;
      const shape = dims === '-' ? [] : dims!.split(',').map(Number);
      const values = Float32Array.from(vals, parseValue);
      if (values.length !== shape.reduce((a, b) => a * b, 1))
        throw new Error(`vectors.txt: ${cur?.name}.${head}: size mismatch`);
      cur!.tensors.set(head!, { shape, values });
    }
  }
  return cases;
}

/**
 * A generator whose `next()` replays PyTorch's dropout mask: 0 (< p: dropped) where the mask is 0,
 * just under 1 (kept) where it is 1 — Dropout keeps an element when `next() >= p`.
 */
class MaskReplay extends Rng {
  private i = 0;
  constructor(private readonly mask: Float32Array) {
    super(0);
  }
  override next(): number {
    return this.mask[this.i++]! === 0 ? 0 : 0.999;
  }
}

/**
 * Builds one layer from `Type(a,b,…)` through its registered description: the values fill the
 * description's arguments in order (an 'ints' argument takes the rest), then the case's named
 * arguments (`padding=same`) and the defaults. A case with a `mask` replays it as Dropout's draws.
 */
function layer(text: string, c?: VecCase): Module {
  const m = /^(\w+)\(([\d.,]*)\)$/.exec(text);
  const cls = m ? layerClass(m[1]!) : undefined;
  if (!m || !cls) throw new Error(`bad layer spec ${text}`);
  const values = m[2] === '' ? [] : m[2]!.split(',').map(Number);
  const args: Record<string, ArgValue> = {};
  cls.spec.args.forEach((a, i) => {
    const v = a.kind === 'ints' ? values.slice(i) : (values[i] ?? c?.args[a.name] ?? a.default);
    if (v === undefined) throw new Error(`${text}: no value for ${a.name}`);
    args[a.name] = v;
  });
  const mask = c?.tensors.get('mask');
  return cls.spec.build(args, [], mask === undefined ? new Rng(0) : new MaskReplay(mask.values));
}

/** Builds the module a case describes (`spec=A|B|…` for a Sequential, encoder/decoder for an AutoEncoder). */
export function buildModule(c: VecCase): Module {
  const seq = (spec: string) => new Sequential(...spec.split('|').map((s) => layer(s)));
  if (c.type === 'AutoEncoder') return new AutoEncoder(seq(c.args.encoder!), seq(c.args.decoder!));
  if (c.type === 'Sequential') return seq(c.args.spec!);
  return layer(c.args.spec!, c);
}

/** |got - want| <= atol + rtol·|want| per element (test/compare.ts). */
export interface Tol {
  rtol: number;
  atol: number;
}

/**
 * The tolerance families, the numbers of test/fixtures.test.ts (its header gives each one's
 * reason); the WebGPU page holds the GPU to the same ones.
 */
export const FAMILIES = {
  dot: { rtol: 1e-5, atol: 2e-6 },
  elementwise: { rtol: 2e-6, atol: 1e-37 },
  'activation backward': { rtol: 1e-5, atol: 2e-7 },
  loss: { rtol: 1e-5, atol: 1e-6 },
  exact: { rtol: 0, atol: 0 },
  'pool backward': { rtol: 1e-6, atol: 1e-7 },
} satisfies Record<string, Tol>;
export type Family = keyof typeof FAMILIES;

/** The losses by case type (their family is 'loss'). */
export const LOSS_CLASSES: Readonly<Record<string, (options?: LossOptions) => Loss>> = {
  MSELoss: (o) => new MSELoss(o),
  BCELoss: (o) => new BCELoss(o),
  CrossEntropyLoss: (o) => new CrossEntropyLoss(o),
  LogSoftmaxCrossEntropy: (o) => new LogSoftmaxCrossEntropy(o),
};

/** The case types that are losses. */
export const LOSS_TYPES: readonly string[] = Object.keys(LOSS_CLASSES);

/** The families a module case's forward and backward passes are held to. */
export function moduleFamilies(type: string): { forward: Family; backward: Family } {
  switch (type) {
    case 'TanH':
    case 'Sigmoid':
    case 'ReLU':
    case 'Softmax':
      return { forward: 'elementwise', backward: 'activation backward' };
    case 'MaxPool1D':
    case 'MaxPool2D':
    case 'Flatten':
    case 'Reshape':
    case 'Upsample1D':
    case 'Upsample2D':
      return { forward: 'exact', backward: 'pool backward' };
    // A mean of up to 6 values, and x · 1/(1 - p) rounded once: a few ulp.
    case 'AvgPool1D':
    case 'AvgPool2D':
    case 'Dropout':
      return { forward: 'pool backward', backward: 'pool backward' };
    default:
      return { forward: 'dot', backward: 'dot' };
  }
}
