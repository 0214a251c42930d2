//! Losses over y (target) and yhat (prediction), both [rows, cols]: forward returns the mean
//! over rows of each row's summed loss (accumulated in f64); backward overwrites grad with
//! d(forward)/d(yhat), hence the 1 / rows. Fronts: ts/core/loss.ts; exports in abi.rs.
//! Forward twins: the scalar one accumulates every term in f64; the SIMD one sums each row's
//! terms in f32x4 partial sums (a vector ln / exp per element) and adds the row into an f64
//! total. Vectors with a lane outside the fast path's range (log of 0, subnormals, NaN, inf) go
//! through the scalar rule, so clamping and NaN behaviour are the scalar twin's.
//!
//! Clamping rule (PyTorch's): BCE and cross-entropy clamp each log at -100, so a prediction of
//! exactly 0 (or 1) costs 100, not inf. Cross-entropy's gradient is the derivative of that
//! forward as computed: `-y / yhat` where the log is not clamped (yhat >= [`LOG_FLOOR_ARG`], the
//! least f32 with ln >= -100, about 3.78e-44) and 0 where it is (the clamped forward is flat
//! there); for yhat down to ~y·3e-39/rows the true derivative exceeds f32 and rounds to -inf, as
//! the forward's slope there does. BCE keeps PyTorch's backward, which floors its denominator
//! yhat·(1 - yhat) at 1e-12 (finite gradients, not the clamped forward's exact derivative).

use crate::activation::{
    exp_scalar, exp_shifted_scalar, exp_shifted_simd, exp_simd, row_max_scalar, row_max_simd,
};
use crate::simd::F32x4;

/// PyTorch's floor for each log in BCE and cross-entropy, so log 0 costs 100, not inf.
const LOG_FLOOR: f64 = -100.0;
/// PyTorch's floor for the denominator of the BCE gradient.
const GRAD_EPS: f32 = 1e-12;
/// The least f32 whose ln is at least [`LOG_FLOOR`] (27·2^-149, a subnormal): below it the
/// forward's clamped log is flat, so cross-entropy's gradient is 0.
pub const LOG_FLOOR_ARG: f32 = 3.783506e-44;

/// One element of cross-entropy's gradient: `-y / yhat / rows` where the log is not clamped,
/// 0 where it is (yhat in [0, LOG_FLOOR_ARG)), NaN where the forward is NaN (yhat < 0 or NaN).
#[inline(always)]
fn ce_grad(t: f32, v: f32, inv: f32) -> f32 {
    if v >= LOG_FLOOR_ARG {
        // y / yhat first keeps subnormal targets exact; where it overflows, dividing y / rows
        // instead keeps a gradient that fits f32 after the 1 / rows finite.
        let q = t / v;
        if q.is_infinite() {
            -(t * inv) / v
        } else {
            -(q * inv)
        }
    } else if v >= 0.0 {
        -(t * 0.0)
    } else {
        f32::NAN
    }
}

/// `max(ln v, -100)`, but NaN in gives NaN out (`f64::max` would drop it).
#[inline(always)]
fn clamped_ln(v: f64) -> f64 {
    let l = v.ln();
    if l < LOG_FLOOR {
        LOG_FLOOR
    } else {
        l
    }
}

/// `max(v, GRAD_EPS)` with NaN kept, as `F32x4::max` (pmax) does.
#[inline(always)]
fn floor_eps(v: f32) -> f32 {
    if v < GRAD_EPS {
        GRAD_EPS
    } else {
        v
    }
}

/// `Σ_i f(y[i], yhat[i]) / rows` in f64, over all `rows * cols` elements; 0 when rows = 0.
#[inline(always)]
unsafe fn mean_of_sums(
    y: *const f32,
    yhat: *const f32,
    rows: usize,
    cols: usize,
    f: impl Fn(f64, f64) -> f64,
) -> f32 {
    if rows == 0 {
        return 0.0;
    }
    let mut total = 0.0f64;
    for i in 0..rows * cols {
        total += f(*y.add(i) as f64, *yhat.add(i) as f64);
    }
    (total / rows as f64) as f32
}

/// Cephes `logf` polynomial for ln(1 + x), |x| < 0.42, highest degree first.
const LN_P: [f32; 9] = [
    7.037_683_6e-2,
    -1.151_461_0e-1,
    1.167_699_9e-1,
    -1.242_014_1e-1,
    1.424_932_3e-1,
    -1.666_805_8e-1,
    2.000_071_5e-1,
    -2.499_999_4e-1,
    3.333_333_1e-1,
];

/// Lane-wise ln x for positive normal x (Cephes `logf`, within about 1 ulp). Callers route
/// other lanes (0, subnormals, negatives, inf, NaN) through the f64 scalar rule.
#[inline(always)]
fn ln_simd(x: F32x4) -> F32x4 {
    let (e, m) = x.frexp();
    let one = F32x4::splat(1.0);
    // m in [sqrt(1/2), sqrt(2)) keeps the polynomial's argument small.
    let small = m.lt(F32x4::splat(core::f32::consts::FRAC_1_SQRT_2));
    let e = e.sub(F32x4::select(small, one, F32x4::splat(0.0)));
    let m = F32x4::select(small, m.add(m), m).sub(one);
    let z = m.mul(m);
    let mut p = F32x4::splat(LN_P[0]);
    for &c in &LN_P[1..] {
        p = p.mul_add(m, F32x4::splat(c));
    }
    // ln 2 split as 0.693359375 (exact in few bits) - 2.12194440e-4.
    let y = p.mul(m).mul(z).add(e.mul(F32x4::splat(-2.121_944_4e-4)));
    let y = y.sub(z.mul(F32x4::splat(0.5)));
    m.add(y).add(e.mul(F32x4::splat(0.693_359_4)))
}

