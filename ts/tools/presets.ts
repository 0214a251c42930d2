// The networks of the original report, buildable by name with their exact shapes: the digits conv
// net [batch, 64, 1] -> [batch, 10] and its kernel-size / feature-map variants, the MLP, the
// autoencoder [batch, 64] -> [batch, 64], and a LeNet for MNIST [batch, 28, 28, 1] -> [batch, 10].
// Each records its per-sample input shape; `asSamples`/`asSequence` view data that way (no copy).

import { Conv1D, Conv2D } from '../core/conv.js';
import { AutoEncoder, Sequential } from '../core/container.js';
import { TanH, ReLU, Sigmoid } from '../core/activation.js';
import { TorchletError, fmtShape } from '../core/errors.js';
import { Flatten } from '../core/view.js';
import { Linear } from '../core/linear.js';
import { type Module, checkTensor } from '../core/module.js';
import { MaxPool1D, MaxPool2D } from '../core/pool.js';
import { Rng, defaultRng } from '../core/rng.js';
import type { Tensor } from '../core/tensor.js';

/** Names `preset` accepts. */
export type PresetName =
  | 'conv1d'
  | 'conv1d-k1'
  | 'conv1d-k5'
  | 'conv1d-k10'
  | 'conv1d-c3'
  | 'conv1d-c10'
  | 'conv1d-c32'
  | 'mlp'
  | 'autoencoder'
  | 'lenet';

/** What a preset is, before building it. */
export interface PresetInfo {
  /** The name to pass to `preset`. */
  name: PresetName;
  /** The layers, in words. */
  description: string;
  /** Shape of one input sample: data x must be viewed as [n, ...inputShape]. */
  inputShape: readonly number[];
  /** The data set it was designed for (`loadDigits()` or `loadMnist({ layout: 'image' })`). */
  data: 'digits' | 'mnist';
  /** What it predicts: class scores (train with LogSoftmaxCrossEntropy) or the input back. */
  task: 'classify' | 'reconstruct';
}

/** A built preset: the network and its description. */
export interface Preset extends PresetInfo {
  /** The network, with freshly initialised weights. */
  net: Module;
}

/** Options for `preset`. */
export interface PresetOptions {
  /** Seed of a fresh `Rng` for the initial weights (default: draw from the shared `defaultRng`). */
  seed?: number;
  /**
   * Values per input sample (default: the size of the preset's `inputShape`). The 1-D presets
   * (`conv1d*`, `mlp`, `autoencoder`) take any length their layers fit (the conv nets need at
   * least k + 1, k the kernel size); `lenet` takes square images of side >= 16 (s x s values).
   * The first layers (and, for the autoencoder, the last) are sized to match.
   */
  inputSize?: number;
  /** Class scores a classifier outputs (default 10); the autoencoder reconstructs its input. */
  classes?: number;
}

/** Width of the flattened features after Conv1D(k, 1, c) -> MaxPool1D(2, 2) on n positions. */
function pooledWidth(n: number, k: number, c: number): number {
  return Math.floor((n - k + 1 - 2) / 2 + 1) * c;
}

/** A preset at one input size and class count: its shape, its layers in words, and its builder. */
interface Sized {
  inputShape: number[];
  description: string;
  build: (rng: Rng) => Module;
}

/** One preset: what does not depend on sizes, and the sized build (a string says why not). */
interface Entry {
  data: 'digits' | 'mnist';
  task: 'classify' | 'reconstruct';
  size: number;
  sized: (n: number, classes: number) => Sized | string;
}

function convDigits(k: number, c: number): Entry['sized'] {
  return (n, classes) => {
    if (n < k + 1) return `at least ${k + 1} values (kernel ${k}, then a pool of 2)`;
    const w = pooledWidth(n, k, c);
    return {
      inputShape: [n, 1],
      description: `Conv1D(${k}, 1, ${c}) -> MaxPool1D(2, 2) -> Flatten -> Linear(${w}, ${classes})`,
      build: (rng) =>
        new Sequential(
          new Conv1D(k, 1, c, 1, { rng }),
          new MaxPool1D(2, 2),
          new Flatten(),
          new Linear(w, classes, { rng }),
        ),
    };
  };
}

