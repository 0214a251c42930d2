// Reader for test/fixtures/vectors.txt (written by scripts/gen-fixtures.py from PyTorch), and a
// builder for the module specs it names. crates/kernels/tests/fixtures.rs holds the Rust twin of
// `readVectors`: both parse each value as float64 and round it to float32.
import { readFileSync } from 'node:fs';
import {
  AutoEncoder, AvgPool1D, AvgPool2D, Conv1D, Conv2D, type ConvPadding, Dropout, Flatten, Linear, MaxPool1D, MaxPool2D,
  type Module, ReLU, Reshape, Rng, Sequential, Sigmoid, Softmax, TanH, Upsample1D, Upsample2D,
} from '../ts/index.js';

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

export const VECTORS_PATH = new URL('./fixtures/vectors.txt', import.meta.url);

function parseValue(s: string): number {
  if (s === 'inf') return Infinity;
  if (s === '-inf') return -Infinity;
  if (s === 'nan') return NaN;
  const v = Number(s);
  if (Number.isNaN(v)) throw new Error(`vectors.txt: bad number ${s}`);
  return v;
}

/** Parses the whole file. */
export function readVectors(text = readFileSync(VECTORS_PATH, 'utf8')): VecCase[] {
  const cases: VecCase[] = [];
  let cur: VecCase | null = null;
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const [head, ...rest] = line.split(' ');
    if (head === 'case') {
      const [name, type, ...kv] = rest;
      const args = Object.fromEntries(kv.map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]));
      cur = { name: name!, type: type!, args, tensors: new Map() };
    } else if (head === 'end') {
      cases.push(cur!);
      cur = null;
    } else {
      const [dims, ...vals] = rest;
      const shape = dims === '-' ? [] : dims!.split(',').map(Number);
      const values = Float32Array.from(vals, parseValue);
      if (values.length !== shape.reduce((a, b) => a * b, 1)) throw new Error(`vectors.txt: ${cur?.name}.${head}: size mismatch`);
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

/** Builds one layer from `Type(a,b,…)` and the case's other arguments (`padding=same`). */
function layer(spec: string, c?: VecCase): Module {
  const m = /^(\w+)\(([\d.,]*)\)$/.exec(spec);
  if (!m) throw new Error(`bad layer spec ${spec}`);
  const a = m[2] === '' ? [] : m[2]!.split(',').map(Number);
  const padding = (c?.args.padding ?? 'valid') as ConvPadding;
  switch (m[1]) {
    case 'Linear': return new Linear(a[0]!, a[1]!);
    case 'Conv1D': return new Conv1D(a[0]!, a[1]!, a[2]!, a[3], { padding });
    case 'Conv2D': return new Conv2D(a[0]!, a[1]!, a[2]!, a[3]!, a[4], { padding });
    case 'MaxPool1D': return new MaxPool1D(a[0]!, a[1]);
    case 'MaxPool2D': return new MaxPool2D(a[0]!, a[1]!, a[2]);
    case 'AvgPool1D': return new AvgPool1D(a[0]!, a[1]);
    case 'AvgPool2D': return new AvgPool2D(a[0]!, a[1]!, a[2]);
    case 'Dropout': return new Dropout(a[0], { rng: new MaskReplay(c!.tensors.get('mask')!.values) });
    case 'TanH': return new TanH();
    case 'Sigmoid': return new Sigmoid();
    case 'ReLU': return new ReLU();
    case 'Softmax': return new Softmax();
    case 'Flatten': return new Flatten();
    case 'Upsample1D': return new Upsample1D(a[0]);
    case 'Upsample2D': return new Upsample2D(a[0], a[1]);
    case 'Reshape': return new Reshape(...a);
    default: throw new Error(`unknown layer ${m[1]}`);
  }
}

/** Builds the module a case describes (`spec=A|B|…` for a Sequential, encoder/decoder for an AutoEncoder). */
export function buildModule(c: VecCase): Module {
  const seq = (spec: string) => new Sequential(...spec.split('|').map((s) => layer(s)));
  if (c.type === 'AutoEncoder') return new AutoEncoder(seq(c.args.encoder!), seq(c.args.decoder!));
  if (c.type === 'Sequential') return seq(c.args.spec!);
  return layer(c.args.spec!, c);
}