/// SIMD counterpart of `mean_of_sums`: per row, `fv` gives four terms at once (None when a lane
/// needs the scalar rule `fs`), summed in f32x4 partial sums, then added into an f64 total.
#[inline(always)]
unsafe fn mean_of_sums_simd(
    y: *const f32,
    yhat: *const f32,
    rows: usize,
    cols: usize,
    fv: impl Fn(F32x4, F32x4) -> Option<F32x4>,
    fs: impl Fn(f64, f64) -> f64,
) -> f32 {
    if rows == 0 {
        return 0.0;
    }
    let mut total = 0.0f64;
    for r in 0..rows {
        let (yr, vr) = (y.add(r * cols), yhat.add(r * cols));
        let mut acc = F32x4::splat(0.0);
        let mut j = 0;
        while j + 4 <= cols {
            match fv(F32x4::load(yr.add(j)), F32x4::load(vr.add(j))) {
                Some(terms) => acc = acc.add(terms),
                None => {
                    for l in j..j + 4 {
                        total += fs(*yr.add(l) as f64, *vr.add(l) as f64);
                    }
                }
            }
            j += 4;
        }
        total += acc.sum() as f64;
        for l in j..cols {
            total += fs(*yr.add(l) as f64, *vr.add(l) as f64);
        }
    }
    (total / rows as f64) as f32
}

/// The largest f32 below 1: `1 - v` is then a normal number, so its ln needs no clamp.
const BELOW_ONE: f32 = 1.0 - f32::EPSILON / 2.0;

/// `out[i] = f(y[i], yhat[i])` four at a time, the tail through the scalar rule.
#[inline(always)]
unsafe fn zip_simd(
    y: *const f32,
    yhat: *const f32,
    out: *mut f32,
    n: usize,
    fv: impl Fn(F32x4, F32x4) -> F32x4,
    fs: impl Fn(f32, f32) -> f32,
) {
    let mut i = 0;
    while i + 4 <= n {
        fv(F32x4::load(y.add(i)), F32x4::load(yhat.add(i))).store(out.add(i));
        i += 4;
    }
    for i in i..n {
        *out.add(i) = fs(*y.add(i), *yhat.add(i));
    }
}

/// MSE: mean over rows of `Σ_j (yhat - y)²`; 0 when rows = 0.
///
/// # Safety
/// `y`, `yhat` valid for `rows * cols` reads.
pub unsafe fn mse_loss_forward(y: *const f32, yhat: *const f32, rows: usize, cols: usize) -> f32 {
    #[cfg(target_feature = "simd128")]
    return mse_loss_forward_simd(y, yhat, rows, cols);
    #[cfg(not(target_feature = "simd128"))]
    return mse_loss_forward_scalar(y, yhat, rows, cols);
}

/// SIMD twin of [`mse_loss_forward`].
///
/// # Safety
/// As [`mse_loss_forward`].
pub unsafe fn mse_loss_forward_simd(y: *const f32, yhat: *const f32, rows: usize, cols: usize) -> f32 {
    let fv = |t: F32x4, v: F32x4| {
        let d = v.sub(t);
        Some(d.mul(d))
    };
    mean_of_sums_simd(y, yhat, rows, cols, fv, |t, v| (v - t) * (v - t))
}

/// Scalar twin of [`mse_loss_forward`] (every term in f64).
///
/// # Safety
/// As [`mse_loss_forward`].
pub unsafe fn mse_loss_forward_scalar(y: *const f32, yhat: *const f32, rows: usize, cols: usize) -> f32 {
    mean_of_sums(y, yhat, rows, cols, |t, v| (v - t) * (v - t))
}

/// `grad = 2 (yhat - y) / rows`, overwriting grad.
///
/// # Safety
/// `y`, `yhat` valid for `rows * cols` reads, `grad` for as many writes; grad overlaps neither.
pub unsafe fn mse_loss_backward(
    y: *const f32,
    yhat: *const f32,
    grad: *mut f32,
    rows: usize,
    cols: usize,
) {
    #[cfg(target_feature = "simd128")]
    mse_loss_backward_simd(y, yhat, grad, rows, cols);
    #[cfg(not(target_feature = "simd128"))]
    mse_loss_backward_scalar(y, yhat, grad, rows, cols);
}

/// SIMD twin of [`mse_loss_backward`].
///
/// # Safety
/// As [`mse_loss_backward`].
pub unsafe fn mse_loss_backward_simd(
    y: *const f32,
    yhat: *const f32,
    grad: *mut f32,
    rows: usize,
    cols: usize,
) {
    let s = 2.0 / rows as f32;
    let s4 = F32x4::splat(s);
    zip_simd(
        y,
        yhat,
        grad,
        rows * cols,
        |t, v| v.sub(t).mul(s4),
        |t, v| (v - t) * s,
    );
}

/// Scalar twin of [`mse_loss_backward`].
///
/// # Safety
/// As [`mse_loss_backward`].
pub unsafe fn mse_loss_backward_scalar(
    y: *const f32,
    yhat: *const f32,
    grad: *mut f32,
    rows: usize,
    cols: usize,
) {
    let s = 2.0 / rows as f32;
    for i in 0..rows * cols {
        *grad.add(i) = (*yhat.add(i) - *y.add(i)) * s;
    }
}

/// BCE: mean over rows of `-Σ_j [y ln yhat + (1 - y) ln(1 - yhat)]`, each ln floored at -100
/// (as PyTorch); 0 when rows = 0.
///
/// # Safety
/// `y`, `yhat` valid for `rows * cols` reads.
pub unsafe fn bce_loss_forward(y: *const f32, yhat: *const f32, rows: usize, cols: usize) -> f32 {
    #[cfg(target_feature = "simd128")]
    return bce_loss_forward_simd(y, yhat, rows, cols);
    #[cfg(not(target_feature = "simd128"))]
    return bce_loss_forward_scalar(y, yhat, rows, cols);
}

/// The f64 BCE term of one element, ln floored at -100.
fn bce_term(t: f64, v: f64) -> f64 {
    -(t * clamped_ln(v) + (1.0 - t) * clamped_ln(1.0 - v))
}

