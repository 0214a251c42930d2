// A user's own table for the CLI: CSV text -> features x [rows, features] and labels y [rows]
// (class indices). Cells are split on commas (double quotes may wrap a cell; "" is a quote), blank
// lines are skipped, and lines and columns are numbered from 1 in every message. The first row is a
// header when some column holds numbers below it but not in it.

import { TorchletError } from '../core/errors.js';

/** Which column holds the label: its header name, its number from 1, or none (features only). */
export type LabelColumn = string | number | null;

/** Options for `parseCsv`. */
export interface ParseCsvOptions {
  /**
   * The label column: a header name, a column number from 1, or `null` for none (every column a
   * feature). Default: the last column.
   */
  label?: LabelColumn;
  /** Names the text in messages (a file name); default `'CSV'`. */
  source?: string;
  /**
   * Class names to map text labels onto (the ones a model was trained with); default: the sorted
   * distinct labels of this table, or class indices when every label is an integer >= 0.
   */
  classNames?: readonly string[] | null;
}

/** A parsed table. */
export interface CsvTable {
  /** Features, row-major [rows, features]. */
  x: Float32Array;
  /** Class index per row, or null without a label column. */
  y: Float32Array | null;
  /** Data rows (the header excluded). */
  rows: number;
  /** Feature columns per row. */
  features: number;
  /** The header's cells, or null when the first row is data. */
  header: string[] | null;
  /** The label column's index from 0 among all columns, or null. */
  labelIndex: number | null;
  /**
   * Class names when the labels are text (`y` indexes this list), null when they are integers
   * (`y` holds them as they are).
   */
  classNames: string[] | null;
}

/** Most data cells `parseCsv` accepts (2^26 floats, 256 MiB as Float32). */
export const MAX_CSV_CELLS = 2 ** 26;

/** Splits one line into cells; double quotes wrap a cell, "" inside is one quote. */
function splitLine(line: string, where: () => string): string[] {
  if (!line.includes('"')) return line.split(',').map((c) => c.trim());
  const cells: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      cells.push(cell.trim());
      cell = '';
    } else cell += ch;
  }
  if (quoted)
    throw new TorchletError('BAD_FILE', `parseCsv: expected a closing quote ${where()}, got none`);
  cells.push(cell.trim());
  return cells;
}

/** Columns of the first non-blank line (a quick look before choosing the label column). */
export function csvColumns(text: string): number {
  const line = text.split('\n').find((l) => l.trim() !== '');
  return line === undefined
    ? 0
    : splitLine(line.replace(/\r$/, ''), () => 'on the first line').length;
}

/** A cell as a finite number, or NaN: empty cells and text such as "0x1f" or "Infinity" are NaN. */
function numberOf(cell: string): number {
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(cell)) return NaN;
  return Number(cell);
}

/**
 * Parses CSV text into features and labels.
 * @throws TorchletError `BAD_FILE` for an empty table, ragged rows, a non-numeric feature cell, an
 *   unclosed quote or an empty label (each naming its line and column), `BAD_ARGUMENT` for a label
 *   column that does not exist or a label not among `classNames`.
 * @example parseCsv('a,b,y\n1,2,0\n3,4,1\n').y // Float32Array [0, 1]
 */
