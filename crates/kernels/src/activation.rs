//! Activations: tanh, sigmoid, relu element-wise over `n` floats; softmax row-wise over
//! [rows, cols]. Backward passes take the forward output y (tanh, sigmoid, softmax) or the input
//! x (relu). Dropout: y = x ⊙ mask, dx = delta ⊙ mask. Also the vector `exp` (Cephes `expf`)
//! that softmax and loss.rs share. Fronts: ts/core/activation.ts; exports in abi.rs.

use crate::simd::F32x4;

/// Below this e^x is under half the smallest subnormal, so it rounds to 0.
const EXP_LO: f32 = -104.0;
/// Above ln(f32::MAX) ≈ 88.72, so e^x overflows to +inf; clamping keeps 2^n's exponent small.
const EXP_HI: f32 = 89.0;
const LOG2E: f32 = std::f32::consts::LOG2_E;
/// ln 2 split in two (Cody-Waite): `n · LN2_HI` is exact for |n| < 2^15, so `x - n ln 2` keeps
/// its low bits without FMA.
const LN2_HI: f32 = 0.693_359_375;
const LN2_LO: f32 = -2.121_944_4e-4;
/// Cephes `expf` minimax polynomial for (e^r - 1 - r) / r² on |r| <= ln2 / 2.
const EXP_P: [f32; 6] = [
    1.987_569_1e-4,
    1.398_199_9e-3,
    8.333_452e-3,
    4.166_579_6e-2,
    1.666_666_5e-1,
    5.000_000_1e-1,
];
/// Cephes `tanhf` odd polynomial, for (tanh x - x) / x³ on |x| < 0.625.
const TANH_P: [f32; 5] = [
    -5.704_988_7e-3,
    2.063_908_9e-2,
    -5.373_971_6e-2,
    1.333_144_2e-1,
    -3.333_328_2e-1,
];
/// Below this |x|, 1 - 2 / (e^2x + 1) cancels too much: use the polynomial.
const TANH_SMALL: f32 = 0.625;
/// 1.5 · 2^23: adding and subtracting it rounds |t| < 2^22 to an integer, ties to even, exactly
/// as `f32x4.nearest` does.
const ROUND_MAGIC: f32 = 12_582_912.0;

/// Lane-wise e^x, within about 2 ulp of the true value for normal results.
/// e^x is 0 (or subnormal) for x < -87.3, +inf for x > 88.72, and NaN for NaN.
#[inline(always)]
pub fn exp_simd(x: F32x4) -> F32x4 {
    // Keep x first so NaN survives pmax / pmin.
    let x = x.max(F32x4::splat(EXP_LO)).min(F32x4::splat(EXP_HI));
    // x = n ln2 + r with |r| <= ln2 / 2, e^x = 2^n e^r.
    let n = x.mul(F32x4::splat(LOG2E)).round();
    let r = x
        .sub(n.mul(F32x4::splat(LN2_HI)))
        .sub(n.mul(F32x4::splat(LN2_LO)));
    let mut p = F32x4::splat(EXP_P[0]);
    for &c in &EXP_P[1..] {
        p = p.mul_add(r, F32x4::splat(c));
    }
    let e = p.mul_add(r.mul(r), r).add(F32x4::splat(1.0));
    // n spans [-150, 128], beyond one exponent field: scale by 2^n1 then 2^n2, each in range,
    // so results near f32::MAX stay finite and tiny ones round once into subnormals.
    let n1 = n.mul(F32x4::splat(0.5)).round();
    let n2 = n.sub(n1);
    e.mul(n1.pow2i()).mul(n2.pow2i())
}

/// Scalar twin of [`exp_simd`] (same steps, so the same bits).
#[inline(always)]
pub fn exp_scalar(x: f32) -> f32 {
    let x = if x < EXP_LO {
        EXP_LO
    } else if x > EXP_HI {
        EXP_HI
    } else {
        x
    };
    let n = (x * LOG2E + ROUND_MAGIC) - ROUND_MAGIC;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let mut p = EXP_P[0];
    for &c in &EXP_P[1..] {
        p = p * r + c;
    }
    let e = (p * (r * r) + r) + 1.0;
    let n1 = (n * 0.5 + ROUND_MAGIC) - ROUND_MAGIC;
    let n2 = n - n1;
    e * pow2i(n1) * pow2i(n2)
}

/// 2^n for integral n in [-126, 127] (NaN gives 1, as `F32x4::pow2i`'s saturating convert).
#[inline(always)]
fn pow2i(n: f32) -> f32 {
    f32::from_bits(((n as i32 + 127) << 23) as u32)
}

/// tanh's |x| clamp: 1 - 2 / (e^19 + 1) rounds to 1.0, as it does for every larger |x|.
const TANH_CLAMP: f32 = 9.5;

/// e^x for x in [0, 2·TANH_CLAMP] (or NaN): [`exp_simd`] without its range clamps, and 2^n in
/// one factor (n <= 28), which gives the same bits (scaling by powers of two is exact here).
#[inline(always)]
fn exp_2x_simd(x: F32x4) -> F32x4 {
    let n = x.mul(F32x4::splat(LOG2E)).round();
    let r = x
        .sub(n.mul(F32x4::splat(LN2_HI)))
        .sub(n.mul(F32x4::splat(LN2_LO)));
    let mut p = F32x4::splat(EXP_P[0]);
    for &c in &EXP_P[1..] {
        p = p.mul_add(r, F32x4::splat(c));
    }
    let e = p.mul_add(r.mul(r), r).add(F32x4::splat(1.0));
    e.mul(n.pow2i())
}