/// SIMD twin of [`bce_loss_forward`]: for yhat in [MIN_POSITIVE, 1 - 2⁻²⁴] both logs are of
/// normal numbers and above -100, so no clamp is needed; other lanes take the scalar rule.
///
/// # Safety
/// As [`bce_loss_forward`].
pub unsafe fn bce_loss_forward_simd(y: *const f32, yhat: *const f32, rows: usize, cols: usize) -> f32 {
    let one = F32x4::splat(1.0);
    let fv = |t: F32x4, v: F32x4| {
        if !v.all_in(f32::MIN_POSITIVE, BELOW_ONE) {
            return None;
        }
        let s = t.mul(ln_simd(v)).add(one.sub(t).mul(ln_simd(one.sub(v))));
        Some(s.neg())
    };
    mean_of_sums_simd(y, yhat, rows, cols, fv, bce_term)
}

/// Scalar twin of [`bce_loss_forward`] (every term in f64).
///
/// # Safety
/// As [`bce_loss_forward`].
pub unsafe fn bce_loss_forward_scalar(y: *const f32, yhat: *const f32, rows: usize, cols: usize) -> f32 {
    mean_of_sums(y, yhat, rows, cols, bce_term)
}

/// `grad = (yhat - y) / max(yhat (1 - yhat), 1e-12) / rows` (PyTorch's clamp), overwriting grad.
///
/// # Safety
/// `y`, `yhat` valid for `rows * cols` reads, `grad` for as many writes; grad overlaps neither.
pub unsafe fn bce_loss_backward(
    y: *const f32,
    yhat: *const f32,
    grad: *mut f32,
    rows: usize,
    cols: usize,
) {
    #[cfg(target_feature = "simd128")]
    bce_loss_backward_simd(y, yhat, grad, rows, cols);
    #[cfg(not(target_feature = "simd128"))]
    bce_loss_backward_scalar(y, yhat, grad, rows, cols);
}

/// SIMD twin of [`bce_loss_backward`].
///
/// # Safety
/// As [`bce_loss_backward`].
pub unsafe fn bce_loss_backward_simd(
    y: *const f32,
    yhat: *const f32,
    grad: *mut f32,
    rows: usize,
    cols: usize,
) {
    let inv = 1.0 / rows as f32;
    let (inv4, one, eps) = (F32x4::splat(inv), F32x4::splat(1.0), F32x4::splat(GRAD_EPS));
    let fv = |t: F32x4, v: F32x4| v.sub(t).div(v.mul(one.sub(v)).max(eps)).mul(inv4);
    zip_simd(y, yhat, grad, rows * cols, fv, |t, v| bce_grad(t, v, inv));
}

/// Scalar twin of [`bce_loss_backward`].
///
/// # Safety
/// As [`bce_loss_backward`].
pub unsafe fn bce_loss_backward_scalar(
    y: *const f32,
    yhat: *const f32,
    grad: *mut f32,
    rows: usize,
    cols: usize,
) {
    let inv = 1.0 / rows as f32;
    for i in 0..rows * cols {
        *grad.add(i) = bce_grad(*y.add(i), *yhat.add(i), inv);
    }
}

#[inline(always)]
fn bce_grad(t: f32, v: f32, inv_rows: f32) -> f32 {
    (v - t) / floor_eps(v * (1.0 - v)) * inv_rows
}

/// Cross-entropy on probabilities: mean over rows of `-Σ_j y ln yhat`, the ln floored at -100;
/// 0 when rows = 0.
///
/// # Safety
/// `y`, `yhat` valid for `rows * cols` reads.
pub unsafe fn cross_entropy_loss_forward(
    y: *const f32,
    yhat: *const f32,
    rows: usize,
    cols: usize,
) -> f32 {
    #[cfg(target_feature = "simd128")]
    return cross_entropy_loss_forward_simd(y, yhat, rows, cols);
    #[cfg(not(target_feature = "simd128"))]
    return cross_entropy_loss_forward_scalar(y, yhat, rows, cols);
}

/// SIMD twin of [`cross_entropy_loss_forward`] (normal yhat: ln above -100, no clamp).
///
/// # Safety
/// As [`cross_entropy_loss_forward`].
pub unsafe fn cross_entropy_loss_forward_simd(
    y: *const f32,
    yhat: *const f32,
    rows: usize,
    cols: usize,
) -> f32 {
    let fv = |t: F32x4, v: F32x4| {
        if !v.all_in(f32::MIN_POSITIVE, f32::MAX) {
            return None;
        }
        Some(t.mul(ln_simd(v)).neg())
    };
    mean_of_sums_simd(y, yhat, rows, cols, fv, |t, v| -t * clamped_ln(v))
}

/// Scalar twin of [`cross_entropy_loss_forward`] (every term in f64).
///
/// # Safety
/// As [`cross_entropy_loss_forward`].
pub unsafe fn cross_entropy_loss_forward_scalar(
    y: *const f32,
    yhat: *const f32,
    rows: usize,
    cols: usize,
) -> f32 {
    mean_of_sums(y, yhat, rows, cols, |t, v| -t * clamped_ln(v))
}

/// `grad = -(y / rows) / yhat`, the derivative of [`cross_entropy_loss_forward`] as computed: 0
/// where its log is clamped (yhat < [`LOG_FLOOR_ARG`]), NaN for yhat < 0 (see the module doc).
/// Overwrites grad.
///
/// # Safety
/// `y`, `yhat` valid for `rows * cols` reads, `grad` for as many writes; grad overlaps neither.
pub unsafe fn cross_entropy_loss_backward(
    y: *const f32,
    yhat: *const f32,
    grad: *mut f32,
    rows: usize,
    cols: usize,
) {
    #[cfg(target_feature = "simd128")]
    cross_entropy_loss_backward_simd(y, yhat, grad, rows, cols);
    #[cfg(not(target_feature = "simd128"))]
    cross_entropy_loss_backward_scalar(y, yhat, grad, rows, cols);
}

