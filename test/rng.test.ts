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

  it("the generator's methods reject what they cannot draw from, drawing nothing", () => {
    const rng = new Rng(9);
    const before = rng.state();
    const cases: Array<[() => unknown, RegExp]> = [
      [() => rng.int(0), /^Rng\.int: expected n to be an integer in \[1, 2\^32\], got 0$/],
      [() => rng.int(2.5), /^Rng\.int: .*got 2\.5$/],
      [() => rng.int(NaN), /^Rng\.int: .*got NaN$/],
      [() => rng.int(2 ** 33), /^Rng\.int: .*got 8589934592$/],
      [
        () => rng.uniform(NaN, 1),
        /^Rng\.uniform: expected finite bounds lo and hi, got NaN and 1$/,
      ],
      [() => rng.uniform(0, '1' as never), /^Rng\.uniform: .*got 0 and "1"$/],
      [
        () => rng.fillUniform([0, 0] as never, 0, 1),
        /^Rng\.fillUniform: expected values to be a Float32Array or Float64Array, got an object \(Array\)$/,
      ],
      [
        () => rng.fillUniform(new Float32Array(2), -Infinity, 1),
        /^Rng\.fillUniform: expected finite bounds/,
      ],
      [
        () => rng.shuffle(null as never),
        /^Rng\.shuffle: expected an array or a typed array, got null$/,
      ],
      [() => rng.shuffle('abc' as never), /^Rng\.shuffle: .*got "abc"$/],
      [() => rng.shuffle({ length: 3 } as never), /^Rng\.shuffle: .*got an object \(Object\)$/],
    ];
    for (const [f, re] of cases) expectError(f, 'BAD_ARGUMENT', re);
    expect(rng.state()).toEqual(before);
    // Valid calls draw exactly the stream they drew before the checks existed.
    const a = new Rng(4);
    const b = new Rng(4);
    const filled = new Float32Array(5);
    a.fillUniform(filled, -0.5, 0.5);
    expect(Array.from(filled)).toEqual(
      Array.from({ length: 5 }, () => Math.fround(-0.5 + b.next())),
    );
    expect(a.int(10)).toBe(Math.floor(b.next() * 10));
    expect(Array.from(a.shuffle(Uint32Array.of(0, 1, 2, 3)))).toEqual(
      Array.from(b.shuffle(Uint32Array.of(0, 1, 2, 3))),
    );
  });
});

describe('Rng.setState', () => {
  it('puts back a state: the generator draws again what it drew after state()', () => {
    const r = new Rng(5);
    r.next();
    const saved = r.state();
    const first = [r.next(), r.next(), r.next()];
    r.setState(saved);
    expect([r.next(), r.next(), r.next()]).toEqual(first);
  });

  it('refuses what state() cannot have returned, changing nothing', () => {
    const r = new Rng(5);
    const saved = r.state();
    for (const bad of [new Uint32Array(3), new Uint32Array(4), [1, 2, 3, 4], null]) {
      expect(() => r.setState(bad as never)).toThrow(
        /^Rng\.setState: expected the 4-word Uint32Array state\(\) returns/,
      );
    }
    expect(Array.from(r.state())).toEqual(Array.from(saved));
  });
});
