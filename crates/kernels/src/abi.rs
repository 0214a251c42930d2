//! Every `#[no_mangle]` export of the `.wasm`, and nothing else. Each one forwards to the kernel
//! module that holds the math; `ts/core/wasm.ts` repeats these signatures one to one.
//! Tags: `[in]` read only, `[out]` overwritten whole, `[in,out]` updated in place (added into, or
//! overwritten when `beta = 0`), `[work]` scratch. Sizes and strides are element counts (f32 or
//! u32), never bytes, except in `tl_alloc` / `tl_free`. `beta` is a u32: 0 overwrites the
//! `[in,out]` outputs without reading them, 1 adds into them; TS passes no other value.
//!
//! # Safety (for every function taking pointers)
//! Each pointer must be valid for the number of elements its shape line states, 4-byte aligned,
//! and `[out]` / `[in,out]` / `[work]` buffers must not overlap any other argument.
#![allow(clippy::missing_safety_doc, clippy::too_many_arguments)]

use crate::conv::out_len;
use crate::guard::{self, prod, strided, Reason};
use crate::{activation, conv, gemm, loss, optim, pool, upsample, util};

/// Bumped whenever an export's signature or contract changes; `ts/core/wasm.ts` checks it at load.
/// 3: every export checks its pointers against the live blocks and calls the `env.tl_fail`
/// import on a failure; `tl_free` refuses a block that is not live; `*_workspace_len` saturate.
pub const ABI_VERSION: u32 = 3;

/// `check!("export"; arg: extent, ...)`: the once-per-call bounds check of [`guard::spans`] over
/// the export's first parameters, in order (`check!("export" @ i; ...)` starts at parameter i);
/// on a failure the export returns (its default value) without touching memory.
macro_rules! check {
    ($export:literal; $($rest:tt)+) => { check!($export @ 0; $($rest)+) };
    ($export:literal @ $first:expr; $($name:ident: $elems:expr),+ $(,)?) => {
        if !guard::spans($export, $first, &[$((stringify!($name), $name as usize, $elems)),+]) {
            return Default::default();
        }
    };
}

/// The extent of a workspace: a saturated length (`usize::MAX`) means the size overflowed.
#[inline(always)]
fn ws(len: usize) -> Option<usize> {
    if len == usize::MAX {
        None
    } else {
        Some(len)
    }
}

/// Floats of the padded tensor [batch, top + height + bottom, left + width + right, c].
#[inline(always)]
fn padded(
    batch: usize, height: usize, width: usize, c: usize,
    top: usize, bottom: usize, left: usize, right: usize,
) -> Option<usize> {
    let h = top.checked_add(height)?.checked_add(bottom)?;
    let w = left.checked_add(width)?.checked_add(right)?;
    prod(&[batch, h, w, c])
}

/// Floats of the upsampled tensor [batch, height·sh, width·sw, c].
#[inline(always)]
fn upsampled(
    batch: usize, height: usize, width: usize, c: usize, sh: usize, sw: usize,
) -> Option<usize> {
    prod(&[batch, height, sh, width, sw, c])
}

/// The ABI version this module was built with.
#[no_mangle]
pub extern "C" fn abi_version() -> u32 {
    ABI_VERSION
}

// ---------------------------------------------------------------------------------------------
// Memory

/// Allocates `bytes` bytes aligned to 16 and records the block as live; returns 0 when memory
/// cannot grow or `bytes` exceeds `isize::MAX` (2 GiB - 1 on wasm32, Rust's limit for one
/// block). `bytes` > 0.
#[no_mangle]
pub extern "C" fn tl_alloc(bytes: usize) -> *mut u8 {
    let p = util::alloc(bytes);
    if !p.is_null() {
        guard::register(p as usize, bytes.max(1));
    }
    p
}

/// Frees a live block from `tl_alloc`; `bytes` must be the size it was allocated with. Anything
/// else (a double free, a wrong size, a pointer never allocated) fails through `tl_fail` with
/// nothing freed.
#[no_mangle]
pub unsafe extern "C" fn tl_free(ptr: *mut u8, bytes: usize) {
    if !guard::unregister(ptr as usize, bytes.max(1)) {
        guard::fail("tl_free", "ptr", 0, Reason::BadFree);
        return;
    }
    util::free(ptr, bytes)
}

// ---------------------------------------------------------------------------------------------
// Utilities

/// Number of NaN or infinite values in `x`. Shape: x [n].
#[no_mangle]
pub unsafe extern "C" fn non_finite_count(
    x: *const f32, // [in] x [n]
    n: usize,
) -> usize {
    check!("non_finite_count"; x: Some(n));
    util::non_finite_count(x, n)
}

/// Number of values of `x` outside `[lo, hi]`, NaN included. Shape: x [n].
#[no_mangle]
pub unsafe extern "C" fn count_outside(
    x: *const f32, // [in] x [n]
    n: usize,
    lo: f32,
    hi: f32,
) -> usize {
    check!("count_outside"; x: Some(n));
    util::count_outside(x, n, lo, hi)
}

