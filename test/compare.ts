// torchlet's own comparator for the reliability suites: |got - want| <= atol + rtol·|want| per
// element, where NaN matches only NaN and ±Infinity only the same infinity (tfjs's `areClose`
// passes NaN against Inf and +Inf against -Inf; this one does not).

/** The worst element: its index and |got - want| / (atol + rtol·|want|) (Infinity for a NaN/Inf mismatch). */
export interface Worst {
  index: number;
  ratio: number;
  got: number;
  want: number;
}

/** Ratio of one pair; <= 1 passes. */
export function pairRatio(got: number, want: number, rtol: number, atol: number): number {
  if (Number.isNaN(want) || Number.isNaN(got))
    return Number.isNaN(want) && Number.isNaN(got) ? 0 : Infinity;
  if (!Number.isFinite(want) || !Number.isFinite(got)) return got === want ? 0 : Infinity;
  const err = Math.abs(got - want);
  if (err === 0) return 0;
  const tol = atol + rtol * Math.abs(want);
  return tol === 0 ? Infinity : err / tol;
}

/** The worst element of two equal-length arrays (a length mismatch is a failure). */
export function worst(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  rtol: number,
  atol: number,
): Worst {
  if (got.length !== want.length)
    return { index: -1, ratio: Infinity, got: got.length, want: want.length };
  let w: Worst = { index: -1, ratio: 0, got: 0, want: 0 };
  for (let i = 0; i < want.length; i++) {
    const r = pairRatio(got[i]!, want[i]!, rtol, atol);
    if (r > w.ratio || (w.index < 0 && r === 0 && i === 0))
      w = { index: i, ratio: r, got: got[i]!, want: want[i]! };
  }
  return w;
}

/** Throws a message naming `what`, the element and both values unless every element is close. */
export function assertClose(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  rtol: number,
  atol: number,
  what: string,
): number {
  const w = worst(got, want, rtol, atol);
  if (!(w.ratio <= 1)) {
    throw new Error(
      `${what}: element ${w.index}: got ${w.got}, want ${w.want} (rtol ${rtol}, atol ${atol}; ${w.ratio.toPrecision(3)}x the tolerance)`,
    );
  }
  return w.ratio;
}
