// Presets: every network of the report builds with its documented shapes and parameter shapes, is
// reproducible from a seed, and the report's conv net reaches >= 0.97 test accuracy on the digits.
import { describe, expect, it } from 'vitest';
import {
  LogSoftmaxCrossEntropy,
  PRESETS,
  Tensor,
  accuracy,
  asSamples,
  asSequence,
  init,
  loadDigits,
  preset,
  sgd,
} from '../ts/index.js';
import { expectError, stateHash } from './helpers.js';

await init();

/** name -> parameter shapes in `parameters()` order, as the report specifies them. */
const SHAPES: Record<string, number[][]> = {
  conv1d: [[3, 1, 32], [32], [992, 100], [100], [100, 10], [10]],
  'conv1d-k1': [[1, 1, 10], [10], [320, 10], [10]],
  'conv1d-k5': [[5, 1, 10], [10], [300, 10], [10]],
  'conv1d-k10': [[10, 1, 10], [10], [270, 10], [10]],
  'conv1d-c3': [[3, 1, 3], [3], [93, 10], [10]],
  'conv1d-c10': [[3, 1, 10], [10], [310, 10], [10]],
  'conv1d-c32': [[3, 1, 32], [32], [992, 10], [10]],
  mlp: [[64, 100], [100], [100, 10], [10]],
  autoencoder: [[64, 200], [200], [200, 50], [50], [50, 200], [200], [200, 64], [64]],
  lenet: [[5, 5, 1, 8], [8], [5, 5, 8, 16], [16], [256, 10], [10]],
};

describe('presets', () => {
  it('lists every preset once, with a description and a per-sample input shape', () => {
    expect(PRESETS.map((p) => p.name)).toEqual(Object.keys(SHAPES));
    for (const p of PRESETS) expect(p.description.length).toBeGreaterThan(10);
    expect(PRESETS.find((p) => p.name === 'lenet')!.inputShape).toEqual([28, 28, 1]);
  });

  for (const info of PRESETS) {
    it(`builds '${info.name}' with the report's parameter shapes and output shape`, () => {
      const { net, inputShape } = preset(info.name, { seed: 1 });
      expect(net.parameters().map((p) => p.value.shape)).toEqual(SHAPES[info.name]);
      const out = info.task === 'classify' ? [3, 10] : [3, 64];
      expect(net.outputShape([3, ...inputShape])).toEqual(out);
      const x = Tensor.zeros([3, ...inputShape]);
      expect(net.forward(x).shape).toEqual(out);
    });
  }

  it('is reproducible from a seed, and draws from defaultRng without one', () => {
    expect(stateHash(preset('conv1d', { seed: 3 }).net)).toBe(
      stateHash(preset('conv1d', { seed: 3 }).net),
    );
    expect(stateHash(preset('conv1d', { seed: 3 }).net)).not.toBe(
      stateHash(preset('conv1d', { seed: 4 }).net),
    );
    expect(stateHash(preset('mlp').net)).not.toBe(stateHash(preset('mlp').net));
  });

  it('rejects unknown names and bad seeds', () => {
    expectError(
      () => preset('resnet' as never),
      'BAD_ARGUMENT',
      /^preset: expected one of conv1d, .*lenet, got "resnet"$/,
    );
    expectError(
      () => preset('mlp', { seed: 1.5 }),
      'BAD_ARGUMENT',
      /^preset: expected seed to be an integer, got 1.5$/,
    );
  });

  // Issue 15, item 5: `--data mnist` with the digits presets; presets take the data's input size.
  it('fits the input (and output) layers to inputSize and classes', () => {
    const mlp = preset('mlp', { seed: 1, inputSize: 784, classes: 3 });
    expect(mlp.inputShape).toEqual([784]);
    expect(mlp.description).toBe('Linear(784, 100) -> ReLU -> Linear(100, 3)');
    expect(mlp.net.outputShape([2, 784])).toEqual([2, 3]);
    const conv = preset('conv1d', { seed: 1, inputSize: 784 });
    expect(conv.inputShape).toEqual([784, 1]);
    expect(conv.net.outputShape([2, 784, 1])).toEqual([2, 10]);
    expect(conv.description).toContain('Linear(12512, 100)');
    const ae = preset('autoencoder', { seed: 1, inputSize: 784 });
    expect(ae.net.outputShape([2, 784])).toEqual([2, 784]);
    const lenet = preset('lenet', { seed: 1, inputSize: 16 * 16, classes: 4 });
    expect(lenet.inputShape).toEqual([16, 16, 1]);
    expect(lenet.net.outputShape([2, 16, 16, 1])).toEqual([2, 4]);
    // The defaults are the report's sizes, and PRESETS describes them.
    expect(preset('conv1d-k5', { seed: 1, inputSize: 64 }).description).toBe(
      PRESETS.find((p) => p.name === 'conv1d-k5')!.description,
    );
  });

  it('says what a preset needs when inputSize or classes do not fit', () => {
    expectError(
      () => preset('lenet', { inputSize: 64 }),
      'BAD_ARGUMENT',
      /^preset: expected lenet to take a square image of side >= 16 \(s x s values\), got inputSize 64$/,
    );
    expectError(
      () => preset('conv1d-k10', { inputSize: 10 }),
      'BAD_ARGUMENT',
      /^preset: expected conv1d-k10 to take at least 11 values \(kernel 10, then a pool of 2\), got inputSize 10$/,
    );
    expectError(
      () => preset('mlp', { inputSize: 0 }),
      'BAD_ARGUMENT',
      /^preset: expected inputSize to be a positive integer, got 0$/,
    );
    expectError(
      () => preset('mlp', { classes: 2.5 }),
      'BAD_ARGUMENT',
      /^preset: expected classes to be a positive integer, got 2.5$/,
    );
  });

  it('views data as samples without copying', () => {
    const x = Tensor.from(
      Float32Array.from({ length: 2 * 64 }, (_, i) => i),
      [2, 64],
    );
    const seq = asSequence(x);
    expect(seq.shape).toEqual([2, 64, 1]);
    expect(seq.ptr).toBe(x.ptr);
    const img = asSamples(x, [8, 8, 1]);
    expect(img.shape).toEqual([2, 8, 8, 1]);
    expect(img.ptr).toBe(x.ptr);
    expectError(
      () => asSamples(x, [28, 28, 1]),
      'SHAPE_MISMATCH',
      /^asSamples: expected x \[n, \.\.\.\] with 784 elements per sample for \[28, 28, 1\], got \[2, 64\]$/,
    );
    expectError(
      () => asSequence(img),
      'SHAPE_MISMATCH',
      /^asSequence: expected x \[n, length\], got \[2, 8, 8, 1\]$/,
    );
  });

  it("trains the report's conv net to >= 0.97 test accuracy on the digits (15 epochs at 0.1, 5 at 0.01)", () => {
    const { net } = preset('conv1d', { seed: 1 });
    const digits = loadDigits();
    const train = { x: asSequence(digits.train.x), y: digits.train.y };
    const test = { x: asSequence(digits.test.x), y: digits.test.y };
    const loss = new LogSoftmaxCrossEntropy();
    sgd(net, train, loss, { batchSize: 32, epochs: 15, step: 0.1, seed: 1 });
    sgd(net, train, loss, { batchSize: 32, epochs: 5, step: 0.01, seed: 2 });
    expect(accuracy(net, test)).toBeGreaterThanOrEqual(0.97);
  });
});