/// dst[i, :] = src[indices[i], :]. Shape: src [?, cols], indices [rows], dst [rows, cols].
/// Indices must be in range (TS checks).
#[no_mangle]
pub unsafe extern "C" fn gather_rows(
    src: *const f32, // [in]  src [?, cols]
    indices: *const u32, // [in]  indices [rows]
    dst: *mut f32, // [out] dst [rows, cols]
    rows: usize,
    cols: usize,
) {
    check!("gather_rows" @ 1; indices: Some(rows), dst: prod(&[rows, cols]));
    // src's extent is the largest row asked for: one read-only pass over the indices first.
    let mut top: Option<usize> = Some(0);
    for i in 0..rows {
        let need = (*indices.add(i) as usize).checked_add(1);
        top = match (top, need) {
            (Some(t), Some(n)) => Some(t.max(n)),
            _ => None,
        };
    }
    check!("gather_rows"; src: top.and_then(|t| t.checked_mul(cols)));
    util::gather_rows(src, indices, dst, rows, cols)
}

/// out[r, :] = one-hot of labels[r] (labels are integral f32 in [0, cols); TS checks).
/// Shape: labels [rows], out [rows, cols].
#[no_mangle]
pub unsafe extern "C" fn one_hot(
    labels: *const f32, // [in]  labels [rows]
    out: *mut f32, // [out] out [rows, cols]
    rows: usize,
    cols: usize,
) {
    check!("one_hot"; labels: Some(rows), out: prod(&[rows, cols]));
    for r in 0..rows {
        let l = *labels.add(r);
        if !(l >= 0.0 && l < cols as f32 && l.fract() == 0.0) {
            guard::fail("one_hot", "labels", 0, Reason::BadIndex);
            return;
        }
    }
    util::one_hot(labels, out, rows, cols)
}

/// Sets `x[0..n]` to zero. Shape: x [n].
#[no_mangle]
pub unsafe extern "C" fn fill_zero(
    x: *mut f32, // [out] x [n]
    n: usize,
) {
    check!("fill_zero"; x: Some(n));
    util::fill_zero(x, n)
}

// ---------------------------------------------------------------------------------------------
// GEMM and Linear (gemm.rs)

/// c = op(a) · op(b) (+ c when beta = 1), matrixmultiply's strided sgemm: element (i, p) of
/// op(a) is `a[i·rsa + p·csa]`, element (p, j) of op(b) is `b[p·rsb + j·csb]`, and c is
/// contiguous row-major (rows n apart). a stored [m, k] is `rsa = k, csa = 1`, stored [k, m]
/// (transposed) `rsa = 1, csa = m`; likewise b. Shape: op(a) [m, k], op(b) [k, n], c [m, n].
#[no_mangle]
pub unsafe extern "C" fn gemm(
    a: *const f32, // [in]     a, reaching (m-1)·rsa + (k-1)·csa + 1 floats
    b: *const f32, // [in]     b, reaching (k-1)·rsb + (n-1)·csb + 1 floats
    c: *mut f32, // [in,out] c [m, n] (read only when beta = 1)
    m: usize,
    k: usize,
    n: usize,
    rsa: usize,
    csa: usize,
    rsb: usize,
    csb: usize,
    beta: u32,
) {
    check!("gemm"; a: strided(m, k, rsa, csa), b: strided(k, n, rsb, csb), c: prod(&[m, n]));
    gemm::gemm(a, b, c, m, k, n, rsa, csa, rsb, csb, n, beta != 0)
}

/// y = x · weight + bias. Shape: x [batch, n_in], y [batch, n_out], weight [n_in, n_out],
/// bias [n_out].
#[no_mangle]
pub unsafe extern "C" fn linear_forward(
    x: *const f32, // [in]  x [batch, n_in]
    y: *mut f32, // [out] y [batch, n_out]
    weight: *const f32, // [in]  weight [n_in, n_out]
    bias: *const f32, // [in]  bias [n_out]
    batch: usize,
    n_in: usize,
    n_out: usize,
) {
    check!("linear_forward";
        x: prod(&[batch, n_in]),
        y: prod(&[batch, n_out]),
        weight: prod(&[n_in, n_out]),
        bias: Some(n_out),
    );
    gemm::linear_forward(x, y, weight, bias, batch, n_in, n_out)
}

/// dx = delta · weightᵀ. Shape: delta [batch, n_out], dx [batch, n_in], weight [n_in, n_out].
#[no_mangle]
pub unsafe extern "C" fn linear_backward_delta(
    delta: *const f32, // [in]  delta [batch, n_out]
    dx: *mut f32, // [out] dx [batch, n_in]
    weight: *const f32, // [in]  weight [n_in, n_out]
    batch: usize,
    n_in: usize,
    n_out: usize,
) {
    check!("linear_backward_delta";
        delta: prod(&[batch, n_out]),
        dx: prod(&[batch, n_in]),
        weight: prod(&[n_in, n_out]),
    );
    gemm::linear_backward_delta(delta, dx, weight, batch, n_in, n_out)
}