export function parseCsv(text: string, options: ParseCsvOptions = {}): CsvTable {
  const source = options.source ?? 'CSV';
  if (typeof text !== 'string')
    throw new TorchletError('BAD_ARGUMENT', `parseCsv: expected text, got ${typeof text}`);
  const lines: Array<[number, string[]]> = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') return;
    lines.push([i + 1, splitLine(line, () => `in ${source} on line ${i + 1}`)]);
  });
  if (lines.length === 0)
    throw new TorchletError('BAD_FILE', `parseCsv: expected rows in ${source}, got none`);
  const width = lines[0]![1].length;
  for (const [line, cells] of lines) {
    if (cells.length !== width)
      throw new TorchletError(
        'BAD_FILE',
        `parseCsv: expected ${width} columns on every line of ${source} (as on line ${lines[0]![0]}), got ${cells.length} on line ${line}`,
      );
  }
  const first = lines[0]![1];
  const second = lines[1]?.[1];
  const isHeader =
    second === undefined
      ? first.every((c) => Number.isNaN(numberOf(c)))
      : first.some((c, j) => Number.isNaN(numberOf(c)) && !Number.isNaN(numberOf(second[j]!)));
  const header = isHeader ? first : null;
  const body = isHeader ? lines.slice(1) : lines;
  if (body.length === 0)
    throw new TorchletError(
      'BAD_FILE',
      `parseCsv: expected data rows in ${source}, got a header only`,
    );
  const labelIndex = labelColumn(
    options.label === undefined ? width : options.label,
    header,
    width,
    source,
  );
  const features = labelIndex === null ? width : width - 1;
  if (body.length * features > MAX_CSV_CELLS)
    throw new TorchletError(
      'BAD_FILE',
      `parseCsv: expected at most ${MAX_CSV_CELLS} feature cells in ${source}, got ${body.length} rows x ${features}`,
    );
  const name = (j: number): string =>
    header ? `column ${j + 1} (${JSON.stringify(header[j])})` : `column ${j + 1}`;
  const x = new Float32Array(body.length * features);
  const labels: string[] = [];
  body.forEach(([line, cells], r) => {
    let f = 0;
    cells.forEach((cell, j) => {
      if (j === labelIndex) {
        if (cell === '')
          throw new TorchletError(
            'BAD_FILE',
            `parseCsv: expected a label in ${source} at line ${line}, ${name(j)}, got an empty cell`,
          );
        labels.push(cell);
        return;
      }
      const v = numberOf(cell);
      if (Number.isNaN(v) || !Number.isFinite(v))
        throw new TorchletError(
          'BAD_FILE',
          `parseCsv: expected a number in ${source} at line ${line}, ${name(j)}, got ${JSON.stringify(cell)}`,
        );
      x[r * features + f++] = v;
    });
  });
  const { y, classNames } =
    labelIndex === null
      ? { y: null, classNames: null }
      : classesOf(labels, options.classNames, source);
  return { x, y, rows: body.length, features, header, labelIndex, classNames };
}

/** The label column's index from 0, or null; `label` is a name, a number from 1, or null. */
function labelColumn(
  label: LabelColumn,
  header: string[] | null,
  width: number,
  source: string,
): number | null {
  if (label === null) return null;
  if (typeof label === 'number') {
    if (!Number.isInteger(label) || label < 1 || label > width)
      throw new TorchletError(
        'BAD_ARGUMENT',
        `parseCsv: expected the label column to be a number in [1, ${width}] for ${source}, got ${label}`,
      );
    return label - 1;
  }
  const j = header?.indexOf(label) ?? -1;
  if (j < 0)
    throw new TorchletError(
      'BAD_ARGUMENT',
      header
        ? `parseCsv: expected the label column to be one of ${header.map((h) => JSON.stringify(h)).join(', ')} or a column number, got ${JSON.stringify(label)}`
        : `parseCsv: expected the label column to be a column number in [1, ${width}] (${source} has no header), got ${JSON.stringify(label)}`,
    );
  return j;
}

/** Labels -> class indices: integers >= 0 stay as they are; text maps onto sorted names. */
function classesOf(
  labels: string[],
  given: readonly string[] | null | undefined,
  source: string,
): { y: Float32Array; classNames: string[] | null } {
  if (given === null || (given === undefined && labels.every((l) => /^\d+$/.test(l)))) {
    const y = new Float32Array(labels.length);
    labels.forEach((l, i) => {
      const v = Number(l);
      if (!/^\d+$/.test(l) || v > 2 ** 24)
        throw new TorchletError(
          'BAD_FILE',
          `parseCsv: expected class indices (integers >= 0) as labels in ${source}, got ${JSON.stringify(l)} in data row ${i + 1}`,
        );
      y[i] = v;
    });
    return { y, classNames: null };
  }
  const classNames =
    given === undefined
      ? [...new Set(labels)].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
      : [...given];
  const index = new Map(classNames.map((c, i) => [c, i]));
  const y = new Float32Array(labels.length);
  labels.forEach((l, i) => {
    const k = index.get(l);
    if (k === undefined)
      throw new TorchletError(
        'BAD_ARGUMENT',
        `parseCsv: expected a label among ${classNames.map((c) => JSON.stringify(c)).join(', ')} in ${source}, got ${JSON.stringify(l)} in data row ${i + 1}`,
      );
    y[i] = k;
  });
  return { y, classNames };
}
