// Reader for test/fixtures/vectors.txt (written by scripts/gen-fixtures.py from PyTorch), and a
// builder for the module specs it names. crates/kernels/tests/fixtures.rs holds the Rust twin of
// `readVectors`: both parse each value as float64 and round it to float32.
import { readFileSync } from 'node:fs';
import {
  AutoEncoder, Conv1D, Conv2D, Flatten, Linear, MaxPool1D, MaxPool2D, type Module, ReLU, Sequential, Sigmoid,
  Softmax, TanH, Upsample1D, Upsample2D, Reshape,
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

/** Builds one layer from `Type(a,b,…)`. */
function layer(spec: string): Module {
  const m = /^(\w+)\(([\d,]*)\)$/.exec(spec);
  if (!m) throw new Error(`bad layer spec ${spec}`);
  const a = m[2] === '' ? [] : m[2]!.split(',').map(Number);
  switch (m[1]) {
    case 'Linear': return new Linear(a[0]!, a[1]!);
    case 'Conv1D': return new Conv1D(a[0]!, a[1]!, a[2]!, a[3]);
    case 'Conv2D': return new Conv2D(a[0]!, a[1]!, a[2]!, a[3]!, a[4]);
    case 'MaxPool1D': return new MaxPool1D(a[0]!, a[1]);
    case 'MaxPool2D': return new MaxPool2D(a[0]!, a[1]!, a[2]);
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
  const seq = (spec: string) => new Sequential(...spec.split('|').map(layer));
  if (c.type === 'AutoEncoder') return new AutoEncoder(seq(c.args.encoder!), seq(c.args.decoder!));
  if (c.type === 'Sequential') return seq(c.args.spec!);
  return layer(c.args.spec!);
}