const variant = (k: number, c: number): Entry => ({
  data: 'digits',
  task: 'classify',
  size: 64,
  sized: convDigits(k, c),
});

const BUILDERS: Record<PresetName, Entry> = {
  conv1d: {
    data: 'digits',
    task: 'classify',
    size: 64,
    sized: (n, classes) => {
      if (n < 4) return 'at least 4 values (kernel 3, then a pool of 2)';
      const w = pooledWidth(n, 3, 32);
      return {
        inputShape: [n, 1],
        description: `Conv1D(3, 1, 32) -> MaxPool1D(2, 2) -> Flatten -> Linear(${w}, 100) -> ReLU -> Linear(100, ${classes})`,
        build: (rng) =>
          new Sequential(
            new Conv1D(3, 1, 32, 1, { rng }),
            new MaxPool1D(2, 2),
            new Flatten(),
            new Linear(w, 100, { rng }),
            new ReLU(),
            new Linear(100, classes, { rng }),
          ),
      };
    },
  },
  'conv1d-k1': variant(1, 10),
  'conv1d-k5': variant(5, 10),
  'conv1d-k10': variant(10, 10),
  'conv1d-c3': variant(3, 3),
  'conv1d-c10': variant(3, 10),
  'conv1d-c32': variant(3, 32),
  mlp: {
    data: 'digits',
    task: 'classify',
    size: 64,
    sized: (n, classes) => ({
      inputShape: [n],
      description: `Linear(${n}, 100) -> ReLU -> Linear(100, ${classes})`,
      build: (rng) =>
        new Sequential(new Linear(n, 100, { rng }), new ReLU(), new Linear(100, classes, { rng })),
    }),
  },
  autoencoder: {
    data: 'digits',
    task: 'reconstruct',
    size: 64,
    sized: (n) => ({
      inputShape: [n],
      description:
        `AutoEncoder(Linear(${n}, 200) -> TanH -> Linear(200, 50) -> TanH, ` +
        `Linear(50, 200) -> TanH -> Linear(200, ${n}) -> Sigmoid)`,
      build: (rng) =>
        new AutoEncoder(
          new Sequential(
            new Linear(n, 200, { rng }),
            new TanH(),
            new Linear(200, 50, { rng }),
            new TanH(),
          ),
          new Sequential(
            new Linear(50, 200, { rng }),
            new TanH(),
            new Linear(200, n, { rng }),
            new Sigmoid(),
          ),
        ),
    }),
  },
  lenet: {
    data: 'mnist',
    task: 'classify',
    size: 784,
    sized: (n, classes) => {
      const s = Math.round(Math.sqrt(n));
      if (s * s !== n || s < 16) return 'a square image of side >= 16 (s x s values)';
      // Two rounds of a 5x5 convolution (side - 4) and a 2x2 pool (floor of half).
      const side = Math.floor((Math.floor((s - 4) / 2) - 4) / 2);
      const w = side * side * 16;
      return {
        inputShape: [s, s, 1],
        description:
          'Conv2D(5, 5, 1, 8) -> ReLU -> MaxPool2D(2, 2, 2) -> Conv2D(5, 5, 8, 16) -> ReLU -> ' +
          `MaxPool2D(2, 2, 2) -> Flatten -> Linear(${w}, ${classes})`,
        build: (rng) =>
          new Sequential(
            new Conv2D(5, 5, 1, 8, 1, { rng }),
            new ReLU(),
            new MaxPool2D(2, 2, 2),
            new Conv2D(5, 5, 8, 16, 1, { rng }),
            new ReLU(),
            new MaxPool2D(2, 2, 2),
            new Flatten(),
            new Linear(w, classes, { rng }),
          ),
      };
    },
  },
};