/// grad_weight (+)= xᵀ · delta; grad_bias (+)= Σ_b delta[b, :] (beta = 0 overwrites, 1 adds).
/// Shape: x [batch, n_in], delta [batch, n_out], grad_weight [n_in, n_out], grad_bias [n_out].
#[no_mangle]
pub unsafe extern "C" fn linear_backward_update_gradient(
    x: *const f32, // [in]     x [batch, n_in]
    delta: *const f32, // [in]     delta [batch, n_out]
    grad_weight: *mut f32, // [in,out] grad_weight [n_in, n_out]
    grad_bias: *mut f32, // [in,out] grad_bias [n_out]
    batch: usize,
    n_in: usize,
    n_out: usize,
    beta: u32,
) {
    check!("linear_backward_update_gradient";
        x: prod(&[batch, n_in]),
        delta: prod(&[batch, n_out]),
        grad_weight: prod(&[n_in, n_out]),
        grad_bias: Some(n_out),
    );
    gemm::linear_backward_update_gradient(
        x, delta, grad_weight, grad_bias, batch, n_in, n_out, beta,
    )
}

// ---------------------------------------------------------------------------------------------
// Activations (activation.rs). Element-wise ones take n = total elements.

/// y = tanh(x). Shape: x [n], y [n].
#[no_mangle]
pub unsafe extern "C" fn tanh_forward(x: *const f32, y: *mut f32, n: usize) {
    check!("tanh_forward"; x: Some(n), y: Some(n));
    activation::tanh_forward(x, y, n)
}

/// dx = delta · (1 - y²), from the forward output y. Shape: y, delta, dx [n].
#[no_mangle]
pub unsafe extern "C" fn tanh_backward_delta(
    y: *const f32,
    delta: *const f32,
    dx: *mut f32,
    n: usize,
) {
    check!("tanh_backward_delta"; y: Some(n), delta: Some(n), dx: Some(n));
    activation::tanh_backward_delta(y, delta, dx, n)
}

/// y = 1 / (1 + e^-x). Shape: x [n], y [n].
#[no_mangle]
pub unsafe extern "C" fn sigmoid_forward(x: *const f32, y: *mut f32, n: usize) {
    check!("sigmoid_forward"; x: Some(n), y: Some(n));
    activation::sigmoid_forward(x, y, n)
}

/// dx = delta · y · (1 - y), from the forward output y. Shape: y, delta, dx [n].
#[no_mangle]
pub unsafe extern "C" fn sigmoid_backward_delta(
    y: *const f32,
    delta: *const f32,
    dx: *mut f32,
    n: usize,
) {
    check!("sigmoid_backward_delta"; y: Some(n), delta: Some(n), dx: Some(n));
    activation::sigmoid_backward_delta(y, delta, dx, n)
}

/// y = max(x, 0). Shape: x [n], y [n].
#[no_mangle]
pub unsafe extern "C" fn relu_forward(x: *const f32, y: *mut f32, n: usize) {
    check!("relu_forward"; x: Some(n), y: Some(n));
    activation::relu_forward(x, y, n)
}

/// dx = delta where x > 0, else 0 (the subgradient at 0 is 0, as in PyTorch).
/// Shape: x, delta, dx [n].
#[no_mangle]
pub unsafe extern "C" fn relu_backward_delta(
    x: *const f32,
    delta: *const f32,
    dx: *mut f32,
    n: usize,
) {
    check!("relu_backward_delta"; x: Some(n), delta: Some(n), dx: Some(n));
    activation::relu_backward_delta(x, delta, dx, n)
}

/// Row-wise y = softmax(x), shifted by the row max. Shape: x [rows, cols], y [rows, cols].
#[no_mangle]
pub unsafe extern "C" fn softmax_forward(x: *const f32, y: *mut f32, rows: usize, cols: usize) {
    check!("softmax_forward"; x: prod(&[rows, cols]), y: prod(&[rows, cols]));
    activation::softmax_forward(x, y, rows, cols)
}

/// Row-wise dx = y ⊙ (delta - Σ_j delta_j y_j), from the forward output y.
/// Shape: y, delta, dx [rows, cols].
#[no_mangle]
pub unsafe extern "C" fn softmax_backward_delta(
    y: *const f32,
    delta: *const f32,
    dx: *mut f32,
    rows: usize,
    cols: usize,
) {
    check!("softmax_backward_delta";
        y: prod(&[rows, cols]),
        delta: prod(&[rows, cols]),
        dx: prod(&[rows, cols]),
    );
    activation::softmax_backward_delta(y, delta, dx, rows, cols)
}

// ---------------------------------------------------------------------------------------------
// Losses (loss.rs). y is the target, yhat the prediction, both [rows, cols]; forward returns
// the mean over rows of each row's summed loss, and backward writes d(that mean)/d(yhat).

