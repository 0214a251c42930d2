// The 8x8 UCI handwritten digits (1,797 samples, 64 pixels 0..16 + label), the original design's
// data set. Bundled as data/digits.csv.gz (CC BY 4.0, see data/README.md; dist/ has a copy):
// loadDigits() reads it in Node, fetchDigits() anywhere. Pixels are scaled to
// [0, 1]. Split: a fixed permutation from Rng(SPLIT_SEED); the first 80 % (1,438) train, the
// remaining 359 test. The same split everywhere, so accuracies compare.

import { TorchletError } from '../../core/errors.js';
import { Rng } from '../../core/rng.js';
import { Tensor } from '../../core/tensor.js';
import type { Dataset } from '../../train/train.js';
import { readBytes, readTextSync } from '../../core/platform.js';

/** Samples in the bundled file. */
export const DIGITS_COUNT = 1797;
/** Seed of the fixed train/test permutation. */
export const SPLIT_SEED = 42;
/** Training samples in the fixed split (80 %); the rest are the test set. */
export const DIGITS_TRAIN_COUNT = 1438;

/** The digits split into train and test sets. */
export interface DigitsSplit {
  /** x [1438, 64] in [0, 1], y [1438] class indices 0..9. */
  train: Dataset;
  /** x [359, 64] in [0, 1], y [359] class indices 0..9. */
  test: Dataset;
}

/** Options for `loadDigits`. */
export interface LoadDigitsOptions {
  /** The CSV text itself (e.g. fetched in a browser); default: read the bundled .csv.gz (Node). */
  csv?: string;
  /** Path of a .csv or .csv.gz file to read instead of the bundled one (Node). */
  path?: string;
}

/** Parses the digits CSV: rows of 64 pixels (0..16) then the label (0..9). */
export function parseDigitsCsv(text: string): {
  /** The images, 64 values in [0, 1] per row, row after row. */
  pixels: Float32Array;
  /** The class of each row, 0 to 9. */
  labels: Float32Array;
} {
  if (typeof text !== 'string')
    throw new TorchletError(
      'BAD_ARGUMENT',
      `loadDigits: expected the CSV text as a string, got ${text === null ? 'null' : typeof text}`,
    );
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const pixels = new Float32Array(lines.length * 64);
  const labels = new Float32Array(lines.length);
  lines.forEach((line, r) => {
    const cells = line.split(',');
    if (cells.length !== 65) {
      throw new TorchletError(
        'BAD_FILE',
        `loadDigits: expected 65 values per row, got ${cells.length} on line ${r + 1}`,
      );
    }
    for (let j = 0; j < 65; j++) {
      const v = Number(cells[j]);
      const max = j < 64 ? 16 : 9;
      if (!Number.isInteger(v) || v < 0 || v > max) {
        throw new TorchletError(
          'BAD_FILE',
          `loadDigits: expected an integer in [0, ${max}] at line ${r + 1}, column ${j + 1}, got "${cells[j]}"`,
        );
      }
      if (j < 64) pixels[r * 64 + j] = v / 16;
      else labels[r] = v;
    }
  });
  return { pixels, labels };
}

function readBundled(path?: string): string {
  // Literal form so the build copies the file next to the bundle (see wasm.ts).
  const file = path ?? new URL('../../../data/digits.csv.gz', import.meta.url);
  let text: string | null;
  try {
    text = readTextSync(file);
  } catch (e) {
    throw new TorchletError(
      'BAD_FILE',
      `loadDigits: expected a readable digits file at ${String(file)}, got ${(e as Error).message}`,
    );
  }
  if (text === null) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      'loadDigits: expected Node to read the bundled file, got the browser build; use `await fetchDigits()` or loadDigits({ csv })',
    );
  }
  return text;
}

/** Options for `fetchDigits`. */
export interface FetchDigitsOptions {
  /** Where the gzipped CSV is (default: digits.csv.gz next to the module, shipped in dist/). */
  url?: URL | string;
}

/**
 * Loads the 8x8 digits asynchronously, anywhere: browsers and workers fetch digits.csv.gz, Node
 * reads it. Same data and split as `loadDigits()`.
 * @throws TorchletError `BAD_FILE` when the file cannot be read or is not the bundled data.
 * @example
 * await init();
 * const { train, test } = await fetchDigits();
 */
export async function fetchDigits(options: FetchDigitsOptions = {}): Promise<DigitsSplit> {
  const url =
    options.url === undefined
      ? new URL('../../../data/digits.csv.gz', import.meta.url)
      : new URL(options.url, typeof location !== 'undefined' ? location.href : import.meta.url);
  let text: string;
  try {
    text = await gunzipText(await readBytes(url));
  } catch (e) {
    throw new TorchletError(
      'BAD_FILE',
      `fetchDigits: expected the gzipped digits CSV at ${url.href}, got ${(e as Error).message}`,
    );
  }
  if (/^\s*</.test(text)) {
    throw new TorchletError(
      'BAD_FILE',
      `fetchDigits: expected the gzipped digits CSV at ${url.href}, got an HTML page; serve ` +
        'digits.csv.gz next to the bundle (copy torchlet/dist/digits.csv.gz) or pass fetchDigits({ url })',
    );
  }
  return split(parseDigitsCsv(text), options.url === undefined);
}

/**
 * The text of gzipped bytes, or of bytes that are already inflated: a server that sends a .gz
 * with `Content-Encoding: gzip` (Vite's dev server) has the browser inflate it before fetch
 * returns. Told apart by gzip's magic bytes, 1f 8b.
 */
async function gunzipText(bytes: Uint8Array): Promise<string> {
  if (bytes[0] !== 0x1f || bytes[1] !== 0x8b) return new TextDecoder().decode(bytes);
  const gz = new Blob([bytes as Uint8Array<ArrayBuffer>]);
  return new Response(gz.stream().pipeThrough(new DecompressionStream('gzip'))).text();
}

/**
 * Loads the 8x8 digits with the fixed train/test split.
 * @example
 * const { train, test } = loadDigits();
 * train.x.shape; // [1438, 64]
 */
export function loadDigits(options: LoadDigitsOptions = {}): DigitsSplit {
  if (typeof options !== 'object' || options === null) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `loadDigits: expected options { csv?, path? }, got ${options === null ? 'null' : typeof options}`,
    );
  }
  const parsed = parseDigitsCsv(options.csv ?? readBundled(options.path));
  return split(parsed, options.csv === undefined && options.path === undefined);
}

function split(
  { pixels, labels }: { pixels: Float32Array; labels: Float32Array },
  bundled: boolean,
): DigitsSplit {
  const n = labels.length;
  if (bundled && n !== DIGITS_COUNT) {
    throw new TorchletError(
      'BAD_FILE',
      `loadDigits: expected ${DIGITS_COUNT} samples in the bundled file, got ${n}`,
    );
  }
  const order = new Rng(SPLIT_SEED).shuffle(new Uint32Array(n).map((_, i) => i));
  const nTrain = Math.round(n * 0.8);
  const take = (from: number, to: number): Dataset => {
    const rows = order.subarray(from, to);
    const x = new Float32Array(rows.length * 64);
    const y = new Float32Array(rows.length);
    rows.forEach((r, i) => {
      x.set(pixels.subarray(r * 64, r * 64 + 64), i * 64);
      y[i] = labels[r]!;
    });
    return { x: Tensor.from(x, [rows.length, 64]), y: Tensor.from(y, [rows.length]) };
  };
  return { train: take(0, nTrain), test: take(nTrain, n) };
}
