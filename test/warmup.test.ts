// Warm-up (issue 13, "fast from the first epoch"): the changes that make the first epochs faster
// must change no result and leave nothing behind. init() warms the kernels on scratch memory it
// frees; Rng.shuffle draws inline (same permutation, same generator state as drawing with next());
// the hot paths reuse shared objects (a layer's children(), checkTensor's options) and take a short
// path in Tensor.ptr, with every error still thrown. Speed itself is measured by bench/warmup.ts
// and `npm run bench`, never here.
import { describe, expect, it } from 'vitest';
import { Linear, ReLU, Rng, Sequential, Tensor, TorchletError, init, memory } from '../ts/index.js';

await init();

/** The Fisher-Yates shuffle as Rng.shuffle drew it before it was inlined: one next() per swap. */
function referenceShuffle(rng: Rng, a: Uint32Array): Uint32Array {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  }
  return a;
}

const iota = (n: number): Uint32Array => new Uint32Array(n).map((_, i) => i);

describe('init() kernel warm-up', () => {
  it('leaves no live bytes behind', () => {
    // This file allocated nothing before this line: all that init() took, it gave back.
    expect(memory().liveBytes).toBe(0);
  });
});

describe('Rng.shuffle, inlined', () => {
  it('gives the permutation and the generator state of one next() per swap', () => {
    for (const seed of [0, 1, 7, 123456789, 2 ** 32 - 1]) {
      for (const n of [0, 1, 2, 3, 17, 1438, 10_000]) {
        const a = new Rng(seed);
        const b = new Rng(seed);
        const want = referenceShuffle(a, iota(n));
        const got = b.shuffle(iota(n));
        expect(Array.from(got), `seed ${seed}, n ${n}`).toEqual(Array.from(want));
        expect(Array.from(b.state()), `state after seed ${seed}, n ${n}`).toEqual(
          Array.from(a.state()),
        );
        expect(b.nextU32()).toBe(a.nextU32());
      }
    }
  });

  it('shuffles plain arrays the same way, and still refuses a non-array', () => {
    const want = Array.from(referenceShuffle(new Rng(5), iota(50)));
    expect(new Rng(5).shuffle(Array.from(iota(50)))).toEqual(want);
    expect(() => new Rng(5).shuffle('abc' as unknown as number[])).toThrow(TorchletError);
  });
});

describe('hot-path shortcuts keep every check', () => {
  it('Tensor.ptr still throws OVERWRITTEN and DISPOSED, for tensors and their views', () => {
    const t = Tensor.from([1, 2, 3, 4], [2, 2]);
    const view = t.rows(1, 1);
    expect(view.data[0]).toBe(3);
    t.markOverwritten('Test.forward');
    expect(() => view.ptr).toThrow(/OVERWRITTEN|overwrote/);
    expect(() => t.ptr).toThrow(/Test\.forward overwrote/);
    const u = Tensor.from([1, 2]);
    const uv = u.reshape([2, 1]);
    u.dispose();
    expect(() => u.ptr).toThrow(/disposed/);
    expect(() => uv.ptr).toThrow(/disposed/);
  });

  it("a layer's children() is one frozen empty array; a disposed child still shows", () => {
    const fc = new Linear(2, 2);
    expect(fc.children()).toBe(new ReLU().children());
    expect(Object.isFrozen(fc.children())).toBe(true);
    const net = new Sequential(new Linear(2, 3), new ReLU(), fc);
    expect(net.disposed).toBe(false);
    fc.dispose();
    expect(net.disposed).toBe(true);
    expect(() => net.forward(Tensor.from([1, 2], [1, 2]))).toThrow(/disposed/);
    net.dispose();
  });
});
