// `torchlet predict`: classes of CSV rows (features, optionally a label column) or PNG images
// (decoded by ../png.ts, resized to the model's input; digits models get the digits' own 8x8
// counting), one per line or as CSV with --out.

import * as t from '../../index.js';
import { csvColumns, parseCsv } from '../csv.js';
import { type Ink, decodePng, inkOf, resizeArea, toDigitPixels } from '../png.js';
import { type Command, UsageError, oneOf } from './args.js';
import { readSmallFile } from './data.js';
import { type ModelInfo, readModel } from './evaluate.js';
import { checkFits } from './net.js';

const fs = process.getBuiltinModule('node:fs');
const path = process.getBuiltinModule('node:path');

/** `torchlet predict`. */
export const PREDICT: Command = {
  name: 'predict',
  summary:
    'classes of CSV rows (features, optionally a label column) or PNG images (any size, resized to the model input) from a model file',
  positionals: { usage: '<file.csv|image.png...>', min: 1, max: Infinity },
  flags: [
    { name: 'model', value: '<file>', help: 'model file written by train (required)' },
    {
      name: 'out',
      value: '<file.csv>',
      help: 'write CSV (source,row,predicted) instead of one class per line',
    },
    {
      name: 'label',
      value: '<column>',
      help: "a CSV's label column, when it has one (default: the one the model was trained with)",
    },
    {
      name: 'ink',
      value: '<tone>',
      help: "PNG strokes: dark (on light paper), light (on black), or auto (by the border's tone; the default)",
      parse: oneOf('--ink', ['auto', 'dark', 'light']),
    },
  ],
  run: (f, files) => predict(files, f),
};

function predict(files: string[], f: Record<string, unknown>): void {
  if (typeof f['model'] !== 'string') throw new UsageError('expected --model <file>, got none');
  const model = readModel(f['model']);
  if (model.task !== 'classify')
    throw new UsageError(
      `expected a classifier as --model, got a reconstruction model (${f['model']}); use evaluate`,
    );
  const size = model.inputShape.reduce((a, b) => a * b, 1);
  const pngs = files.filter((file) => /\.png$/i.test(file)).length;
  if (f['ink'] !== undefined && pngs === 0)
    throw new UsageError(
      `expected --ink only with PNG files, got none among ${files.length} files`,
    );
  if (f['label'] !== undefined && pngs === files.length)
    throw new UsageError('expected --label only with CSV files, got PNG files only');
  checkFits(model.net, model.inputShape, 'classify', model.classes ?? 1, f['model']);
  const rows: Array<{ source: string; row: number; x: Float32Array; label?: number }> = [];
  for (const file of files) {
    if (/\.png$/i.test(file)) {
      rows.push({
        source: file,
        row: 1,
        x: pngInput(file, model, (f['ink'] as Ink | undefined) ?? 'auto'),
      });
      continue;
    }
    let text: string;
    try {
      text = readSmallFile(file, 1 << 29);
    } catch (e) {
      throw new UsageError(
        `expected a readable CSV or PNG file, got ${JSON.stringify(file)} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
      );
    }
    const width = csvColumns(text);
    if (width !== size && width !== size + 1)
      throw new UsageError(
        `expected ${size} feature columns in ${file} (or ${size + 1} with a label), as the model takes, got ${width}`,
      );
    let label: string | number | null = null;
    if (width === size + 1) {
      const given = f['label'] as string | undefined;
      label =
        given === undefined
          ? typeof model.labelColumn === 'number'
            ? model.labelColumn
            : width
          : /^\d+$/.test(given)
            ? Number(given)
            : given;
    } else if (f['label'] !== undefined)
      throw new UsageError(
        `expected a label column in ${file} with --label, got only the ${size} feature columns`,
      );
    const table = parseCsv(text, {
      label,
      source: path.basename(file),
      classNames: label === null ? undefined : model.classNames,
    });
    for (let r = 0; r < table.rows; r++)
      rows.push({
        source: file,
        row: r + 1,
        x: table.x.subarray(r * size, (r + 1) * size),
        label: table.y?.[r],
      });
  }
  const x = new Float32Array(rows.length * size);
  rows.forEach((r, i) => x.set(r.x, i * size));
  const predicted = t.predict(model.net, t.Tensor.from(x, [rows.length, ...model.inputShape]));
  const name = (k: number): string => model.classNames?.[k] ?? String(k);
  if (typeof f['out'] === 'string') {
    const quote = (s: string): string => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
    const lines = rows.map((r, i) => `${quote(r.source)},${r.row},${quote(name(predicted[i]!))}`);
    fs.writeFileSync(f['out'], ['source,row,predicted', ...lines].join('\n') + '\n');
    console.error(`wrote ${rows.length} predictions to ${f['out']}`);
  } else {
    process.stdout.write(Array.from(predicted, (k) => name(k)).join('\n') + '\n');
  }
  const labelled = rows
    .map((r, i) => [r.label, predicted[i]!] as const)
    .filter(([l]) => l !== undefined);
  if (labelled.length > 0) {
    const right = labelled.filter(([l, p]) => l === p).length;
    console.error(
      `accuracy ${(right / labelled.length).toFixed(4)} on the ${labelled.length} labelled rows`,
    );
  }
}

/** A PNG as the model's input: the digits' 8x8 counting for digits models, else an area resize. */
function pngInput(file: string, model: ModelInfo, ink: Ink): Float32Array {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(fs.readFileSync(file));
  } catch (e) {
    throw new UsageError(
      `expected a readable PNG file, got ${JSON.stringify(file)} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    );
  }
  const image = decodePng(bytes, path.basename(file));
  const map = inkOf(image, ink);
  const shape = model.inputShape;
  const size = shape.reduce((a, b) => a * b, 1);
  if (model.data === 'digits' && size === 64) return toDigitPixels(map, image.width, image.height);
  const [h, w] =
    shape.length === 3 && shape[2] === 1
      ? [shape[0]!, shape[1]!]
      : Number.isInteger(Math.sqrt(size)) &&
          (shape.length === 1 || (shape.length === 2 && shape[1] === 1))
        ? [Math.sqrt(size), Math.sqrt(size)]
        : [0, 0];
  if (h === 0)
    throw new UsageError(
      `expected a model that takes images (inputShape [h, w, 1] or a square [n]), got inputShape ${JSON.stringify(shape)}; give it CSV rows`,
    );
  return resizeArea(map, image.width, image.height, w, h);
}