/// Σ_j (yhat - y)² per row, mean over rows.
#[no_mangle]
pub unsafe extern "C" fn mse_loss_forward(
    y: *const f32,
    yhat: *const f32,
    rows: usize,
    cols: usize,
) -> f32 {
    check!("mse_loss_forward"; y: prod(&[rows, cols]), yhat: prod(&[rows, cols]));
    loss::mse_loss_forward(y, yhat, rows, cols)
}

/// grad = 2 (yhat - y) / rows.
#[no_mangle]
pub unsafe extern "C" fn mse_loss_backward(
    y: *const f32,
    yhat: *const f32,
    grad: *mut f32,
    rows: usize,
    cols: usize,
) {
    check!("mse_loss_backward";
        y: prod(&[rows, cols]),
        yhat: prod(&[rows, cols]),
        grad: prod(&[rows, cols]),
    );
    loss::mse_loss_backward(y, yhat, grad, rows, cols)
}

/// -Σ_j [y log yhat + (1 - y) log(1 - yhat)] per row, each log clamped at -100 (as PyTorch).
#[no_mangle]
pub unsafe extern "C" fn bce_loss_forward(
    y: *const f32,
    yhat: *const f32,
    rows: usize,
    cols: usize,
) -> f32 {
    check!("bce_loss_forward"; y: prod(&[rows, cols]), yhat: prod(&[rows, cols]));
    loss::bce_loss_forward(y, yhat, rows, cols)
}

/// grad = (yhat - y) / max(yhat (1 - yhat), 1e-12) / rows (PyTorch's clamp).
#[no_mangle]
pub unsafe extern "C" fn bce_loss_backward(
    y: *const f32,
    yhat: *const f32,
    grad: *mut f32,
    rows: usize,
    cols: usize,
) {
    check!("bce_loss_backward";
        y: prod(&[rows, cols]),
        yhat: prod(&[rows, cols]),
        grad: prod(&[rows, cols]),
    );
    loss::bce_loss_backward(y, yhat, grad, rows, cols)
}

/// Cross-entropy on probabilities: -Σ_j y log yhat per row, the log clamped at -100.
#[no_mangle]
pub unsafe extern "C" fn cross_entropy_loss_forward(
    y: *const f32,
    yhat: *const f32,
    rows: usize,
    cols: usize,
) -> f32 {
    check!("cross_entropy_loss_forward"; y: prod(&[rows, cols]), yhat: prod(&[rows, cols]));
    loss::cross_entropy_loss_forward(y, yhat, rows, cols)
}

/// grad = -(y / rows) / yhat, the derivative of the clamped forward: 0 where yhat < 3.78e-44
/// (its log is clamped at -100 there), NaN for yhat < 0 (loss.rs states the rule).
#[no_mangle]
pub unsafe extern "C" fn cross_entropy_loss_backward(
    y: *const f32,
    yhat: *const f32,
    grad: *mut f32,
    rows: usize,
    cols: usize,
) {
    check!("cross_entropy_loss_backward";
        y: prod(&[rows, cols]),
        yhat: prod(&[rows, cols]),
        grad: prod(&[rows, cols]),
    );
    loss::cross_entropy_loss_backward(y, yhat, grad, rows, cols)
}

/// Cross-entropy from logits: -Σ_j y_j (yhat_j - logsumexp(yhat)) per row, computed stably.
#[no_mangle]
pub unsafe extern "C" fn log_softmax_cross_entropy_forward(
    y: *const f32,
    yhat: *const f32,
    rows: usize,
    cols: usize,
) -> f32 {
    check!("log_softmax_cross_entropy_forward"; y: prod(&[rows, cols]), yhat: prod(&[rows, cols]));
    loss::log_softmax_cross_entropy_forward(y, yhat, rows, cols)
}

/// grad = (softmax(yhat) · Σ_j y_j - y) / rows.
#[no_mangle]
pub unsafe extern "C" fn log_softmax_cross_entropy_backward(
    y: *const f32,
    yhat: *const f32,
    grad: *mut f32,
    rows: usize,
    cols: usize,
) {
    check!("log_softmax_cross_entropy_backward";
        y: prod(&[rows, cols]),
        yhat: prod(&[rows, cols]),
        grad: prod(&[rows, cols]),
    );
    loss::log_softmax_cross_entropy_backward(y, yhat, grad, rows, cols)
}

// ---------------------------------------------------------------------------------------------
// Convolution (conv.rs). Channels last; valid padding; out_len = (length - k) / stride + 1.

/// Floats of scratch `conv1d_backward_delta` needs.
#[no_mangle]
pub extern "C" fn conv1d_workspace_len(
    length: usize,
    c_in: usize,
    c_out: usize,
    k: usize,
    stride: usize,
) -> usize {
    conv::conv1d_workspace_len(length, c_in, c_out, k, stride)
}