/// SIMD twin of [`cross_entropy_loss_backward`].
///
/// # Safety
/// As [`cross_entropy_loss_backward`].
pub unsafe fn cross_entropy_loss_backward_simd(
    y: *const f32,
    yhat: *const f32,
    grad: *mut f32,
    rows: usize,
    cols: usize,
) {
    let inv = 1.0 / rows as f32;
    let (inv4, tiny, zero) = (F32x4::splat(inv), F32x4::splat(LOG_FLOOR_ARG), F32x4::splat(0.0));
    let nan = F32x4::splat(f32::NAN);
    let fv = |t: F32x4, v: F32x4| {
        let q = t.div(v);
        let finite = q.abs().lt(F32x4::splat(f32::INFINITY));
        let g = F32x4::select(finite, q.mul(inv4).neg(), t.mul(inv4).neg().div(v));
        let g = F32x4::select(v.lt(tiny), t.mul(zero).neg(), g);
        F32x4::select(v.lt(zero), nan, g)
    };
    zip_simd(y, yhat, grad, rows * cols, fv, |t, v| ce_grad(t, v, inv));
}

/// Scalar twin of [`cross_entropy_loss_backward`].
///
/// # Safety
/// As [`cross_entropy_loss_backward`].
pub unsafe fn cross_entropy_loss_backward_scalar(
    y: *const f32,
    yhat: *const f32,
    grad: *mut f32,
    rows: usize,
    cols: usize,
) {
    let inv = 1.0 / rows as f32;
    for i in 0..rows * cols {
        *grad.add(i) = ce_grad(*y.add(i), *yhat.add(i), inv);
    }
}

/// Cross-entropy from logits yhat: mean over rows of `-Σ_j y_j (yhat_j - logsumexp(yhat))`.
/// Targets may be soft (any non-negative row). 0 when rows = 0.
///
/// # Safety
/// `y`, `yhat` valid for `rows * cols` reads.
pub unsafe fn log_softmax_cross_entropy_forward(
    y: *const f32,
    yhat: *const f32,
    rows: usize,
    cols: usize,
) -> f32 {
    #[cfg(target_feature = "simd128")]
    return log_softmax_cross_entropy_forward_simd(y, yhat, rows, cols);
    #[cfg(not(target_feature = "simd128"))]
    return log_softmax_cross_entropy_forward_scalar(y, yhat, rows, cols);
}

/// One row of the scalar log-softmax cross-entropy, in f64.
unsafe fn lsce_row_scalar(yr: *const f32, xr: *const f32, cols: usize) -> f64 {
    // Shift by the row max (log-sum-exp trick): every e^(x - m) <= 1, and one equals 1.
    let m = row_max_scalar(xr, cols) as f64;
    let mut sum = 0.0f64;
    for j in 0..cols {
        sum += (*xr.add(j) as f64 - m).exp();
    }
    let lse = m + sum.ln();
    let mut total = 0.0f64;
    for j in 0..cols {
        total += *yr.add(j) as f64 * (lse - *xr.add(j) as f64);
    }
    total
}

/// SIMD twin of [`log_softmax_cross_entropy_forward`]. Each term is written
/// `y_j ((m - x_j) + ln Σ e^(x - m))`: both parts are >= 0, so nothing cancels in f32. Rows
/// with a non-finite max take the scalar rule.
///
/// # Safety
/// As [`log_softmax_cross_entropy_forward`].
pub unsafe fn log_softmax_cross_entropy_forward_simd(
    y: *const f32,
    yhat: *const f32,
    rows: usize,
    cols: usize,
) -> f32 {
    if rows == 0 {
        return 0.0;
    }
    let mut total = 0.0f64;
    for r in 0..rows {
        let (yr, xr) = (y.add(r * cols), yhat.add(r * cols));
        let m = row_max_simd(xr, cols);
        if !m.is_finite() {
            total += lsce_row_scalar(yr, xr, cols);
            continue;
        }
        let m4 = F32x4::splat(m);
        let mut sum4 = F32x4::splat(0.0);
        let mut j = 0;
        while j + 4 <= cols {
            sum4 = sum4.add(exp_simd(F32x4::load(xr.add(j)).sub(m4)));
            j += 4;
        }
        let mut sum = sum4.sum() as f64;
        for j in j..cols {
            sum += exp_scalar(*xr.add(j) - m) as f64;
        }
        let ls = sum.ln() as f32;
        let ls4 = F32x4::splat(ls);
        let mut acc = F32x4::splat(0.0);
        let mut j = 0;
        while j + 4 <= cols {
            let d = m4.sub(F32x4::load(xr.add(j))).add(ls4);
            acc = acc.add(F32x4::load(yr.add(j)).mul(d));
            j += 4;
        }
        total += acc.sum() as f64;
        for j in j..cols {
            total += *yr.add(j) as f64 * ((m - *xr.add(j)) + ls) as f64;
        }
    }
    (total / rows as f64) as f32
}

/// Scalar twin of [`log_softmax_cross_entropy_forward`] (every term in f64).
///
/// # Safety
/// As [`log_softmax_cross_entropy_forward`].
pub unsafe fn log_softmax_cross_entropy_forward_scalar(
    y: *const f32,
    yhat: *const f32,
    rows: usize,
    cols: usize,
) -> f32 {
    if rows == 0 {
        return 0.0;
    }
    let mut total = 0.0f64;
    for r in 0..rows {
        total += lsce_row_scalar(y.add(r * cols), yhat.add(r * cols), cols);
    }
    (total / rows as f64) as f32
}

/// `grad = (softmax(yhat) · Σ_j y_j - y) / rows`, row-wise, overwriting grad.
///
/// # Safety
/// `y`, `yhat` valid for `rows * cols` reads, `grad` for as many writes; grad overlaps neither.
pub unsafe fn log_softmax_cross_entropy_backward(
    y: *const f32,
    yhat: *const f32,
    grad: *mut f32,
    rows: usize,
    cols: usize,
) {
    #[cfg(target_feature = "simd128")]
    log_softmax_cross_entropy_backward_simd(y, yhat, grad, rows, cols);
    #[cfg(not(target_feature = "simd128"))]
    log_softmax_cross_entropy_backward_scalar(y, yhat, grad, rows, cols);
}

