// The statistics behind every verdict of docs/report.md: a mean with its sample standard deviation
// and standard error over seeds, and the one rule (RULE) that says when a difference counts. Every
// check's `holds` in the section scripts is computed by these functions only, never by an ad-hoc
// threshold, so the page's verdicts follow from the rule printed at its top.

/** A value measured over `n` seeds. */
export interface Stat {
  /** Mean over the seeds. */
  mean: number;
  /** Sample standard deviation (divides by n - 1); 0 when n = 1. */
  std: number;
  /** Number of values (seeds). */
  n: number;
  /** Standard error of the mean, std / sqrt(n); 0 when n = 1. */
  se: number;
}

/**
 * Mean, sample standard deviation, count and standard error of `values`. A non-finite value
 * (a diverged run) makes the mean non-finite, and no comparison below counts it as a difference.
 * @throws Error when `values` is empty.
 */
export function stat(values: readonly number[]): Stat {
  const n = values.length;
  if (n === 0) throw new Error('stat: expected at least one value, got none');
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const std = n < 2 ? 0 : Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
  return { mean, std, n, se: n < 2 ? 0 : std / Math.sqrt(n) };
}

/** The one verdict rule, printed once at the top of the page. */
export const RULE =
  'a difference counts when it exceeds two standard errors: |mean_a - mean_b| > 2 sqrt(se_a^2 + se_b^2) between two configurations, |mean - t| > 2 se against a fixed target t';

/** Sign of a - b when the difference counts by RULE, else 0. */
export function differs(a: Stat, b: Stat): -1 | 0 | 1 {
  const d = a.mean - b.mean;
  if (!(Math.abs(d) > 2 * Math.sqrt(a.se ** 2 + b.se ** 2))) return 0;
  return d > 0 ? 1 : -1;
}

/** a is below the fixed target t by RULE: mean < t by more than 2 se. */
export function below(a: Stat, t: number): boolean {
  return t - a.mean > 2 * a.se;
}

/** a is above the fixed target t by RULE: mean > t by more than 2 se. */
export function above(a: Stat, t: number): boolean {
  return a.mean - t > 2 * a.se;
}

function adjacent(xs: readonly Stat[], sign: -1 | 1, name: string): boolean {
  if (xs.length < 2)
    throw new Error(`${name}: expected at least two values to order, got ${xs.length}`);
  return xs.every((x, i) => i === 0 || differs(x, xs[i - 1]!) === sign);
}

/**
 * "a1 < a2 < ...": every adjacent step increases and counts by RULE (for ordering claims).
 * @throws Error with fewer than two values (no order to claim).
 */
export function increasing(xs: readonly Stat[]): boolean {
  return adjacent(xs, 1, 'increasing');
}

/**
 * "a1 > a2 > ...": every adjacent step decreases and counts by RULE.
 * @throws Error with fewer than two values (no order to claim).
 */
export function decreasing(xs: readonly Stat[]): boolean {
  return adjacent(xs, -1, 'decreasing');
}

/**
 * Formats "0.978 ± 0.003 (n=5)" with `digits` decimals (default 3); one seed prints
 * "0.978 (n=1)", since a single value has no spread.
 */
export function fmt(s: Stat, digits = 3): string {
  return s.n < 2
    ? `${s.mean.toFixed(digits)} (n=${s.n})`
    : `${s.mean.toFixed(digits)} ± ${s.std.toFixed(digits)} (n=${s.n})`;
}