/// Scalar twin of [`exp_2x_simd`] (same steps, so the same bits).
#[inline(always)]
fn exp_2x_scalar(x: f32) -> f32 {
    let n = (x * LOG2E + ROUND_MAGIC) - ROUND_MAGIC;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let mut p = EXP_P[0];
    for &c in &EXP_P[1..] {
        p = p * r + c;
    }
    let e = (p * (r * r) + r) + 1.0;
    e * pow2i(n)
}

#[inline(always)]
fn tanh_x4(x: F32x4) -> F32x4 {
    let ax = x.abs();
    let z = ax.mul(ax);
    let mut p = F32x4::splat(TANH_P[0]);
    for &c in &TANH_P[1..] {
        p = p.mul_add(z, F32x4::splat(c));
    }
    let small = p.mul(z).mul_add(ax, ax);
    let a = ax.min(F32x4::splat(TANH_CLAMP));
    let e = exp_2x_simd(a.add(a));
    let one = F32x4::splat(1.0);
    let large = one.sub(F32x4::splat(2.0).div(e.add(one)));
    F32x4::select(ax.lt(F32x4::splat(TANH_SMALL)), small, large).copysign(x)
}

#[inline(always)]
fn tanh_1(x: f32) -> f32 {
    let ax = x.abs();
    let t = if ax < TANH_SMALL {
        let z = ax * ax;
        let mut p = TANH_P[0];
        for &c in &TANH_P[1..] {
            p = p * z + c;
        }
        (p * z) * ax + ax
    } else {
        let a = if ax > TANH_CLAMP { TANH_CLAMP } else { ax };
        1.0 - 2.0 / (exp_2x_scalar(a + a) + 1.0)
    };
    t.copysign(x)
}

#[inline(always)]
fn sigmoid_x4(x: F32x4) -> F32x4 {
    let one = F32x4::splat(1.0);
    one.div(one.add(exp_simd(x.neg())))
}

#[inline(always)]
fn sigmoid_1(x: f32) -> f32 {
    1.0 / (1.0 + exp_scalar(-x))
}

/// `y[i] = f(x[i])` four at a time, the tail through the scalar twin.
#[inline(always)]
unsafe fn map_simd(
    x: *const f32,
    y: *mut f32,
    n: usize,
    fv: impl Fn(F32x4) -> F32x4,
    fs: impl Fn(f32) -> f32,
) {
    let mut i = 0;
    // Two vectors per iteration: V8 rematerialises vector constants in each loop body, so this
    // halves their cost per element.
    while i + 8 <= n {
        let (a, b) = (F32x4::load(x.add(i)), F32x4::load(x.add(i + 4)));
        let (fa, fb) = (fv(a), fv(b));
        fa.store(y.add(i));
        fb.store(y.add(i + 4));
        i += 8;
    }
    while i + 4 <= n {
        fv(F32x4::load(x.add(i))).store(y.add(i));
        i += 4;
    }
    for i in i..n {
        *y.add(i) = fs(*x.add(i));
    }
}

/// `out[i] = f(a[i], b[i])` four at a time, the tail through the scalar twin.
#[inline(always)]
unsafe fn zip_simd(
    a: *const f32,
    b: *const f32,
    out: *mut f32,
    n: usize,
    fv: impl Fn(F32x4, F32x4) -> F32x4,
    fs: impl Fn(f32, f32) -> f32,
) {
    let mut i = 0;
    while i + 4 <= n {
        fv(F32x4::load(a.add(i)), F32x4::load(b.add(i))).store(out.add(i));
        i += 4;
    }
    for i in i..n {
        *out.add(i) = fs(*a.add(i), *b.add(i));
    }
}

/// `y = tanh(x)`, overwriting y; relative error <= 1e-6, exactly ±1 for |x| >= 9.1.
///
/// # Safety
/// `x` valid for `n` reads, `y` for `n` writes; they do not overlap.
pub unsafe fn tanh_forward(x: *const f32, y: *mut f32, n: usize) {
    #[cfg(target_feature = "simd128")]
    tanh_forward_simd(x, y, n);
    #[cfg(not(target_feature = "simd128"))]
    tanh_forward_scalar(x, y, n);
}

/// SIMD twin of [`tanh_forward`].
///
/// # Safety
/// As [`tanh_forward`].
pub unsafe fn tanh_forward_simd(x: *const f32, y: *mut f32, n: usize) {
    map_simd(x, y, n, tanh_x4, tanh_1);
}

/// Scalar twin of [`tanh_forward`].
///
/// # Safety
/// As [`tanh_forward`].
pub unsafe fn tanh_forward_scalar(x: *const f32, y: *mut f32, n: usize) {
    for i in 0..n {
        *y.add(i) = tanh_1(*x.add(i));
    }
}

/// `dx = delta · (1 - y²)` from the forward output y, overwriting dx.
///
/// # Safety
/// `y`, `delta` valid for `n` reads, `dx` for `n` writes; dx overlaps neither.
pub unsafe fn tanh_backward_delta(y: *const f32, delta: *const f32, dx: *mut f32, n: usize) {
    #[cfg(target_feature = "simd128")]
    tanh_backward_delta_simd(y, delta, dx, n);
    #[cfg(not(target_feature = "simd128"))]
    tanh_backward_delta_scalar(y, delta, dx, n);
}