/// SIMD twin of [`log_softmax_cross_entropy_backward`].
///
/// # Safety
/// As [`log_softmax_cross_entropy_backward`].
pub unsafe fn log_softmax_cross_entropy_backward_simd(
    y: *const f32,
    yhat: *const f32,
    grad: *mut f32,
    rows: usize,
    cols: usize,
) {
    let inv = 1.0 / rows as f32;
    let inv4 = F32x4::splat(inv);
    for r in 0..rows {
        let o = r * cols;
        let (yr, xr, gr) = (y.add(o), yhat.add(o), grad.add(o));
        // grad holds e^(x - max) until the second pass turns it into the gradient.
        let sum = exp_shifted_simd(xr, gr, cols, row_max_simd(xr, cols));
        let mut ty = F32x4::splat(0.0);
        let mut j = 0;
        while j + 4 <= cols {
            ty = ty.add(F32x4::load(yr.add(j)));
            j += 4;
        }
        let mut ty = ty.sum();
        for j in j..cols {
            ty += *yr.add(j);
        }
        let scale = ty / sum;
        let scale4 = F32x4::splat(scale);
        let mut j = 0;
        while j + 4 <= cols {
            let e = F32x4::load(gr.add(j));
            e.mul(scale4)
                .sub(F32x4::load(yr.add(j)))
                .mul(inv4)
                .store(gr.add(j));
            j += 4;
        }
        for j in j..cols {
            *gr.add(j) = (*gr.add(j) * scale - *yr.add(j)) * inv;
        }
    }
}

/// Scalar twin of [`log_softmax_cross_entropy_backward`].
///
/// # Safety
/// As [`log_softmax_cross_entropy_backward`].
pub unsafe fn log_softmax_cross_entropy_backward_scalar(
    y: *const f32,
    yhat: *const f32,
    grad: *mut f32,
    rows: usize,
    cols: usize,
) {
    let inv = 1.0 / rows as f32;
    for r in 0..rows {
        let o = r * cols;
        let (yr, xr, gr) = (y.add(o), yhat.add(o), grad.add(o));
        let sum = exp_shifted_scalar(xr, gr, cols, row_max_scalar(xr, cols));
        let mut ty = 0.0f32;
        for j in 0..cols {
            ty += *yr.add(j);
        }
        let scale = ty / sum;
        for j in 0..cols {
            *gr.add(j) = (*gr.add(j) * scale - *yr.add(j)) * inv;
        }
    }
}

#[cfg(test)]
mod tests {
    //! Tolerances:
    //! - forward: the kernels accumulate in f64 and round once to f32, so relative 2e-7
    //!   (one f32 rounding) against a float64 reference on the same f32 inputs.
    //! - backward: a few f32 roundings per element, relative 1e-6 (log-softmax: the softmax
    //!   sum over `cols` terms and the exp's condition number |x - max|, as in activation.rs).
    //! - backward vs forward: central differences of the f64-accumulated forward with step
    //!   1e-2 on smooth inputs; truncation O(h²) and the loss's f32 rounding / 2h leave about
    //!   1e-4, so relative 2e-3 + 1e-4 absolute.
    use super::*;
    use crate::testutil::{assert_close, values, Canary, SIZES};

    type Fwd = unsafe fn(*const f32, *const f32, usize, usize) -> f32;
    type Bwd = unsafe fn(*const f32, *const f32, *mut f32, usize, usize);

    /// Probabilities in [0.05, 0.95], targets in [0, 1], logits in [-4, 4).
    fn probs(n: usize, seed: u32) -> Vec<f32> {
        values(n, seed).iter().map(|v| 0.5 + 0.45 * v).collect()
    }

    /// Probabilities in [0.2, 0.8], where the logs curve gently enough for central differences.
    fn mid_probs(n: usize, seed: u32) -> Vec<f32> {
        values(n, seed).iter().map(|v| 0.5 + 0.3 * v).collect()
    }

    fn targets(n: usize, seed: u32) -> Vec<f32> {
        values(n, seed).iter().map(|v| 0.5 + 0.5 * v).collect()
    }

    fn one_hot_rows(rows: usize, cols: usize) -> Vec<f32> {
        let mut y = vec![0.0; rows * cols];
        for r in 0..rows {
            if cols > 0 {
                y[r * cols + (r * 7 + 3) % cols] = 1.0;
            }
        }
        y
    }

    fn fwd(f: Fwd, y: &[f32], yhat: &[f32], rows: usize, cols: usize) -> f32 {
        unsafe { f(y.as_ptr(), yhat.as_ptr(), rows, cols) }
    }

    fn bwd(f: Bwd, y: &[f32], yhat: &[f32], rows: usize, cols: usize) -> Vec<f32> {
        let mut g = Canary::nan(rows * cols);
        unsafe { f(y.as_ptr(), yhat.as_ptr(), g.ptr(), rows, cols) };
        g.check_written();
        g.vec()
    }

    /// Per-row reference losses in float64, averaged over rows.
    fn mean64(rows: usize, cols: usize, row: impl Fn(std::ops::Range<usize>) -> f64) -> f64 {
        (0..rows)
            .map(|r| row(r * cols..(r + 1) * cols))
            .sum::<f64>()
            / rows as f64
    }

    fn lse64(x: &[f32]) -> f64 {
        let m = x.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
        m + x.iter().map(|&v| (v as f64 - m).exp()).sum::<f64>().ln()
    }

    /// Central differences of `f` w.r.t. each yhat, against `g`.
    fn gradcheck(f: Fwd, g: Bwd, y: &[f32], yhat: &[f32], rows: usize, cols: usize, what: &str) {
        let grad = bwd(g, y, yhat, rows, cols);
        let h = 1e-2f32;
        for i in 0..rows * cols {
            let (mut up, mut down) = (yhat.to_vec(), yhat.to_vec());
            up[i] += h;
            down[i] -= h;
            let step = (up[i] - down[i]) as f64;
            let fd =
                (fwd(f, y, &up, rows, cols) as f64 - fwd(f, y, &down, rows, cols) as f64) / step;
            assert_close(
                &grad[i..i + 1],
                &[fd],
                1e-4,
                2e-3,
                &format!("{} gradcheck [{}]", what, i),
            );
        }
    }