/** Every preset, in report order, with its description and input shape (at its default sizes). */
export const PRESETS: readonly PresetInfo[] = Object.freeze(
  (Object.keys(BUILDERS) as PresetName[]).map((name) => {
    const { data, task, size, sized } = BUILDERS[name];
    const { inputShape, description } = sized(size, 10) as Sized;
    return Object.freeze({ name, description, inputShape: Object.freeze(inputShape), data, task });
  }),
);

/**
 * Builds a network of the original report by name, at its own input size or at `inputSize`.
 * @param name One of `PRESETS[i].name`.
 * @throws TorchletError `BAD_ARGUMENT` for an unknown name, a bad seed, class count or input size
 *   (the message says what the preset needs).
 * @example
 * const { net, inputShape } = preset('conv1d', { seed: 1 });
 * const { train } = loadDigits();
 * sgd(net, { x: asSamples(train.x, inputShape), y: train.y }, new LogSoftmaxCrossEntropy());
 * preset('mlp', { inputSize: 784 }).description; // 'Linear(784, 100) -> ReLU -> Linear(100, 10)'
 */
export function preset(name: PresetName, options: PresetOptions = {}): Preset {
  const entry = Object.hasOwn(BUILDERS, name) ? BUILDERS[name] : undefined;
  const bad = (m: string): TorchletError => new TorchletError('BAD_ARGUMENT', `preset: ${m}`);
  if (entry === undefined) {
    throw bad(
      `expected one of ${PRESETS.map((p) => p.name).join(', ')}, got ${JSON.stringify(name)}`,
    );
  }
  const { seed, inputSize = entry.size, classes = 10 } = options;
  if (seed !== undefined && !Number.isInteger(seed)) {
    throw bad(`expected seed to be an integer, got ${String(seed)}`);
  }
  if (!Number.isInteger(inputSize) || inputSize < 1) {
    throw bad(`expected inputSize to be a positive integer, got ${String(inputSize)}`);
  }
  if (!Number.isInteger(classes) || classes < 1) {
    throw bad(`expected classes to be a positive integer, got ${String(classes)}`);
  }
  const sized = entry.sized(inputSize, classes);
  if (typeof sized === 'string') {
    throw bad(`expected ${name} to take ${sized}, got inputSize ${inputSize}`);
  }
  const rng = seed === undefined ? defaultRng : new Rng(seed);
  return {
    name,
    description: sized.description,
    inputShape: sized.inputShape,
    data: entry.data,
    task: entry.task,
    net: sized.build(rng),
  };
}

/**
 * Views data x [n, ...] as [n, ...sampleShape] (no copy; the view lives as long as x).
 * @throws TorchletError `SHAPE_MISMATCH` when a sample of x does not have that many elements.
 * @example asSamples(mnist.train.x, [28, 28, 1]) // [8000, 784] -> [8000, 28, 28, 1]
 */
export function asSamples(x: Tensor, sampleShape: readonly number[]): Tensor {
  checkTensor(x, 'asSamples', 'x', { finite: false, batch: false });
  const n = x.shape[0] ?? 0;
  const want = sampleShape.reduce((a, b) => a * b, 1);
  if (x.shape.length < 1 || n * want !== x.size) {
    throw new TorchletError(
      'SHAPE_MISMATCH',
      `asSamples: expected x [n, ...] with ${want} elements per sample for ${fmtShape(sampleShape)}, got ${fmtShape(x.shape)}`,
    );
  }
  return x.reshape([n, ...sampleShape]);
}

/**
 * Views rows x [n, length] as one-channel sequences [n, length, 1] for Conv1D (no copy).
 * @throws TorchletError `SHAPE_MISMATCH` when x is not 2-D.
 * @example const seq = asSequence(loadDigits().train.x); // [1438, 64] -> [1438, 64, 1]
 */
export function asSequence(x: Tensor): Tensor {
  checkTensor(x, 'asSequence', 'x', { finite: false, batch: false });
  if (x.shape.length !== 2) {
    throw new TorchletError(
      'SHAPE_MISMATCH',
      `asSequence: expected x [n, length], got ${fmtShape(x.shape)}`,
    );
  }
  return x.reshape([x.shape[0]!, x.shape[1]!, 1]);
}
