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
}

/** Width of the flattened features after Conv1D(k, 1, c) -> MaxPool1D(2, 2) on 64 positions. */
function pooledWidth(k: number, c: number): number {
  return Math.floor((64 - k + 1 - 2) / 2 + 1) * c;
}

function convDigits(k: number, c: number, rng: Rng): Module {
  return new Sequential(
    new Conv1D(k, 1, c, 1, { rng }),
    new MaxPool1D(2, 2),
    new Flatten(),
    new Linear(pooledWidth(k, c), 10, { rng }),
  );
}

const BUILDERS: Record<PresetName, [Omit<PresetInfo, 'name'>, (rng: Rng) => Module]> = {
  conv1d: [
    {
      description:
        'Conv1D(3, 1, 32) -> MaxPool1D(2, 2) -> Flatten -> Linear(992, 100) -> ReLU -> Linear(100, 10)',
      inputShape: [64, 1],
      data: 'digits',
      task: 'classify',
    },
    (rng) =>
      new Sequential(
        new Conv1D(3, 1, 32, 1, { rng }),
        new MaxPool1D(2, 2),
        new Flatten(),
        new Linear(992, 100, { rng }),
        new ReLU(),
        new Linear(100, 10, { rng }),
      ),
  ],
  'conv1d-k1': kernelVariant(1),
  'conv1d-k5': kernelVariant(5),
  'conv1d-k10': kernelVariant(10),
  'conv1d-c3': channelVariant(3),
  'conv1d-c10': channelVariant(10),
  'conv1d-c32': channelVariant(32),
  mlp: [
    {
      description: 'Linear(64, 100) -> ReLU -> Linear(100, 10)',
      inputShape: [64],
      data: 'digits',
      task: 'classify',
    },
    (rng) => new Sequential(new Linear(64, 100, { rng }), new ReLU(), new Linear(100, 10, { rng })),
  ],
  autoencoder: [
    {
      description:
        'AutoEncoder(Linear(64, 200) -> TanH -> Linear(200, 50) -> TanH, ' +
        'Linear(50, 200) -> TanH -> Linear(200, 64) -> Sigmoid)',
      inputShape: [64],
      data: 'digits',
      task: 'reconstruct',
    },
    (rng) =>
      new AutoEncoder(
        new Sequential(
          new Linear(64, 200, { rng }),
          new TanH(),
          new Linear(200, 50, { rng }),
          new TanH(),
        ),
        new Sequential(
          new Linear(50, 200, { rng }),
          new TanH(),
          new Linear(200, 64, { rng }),
          new Sigmoid(),
        ),
      ),
  ],
  lenet: [
    {
      description:
        'Conv2D(5, 5, 1, 8) -> ReLU -> MaxPool2D(2, 2, 2) -> Conv2D(5, 5, 8, 16) -> ReLU -> ' +
        'MaxPool2D(2, 2, 2) -> Flatten -> Linear(256, 10)',
      inputShape: [28, 28, 1],
      data: 'mnist',
      task: 'classify',
    },
    (rng) =>
      new Sequential(
        new Conv2D(5, 5, 1, 8, 1, { rng }),
        new ReLU(),
        new MaxPool2D(2, 2, 2),
        new Conv2D(5, 5, 8, 16, 1, { rng }),
        new ReLU(),
        new MaxPool2D(2, 2, 2),
        new Flatten(),
        new Linear(256, 10, { rng }),
      ),
  ],
};

function kernelVariant(k: number): [Omit<PresetInfo, 'name'>, (rng: Rng) => Module] {
  return [
    {
      description: `Conv1D(${k}, 1, 10) -> MaxPool1D(2, 2) -> Flatten -> Linear(${pooledWidth(k, 10)}, 10)`,
      inputShape: [64, 1],
      data: 'digits',
      task: 'classify',
    },
    (rng) => convDigits(k, 10, rng),
  ];
}

function channelVariant(c: number): [Omit<PresetInfo, 'name'>, (rng: Rng) => Module] {
  return [
    {
      description: `Conv1D(3, 1, ${c}) -> MaxPool1D(2, 2) -> Flatten -> Linear(${pooledWidth(3, c)}, 10)`,
      inputShape: [64, 1],
      data: 'digits',
      task: 'classify',
    },
    (rng) => convDigits(3, c, rng),
  ];
}

/** Every preset, in report order, with its description and input shape. */
export const PRESETS: readonly PresetInfo[] = Object.freeze(
  (Object.keys(BUILDERS) as PresetName[]).map((name) =>
    Object.freeze({ name, ...BUILDERS[name][0] }),
  ),
);

/**
 * Builds a network of the original report by name.
 * @param name One of `PRESETS[i].name`.
 * @throws TorchletError `BAD_ARGUMENT` for an unknown name or a bad seed.
 * @example
 * const { net, inputShape } = preset('conv1d', { seed: 1 });
 * const { train } = loadDigits();
 * sgd(net, { x: asSamples(train.x, inputShape), y: train.y }, new LogSoftmaxCrossEntropy());
 */
export function preset(name: PresetName, options: PresetOptions = {}): Preset {
  const entry = Object.hasOwn(BUILDERS, name) ? BUILDERS[name] : undefined;
  if (entry === undefined) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `preset: expected one of ${PRESETS.map((p) => p.name).join(', ')}, got ${JSON.stringify(name)}`,
    );
  }
  const { seed } = options;
  if (seed !== undefined && !Number.isInteger(seed)) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `preset: expected seed to be an integer, got ${String(seed)}`,
    );
  }
  const rng = seed === undefined ? defaultRng : new Rng(seed);
  return { name, ...entry[0], net: entry[1](rng) };
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