    #[test]
    fn mse_matches_float64_and_its_gradient() {
        for &rows in &[1usize, 3, 4] {
            for &cols in SIZES {
                let (y, yhat) = (values(rows * cols, 1), values(rows * cols, 2));
                let want = mean64(rows, cols, |r| {
                    r.map(|i| (yhat[i] as f64 - y[i] as f64).powi(2))
                        .sum::<f64>()
                });
                assert_close(
                    &[fwd(mse_loss_forward, &y, &yhat, rows, cols)],
                    &[want],
                    0.0,
                    2e-7,
                    "mse",
                );
                let g: Vec<f64> = (0..rows * cols)
                    .map(|i| 2.0 * (yhat[i] as f64 - y[i] as f64) / rows as f64)
                    .collect();
                for f in [
                    mse_loss_backward_simd as Bwd,
                    mse_loss_backward_scalar,
                    mse_loss_backward,
                ] {
                    assert_close(&bwd(f, &y, &yhat, rows, cols), &g, 1e-30, 1e-6, "mse grad");
                }
            }
        }
        gradcheck(
            mse_loss_forward,
            mse_loss_backward,
            &values(15, 3),
            &values(15, 4),
            3,
            5,
            "mse",
        );
        // Hand-checked: rows (0 + 1) and (4 + 0), mean 2.5.
        let (y, yhat) = ([1.0, 2.0, 3.0, 4.0], [1.0, 3.0, 5.0, 4.0]);
        assert_eq!(fwd(mse_loss_forward, &y, &yhat, 2, 2), 2.5);
        assert_eq!(
            bwd(mse_loss_backward_simd, &y, &yhat, 2, 2),
            vec![0.0, 1.0, 2.0, 0.0]
        );
        assert!(fwd(mse_loss_forward, &[0.0, 1.0], &[f32::NAN, 1.0], 1, 2).is_nan());
    }

    #[test]
    fn bce_matches_float64_clamps_like_pytorch_and_its_gradient() {
        let bce =
            |t: f64, v: f64| -(t * v.ln().max(-100.0) + (1.0 - t) * (1.0 - v).ln().max(-100.0));
        for &rows in &[1usize, 3] {
            for &cols in SIZES {
                let (y, yhat) = (targets(rows * cols, 5), probs(rows * cols, 6));
                let want = mean64(rows, cols, |r| {
                    r.map(|i| bce(y[i] as f64, yhat[i] as f64)).sum()
                });
                assert_close(
                    &[fwd(bce_loss_forward, &y, &yhat, rows, cols)],
                    &[want],
                    0.0,
                    2e-7,
                    "bce",
                );
                let g: Vec<f64> = (0..rows * cols)
                    .map(|i| {
                        let (t, v) = (y[i] as f64, yhat[i] as f64);
                        (v - t) / (v * (1.0 - v)) / rows as f64
                    })
                    .collect();
                for f in [
                    bce_loss_backward_simd as Bwd,
                    bce_loss_backward_scalar,
                    bce_loss_backward,
                ] {
                    assert_close(&bwd(f, &y, &yhat, rows, cols), &g, 1e-30, 1e-6, "bce grad");
                }
            }
        }
        gradcheck(
            bce_loss_forward,
            bce_loss_backward,
            &targets(10, 7),
            &mid_probs(10, 8),
            2,
            5,
            "bce",
        );
        // log 0 costs 100, not inf; 0 · log 0 costs nothing; the gradient's denominator is 1e-12.
        let (y, yhat) = ([1.0, 0.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 1.0, 0.5]);
        let want = 200.0 + std::f64::consts::LN_2;
        assert_close(
            &[fwd(bce_loss_forward, &y, &yhat, 1, 5)],
            &[want],
            0.0,
            2e-7,
            "bce clamp",
        );
        for f in [bce_loss_backward_simd as Bwd, bce_loss_backward_scalar] {
            let g = bwd(f, &y, &yhat, 1, 5);
            assert_eq!(&g[..4], &[-1.0 / 1e-12, 1.0 / 1e-12, 0.0, 0.0]);
            assert_eq!(g[4], -2.0);
            let mut g = Canary::new(1, |_| 0.0);
            unsafe { f([1.0f32].as_ptr(), [f32::NAN].as_ptr(), g.ptr(), 1, 1) };
            assert!(g.get(0).is_nan(), "NaN yhat gives a NaN gradient");
        }
        assert!(fwd(bce_loss_forward, &[1.0], &[f32::NAN], 1, 1).is_nan());
    }

    #[test]
    fn cross_entropy_matches_float64_clamps_and_its_gradient() {
        for &rows in &[1usize, 3] {
            for &cols in SIZES {
                let (y, yhat) = (targets(rows * cols, 9), probs(rows * cols, 10));
                let want = mean64(rows, cols, |r| {
                    r.map(|i| -(y[i] as f64) * (yhat[i] as f64).ln())
                        .sum::<f64>()
                });
                let got = fwd(cross_entropy_loss_forward, &y, &yhat, rows, cols);
                assert_close(&[got], &[want], 0.0, 2e-7, "cross_entropy");
                let g: Vec<f64> = (0..rows * cols)
                    .map(|i| -(y[i] as f64) / yhat[i] as f64 / rows as f64)
                    .collect();
                for f in [
                    cross_entropy_loss_backward_simd as Bwd,
                    cross_entropy_loss_backward_scalar,
                    cross_entropy_loss_backward,
                ] {
                    assert_close(
                        &bwd(f, &y, &yhat, rows, cols),
                        &g,
                        1e-30,
                        1e-6,
                        "cross_entropy grad",
                    );
                }
            }
        }
        let (y, yhat) = (targets(12, 11), mid_probs(12, 12));
        gradcheck(
            cross_entropy_loss_forward,
            cross_entropy_loss_backward,
            &y,
            &yhat,
            3,
            4,
            "ce",
        );
        // One-hot rows: -ln p of the labelled class; p = 0 costs 100.
        let (y, yhat) = (
            [0.0, 1.0, 0.0, 1.0, 0.0, 0.0],
            [0.2, 0.5, 0.3, 0.0, 0.4, 0.6],
        );
        let want = (100.0 + std::f64::consts::LN_2) / 2.0;
        assert_close(
            &[fwd(cross_entropy_loss_forward, &y, &yhat, 2, 3)],
            &[want],
            0.0,
            2e-7,
            "ce",
        );
        for f in [
            cross_entropy_loss_backward_simd as Bwd,
            cross_entropy_loss_backward_scalar,
        ] {
            let g = bwd(f, &y, &yhat, 2, 3);
            // p = 0: the forward's log is clamped there, so it is flat: gradient 0.
            assert_eq!(g, vec![0.0, -1.0, 0.0, 0.0, 0.0, 0.0]);
        }
    }

