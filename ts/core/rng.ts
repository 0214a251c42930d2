// One seeded generator for all randomness (weight init, shuffling, folds): xoshiro128**, seeded
// through splitmix32, so the same seed gives bit-identical weights on every JS engine. A seed is an
// integer in [0, 2^32): anything else (NaN, 1.5, '7', -1, 2^32) throws rather than aliasing another.

import { TorchletError } from './errors.js';

/** The largest seed plus one: seeds are integers in [0, 2^32). */
export const SEED_LIMIT = 2 ** 32;

/**
 * Throws `BAD_ARGUMENT` unless `seed` is an integer in [0, 2^32) (no two distinct accepted seeds
 * give the same stream). @param where The caller, for the message (`Rng`, `sgd`, …).
 */
export function checkSeed(seed: unknown, where: string, name = 'seed'): number {
  if (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0 || seed >= SEED_LIMIT) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${where}: expected ${name} to be an integer in [0, 2^32), got ${shown(seed)}`,
    );
  }
  return seed;
}

/** A seeded pseudo-random generator (xoshiro128**). */
export class Rng {
  private s = new Uint32Array(4);

  /**
   * @param seed An integer in [0, 2^32) (default 0); equal seeds give equal streams, distinct
   *   seeds distinct ones. @throws TorchletError `BAD_ARGUMENT` for any other value.
   */
  constructor(seed = 0) {
    this.reseed(checkSeed(seed, 'Rng'));
  }

  /**
   * Restarts the stream from `seed`, an integer in [0, 2^32).
   * @throws TorchletError `BAD_ARGUMENT` for any other value (the state is unchanged).
   */
  seed(seed: number): void {
    this.reseed(checkSeed(seed, 'Rng.seed'));
  }

  private reseed(seed: number): void {
    let x = seed;
    for (let i = 0; i < 4; i++) {
      // splitmix32 spreads any seed (even 0) over the whole state.
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.s[i] = (z ^ (z >>> 16)) >>> 0;
    }
  }

  /** A uniform 32-bit unsigned integer. */
  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1]! << 9) >>> 0;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return result;
  }

  /** A uniform float in [0, 1) with 32 random bits. */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /**
   * A uniform float in [lo, hi).
   * @throws TorchletError `BAD_ARGUMENT` unless lo and hi are finite numbers (nothing is drawn).
   */
  uniform(lo: number, hi: number): number {
    checkBounds(lo, hi, 'Rng.uniform');
    return lo + (hi - lo) * this.next();
  }

  /**
   * Fills `values` in order with uniform floats in [lo, hi) (layer initialisation).
   * @throws TorchletError `BAD_ARGUMENT` for a non-typed-array or bounds that are not finite.
   */
  fillUniform(values: Float32Array, lo: number, hi: number): void {
    const v: unknown = values;
    if (!(v instanceof Float32Array || v instanceof Float64Array)) {
      throw new TorchletError(
        'BAD_ARGUMENT',
        `Rng.fillUniform: expected values to be a Float32Array or Float64Array, got ${shown(values)}`,
      );
    }
    checkBounds(lo, hi, 'Rng.fillUniform');
    const span = hi - lo;
    for (let i = 0; i < values.length; i++) values[i] = lo + span * this.next();
  }

  /**
   * A uniform integer in [0, n).
   * @throws TorchletError `BAD_ARGUMENT` unless n is an integer in [1, 2^32] (nothing is drawn).
   */
  int(n: number): number {
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > SEED_LIMIT) {
      throw new TorchletError(
        'BAD_ARGUMENT',
        `Rng.int: expected n to be an integer in [1, 2^32], got ${shown(n)}`,
      );
    }
    return Math.floor(this.next() * n);
  }

  /** A standard normal sample (Box-Muller). */
  normal(): number {
    const u = 1 - this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }

  /**
   * Shuffles `a` in place (Fisher-Yates) and returns it.
   * @throws TorchletError `BAD_ARGUMENT` unless `a` is an array or a typed array.
   */
  shuffle<
    T extends {
      [i: number]: number;
      /** Number of elements. */
      length: number;
    },
  >(a: T): T {
    if (!Array.isArray(a) && !(ArrayBuffer.isView(a) && !((a as unknown) instanceof DataView))) {
      throw new TorchletError(
        'BAD_ARGUMENT',
        `Rng.shuffle: expected an array or a typed array, got ${shown(a)}`,
      );
    }
    // nextU32 inlined on local copies of the state (same draws, same final state): sgd shuffles
    // every epoch, and in the first epochs, before V8 optimises, five calls per element were
    // 20 % of a digits epoch.
    const st = this.s;
    let s0 = st[0]!;
    let s1 = st[1]!;
    let s2 = st[2]!;
    let s3 = st[3]!;
    for (let i = a.length - 1; i > 0; i--) {
      const x = Math.imul(s1, 5) >>> 0;
      const u = Math.imul(((x << 7) | (x >>> 25)) >>> 0, 9) >>> 0;
      const t = (s1 << 9) >>> 0;
      s2 = (s2 ^ s0) >>> 0;
      s3 = (s3 ^ s1) >>> 0;
      s1 = (s1 ^ s2) >>> 0;
      s0 = (s0 ^ s3) >>> 0;
      s2 = (s2 ^ t) >>> 0;
      s3 = ((s3 << 11) | (s3 >>> 21)) >>> 0;
      const j = Math.floor((u / 4294967296) * (i + 1));
      const tmp = a[i]!;
      a[i] = a[j]!;
      a[j] = tmp;
    }
    st[0] = s0;
    st[1] = s1;
    st[2] = s2;
    st[3] = s3;
    return a;
  }

  /** The internal state, to save and restore (e.g. for checkpoints). */
  state(): Uint32Array {
    return this.s.slice();
  }

  /**
   * Puts back a state taken with `state()` (the generator then draws what it drew after it).
   * @throws TorchletError `BAD_ARGUMENT` for anything but 4 words, not all zero.
   */
  setState(state: Uint32Array): void {
    if (!(state instanceof Uint32Array) || state.length !== 4 || state.every((w) => w === 0)) {
      throw new TorchletError(
        'BAD_ARGUMENT',
        `Rng.setState: expected the 4-word Uint32Array state() returns, got ${String(state)}`,
      );
    }
    this.s.set(state);
  }
}

function checkBounds(lo: unknown, hi: unknown, where: string): void {
  if (typeof lo !== 'number' || typeof hi !== 'number' || !isFinite(lo) || !isFinite(hi)) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${where}: expected finite bounds lo and hi, got ${shown(lo)} and ${shown(hi)}`,
    );
  }
}

function shown(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'object' && value !== null)
    return `an object (${value.constructor?.name ?? 'no prototype'})`;
  return String(value);
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** The generator layers draw their initial weights from, unless given their own. */
export const defaultRng = new Rng(0);

/**
 * Reseeds the default generator (as `torch.manual_seed`).
 * @param seed An integer in [0, 2^32). @throws TorchletError `BAD_ARGUMENT` otherwise.
 */
export function manualSeed(seed: number): void {
  defaultRng.seed(checkSeed(seed, 'manualSeed'));
}
