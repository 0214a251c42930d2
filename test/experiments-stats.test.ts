// The verdict rule of docs/report.md (scripts/experiments/stats.ts): statistics checked by hand,
// one seed, and the two-standard-error boundary from both sides, for two configurations and
// against a fixed target. The boundary cases use standard errors whose sums are exact in binary
// (0.75 and 1 give sqrt(0.5625 + 1) = 1.25), so "exactly 2 SE" is exact, not a rounding accident.
import { describe, expect, it } from 'vitest';
import {
  RULE,
  type Stat,
  above,
  below,
  decreasing,
  differs,
  fmt,
  increasing,
  stat,
} from '../scripts/experiments/stats.js';

const s = (mean: number, se: number, n = 5): Stat => ({ mean, std: se * Math.sqrt(n), n, se });

describe('stat', () => {
  it('gives the mean, the sample (n - 1) standard deviation and std / sqrt(n)', () => {
    // 1 and 3: mean 2, sample variance ((1-2)^2 + (3-2)^2) / 1 = 2, se = sqrt(2) / sqrt(2) = 1.
    const a = stat([1, 3]);
    expect(a.mean).toBe(2);
    expect(a.std).toBeCloseTo(Math.SQRT2, 12);
    expect(a.n).toBe(2);
    expect(a.se).toBeCloseTo(1, 12);
    // 2, 4, 4, 4, 5, 5, 7, 9: mean 5, squared deviations sum to 32, sample variance 32 / 7.
    const b = stat([2, 4, 4, 4, 5, 5, 7, 9]);
    expect(b.mean).toBe(5);
    expect(b.std).toBeCloseTo(Math.sqrt(32 / 7), 12);
    expect(b.se).toBeCloseTo(Math.sqrt(32 / 7) / Math.sqrt(8), 12);
  });

  it('gives std 0 and se 0 for one value', () => {
    expect(stat([0.25])).toEqual({ mean: 0.25, std: 0, n: 1, se: 0 });
  });

  it('refuses no values', () => {
    expect(() => stat([])).toThrow('stat: expected at least one value, got none');
  });
});

describe('differs (two configurations)', () => {
  // se 0.75 and 1: the combined standard error is 1.25, so a difference must exceed 2.5.
  const b = s(10, 1);
  it('does not count a difference of exactly two standard errors, from either side', () => {
    expect(differs(s(12.5, 0.75), b)).toBe(0);
    expect(differs(s(7.5, 0.75), b)).toBe(0);
    expect(differs(b, s(12.5, 0.75))).toBe(0);
  });
  it('counts a difference just past two standard errors, with its sign', () => {
    expect(differs(s(12.501, 0.75), b)).toBe(1);
    expect(differs(s(7.499, 0.75), b)).toBe(-1);
    expect(differs(b, s(12.501, 0.75))).toBe(-1);
  });
  it('does not count a difference just inside', () => {
    expect(differs(s(12.499, 0.75), b)).toBe(0);
    expect(differs(s(7.501, 0.75), b)).toBe(0);
  });
  it('counts any difference between single seeds (no spread), and none between equal means', () => {
    expect(differs(stat([0.5]), stat([0.5000001]))).toBe(-1);
    expect(differs(stat([0.5]), stat([0.5]))).toBe(0);
  });
  it('never counts a non-finite mean', () => {
    expect(differs(stat([NaN, 1]), b)).toBe(0);
  });
});

describe('below / above (a fixed target)', () => {
  // se 0.25: the mean must be more than 0.5 from the target.
  it('does not count exactly two standard errors, from either side', () => {
    expect(below(s(0.5, 0.25), 1)).toBe(false);
    expect(above(s(1.5, 0.25), 1)).toBe(false);
  });
  it('counts just past two standard errors', () => {
    expect(below(s(0.499, 0.25), 1)).toBe(true);
    expect(above(s(1.501, 0.25), 1)).toBe(true);
  });
  it('is never both, and a mean on the wrong side of the target is neither below nor above', () => {
    expect(below(s(1.501, 0.25), 1)).toBe(false);
    expect(above(s(0.499, 0.25), 1)).toBe(false);
  });
  it('"reaches 0.99" is !below: a mean under 0.99 within two standard errors still reaches it', () => {
    expect(!below(stat([0.985, 0.99, 0.995]), 0.99)).toBe(true);
    expect(!below(stat([0.98, 0.981, 0.982]), 0.99)).toBe(false);
  });
  it('with one seed, any distance from the target counts', () => {
    expect(below(stat([0.9899]), 0.99)).toBe(true);
    expect(above(stat([0.9901]), 0.99)).toBe(true);
    expect(below(stat([0.99]), 0.99)).toBe(false);
  });
});

describe('increasing / decreasing', () => {
  it('needs every adjacent step to count', () => {
    expect(increasing([s(1, 0.1), s(2, 0.1), s(3, 0.1)])).toBe(true);
    expect(decreasing([s(3, 0.1), s(2, 0.1), s(1, 0.1)])).toBe(true);
    // 2 -> 2.2 is within 2 * sqrt(0.1^2 + 0.1^2) = 0.283: the order does not count.
    expect(increasing([s(1, 0.1), s(2, 0.1), s(2.2, 0.1)])).toBe(false);
    expect(increasing([s(3, 0.1), s(2, 0.1), s(1, 0.1)])).toBe(false);
    expect(decreasing([s(1, 0.1), s(2, 0.1)])).toBe(false);
  });
  it('refuses fewer than two values (no order to claim)', () => {
    expect(() => increasing([s(1, 0.1)])).toThrow(
      'increasing: expected at least two values to order, got 1',
    );
    expect(() => decreasing([])).toThrow(
      'decreasing: expected at least two values to order, got 0',
    );
  });
});

describe('fmt and RULE', () => {
  it('formats mean ± std (n)', () => {
    expect(fmt({ mean: 0.97812, std: 0.00312, n: 5, se: 0.0014 })).toBe('0.978 ± 0.003 (n=5)');
    expect(fmt(stat([1, 3]), 1)).toBe('2.0 ± 1.4 (n=2)');
    expect(fmt(stat([0.25]))).toBe('0.250 (n=1)');
  });
  it('states the two-standard-error rule', () => {
    expect(RULE).toContain('two standard errors');
    expect(RULE).toContain('2 sqrt(se_a^2 + se_b^2)');
  });
});