/// y[b, t, :] = Σ_{i<k} x[b, t·stride + i, :] · weight[i] + bias.
/// Shape: x [batch, length, c_in], y [batch, out_len, c_out], weight [k, c_in, c_out],
/// bias [c_out].
#[no_mangle]
pub unsafe extern "C" fn conv1d_forward(
    x: *const f32, // [in]  x [batch, length, c_in]
    y: *mut f32, // [out] y [batch, out_len, c_out]
    weight: *const f32, // [in]  weight [k, c_in, c_out]
    bias: *const f32, // [in]  bias [c_out]
    batch: usize,
    length: usize,
    c_in: usize,
    c_out: usize,
    k: usize,
    stride: usize,
) {
    check!("conv1d_forward";
        x: prod(&[batch, length, c_in]),
        y: prod(&[batch, out_len(length, k, stride), c_out]),
        weight: prod(&[k, c_in, c_out]),
        bias: Some(c_out),
    );
    conv::conv1d_forward(x, y, weight, bias, batch, length, c_in, c_out, k, stride)
}

/// dx = gradient of the loss w.r.t. x (overlapping windows add up; uncovered positions get 0).
/// Shape: delta [batch, out_len, c_out], dx [batch, length, c_in], weight [k, c_in, c_out],
/// work [conv1d_workspace_len(..)].
#[no_mangle]
pub unsafe extern "C" fn conv1d_backward_delta(
    delta: *const f32, // [in]   delta [batch, out_len, c_out]
    dx: *mut f32, // [out]  dx [batch, length, c_in]
    weight: *const f32, // [in]   weight [k, c_in, c_out]
    work: *mut f32, // [work] conv1d_workspace_len(..) floats
    batch: usize,
    length: usize,
    c_in: usize,
    c_out: usize,
    k: usize,
    stride: usize,
) {
    check!("conv1d_backward_delta";
        delta: prod(&[batch, out_len(length, k, stride), c_out]),
        dx: prod(&[batch, length, c_in]),
        weight: prod(&[k, c_in, c_out]),
        work: ws(conv::conv1d_workspace_len(length, c_in, c_out, k, stride)),
    );
    conv::conv1d_backward_delta(delta, dx, weight, work, batch, length, c_in, c_out, k, stride)
}

/// grad_weight (+)= Σ windowsᵀ · delta; grad_bias (+)= Σ delta (beta = 0 overwrites, 1 adds).
/// Shape: x [batch, length, c_in], delta [batch, out_len, c_out],
/// grad_weight [k, c_in, c_out], grad_bias [c_out].
#[no_mangle]
pub unsafe extern "C" fn conv1d_backward_update_gradient(
    x: *const f32, // [in]     x [batch, length, c_in]
    delta: *const f32, // [in]     delta [batch, out_len, c_out]
    grad_weight: *mut f32, // [in,out] grad_weight [k, c_in, c_out]
    grad_bias: *mut f32, // [in,out] grad_bias [c_out]
    batch: usize,
    length: usize,
    c_in: usize,
    c_out: usize,
    k: usize,
    stride: usize,
    beta: u32,
) {
    check!("conv1d_backward_update_gradient";
        x: prod(&[batch, length, c_in]),
        delta: prod(&[batch, out_len(length, k, stride), c_out]),
        grad_weight: prod(&[k, c_in, c_out]),
        grad_bias: Some(c_out),
    );
    conv::conv1d_backward_update_gradient(
        x, delta, grad_weight, grad_bias, batch, length, c_in, c_out, k, stride, beta,
    )
}

/// Floats of scratch `conv2d_backward_delta` needs.
#[no_mangle]
pub extern "C" fn conv2d_workspace_len(
    height: usize,
    width: usize,
    c_in: usize,
    c_out: usize,
    kh: usize,
    kw: usize,
    stride: usize,
) -> usize {
    conv::conv2d_workspace_len(height, width, c_in, c_out, kh, kw, stride)
}

/// y[b, i, j, :] = Σ_{p<kh, q<kw} x[b, i·stride + p, j·stride + q, :] · weight[p, q] + bias.
/// Shape: x [batch, height, width, c_in], y [batch, out_h, out_w, c_out],
/// weight [kh, kw, c_in, c_out], bias [c_out].
#[no_mangle]
pub unsafe extern "C" fn conv2d_forward(
    x: *const f32, // [in]  x [batch, height, width, c_in]
    y: *mut f32, // [out] y [batch, out_h, out_w, c_out]
    weight: *const f32, // [in]  weight [kh, kw, c_in, c_out]
    bias: *const f32, // [in]  bias [c_out]
    batch: usize,
    height: usize,
    width: usize,
    c_in: usize,
    c_out: usize,
    kh: usize,
    kw: usize,
    stride: usize,
) {
    check!("conv2d_forward";
        x: prod(&[batch, height, width, c_in]),
        y: prod(&[batch, out_len(height, kh, stride), out_len(width, kw, stride), c_out]),
        weight: prod(&[kh, kw, c_in, c_out]),
        bias: Some(c_out),
    );
    conv::conv2d_forward(x, y, weight, bias, batch, height, width, c_in, c_out, kh, kw, stride)
}