    #[test]
    fn cross_entropy_gradient_is_the_clamped_forwards_derivative_at_tiny_probabilities() {
        // LOG_FLOOR_ARG is the least f32 whose ln is not clamped.
        assert_eq!(LOG_FLOOR_ARG.to_bits(), 27);
        assert!((LOG_FLOOR_ARG as f64).ln() >= LOG_FLOOR);
        assert!((f32::from_bits(26) as f64).ln() < LOG_FLOOR);
        let ulp = f32::from_bits(1);
        // yhat from 1e-44 (clamped) through the subnormals to 1e-12, y = 1 and 0.5; four
        // elements per call so the SIMD twin's vector path runs too.
        let points = [
            1e-44f32, 3e-44, 5e-44, 1e-43, 1e-42, 1e-41, 1e-40, 1e-39, 3e-39, 1e-38, 1e-36, 1e-30,
            1e-20, 1e-15, 1e-12,
        ];
        for &t in &[1.0f32, 0.5] {
            for &v in &points {
                // A step of 1% or 4 ulps, kept on v's side of the clamp.
                let h = (v * 0.01).max(4.0 * ulp);
                let (lo, hi) = if v < LOG_FLOOR_ARG {
                    (ulp.max(v - 2.0 * ulp), (v + 2.0 * ulp).min(f32::from_bits(26)))
                } else {
                    ((v - h).max(LOG_FLOOR_ARG), v + h)
                };
                let f = |p: f32| {
                    fwd(cross_entropy_loss_forward, &[t; 4], &[p; 4], 1, 4) as f64 / 4.0
                };
                let cd = (f(hi) - f(lo)) / (hi as f64 - lo as f64);
                let twins = [
                    cross_entropy_loss_backward_simd as Bwd,
                    cross_entropy_loss_backward_scalar,
                ];
                for b in twins {
                    let g = bwd(b, &[t; 4], &[v; 4], 1, 4);
                    for &gi in &g {
                        let what = format!("y {t} yhat {v:e}: grad {gi:e} vs difference {cd:e}");
                        if cd < -(f32::MAX as f64) {
                            assert_eq!(gi, f32::NEG_INFINITY, "{what}");
                        } else if v < LOG_FLOOR_ARG {
                            assert!(gi == 0.0 && cd == 0.0, "{what}");
                        } else {
                            let rel = ((gi as f64 - cd) / cd).abs();
                            assert!(rel < 5e-3, "{what}: relative error {rel:e}");
                        }
                    }
                }
            }
        }
        // Outside the forward's domain the gradient is NaN, as the forward is.
        for b in [
            cross_entropy_loss_backward_simd as Bwd,
            cross_entropy_loss_backward_scalar,
        ] {
            let (y, yhat) = ([1.0f32; 4], [-1e-30f32, f32::NAN, -1.0, 0.0]);
            let mut out = Canary::zeros(4);
            unsafe { b(y.as_ptr(), yhat.as_ptr(), out.ptr(), 1, 4) };
            out.check_guards();
            let g = out.vec();
            assert!(g[0].is_nan() && g[1].is_nan() && g[2].is_nan() && g[3] == 0.0, "{g:?}");
        }
    }

