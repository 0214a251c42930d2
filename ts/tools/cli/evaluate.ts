// `torchlet evaluate`: a classifier's accuracy and confusion matrix, or a reconstruction model's
// MSE and BCE per value, on a test set. readModel reads what train recorded in the model file's
// metadata (predict uses it too).

import * as t from '../../index.js';
import { type Command, UsageError } from './args.js';
import { type Data, DEFAULT_SEED, dataFlags, loadData, view } from './data.js';
import { checkFits, needLabels } from './net.js';

const path = process.getBuiltinModule('node:path');

/** What a model file says about itself (train writes it; older files may lack task and classes). */
export interface ModelInfo {
  net: t.Module;
  inputShape: number[];
  task: 'classify' | 'reconstruct';
  data: string | undefined;
  classes: number | undefined;
  classNames: string[] | null;
  /** The CSV label column's number from 1, when trained on a CSV. */
  labelColumn: number | 'none' | undefined;
}

export function readModel(file: string): ModelInfo {
  const { net, metadata } = t.loadModel(file);
  let inputShape: unknown;
  try {
    inputShape = JSON.parse(metadata['inputShape'] ?? 'null');
  } catch {
    inputShape = null;
  }
  if (!Array.isArray(inputShape) || !inputShape.every((d) => Number.isInteger(d) && d > 0))
    throw new UsageError(
      `expected ${file} to record its inputShape (saved by torchlet train), got none`,
    );
  const size = inputShape.reduce((a: number, b: number) => a * b, 1);
  let task = metadata['task'];
  if (task !== 'classify' && task !== 'reconstruct') {
    // Files without a task: a network whose output has the input's size reconstructs it.
    let out: number[] = [];
    try {
      out = net.outputShape([1, ...(inputShape as number[])]);
    } catch {
      // checkFits reports it.
    }
    task = out.slice(1).reduce((a, b) => a * b, 1) === size ? 'reconstruct' : 'classify';
  }
  const json = <T>(key: string): T | undefined => {
    const v = metadata[key];
    return v === undefined ? undefined : (JSON.parse(v) as T);
  };
  return {
    net,
    inputShape: inputShape as number[],
    task: task as ModelInfo['task'],
    data: metadata['data'],
    classes: metadata['classes'] === undefined ? undefined : Number(metadata['classes']),
    classNames: json<string[]>('classNames') ?? null,
    labelColumn: labelColumnOf(json<string | number>('label'), json<string[]>('header')),
  };
}

function labelColumnOf(
  label: string | number | undefined,
  header: string[] | undefined,
): number | 'none' | undefined {
  if (typeof label === 'number' || label === 'none') return label;
  const j = label === undefined ? -1 : (header?.indexOf(label) ?? -1);
  return j < 0 ? undefined : j + 1;
}

/** `torchlet evaluate`. */
export const EVALUATE: Command = {
  name: 'evaluate',
  summary:
    'a model file on a test set: accuracy and confusion matrix (classifiers), or MSE and BCE per value (reconstruction models)',
  positionals: { usage: '<model>', min: 1, max: 1 },
  flags: [
    ...dataFlags(false, null).map((f) =>
      f.name === 'data'
        ? {
            ...f,
            help: `${f.help}; default: the data set the model file records (digits if none; a CSV's rows are all tested)`,
          }
        : f,
    ),
    { name: 'json', help: 'print JSON' },
  ],
  run: (f, [file]) => evaluate(file!, f),
};

function evaluate(file: string, f: Record<string, unknown>): void {
  const model = readModel(file);
  if (f['data'] === undefined) {
    // torchlet train records the data set; a file that records none (saved by hand) is evaluated
    // on the digits, as evaluate always did (its help says so).
    const recorded = model.data ?? 'digits';
    if (recorded !== 'digits' && recorded !== 'mnist')
      throw new UsageError(`expected --data for ${file}, trained on ${recorded}, got none`);
    f['data'] = recorded;
  }
  if (
    f['label'] === undefined &&
    model.labelColumn !== undefined &&
    !['digits', 'mnist'].includes(f['data'] as string)
  )
    f['label'] = String(model.labelColumn);
  const data = loadData(f, false, DEFAULT_SEED);
  needLabels(model, data);
  const classes = model.classes ?? data.classes;
  checkFits(model.net, model.inputShape, model.task, classes, file);
  const test = view(data.test, model.inputShape);
  const n = test.x.shape[0]!;
  if (model.task === 'reconstruct') {
    const { mse, bce } = reconstructionErrors(model.net, test.x);
    if (f['json']) console.log(JSON.stringify({ task: 'reconstruct', mse, bce, samples: n }));
    else
      console.log(
        `reconstruction on ${n} ${path.basename(data.name)} samples: mse ${mse.toFixed(4)}  bce ${bce.toFixed(4)} (means per value)`,
      );
    return;
  }
  remapLabels(data, model.classNames);
  const acc = t.accuracy(model.net, test);
  const cm = t.confusionMatrix(model.net, test, Math.max(classes, data.classes));
  if (f['json']) {
    console.log(JSON.stringify({ accuracy: acc, confusion: cm.matrix }));
    return;
  }
  console.log(`test accuracy ${acc.toFixed(4)} on ${n} ${path.basename(data.name)} samples`);
  console.log('confusion matrix (rows: label, columns: predicted)');
  const names = model.classNames ?? Array.from({ length: cm.classes }, (_, j) => String(j));
  // Column width: the longest name or count, plus a space (a reduce: the matrix may be large).
  const cells = [...names, ...cm.matrix.map((row) => String(row.reduce((a, b) => Math.max(a, b))))];
  const w = cells.reduce((a, s) => Math.max(a, s.length + 1), 5);
  console.log(' '.repeat(w) + names.map((s) => s.padStart(w)).join(''));
  cm.matrix.forEach((row, i) =>
    console.log(names[i]!.padStart(w) + row.map((v) => String(v).padStart(w)).join('')),
  );
}

/** A CSV's text labels are indexed as the model's classes (loadData indexed them by this file). */
function remapLabels(data: Data, classNames: string[] | null): void {
  if (data.classNames === null) return;
  if (classNames === null)
    throw new UsageError(
      `expected class indices as labels (the model was trained on indices), got text labels in ${data.name}`,
    );
  const y = data.test.y.toArray();
  const index = new Map(classNames.map((c, i) => [c, i]));
  const mapped = y.map((k) => {
    const name = data.classNames![k]!;
    const to = index.get(name);
    if (to === undefined)
      throw new UsageError(
        `expected labels among the model's classes ${classNames.join(', ')}, got ${JSON.stringify(name)}`,
      );
    return to;
  });
  data.test = { x: data.test.x, y: t.Tensor.from(Float32Array.from(mapped), [mapped.length]) };
}

/** Mean squared error and binary cross-entropy per value (PyTorch's 'mean'; log clamped at -100 as PyTorch does). */
function reconstructionErrors(net: t.Module, x: t.Tensor): { mse: number; bce: number } {
  let se = 0;
  let ce = 0;
  let count = 0;
  const n = x.shape[0]!;
  for (let start = 0; start < n; start += 256) {
    const batch = x.rows(start, Math.min(256, n - start));
    const target = batch.toArray();
    const out = net.forward(batch).toArray();
    for (let i = 0; i < target.length; i++) {
      const y = target[i]!;
      const p = out[i]!;
      se += (y - p) ** 2;
      ce -= y * Math.max(Math.log(p), -100) + (1 - y) * Math.max(Math.log(1 - p), -100);
    }
    count += target.length;
  }
  return { mse: se / count, bce: ce / count };
}