/// dx = gradient of the loss w.r.t. x. Shape: delta [batch, out_h, out_w, c_out],
/// dx [batch, height, width, c_in], weight [kh, kw, c_in, c_out],
/// work [conv2d_workspace_len(..)].
#[no_mangle]
pub unsafe extern "C" fn conv2d_backward_delta(
    delta: *const f32, // [in]   delta [batch, out_h, out_w, c_out]
    dx: *mut f32, // [out]  dx [batch, height, width, c_in]
    weight: *const f32, // [in]   weight [kh, kw, c_in, c_out]
    work: *mut f32, // [work] conv2d_workspace_len(..) floats
    batch: usize,
    height: usize,
    width: usize,
    c_in: usize,
    c_out: usize,
    kh: usize,
    kw: usize,
    stride: usize,
) {
    check!("conv2d_backward_delta";
        delta: prod(&[batch, out_len(height, kh, stride), out_len(width, kw, stride), c_out]),
        dx: prod(&[batch, height, width, c_in]),
        weight: prod(&[kh, kw, c_in, c_out]),
        work: ws(conv::conv2d_workspace_len(height, width, c_in, c_out, kh, kw, stride)),
    );
    conv::conv2d_backward_delta(
        delta, dx, weight, work, batch, height, width, c_in, c_out, kh, kw, stride,
    )
}

/// grad_weight (+)= Σ windowsᵀ · delta; grad_bias (+)= Σ delta (beta = 0 overwrites, 1 adds).
/// Shape: x [batch, height, width, c_in], delta [batch, out_h, out_w, c_out],
/// grad_weight [kh, kw, c_in, c_out], grad_bias [c_out].
#[no_mangle]
pub unsafe extern "C" fn conv2d_backward_update_gradient(
    x: *const f32, // [in]     x [batch, height, width, c_in]
    delta: *const f32, // [in]     delta [batch, out_h, out_w, c_out]
    grad_weight: *mut f32, // [in,out] grad_weight [kh, kw, c_in, c_out]
    grad_bias: *mut f32, // [in,out] grad_bias [c_out]
    batch: usize,
    height: usize,
    width: usize,
    c_in: usize,
    c_out: usize,
    kh: usize,
    kw: usize,
    stride: usize,
    beta: u32,
) {
    check!("conv2d_backward_update_gradient";
        x: prod(&[batch, height, width, c_in]),
        delta: prod(&[batch, out_len(height, kh, stride), out_len(width, kw, stride), c_out]),
        grad_weight: prod(&[kh, kw, c_in, c_out]),
        grad_bias: Some(c_out),
    );
    conv::conv2d_backward_update_gradient(
        x, delta, grad_weight, grad_bias, batch, height, width, c_in, c_out, kh, kw, stride, beta,
    )
}

// ---------------------------------------------------------------------------------------------
// Pooling (pool.rs). argmax holds, per output, the flat index into x of the winning input
// (ties: the first index in window order). Average pooling divides each window's sum by kh·kw.

/// y[b, t, c] = max_{i<k} x[b, t·stride + i, c]. Shape: x [batch, length, c],
/// y [batch, out_len, c], argmax [batch, out_len, c].
#[no_mangle]
pub unsafe extern "C" fn maxpool1d_forward(
    x: *const f32, // [in]  x [batch, length, c]
    y: *mut f32, // [out] y [batch, out_len, c]
    argmax: *mut u32, // [out] argmax [batch, out_len, c]
    batch: usize,
    length: usize,
    c: usize,
    k: usize,
    stride: usize,
) {
    check!("maxpool1d_forward";
        x: prod(&[batch, length, c]),
        y: prod(&[batch, out_len(length, k, stride), c]),
        argmax: prod(&[batch, out_len(length, k, stride), c]),
    );
    pool::maxpool1d_forward(x, y, argmax, batch, length, c, k, stride)
}

/// y[b, i, j, c] = max over the kh x kw window. Shape: x [batch, height, width, c],
/// y [batch, out_h, out_w, c], argmax [batch, out_h, out_w, c].
#[no_mangle]
pub unsafe extern "C" fn maxpool2d_forward(
    x: *const f32, // [in]  x [batch, height, width, c]
    y: *mut f32, // [out] y [batch, out_h, out_w, c]
    argmax: *mut u32, // [out] argmax [batch, out_h, out_w, c]
    batch: usize,
    height: usize,
    width: usize,
    c: usize,
    kh: usize,
    kw: usize,
    stride: usize,
) {
    check!("maxpool2d_forward";
        x: prod(&[batch, height, width, c]),
        y: prod(&[batch, out_len(height, kh, stride), out_len(width, kw, stride), c]),
        argmax: prod(&[batch, out_len(height, kh, stride), out_len(width, kw, stride), c]),
    );
    pool::maxpool2d_forward(x, y, argmax, batch, height, width, c, kh, kw, stride)
}