/// SIMD twin of [`tanh_backward_delta`].
///
/// # Safety
/// As [`tanh_backward_delta`].
pub unsafe fn tanh_backward_delta_simd(y: *const f32, delta: *const f32, dx: *mut f32, n: usize) {
    let one = F32x4::splat(1.0);
    zip_simd(
        y,
        delta,
        dx,
        n,
        |y, d| d.mul(one.sub(y.mul(y))),
        |y, d| d * (1.0 - y * y),
    );
}

/// Scalar twin of [`tanh_backward_delta`].
///
/// # Safety
/// As [`tanh_backward_delta`].
pub unsafe fn tanh_backward_delta_scalar(y: *const f32, delta: *const f32, dx: *mut f32, n: usize) {
    for i in 0..n {
        let y = *y.add(i);
        *dx.add(i) = *delta.add(i) * (1.0 - y * y);
    }
}

/// `y = 1 / (1 + e^-x)`, overwriting y; relative error <= 1e-6 where y is a normal float.
///
/// # Safety
/// `x` valid for `n` reads, `y` for `n` writes; they do not overlap.
pub unsafe fn sigmoid_forward(x: *const f32, y: *mut f32, n: usize) {
    #[cfg(target_feature = "simd128")]
    sigmoid_forward_simd(x, y, n);
    #[cfg(not(target_feature = "simd128"))]
    sigmoid_forward_scalar(x, y, n);
}

/// SIMD twin of [`sigmoid_forward`].
///
/// # Safety
/// As [`sigmoid_forward`].
pub unsafe fn sigmoid_forward_simd(x: *const f32, y: *mut f32, n: usize) {
    map_simd(x, y, n, sigmoid_x4, sigmoid_1);
}

/// Scalar twin of [`sigmoid_forward`].
///
/// # Safety
/// As [`sigmoid_forward`].
pub unsafe fn sigmoid_forward_scalar(x: *const f32, y: *mut f32, n: usize) {
    for i in 0..n {
        *y.add(i) = sigmoid_1(*x.add(i));
    }
}

/// `dx = delta · y · (1 - y)` from the forward output y, overwriting dx.
///
/// # Safety
/// `y`, `delta` valid for `n` reads, `dx` for `n` writes; dx overlaps neither.
pub unsafe fn sigmoid_backward_delta(y: *const f32, delta: *const f32, dx: *mut f32, n: usize) {
    #[cfg(target_feature = "simd128")]
    sigmoid_backward_delta_simd(y, delta, dx, n);
    #[cfg(not(target_feature = "simd128"))]
    sigmoid_backward_delta_scalar(y, delta, dx, n);
}

/// SIMD twin of [`sigmoid_backward_delta`].
///
/// # Safety
/// As [`sigmoid_backward_delta`].
pub unsafe fn sigmoid_backward_delta_simd(
    y: *const f32,
    delta: *const f32,
    dx: *mut f32,
    n: usize,
) {
    let one = F32x4::splat(1.0);
    zip_simd(
        y,
        delta,
        dx,
        n,
        |y, d| d.mul(y.mul(one.sub(y))),
        |y, d| d * (y * (1.0 - y)),
    );
}

/// Scalar twin of [`sigmoid_backward_delta`].
///
/// # Safety
/// As [`sigmoid_backward_delta`].
pub unsafe fn sigmoid_backward_delta_scalar(
    y: *const f32,
    delta: *const f32,
    dx: *mut f32,
    n: usize,
) {
    for i in 0..n {
        let y = *y.add(i);
        *dx.add(i) = *delta.add(i) * (y * (1.0 - y));
    }
}

/// `y = max(x, 0)`, overwriting y; NaN stays NaN and -0.0 stays -0.0.
///
/// # Safety
/// `x` valid for `n` reads, `y` for `n` writes; they do not overlap.
pub unsafe fn relu_forward(x: *const f32, y: *mut f32, n: usize) {
    #[cfg(target_feature = "simd128")]
    relu_forward_simd(x, y, n);
    #[cfg(not(target_feature = "simd128"))]
    relu_forward_scalar(x, y, n);
}

/// SIMD twin of [`relu_forward`].
///
/// # Safety
/// As [`relu_forward`].
pub unsafe fn relu_forward_simd(x: *const f32, y: *mut f32, n: usize) {
    let zero = F32x4::splat(0.0);
    map_simd(x, y, n, |x| x.max(zero), relu_1);
}

/// Scalar twin of [`relu_forward`].
///
/// # Safety
/// As [`relu_forward`].
pub unsafe fn relu_forward_scalar(x: *const f32, y: *mut f32, n: usize) {
    for i in 0..n {
        *y.add(i) = relu_1(*x.add(i));
    }
}

/// Same rule as `F32x4::max(x, 0)` (pmax): only a value below 0 is replaced.
#[inline(always)]
fn relu_1(x: f32) -> f32 {
    if x < 0.0 {
        0.0
    } else {
        x
    }
}

/// `dx = delta` where `x > 0`, else 0 (the subgradient at 0 is 0, as in PyTorch); overwrites dx.
///
/// # Safety
/// `x`, `delta` valid for `n` reads, `dx` for `n` writes; dx overlaps neither.
pub unsafe fn relu_backward_delta(x: *const f32, delta: *const f32, dx: *mut f32, n: usize) {
    #[cfg(target_feature = "simd128")]
    relu_backward_delta_simd(x, delta, dx, n);
    #[cfg(not(target_feature = "simd128"))]
    relu_backward_delta_scalar(x, delta, dx, n);
}

