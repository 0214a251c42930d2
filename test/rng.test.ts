// Seeds (issue 12, item 9): an integer in [0, 2^32), and nothing else. Before, NaN, 'abc' and 2^32
// all gave seed 0's stream and 1.5 gave seed 1's; now Rng, Rng.seed, manualSeed and sgd's `seed`
// throw BAD_ARGUMENT for them, leaving the generator's state as it was.
import { describe, expect, it } from 'vitest';
import {
  Linear,
  LogSoftmaxCrossEntropy,
  Rng,
  Tensor,
  defaultRng,
  init,
  manualSeed,
  sgd,
} from '../ts/index.js';
import { expectError, stateHash } from './helpers.js';

await init();

const BAD: unknown[] = [NaN, 'abc', '7', 2 ** 32, 1.5, -1, Infinity, null, 7n];

describe('seeds', () => {
  it('accept the integers of [0, 2^32), distinct seeds giving distinct streams', () => {
    const first = (seed: number) => new Rng(seed).nextU32();
    expect(new Set([0, 1, 2, 2 ** 31, 2 ** 32 - 1].map(first)).size).toBe(5);
    expect(first(12345)).toBe(first(12345));
    expect(new Rng().state()).toEqual(new Rng(0).state());
  });

  for (const seed of BAD) {
    const shown = typeof seed === 'bigint' ? `${seed}n` : (JSON.stringify(seed) ?? String(seed));
    it(`reject ${shown} everywhere, changing nothing`, () => {
      const re = /: expected seed to be an integer in \[0, 2\^32\), got /;
      expectError(() => new Rng(seed as number), 'BAD_ARGUMENT', new RegExp(`^Rng${re.source}`));
      const rng = new Rng(3);
      const before = rng.state();
      expectError(
        () => rng.seed(seed as number),
        'BAD_ARGUMENT',
        new RegExp(`^Rng\\.seed${re.source}`),
      );
      expect(rng.state()).toEqual(before);
      const shared = defaultRng.state();
      expectError(
        () => manualSeed(seed as number),
        'BAD_ARGUMENT',
        new RegExp(`^manualSeed${re.source}`),
      );
      expect(defaultRng.state()).toEqual(shared);
    });
  }

  it("sgd's seed option follows the same rule, before anything moves", () => {
    const net = new Linear(2, 3, { rng: new Rng(1) });
    const data = { x: Tensor.from([1, 2, 3, 4], [2, 2]), y: Tensor.from([0, 2]) };
    const hash = stateHash(net);
    const shared = defaultRng.state();
    for (const seed of [1.5, NaN, 2 ** 32, -1]) {
      expectError(
        () => sgd(net, data, new LogSoftmaxCrossEntropy(), { seed }),
        'BAD_ARGUMENT',
        /^sgd: expected seed to be an integer in \[0, 2\^32\), got /,
      );
    }
    expect(stateHash(net)).toBe(hash);
    expect(defaultRng.state()).toEqual(shared);
  });
});