/// dx = 0, then dx[argmax[i]] += delta[i] (overlapping windows add up). Serves both poolings.
/// Shape: delta [n_out], argmax [n_out], dx [n_in].
#[no_mangle]
pub unsafe extern "C" fn maxpool_backward_delta(
    delta: *const f32, // [in]  delta [n_out]
    argmax: *const u32, // [in]  argmax [n_out]
    dx: *mut f32, // [out] dx [n_in]
    n_out: usize,
    n_in: usize,
) {
    check!("maxpool_backward_delta"; delta: Some(n_out), argmax: Some(n_out), dx: Some(n_in));
    for i in 0..n_out {
        if *argmax.add(i) as usize >= n_in {
            guard::fail("maxpool_backward_delta", "argmax", 1, Reason::BadIndex);
            return;
        }
    }
    pool::maxpool_backward_delta(delta, argmax, dx, n_out, n_in)
}

/// y[b, i, j, ch] = mean of x over the kh x kw window at (i·stride, j·stride): PyTorch's
/// AvgPool2d without padding; 1-D pooling is height = kh = 1.
/// Shape: x [batch, height, width, c], y [batch, out_h, out_w, c].
#[no_mangle]
pub unsafe extern "C" fn avgpool_forward(
    x: *const f32, // [in]  x [batch, height, width, c]
    y: *mut f32, // [out] y [batch, out_h, out_w, c]
    batch: usize,
    height: usize,
    width: usize,
    c: usize,
    kh: usize,
    kw: usize,
    stride: usize,
) {
    check!("avgpool_forward";
        x: prod(&[batch, height, width, c]),
        y: prod(&[batch, out_len(height, kh, stride), out_len(width, kw, stride), c]),
    );
    pool::avgpool_forward(x, y, batch, height, width, c, kh, kw, stride)
}

/// dx = Σ over the windows covering each input of delta / (kh·kw) (overlapping windows add;
/// positions outside every window get 0). Shape: delta [batch, out_h, out_w, c],
/// dx [batch, height, width, c].
#[no_mangle]
pub unsafe extern "C" fn avgpool_backward_delta(
    delta: *const f32, // [in]  delta [batch, out_h, out_w, c]
    dx: *mut f32, // [out] dx [batch, height, width, c]
    batch: usize,
    height: usize,
    width: usize,
    c: usize,
    kh: usize,
    kw: usize,
    stride: usize,
) {
    check!("avgpool_backward_delta";
        delta: prod(&[batch, out_len(height, kh, stride), out_len(width, kw, stride), c]),
        dx: prod(&[batch, height, width, c]),
    );
    pool::avgpool_backward_delta(delta, dx, batch, height, width, c, kh, kw, stride)
}

// ---------------------------------------------------------------------------------------------
// Zero padding (conv.rs), for Conv1D / Conv2D padding 'same'; 1-D is height = 1, top = bottom = 0.

/// y = x placed at (top, left), zeros elsewhere.
/// Shape: x [batch, height, width, c], y [batch, top + height + bottom, left + width + right, c].
#[no_mangle]
pub unsafe extern "C" fn pad_forward(
    x: *const f32, // [in]  x [batch, height, width, c]
    y: *mut f32, // [out] y [batch, top + height + bottom, left + width + right, c]
    batch: usize,
    height: usize,
    width: usize,
    c: usize,
    top: usize,
    bottom: usize,
    left: usize,
    right: usize,
) {
    check!("pad_forward";
        x: prod(&[batch, height, width, c]),
        y: padded(batch, height, width, c, top, bottom, left, right),
    );
    conv::pad_forward(x, y, batch, height, width, c, top, bottom, left, right)
}

/// dx = the crop of delta at (top, left) that x was copied to. Shape: delta
/// [batch, top + height + bottom, left + width + right, c], dx [batch, height, width, c].
#[no_mangle]
pub unsafe extern "C" fn pad_backward_delta(
    delta: *const f32, // [in]  delta [batch, top + height + bottom, left + width + right, c]
    dx: *mut f32, // [out] dx [batch, height, width, c]
    batch: usize,
    height: usize,
    width: usize,
    c: usize,
    top: usize,
    bottom: usize,
    left: usize,
    right: usize,
) {
    check!("pad_backward_delta";
        delta: padded(batch, height, width, c, top, bottom, left, right),
        dx: prod(&[batch, height, width, c]),
    );
    conv::pad_backward_delta(delta, dx, batch, height, width, c, top, bottom, left, right)
}

// ---------------------------------------------------------------------------------------------
// Dropout (activation.rs): TS draws mask as 0 or 1 / (1 - p) per element.

/// y = x ⊙ mask. Shape: x, mask, y [n].
#[no_mangle]
pub unsafe extern "C" fn dropout_forward(
    x: *const f32, // [in]  x [n]
    mask: *const f32, // [in]  mask [n]
    y: *mut f32, // [out] y [n]
    n: usize,
) {
    check!("dropout_forward"; x: Some(n), mask: Some(n), y: Some(n));
    activation::dropout_forward(x, mask, y, n)
}

