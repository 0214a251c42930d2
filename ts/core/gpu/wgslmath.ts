// WGSL pieces two families share: f32 literals with exact bits, Horner steps, and the Cephes
// e^x of activation.rs's exp_scalar (used by the activations and by the losses).

/** A WGSL f32 with exactly the bits `Math.fround(v)` has (decimal literals may round either way). */
export function f(v: number): string {
  const bits = new Uint32Array(new Float32Array([v]).buffer)[0]!;
  return `bitcast<f32>(0x${bits.toString(16)}u)`;
}

// Constants of activation.rs, written as the f32s Rust parses from the same decimals.
export const EXP_LO = f(-104.0);
export const EXP_HI = f(89.0);
export const LOG2E = f(Math.LOG2E);
export const LN2_HI = f(0.693359375);
export const LN2_LO = f(-2.1219444e-4);
export const EXP_P = [
  1.9875691e-4, 1.3981999e-3, 8.333452e-3, 4.1665796e-2, 1.6666665e-1, 5.0000001e-1,
];

/** Horner steps `p = p * v + c` for the coefficients after the first, as the Rust code. */
export function horner(coeffs: readonly number[], v: string): string {
  return coeffs
    .slice(1)
    .map((c) => `  p = p * ${v} + ${f(c)};`)
    .join('\n');
}

/**
 * `<prefix>_pow2i(n)` (2^n for integral n in [-126, 127], from exponent bits) and
 * `<prefix>_exp(x)`: Cephes expf as exp_scalar, clamped so 2^n stays two in-range factors; NaN
 * passes through the clamps (both compares are false).
 */
export function expWgsl(prefix: string): string {
  return /* wgsl */ `
fn ${prefix}_pow2i(n: f32) -> f32 {
  return bitcast<f32>(u32(i32(n) + 127) << 23u);
}

fn ${prefix}_exp(x0: f32) -> f32 {
  var x = x0;
  if (x < ${EXP_LO}) {
    x = ${EXP_LO};
  } else if (x > ${EXP_HI}) {
    x = ${EXP_HI};
  }
  let n = round(x * ${LOG2E});
  let r = (x - n * ${LN2_HI}) - n * ${LN2_LO};
  var p = ${f(EXP_P[0]!)};
${horner(EXP_P, 'r')}
  let e = (p * (r * r) + r) + 1.0;
  let n1 = round(n * 0.5);
  return e * ${prefix}_pow2i(n1) * ${prefix}_pow2i(n - n1);
}
`;
}