/// SIMD twin of [`relu_backward_delta`].
///
/// # Safety
/// As [`relu_backward_delta`].
pub unsafe fn relu_backward_delta_simd(x: *const f32, delta: *const f32, dx: *mut f32, n: usize) {
    zip_simd(x, delta, dx, n, |x, d| d.where_positive(x), relu_gate);
}

/// Scalar twin of [`relu_backward_delta`].
///
/// # Safety
/// As [`relu_backward_delta`].
pub unsafe fn relu_backward_delta_scalar(x: *const f32, delta: *const f32, dx: *mut f32, n: usize) {
    for i in 0..n {
        *dx.add(i) = relu_gate(*x.add(i), *delta.add(i));
    }
}

#[inline(always)]
fn relu_gate(x: f32, d: f32) -> f32 {
    if x > 0.0 {
        d
    } else {
        0.0
    }
}

/// Row-wise `y = softmax(x)`, overwriting y. Each row is shifted by its max first, so e^x never
/// overflows; a NaN anywhere in a row makes that whole row NaN.
///
/// # Safety
/// `x` valid for `rows * cols` reads, `y` for as many writes; they do not overlap.
pub unsafe fn softmax_forward(x: *const f32, y: *mut f32, rows: usize, cols: usize) {
    #[cfg(target_feature = "simd128")]
    softmax_forward_simd(x, y, rows, cols);
    #[cfg(not(target_feature = "simd128"))]
    softmax_forward_scalar(x, y, rows, cols);
}

/// SIMD twin of [`softmax_forward`].
///
/// # Safety
/// As [`softmax_forward`].
pub unsafe fn softmax_forward_simd(x: *const f32, y: *mut f32, rows: usize, cols: usize) {
    for r in 0..rows {
        let (xr, yr) = (x.add(r * cols), y.add(r * cols));
        let sum = exp_shifted_simd(xr, yr, cols, row_max_simd(xr, cols));
        let sum4 = F32x4::splat(sum);
        let mut j = 0;
        while j + 4 <= cols {
            F32x4::load(yr.add(j)).div(sum4).store(yr.add(j));
            j += 4;
        }
        for j in j..cols {
            *yr.add(j) /= sum;
        }
    }
}

/// Scalar twin of [`softmax_forward`].
///
/// # Safety
/// As [`softmax_forward`].
pub unsafe fn softmax_forward_scalar(x: *const f32, y: *mut f32, rows: usize, cols: usize) {
    for r in 0..rows {
        let (xr, yr) = (x.add(r * cols), y.add(r * cols));
        let sum = exp_shifted_scalar(xr, yr, cols, row_max_scalar(xr, cols));
        for j in 0..cols {
            *yr.add(j) /= sum;
        }
    }
}

/// Largest of `x[0..n]` (-inf for n = 0); NaN lanes may or may not win, the caller's exp
/// turns them into NaN either way.
///
/// # Safety
/// `x` valid for `n` reads.
pub(crate) unsafe fn row_max_simd(x: *const f32, n: usize) -> f32 {
    let mut m = F32x4::splat(f32::NEG_INFINITY);
    let mut j = 0;
    while j + 4 <= n {
        m = m.max(F32x4::load(x.add(j)));
        j += 4;
    }
    let mut m = m.max_lane();
    for j in j..n {
        m = m.max(*x.add(j));
    }
    m
}

/// Scalar twin of [`row_max_simd`].
///
/// # Safety
/// `x` valid for `n` reads.
pub(crate) unsafe fn row_max_scalar(x: *const f32, n: usize) -> f32 {
    let mut m = f32::NEG_INFINITY;
    for j in 0..n {
        m = m.max(*x.add(j));
    }
    m
}

/// `e[j] = exp(x[j] - shift)`; returns Σ_j e[j].
///
/// # Safety
/// `x` valid for `n` reads, `e` for `n` writes (e may be x).
pub(crate) unsafe fn exp_shifted_simd(x: *const f32, e: *mut f32, n: usize, shift: f32) -> f32 {
    let shift4 = F32x4::splat(shift);
    let mut sum = F32x4::splat(0.0);
    let mut j = 0;
    while j + 4 <= n {
        let v = exp_simd(F32x4::load(x.add(j)).sub(shift4));
        v.store(e.add(j));
        sum = sum.add(v);
        j += 4;
    }
    let mut sum = sum.sum();
    for j in j..n {
        let v = exp_scalar(*x.add(j) - shift);
        *e.add(j) = v;
        sum += v;
    }
    sum
}

/// Scalar twin of [`exp_shifted_simd`].
///
/// # Safety
/// As [`exp_shifted_simd`].
pub(crate) unsafe fn exp_shifted_scalar(x: *const f32, e: *mut f32, n: usize, shift: f32) -> f32 {
    let mut sum = 0.0;
    for j in 0..n {
        let v = exp_scalar(*x.add(j) - shift);
        *e.add(j) = v;
        sum += v;
    }
    sum
}