/// dx = delta ⊙ mask. Shape: delta, mask, dx [n].
#[no_mangle]
pub unsafe extern "C" fn dropout_backward_delta(
    delta: *const f32, // [in]  delta [n]
    mask: *const f32, // [in]  mask [n]
    dx: *mut f32, // [out] dx [n]
    n: usize,
) {
    check!("dropout_backward_delta"; delta: Some(n), mask: Some(n), dx: Some(n));
    activation::dropout_backward_delta(delta, mask, dx, n)
}

// ---------------------------------------------------------------------------------------------
// Upsampling (upsample.rs): nearest neighbour, serving Upsample1D (height = sh = 1) and Upsample2D.

/// y[b, i, j, ch] = x[b, i / sh, j / sw, ch]; overwrites y whole.
/// Shape: x [batch, height, width, c], y [batch, height·sh, width·sw, c].
#[no_mangle]
pub unsafe extern "C" fn upsample_forward(
    x: *const f32, // [in]  x [batch, height, width, c]
    y: *mut f32, // [out] y [batch, height·sh, width·sw, c]
    batch: usize,
    height: usize,
    width: usize,
    c: usize,
    sh: usize,
    sw: usize,
) {
    check!("upsample_forward";
        x: prod(&[batch, height, width, c]),
        y: upsampled(batch, height, width, c, sh, sw),
    );
    upsample::upsample_forward(x, y, batch, height, width, c, sh, sw)
}

/// dx[b, i, j, ch] = sum of delta over the sh x sw block that x[b, i, j, ch] was copied to;
/// overwrites dx whole. Shape: delta [batch, height·sh, width·sw, c], dx [batch, height, width, c].
#[no_mangle]
pub unsafe extern "C" fn upsample_backward_delta(
    delta: *const f32, // [in]  delta [batch, height·sh, width·sw, c]
    dx: *mut f32, // [out] dx [batch, height, width, c]
    batch: usize,
    height: usize,
    width: usize,
    c: usize,
    sh: usize,
    sw: usize,
) {
    check!("upsample_backward_delta";
        delta: upsampled(batch, height, width, c, sh, sw),
        dx: prod(&[batch, height, width, c]),
    );
    upsample::upsample_backward_delta(delta, dx, batch, height, width, c, sh, sw)
}

// ---------------------------------------------------------------------------------------------
// Optimiser updates (optim.rs): one call per parameter tensor; state buffers are [in,out].

/// param[i] -= step * grad[i]. Shape: param [n], grad [n].
#[no_mangle]
pub unsafe extern "C" fn sgd_update(
    grad: *const f32, // [in]     grad [n]
    param: *mut f32, // [in,out] param [n]
    n: usize,
    step: f32,
) {
    check!("sgd_update"; grad: Some(n), param: Some(n));
    optim::sgd_update(grad, param, n, step)
}

/// param[i] -= step * (grad[i] + weight_decay * param[i]). Shape: grad [n], param [n].
#[no_mangle]
pub unsafe extern "C" fn sgd_decay_update(
    grad: *const f32, // [in]     grad [n]
    param: *mut f32, // [in,out] param [n]
    n: usize,
    step: f32,
    weight_decay: f32,
) {
    check!("sgd_decay_update"; grad: Some(n), param: Some(n));
    optim::sgd_decay_update(grad, param, n, step, weight_decay)
}

/// SGD with momentum (Nesterov when `nesterov != 0`), PyTorch's rule without dampening.
/// Shape: grad [n], param [n], velocity [n].
#[no_mangle]
pub unsafe extern "C" fn momentum_update(
    grad: *const f32, // [in]     grad [n]
    param: *mut f32, // [in,out] param [n]
    velocity: *mut f32, // [in,out] velocity [n]
    n: usize,
    step: f32,
    momentum: f32,
    weight_decay: f32,
    nesterov: u32,
) {
    check!("momentum_update"; grad: Some(n), param: Some(n), velocity: Some(n));
    optim::momentum_update(grad, param, velocity, n, step, momentum, weight_decay, nesterov)
}

/// Adam with L2 weight decay; the caller folds the bias corrections of step t into `step_size`
/// (lr / (1 - beta1^t)) and `inv_sqrt_bias2` (1 / sqrt(1 - beta2^t)).
/// Shape: grad [n], param [n], m [n], v [n].
#[no_mangle]
pub unsafe extern "C" fn adam_update(
    grad: *const f32, // [in]     grad [n]
    param: *mut f32, // [in,out] param [n]
    m: *mut f32, // [in,out] first moment [n]
    v: *mut f32, // [in,out] second moment [n]
    n: usize,
    step_size: f32,
    beta1: f32,
    beta2: f32,
    epsilon: f32,
    weight_decay: f32,
    inv_sqrt_bias2: f32,
) {
    check!("adam_update"; grad: Some(n), param: Some(n), m: Some(n), v: Some(n));
    optim::adam_update(
        grad, param, m, v, n, step_size, beta1, beta2, epsilon, weight_decay, inv_sqrt_bias2,
    )
}