    #[test]
    fn log_softmax_cross_entropy_is_stable_and_matches_float64() {
        for &rows in &[1usize, 3] {
            for &cols in SIZES {
                for soft in [false, true] {
                    let x: Vec<f32> = values(rows * cols, 13).iter().map(|v| v * 4.0).collect();
                    let y = if soft {
                        targets(rows * cols, 14)
                    } else {
                        one_hot_rows(rows, cols)
                    };
                    let want = mean64(rows, cols, |r| {
                        let lse = lse64(&x[r.clone()]);
                        r.map(|i| y[i] as f64 * (lse - x[i] as f64)).sum::<f64>()
                    });
                    let got = fwd(log_softmax_cross_entropy_forward, &y, &x, rows, cols);
                    assert_close(&[got], &[want], 1e-30, 2e-7, "log_softmax_ce");
                    let mut g = vec![0.0f64; rows * cols];
                    for r in 0..rows {
                        let o = r * cols;
                        let (lse, ty) = (
                            lse64(&x[o..o + cols]),
                            y[o..o + cols].iter().map(|&v| v as f64).sum::<f64>(),
                        );
                        for i in o..o + cols {
                            g[i] = ((x[i] as f64 - lse).exp() * ty - y[i] as f64) / rows as f64;
                        }
                    }
                    for f in [
                        log_softmax_cross_entropy_backward_simd as Bwd,
                        log_softmax_cross_entropy_backward_scalar,
                        log_softmax_cross_entropy_backward,
                    ] {
                        // Logits span 8, so e^(x - max) carries up to 8·6e-8 relative error.
                        let atol = 1e-6 / rows as f64;
                        assert_close(
                            &bwd(f, &y, &x, rows, cols),
                            &g,
                            atol,
                            2e-6,
                            "log_softmax_ce grad",
                        );
                    }
                }
            }
        }
        let (y, x) = (targets(12, 15), values(12, 16));
        let (f, g) = (
            log_softmax_cross_entropy_forward,
            log_softmax_cross_entropy_backward,
        );
        gradcheck(f, g, &y, &x, 3, 4, "log_softmax_ce");
        // ±1e4 logits: no overflow, exact answers.
        let (y, x) = ([0.0, 1.0, 1.0, 0.0], [1e4, -1e4, 1e4, -1e4]);
        assert_eq!(fwd(log_softmax_cross_entropy_forward, &y, &x, 2, 2), 1e4);
        for f in [
            log_softmax_cross_entropy_backward_simd as Bwd,
            log_softmax_cross_entropy_backward_scalar,
        ] {
            assert_eq!(bwd(f, &y, &x, 2, 2), vec![0.5, -0.5, 0.0, 0.0]);
        }
        // Equal logits: ln(cols); a single column: loss 0, gradient (1 - y) · Σy.
        let ln3 = 3f64.ln() as f32;
        assert_eq!(
            fwd(
                log_softmax_cross_entropy_forward,
                &[0.0, 1.0, 0.0],
                &[2.0; 3],
                1,
                3
            ),
            ln3
        );
        assert_eq!(
            fwd(
                log_softmax_cross_entropy_forward,
                &[1.0, 1.0],
                &[5.0, -3.0],
                2,
                1
            ),
            0.0
        );
        assert_eq!(
            bwd(
                log_softmax_cross_entropy_backward_simd,
                &[1.0, 1.0],
                &[5.0, -3.0],
                2,
                1
            ),
            vec![0.0, 0.0]
        );
        // It agrees with cross-entropy on the softmax of the logits.
        let (y, x) = (one_hot_rows(3, 5), values(15, 17));
        let mut p = vec![0.0f32; 15];
        unsafe { crate::activation::softmax_forward(x.as_ptr(), p.as_mut_ptr(), 3, 5) };
        let a = fwd(log_softmax_cross_entropy_forward, &y, &x, 3, 5) as f64;
        let b = fwd(cross_entropy_loss_forward, &y, &p, 3, 5) as f64;
        assert!((a - b).abs() <= 1e-6 * a.abs(), "{} vs {}", a, b);
        assert!(fwd(
            log_softmax_cross_entropy_forward,
            &[1.0, 0.0],
            &[f32::NAN, 0.0],
            1,
            2
        )
        .is_nan());
    }

    #[test]
    fn zero_rows_give_zero_loss_and_write_nothing() {
        let fwds: [Fwd; 4] = [
            mse_loss_forward,
            bce_loss_forward,
            cross_entropy_loss_forward,
            log_softmax_cross_entropy_forward,
        ];
        for f in fwds {
            for &cols in &[0usize, 3] {
                assert_eq!(fwd(f, &[], &[], 0, cols).to_bits(), 0.0f32.to_bits());
            }
        }
        let bwds: [Bwd; 12] = [
            mse_loss_backward_simd,
            mse_loss_backward_scalar,
            mse_loss_backward,
            bce_loss_backward_simd,
            bce_loss_backward_scalar,
            bce_loss_backward,
            cross_entropy_loss_backward_simd,
            cross_entropy_loss_backward_scalar,
            cross_entropy_loss_backward,
            log_softmax_cross_entropy_backward_simd,
            log_softmax_cross_entropy_backward_scalar,
            log_softmax_cross_entropy_backward,
        ];
        for g in bwds {
            assert!(bwd(g, &[], &[], 0, 5).is_empty());
            assert!(bwd(g, &[], &[], 4, 0).is_empty());
        }
        for f in fwds {
            assert_eq!(fwd(f, &[], &[], 4, 0), 0.0, "cols = 0: every row sums to 0");
        }
    }

    /// The forward twins agree: SIMD sums each row in f32x4 partial sums of f32 terms (each
    /// within about 2 ulp), all terms >= 0, so the relative gap is below (cols / 4 + 8)·2⁻²²;
    /// edge values (0, 1, subnormals) take the scalar rule and must match it.
    #[test]
    fn forward_twins_agree() {
        type Pair = (Fwd, Fwd, &'static str);
        let pairs: [Pair; 4] = [
            (mse_loss_forward_simd, mse_loss_forward_scalar, "mse"),
            (bce_loss_forward_simd, bce_loss_forward_scalar, "bce"),
            (cross_entropy_loss_forward_simd, cross_entropy_loss_forward_scalar, "ce"),
            (
                log_softmax_cross_entropy_forward_simd,
                log_softmax_cross_entropy_forward_scalar,
                "lsce",
            ),
        ];
        for &rows in &[0usize, 1, 3, 4] {
            for &cols in SIZES.iter().chain(&[100usize, 784]) {
                let n = rows * cols;
                let t = targets(n, 3);
                let mut p = probs(n, 4);
                let logits: Vec<f32> = values(n, 5).iter().map(|v| 4.0 * v).collect();
                for (i, v) in p.iter_mut().enumerate() {
                    match i % 23 {
                        5 => *v = 0.0,
                        7 => *v = 1.0,
                        11 => *v = 1e-40,
                        13 => *v = 1e-30,
                        _ => {}
                    }
                }
                for (simd, scalar, what) in pairs {
                    let yhat = if what == "lsce" { &logits } else { &p };
                    let want = fwd(scalar, &t, yhat, rows, cols) as f64;
                    let got = fwd(simd, &t, yhat, rows, cols) as f64;
                    let rtol = (cols as f64 / 4.0 + 8.0) * 2f64.powi(-22);
                    let ok = (got - want).abs() <= 1e-6 + rtol * want.abs();
                    assert!(ok, "{} rows={} cols={}: simd {} scalar {}", what, rows, cols, got, want);
                }
            }
        }
        // NaN in, NaN out, through either path.
        for (simd, _, what) in pairs {
            let yhat = [0.5f32, f32::NAN, 0.25, 0.5, 0.5];
            assert!(fwd(simd, &[1.0; 5], &yhat, 1, 5).is_nan(), "{} NaN", what);
        }
    }
}