/// Row-wise `dx = y ⊙ (delta - Σ_j delta_j y_j)` from the forward output y; overwrites dx.
///
/// # Safety
/// `y`, `delta` valid for `rows * cols` reads, `dx` for as many writes; dx overlaps neither.
pub unsafe fn softmax_backward_delta(
    y: *const f32,
    delta: *const f32,
    dx: *mut f32,
    rows: usize,
    cols: usize,
) {
    #[cfg(target_feature = "simd128")]
    softmax_backward_delta_simd(y, delta, dx, rows, cols);
    #[cfg(not(target_feature = "simd128"))]
    softmax_backward_delta_scalar(y, delta, dx, rows, cols);
}

/// SIMD twin of [`softmax_backward_delta`].
///
/// # Safety
/// As [`softmax_backward_delta`].
pub unsafe fn softmax_backward_delta_simd(
    y: *const f32,
    delta: *const f32,
    dx: *mut f32,
    rows: usize,
    cols: usize,
) {
    for r in 0..rows {
        let o = r * cols;
        let (yr, dr, xr) = (y.add(o), delta.add(o), dx.add(o));
        let mut dot = F32x4::splat(0.0);
        let mut j = 0;
        while j + 4 <= cols {
            dot = F32x4::load(dr.add(j)).mul_add(F32x4::load(yr.add(j)), dot);
            j += 4;
        }
        let mut dot = dot.sum();
        for j in j..cols {
            dot += *dr.add(j) * *yr.add(j);
        }
        let dot4 = F32x4::splat(dot);
        zip_simd(
            yr,
            dr,
            xr,
            cols,
            |y, d| y.mul(d.sub(dot4)),
            |y, d| y * (d - dot),
        );
    }
}

