// Determinism (issue 7.7): all randomness comes from seeded xoshiro128** generators and every
// transcendental runs in WASM, so the same seed gives bit-identical weights (SHA-256 of every
// parameter's bytes): across runs in this process, across fresh Node processes, and — in
// test/browser.test.ts, which compares the seeded conv-net run's losses and weight hash with this
// process's — between Node and Chromium. Saving after 2 epochs, loading in a fresh process and
// training 2 more gives the same weights as 4 epochs straight through. "Straight through" is two
// sgd calls with shuffle seeds 1 then 2, since each call owns its shuffling generator; plain SGD
// keeps no optimiser state between calls, so nothing else is carried over.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  Conv1D,
  Flatten,
  Linear,
  LogSoftmaxCrossEntropy,
  MaxPool1D,
  type Module,
  ReLU,
  Rng,
  Sequential,
  init,
  loadDigits,
  manualSeed,
  sgd,
} from '../ts/index.js';
import { weightHash } from './child/hash.js';
import { runChild } from './child/spawn.js';
import { TIMEOUT } from './tiers.js';

await init();
const dir = mkdtempSync(join(tmpdir(), 'torchlet-determinism-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The digits MLP of test/child/child.ts, trained the same way: 2 epochs with shuffle seed 1, 2 with seed 2. */
function trainedHash(seed: number): string {
  const rng = new Rng(seed);
  const net = new Sequential(new Linear(64, 32, { rng }), new ReLU(), new Linear(32, 10, { rng }));
  const { train } = loadDigits();
  for (const shuffle of [1, 2])
    sgd(net, train, new LogSoftmaxCrossEntropy(), {
      epochs: 2,
      batchSize: 32,
      step: 0.05,
      seed: shuffle,
    });
  const hash = weightHash(net);
  net.dispose();
  return hash;
}

describe('same seed, same weights', () => {
  it(
    'in this process: 3 seeds x 2 runs, identical per seed and different across seeds',
    () => {
      const hashes = [1, 2, 3].map((seed) => [trainedHash(seed), trainedHash(seed)]);
      for (const [a, b] of hashes) expect(a).toBe(b);
      expect(new Set(hashes.map(([a]) => a)).size).toBe(3);
    },
    TIMEOUT,
  );

  it(
    'a conv net and the shared default generator (manualSeed) are reproducible too',
    () => {
      const run = (): string => {
        manualSeed(11);
        const net = new Sequential(
          new Conv1D(3, 1, 4, 2),
          new ReLU(),
          new MaxPool1D(2),
          new Flatten(),
          new Linear(60, 10),
        );
        const { train } = loadDigits();
        sgd(
          net,
          { x: train.x.reshape([train.x.shape[0]!, 64, 1]), y: train.y },
          new LogSoftmaxCrossEntropy(),
          { epochs: 1, step: 0.05, optimizer: 'adam' },
        );
        const h = weightHash(net as Module);
        net.dispose();
        return h;
      };
      expect(run()).toBe(run());
    },
    TIMEOUT,
  );

  it(
    'in two fresh Node processes, equal to this process',
    async () => {
      const [a, b] = await Promise.all([runChild('train-hash', '5'), runChild('train-hash', '5')]);
      expect(a).toMatch(/^[0-9a-f]{64}$/);
      expect(a).toBe(b);
      expect(a).toBe(trainedHash(5));
    },
    TIMEOUT,
  );
});

describe('save, load in a fresh process, train on', () => {
  it(
    'gives the same weights as training straight through',
    async () => {
      const file = join(dir, 'resume.safetensors');
      expect(await runChild('train-save', '9', file)).toBe('saved');
      const resumed = await runChild('load-train-hash', file);
      expect(resumed).toBe(trainedHash(9));
    },
    TIMEOUT,
  );
});