/// Scalar twin of [`softmax_backward_delta`].
///
/// # Safety
/// As [`softmax_backward_delta`].
pub unsafe fn softmax_backward_delta_scalar(
    y: *const f32,
    delta: *const f32,
    dx: *mut f32,
    rows: usize,
    cols: usize,
) {
    for r in 0..rows {
        let o = r * cols;
        let mut dot = 0.0f32;
        for j in o..o + cols {
            dot += *delta.add(j) * *y.add(j);
        }
        for j in o..o + cols {
            *dx.add(j) = *y.add(j) * (*delta.add(j) - dot);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Dropout

// Dropout (front: `Dropout` in `ts/core/activation.ts`): y = x ⊙ mask, dx = delta ⊙ mask, any
// shape flattened to [n]. TS draws mask [n] in training as 0 or 1 / (1 - p) per element (inverted
// dropout, as PyTorch), so evaluation is the identity and needs no kernel. A NaN or infinite
// input times a 0 of the mask gives NaN, as in PyTorch's `x * mask`.

/// `y[i] = x[i] · mask[i]`; overwrites y whole. Shapes: x, mask, y [n].
///
/// # Safety
/// Pointers valid for `n` floats; y overlaps neither input.
pub unsafe fn dropout_forward(x: *const f32, mask: *const f32, y: *mut f32, n: usize) {
    #[cfg(target_feature = "simd128")]
    dropout_forward_simd(x, mask, y, n);
    #[cfg(not(target_feature = "simd128"))]
    dropout_forward_scalar(x, mask, y, n);
}

/// SIMD twin of [`dropout_forward`]. One f32 multiply per element in both twins: the results
/// are equal bit for bit.
///
/// # Safety
/// As [`dropout_forward`].
pub unsafe fn dropout_forward_simd(x: *const f32, mask: *const f32, y: *mut f32, n: usize) {
    let mut i = 0;
    while i + 4 <= n {
        F32x4::load(x.add(i)).mul(F32x4::load(mask.add(i))).store(y.add(i));
        i += 4;
    }
    dropout_forward_scalar(x.add(i), mask.add(i), y.add(i), n - i);
}

/// Scalar twin of [`dropout_forward`].
///
/// # Safety
/// As [`dropout_forward`].
pub unsafe fn dropout_forward_scalar(x: *const f32, mask: *const f32, y: *mut f32, n: usize) {
    for i in 0..n {
        *y.add(i) = *x.add(i) * *mask.add(i);
    }
}

/// `dx[i] = delta[i] · mask[i]` (y is linear in x with slope mask: the forward product);
/// overwrites dx whole. Shapes: delta, mask, dx [n].
///
/// # Safety
/// Pointers valid for `n` floats; dx overlaps neither input.
pub unsafe fn dropout_backward_delta(delta: *const f32, mask: *const f32, dx: *mut f32, n: usize) {
    dropout_forward(delta, mask, dx, n)
}

#[cfg(test)]
mod tests {
    //! Tolerances, against float64 on the same f32 inputs:
    //! - exp: relative 3e-7 (Cephes `expf` is within ~2 ulp; 1 ulp = 1.2e-7) where e^x is normal.
    //! - tanh: relative 1e-6 everywhere (polynomial below 0.625, exp-based above, ~2-3 ulp).
    //! - sigmoid: relative 1e-6 where the result is normal (exp plus an add and a divide).
    //! - backward passes: one product of three rounded factors, relative 1e-6 + 1e-30.
    //! - softmax: a sum of `cols` f32 terms, so relative 1e-6 + cols·1.2e-7, absolute 1e-30.
    //! The SIMD and scalar twins run the same steps, so exp, tanh, sigmoid and relu agree bitwise.
    use super::*;
    use crate::testutil::{assert_close, values, Canary, SIZES};

    type Map = unsafe fn(*const f32, *mut f32, usize);
    type Zip = unsafe fn(*const f32, *const f32, *mut f32, usize);
    type Rows = unsafe fn(*const f32, *mut f32, usize, usize);
    type RowsZip = unsafe fn(*const f32, *const f32, *mut f32, usize, usize);

    const EDGES: &[f32] = &[
        0.0, -0.0, 1e-30, -1e-30, 1e-5, -1e-5, 0.3, 0.6249, 0.625, -0.625, 0.6251, 1.0, -3.0, 9.0,
        88.0, -88.0, 89.0, -89.0, 1e4, -1e4, 87.3, -87.3, 88.72, -103.0, -110.0,
    ];

    fn run_map(f: Map, x: &[f32]) -> Vec<f32> {
        let mut y = Canary::nan(x.len());
        unsafe { f(x.as_ptr(), y.ptr(), x.len()) };
        y.check_guards();
        y.vec()
    }

    fn run_zip(f: Zip, a: &[f32], b: &[f32]) -> Vec<f32> {
        let mut y = Canary::nan(a.len());
        unsafe { f(a.as_ptr(), b.as_ptr(), y.ptr(), a.len()) };
        y.check_written();
        y.vec()
    }

    /// Values spanning tiny to saturated, for every size in `SIZES`.
    fn inputs(n: usize, seed: u32, scale: f32) -> Vec<f32> {
        values(n, seed).iter().map(|v| v * scale).collect()
    }

    fn sweep() -> Vec<f32> {
        let mut x: Vec<f32> = (-2000..=2000).map(|i| i as f32 * 0.045).collect();
        x.extend_from_slice(EDGES);
        x.extend((0..200).map(|i| 0.55 + i as f32 * 0.001));
        x
    }

    #[test]
    fn exp_twins_agree_bitwise_and_match_float64() {
        let mut x: Vec<f32> = (-8730..=8872).map(|i| i as f32 * 0.01).collect();
        x.extend_from_slice(EDGES);
        for &v in &x {
            let s = exp_scalar(v);
            let mut lanes = [0.0f32; 4];
            unsafe { exp_simd(F32x4::splat(v)).store(lanes.as_mut_ptr()) };
            assert_eq!(lanes[0].to_bits(), s.to_bits(), "exp({}) twins", v);
            let want = (v as f64).exp();
            if want >= f32::MIN_POSITIVE as f64 && want <= f32::MAX as f64 {
                assert_close(&[s], &[want], 0.0, 3e-7, &format!("exp({})", v));
            }
        }
        assert_eq!(exp_scalar(0.0), 1.0);
        assert_eq!(exp_scalar(-0.0), 1.0);
        assert_eq!(exp_scalar(-110.0), 0.0);
        assert_eq!(exp_scalar(-1e4), 0.0);
        assert_eq!(exp_scalar(f32::NEG_INFINITY), 0.0);
        assert!(exp_scalar(-100.0) > 0.0, "e^-100 is a subnormal, not 0");
        assert!(exp_scalar(88.72) < f32::INFINITY);
        assert_eq!(exp_scalar(88.73), f32::INFINITY);
        assert_eq!(exp_scalar(1e4), f32::INFINITY);
        assert_eq!(exp_scalar(f32::INFINITY), f32::INFINITY);
        assert!(exp_scalar(f32::NAN).is_nan());
        let mut lanes = [0.0f32; 4];
        unsafe { exp_simd(F32x4::splat(f32::NAN)).store(lanes.as_mut_ptr()) };
        assert!(lanes[0].is_nan());
    }

    #[test]
    fn tanh_twins_match_float64_and_saturate_exactly() {
        let x = sweep();
        let want: Vec<f64> = x.iter().map(|&v| (v as f64).tanh()).collect();
        for f in [tanh_forward_simd as Map, tanh_forward_scalar, tanh_forward] {
            let y = run_map(f, &x);
            assert_close(&y, &want, 0.0, 1e-6, "tanh");
            for &n in SIZES {
                let x = inputs(n, n as u32, 3.0);
                let y = run_map(f, &x);
                let w: Vec<f64> = x.iter().map(|&v| (v as f64).tanh()).collect();
                assert_close(&y, &w, 0.0, 1e-6, "tanh sizes");
            }
            let y = run_map(f, &[89.0, -89.0, 1e4, -1e4, 9.1, -0.0, f32::NAN, 1e-30]);
            assert_eq!(&y[..5], &[1.0, -1.0, 1.0, -1.0, 1.0]);
            assert_eq!(y[5].to_bits(), (-0.0f32).to_bits());
            assert!(y[6].is_nan());
            assert_eq!(y[7], 1e-30);
        }
        let (a, b) = (
            run_map(tanh_forward_simd, &x),
            run_map(tanh_forward_scalar, &x),
        );
        assert!(
            a.iter().zip(&b).all(|(a, b)| a.to_bits() == b.to_bits()),
            "tanh twins differ"
        );
    }

    #[test]
    fn sigmoid_twins_match_float64_and_saturate() {
        let x = sweep();
        let sig = |v: f32| 1.0 / (1.0 + (-(v as f64)).exp());
        for f in [
            sigmoid_forward_simd as Map,
            sigmoid_forward_scalar,
            sigmoid_forward,
        ] {
            let y = run_map(f, &x);
            for (i, &v) in x.iter().enumerate() {
                let want = sig(v);
                if want >= f32::MIN_POSITIVE as f64 {
                    assert_close(&y[i..i + 1], &[want], 0.0, 1e-6, &format!("sigmoid({})", v));
                } else {
                    assert!(
                        (0.0..=f32::MIN_POSITIVE).contains(&y[i]),
                        "sigmoid({}) = {}",
                        v,
                        y[i]
                    );
                }
            }
            for &n in SIZES {
                let x = inputs(n, n as u32, 8.0);
                let w: Vec<f64> = x.iter().map(|&v| sig(v)).collect();
                assert_close(&run_map(f, &x), &w, 0.0, 1e-6, "sigmoid sizes");
            }
            let y = run_map(f, &[0.0, 89.0, -89.0, 1e4, -1e4, f32::NAN]);
            assert_eq!(&y[..5], &[0.5, 1.0, 0.0, 1.0, 0.0]);
            assert!(y[5].is_nan());
        }
        let (a, b) = (
            run_map(sigmoid_forward_simd, &x),
            run_map(sigmoid_forward_scalar, &x),
        );
        assert!(
            a.iter().zip(&b).all(|(a, b)| a.to_bits() == b.to_bits()),
            "sigmoid twins differ"
        );
    }

    #[test]
    fn relu_twins_are_exact() {
        for f in [relu_forward_simd as Map, relu_forward_scalar, relu_forward] {
            for &n in SIZES {
                let x = inputs(n, n as u32 + 3, 2.0);
                let y = run_map(f, &x);
                for i in 0..n {
                    assert_eq!(y[i], if x[i] > 0.0 { x[i] } else { 0.0 });
                }
            }
            let y = run_map(f, &[-1e-30, 1e-30, -0.0, f32::NAN, -f32::INFINITY]);
            assert_eq!(&y[..3], &[0.0, 1e-30, 0.0]);
            assert!(y[3].is_nan(), "relu(NaN) stays NaN");
            assert_eq!(y[4], 0.0);
        }
        for f in [
            relu_backward_delta_simd as Zip,
            relu_backward_delta_scalar,
            relu_backward_delta,
        ] {
            for &n in SIZES {
                let x = inputs(n, n as u32 + 5, 1.0);
                let d = inputs(n, n as u32 + 6, 1.0);
                let dx = run_zip(f, &x, &d);
                for i in 0..n {
                    assert_eq!(dx[i], if x[i] > 0.0 { d[i] } else { 0.0 });
                }
            }
            let dx = run_zip(f, &[0.0, -0.0, 1e-30, -1e-30, f32::NAN], &[2.0; 5]);
            assert_eq!(dx, vec![0.0, 0.0, 2.0, 0.0, 0.0]);
        }
    }

    #[test]
    fn tanh_and_sigmoid_backward_match_float64() {
        for &n in SIZES {
            let y = inputs(n, n as u32 + 1, 1.0);
            let d = inputs(n, n as u32 + 2, 3.0);
            let tanh_want: Vec<f64> = (0..n)
                .map(|i| d[i] as f64 * (1.0 - y[i] as f64 * y[i] as f64))
                .collect();
            let sig_want: Vec<f64> = (0..n)
                .map(|i| d[i] as f64 * y[i] as f64 * (1.0 - y[i] as f64))
                .collect();
            for f in [
                tanh_backward_delta_simd as Zip,
                tanh_backward_delta_scalar,
                tanh_backward_delta,
            ] {
                let dx = run_zip(f, &y, &d);
                for i in 0..n {
                    // 1 - y² cancels as |y| -> 1: the rounding of y² is what remains.
                    let y2 = y[i] as f64 * y[i] as f64;
                    let tol = 1.2e-7 * d[i].abs() as f64 * (y2 + 2.0 * (1.0 - y2).abs()) + 1e-30;
                    let err = (dx[i] as f64 - tanh_want[i]).abs();
                    assert!(
                        err <= tol,
                        "tanh_backward_delta({}, {}): err {}",
                        y[i],
                        d[i],
                        err
                    );
                }
            }
            for f in [
                sigmoid_backward_delta_simd as Zip,
                sigmoid_backward_delta_scalar,
                sigmoid_backward_delta,
            ] {
                assert_close(
                    &run_zip(f, &y, &d),
                    &sig_want,
                    1e-30,
                    1e-6,
                    "sigmoid_backward_delta",
                );
            }
        }
    }

    fn softmax64(x: &[f32], rows: usize, cols: usize) -> Vec<f64> {
        let mut out = vec![0.0; rows * cols];
        for r in 0..rows {
            let row = &x[r * cols..(r + 1) * cols];
            let m = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
            let s: f64 = row.iter().map(|&v| (v as f64 - m).exp()).sum();
            for j in 0..cols {
                out[r * cols + j] = (row[j] as f64 - m).exp() / s;
            }
        }
        out
    }

    /// e^(x - max) is as exact as x - max, rounded to f32: its relative error grows with
    /// |x - max| (exp's condition number), on top of the sum of `cols` terms.
    fn check_softmax(got: &[f32], x: &[f32], rows: usize, cols: usize) {
        let want = softmax64(x, rows, cols);
        for r in 0..rows {
            let row = &x[r * cols..(r + 1) * cols];
            let m = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            for j in r * cols..(r + 1) * cols {
                let rtol = 1e-6 + cols as f64 * 1.2e-7 + (x[j] - m).abs() as f64 * 6e-8;
                assert_close(&got[j..j + 1], &want[j..j + 1], 1e-30, rtol, "softmax");
            }
        }
    }

    #[test]
    fn softmax_forward_twins_match_float64() {
        for f in [
            softmax_forward_simd as Rows,
            softmax_forward_scalar,
            softmax_forward,
        ] {
            for &rows in &[0usize, 1, 3] {
                for &cols in SIZES {
                    for &scale in &[1.0f32, 30.0] {
                        let x = inputs(rows * cols, (rows * 100 + cols) as u32, scale);
                        let mut y = Canary::nan(rows * cols);
                        unsafe { f(x.as_ptr(), y.ptr(), rows, cols) };
                        y.check_written();
                        check_softmax(&y.vec(), &x, rows, cols);
                    }
                }
            }
            // Huge logits: the max shift makes them exact one-hots, not NaN.
            let x = [1e4, -1e4, 0.0, 5.0, -89.0, 89.0, 88.0, 7.0];
            let mut y = Canary::nan(8);
            unsafe { f(x.as_ptr(), y.ptr(), 2, 4) };
            y.check_written();
            assert_eq!(&y.vec()[..4], &[1.0, 0.0, 0.0, 0.0]);
            check_softmax(&y.vec()[4..], &x[4..], 1, 4);
            // A NaN poisons its own row only.
            let x = [1.0, f32::NAN, 2.0, 3.0, 1.0, 2.0];
            let mut y = Canary::nan(6);
            unsafe { f(x.as_ptr(), y.ptr(), 2, 3) };
            y.check_guards();
            assert!(y.vec()[..3].iter().all(|v| v.is_nan()));
            check_softmax(&y.vec()[3..], &x[3..], 1, 3);
        }
    }

    #[test]
    fn softmax_backward_twins_match_float64() {
        for f in [
            softmax_backward_delta_simd as RowsZip,
            softmax_backward_delta_scalar,
            softmax_backward_delta,
        ] {
            for &rows in &[0usize, 1, 3] {
                for &cols in SIZES {
                    let x = inputs(rows * cols, cols as u32 + 9, 4.0);
                    let p = softmax64(&x, rows, cols);
                    let y: Vec<f32> = p.iter().map(|&v| v as f32).collect();
                    let d = inputs(rows * cols, cols as u32 + 11, 1.0);
                    let mut want = vec![0.0f64; rows * cols];
                    let mut mag = vec![0.0f64; rows * cols];
                    for r in 0..rows {
                        let o = r * cols;
                        let dot: f64 = (o..o + cols).map(|j| d[j] as f64 * y[j] as f64).sum();
                        for j in o..o + cols {
                            want[j] = y[j] as f64 * (d[j] as f64 - dot);
                            mag[j] = y[j] as f64 * (d[j].abs() as f64 + 1.0);
                        }
                    }
                    let mut dx = Canary::nan(rows * cols);
                    unsafe { f(y.as_ptr(), d.as_ptr(), dx.ptr(), rows, cols) };
                    dx.check_written();
                    // The dot product cancels, so the error scales with y·(|delta| + Σ|δ y|).
                    for j in 0..rows * cols {
                        let err = (dx.get(j) as f64 - want[j]).abs();
                        let tol = (cols as f64 + 2.0) * 1.2e-7 * mag[j] + 1e-30;
                        assert!(
                            err <= tol,
                            "softmax_backward cols={} j={}: err {}",
                            cols,
                            j,
                            err
                        );
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod dropout_tests {
    // Tolerances: none. Each output is one correctly rounded f32 product in every twin.
    use super::*;
    use crate::testutil::{values, Canary, SIZES};

    type Mul = unsafe fn(*const f32, *const f32, *mut f32, usize);

    #[test]
    fn twins_multiply_exactly_at_every_tail() {
        let scale = 1.0f32 / (1.0 - 0.3);
        for &n in SIZES.iter().chain(&[40usize]) {
            let x = values(n, 1);
            let keep = |u: f32| if u < 0.4 { scale } else { 0.0 };
            let mask: Vec<f32> = values(n, 2).into_iter().map(keep).collect();
            let twins = [
                (dropout_forward_simd as Mul, "simd"),
                (dropout_forward_scalar, "scalar"),
                (dropout_forward, "forward"),
                (dropout_backward_delta, "backward_delta"),
            ];
            for (f, name) in twins {
                let mut y = Canary::nan(n);
                unsafe { f(x.as_ptr(), mask.as_ptr(), y.ptr(), n) };
                y.check_written();
                for i in 0..n {
                    let want = (x[i] * mask[i]).to_bits();
                    assert_eq!(y.get(i).to_bits(), want, "{} n={} [{}]", name, n, i);
                }
            }
        }
    }

    #[test]
    fn a_dropped_nan_stays_nan_as_in_pytorch() {
        let x = [f32::NAN, f32::INFINITY, 2.0, -0.0, 3.0];
        let mask = [0.0f32, 0.0, 0.0, 2.0, 2.0];
        for f in [dropout_forward_simd as Mul, dropout_forward_scalar] {
            let mut y = Canary::nan(5);
            unsafe { f(x.as_ptr(), mask.as_ptr(), y.ptr(), 5) };
            y.check_guards();
            assert!(y.get(0).is_nan() && y.get(1).is_nan());
            assert_eq!(y.get(2), 0.0);
            assert!(y.get(3) == 0.0 && y.get(3).is_sign_negative());
            assert_eq!(y.get(4), 6.0);
        }
    }
}
