//! Conv1D / Conv2D kernels (front: `ts/core/conv.ts`). Channels last, valid padding, one stride:
//! y[b, i, j, :] = Σ_{p<kh, q<kw} x[b, i·s + p, j·s + q, :] · weight[p, q] + bias, with x
//! [batch, height, width, c_in], weight [kh, kw, c_in, c_out], y [batch, out_h, out_w, c_out] and
//! out = (in - k) / s + 1. 1-D is the 2-D case with height = kh = 1. The windows of one input row
//! are contiguous runs of kw·c_in floats, s·c_in apart: GEMMs over overlapping rows, no im2col.
//! Padding 'same' pads x with zeros first (`pad_forward`) and crops the delta back
//! (`pad_backward_delta`).
#![allow(clippy::too_many_arguments)]

use crate::gemm::{bias_grad, gemm, packed_gemm, Out, Panel, Strided, MR, NR, NV};
use crate::simd::F32x4;
use crate::util::{copy_f32, fill_zero};

/// Output positions of a valid convolution or pooling along one axis: `(n - k) / stride + 1`,
/// and 0 when the window does not fit (TS rejects that; 0 keeps a bad call from wrapping).
pub fn out_len(n: usize, k: usize, stride: usize) -> usize {
    if n < k || stride == 0 {
        0
    } else {
        (n - k) / stride + 1
    }
}

// ---------------------------------------------------------------------------------------------
// Conv1D: each forwards to the 2-D kernel with height = kh = 1 (same memory layout).

/// Floats of scratch [`conv1d_backward_delta`] needs (0 when windows do not overlap;
/// `usize::MAX` when the size overflows `usize`).
pub fn conv1d_workspace_len(
    length: usize, c_in: usize, c_out: usize, k: usize, stride: usize,
) -> usize {
    conv2d_workspace_len(1, length, c_in, c_out, 1, k, stride)
}

/// `y[b, t, :] = Σ_{i<k} x[b, t·stride + i, :] · weight[i] + bias`; overwrites y whole.
/// Shapes: x [batch, length, c_in], y [batch, out_len, c_out], weight [k, c_in, c_out],
/// bias [c_out].
///
/// # Safety
/// Pointers valid for their shapes; y does not overlap any input.
pub unsafe fn conv1d_forward(
    x: *const f32, y: *mut f32, weight: *const f32, bias: *const f32,
    batch: usize, length: usize, c_in: usize, c_out: usize, k: usize, stride: usize,
) {
    conv2d_forward(x, y, weight, bias, batch, 1, length, c_in, c_out, 1, k, stride)
}

/// SIMD twin of [`conv1d_forward`].
///
/// # Safety
/// As [`conv1d_forward`].
pub unsafe fn conv1d_forward_simd(
    x: *const f32, y: *mut f32, weight: *const f32, bias: *const f32,
    batch: usize, length: usize, c_in: usize, c_out: usize, k: usize, stride: usize,
) {
    conv2d_forward_simd(x, y, weight, bias, batch, 1, length, c_in, c_out, 1, k, stride)
}

/// Scalar twin of [`conv1d_forward`].
///
/// # Safety
/// As [`conv1d_forward`].
pub unsafe fn conv1d_forward_scalar(
    x: *const f32, y: *mut f32, weight: *const f32, bias: *const f32,
    batch: usize, length: usize, c_in: usize, c_out: usize, k: usize, stride: usize,
) {
    conv2d_forward_scalar(x, y, weight, bias, batch, 1, length, c_in, c_out, 1, k, stride)
}

/// `dx = ∂L/∂x` from `delta = ∂L/∂y`: overwrites dx whole; overlapping windows add up and
/// positions no window covers (stride > k) get 0.
/// Shapes: delta [batch, out_len, c_out], dx [batch, length, c_in], weight [k, c_in, c_out],
/// work [conv1d_workspace_len(..)].
///
/// # Safety
/// Pointers valid for their shapes; dx and work overlap nothing else.
pub unsafe fn conv1d_backward_delta(
    delta: *const f32, dx: *mut f32, weight: *const f32, work: *mut f32,
    batch: usize, length: usize, c_in: usize, c_out: usize, k: usize, stride: usize,
) {
    conv2d_backward_delta(delta, dx, weight, work, batch, 1, length, c_in, c_out, 1, k, stride)
}

/// SIMD twin of [`conv1d_backward_delta`].
///
/// # Safety
/// As [`conv1d_backward_delta`].
pub unsafe fn conv1d_backward_delta_simd(
    delta: *const f32, dx: *mut f32, weight: *const f32, work: *mut f32,
    batch: usize, length: usize, c_in: usize, c_out: usize, k: usize, stride: usize,
) {
    conv2d_backward_delta_simd(delta, dx, weight, work, batch, 1, length, c_in, c_out, 1, k, stride)
}

/// Scalar twin of [`conv1d_backward_delta`] (uses no workspace).
///
/// # Safety
/// As [`conv1d_backward_delta`].
pub unsafe fn conv1d_backward_delta_scalar(
    delta: *const f32, dx: *mut f32, weight: *const f32, work: *mut f32,
    batch: usize, length: usize, c_in: usize, c_out: usize, k: usize, stride: usize,
) {
    conv2d_backward_delta_scalar(
        delta, dx, weight, work, batch, 1, length, c_in, c_out, 1, k, stride,
    )
}

/// `grad_weight[i] (+)= Σ_{b,t} x[b, t·stride + i, :]ᵀ · delta[b, t, :]`,
/// `grad_bias (+)= Σ_{b,t} delta[b, t, :]`: `beta = 0` overwrites both without reading them,
/// `beta = 1` adds into them (no other value is valid).
/// Shapes: x [batch, length, c_in], delta [batch, out_len, c_out], grad_weight [k, c_in, c_out],
/// grad_bias [c_out].
///
/// # Safety
/// Pointers valid for their shapes; the gradients overlap nothing else.
pub unsafe fn conv1d_backward_update_gradient(
    x: *const f32, delta: *const f32, grad_weight: *mut f32, grad_bias: *mut f32,
    batch: usize, length: usize, c_in: usize, c_out: usize, k: usize, stride: usize, beta: u32,
) {
    conv2d_backward_update_gradient(
        x, delta, grad_weight, grad_bias, batch, 1, length, c_in, c_out, 1, k, stride, beta,
    )
}

/// SIMD twin of [`conv1d_backward_update_gradient`].
///
/// # Safety
/// As [`conv1d_backward_update_gradient`].
pub unsafe fn conv1d_backward_update_gradient_simd(
    x: *const f32, delta: *const f32, grad_weight: *mut f32, grad_bias: *mut f32,
    batch: usize, length: usize, c_in: usize, c_out: usize, k: usize, stride: usize, beta: u32,
) {
    conv2d_backward_update_gradient_simd(
        x, delta, grad_weight, grad_bias, batch, 1, length, c_in, c_out, 1, k, stride, beta,
    )
}

/// Scalar twin of [`conv1d_backward_update_gradient`].
///
/// # Safety
/// As [`conv1d_backward_update_gradient`].
pub unsafe fn conv1d_backward_update_gradient_scalar(
    x: *const f32, delta: *const f32, grad_weight: *mut f32, grad_bias: *mut f32,
    batch: usize, length: usize, c_in: usize, c_out: usize, k: usize, stride: usize, beta: u32,
) {
    conv2d_backward_update_gradient_scalar(
        x, delta, grad_weight, grad_bias, batch, 1, length, c_in, c_out, 1, k, stride, beta,
    )
}

// ---------------------------------------------------------------------------------------------
// Conv2D

/// Floats of scratch [`conv2d_backward_delta`] needs when windows overlap along a row
/// (stride < kw; otherwise 0): weightᵀ packed for [`delta_direct`] when a kernel row holds a
/// multiple of NR floats (kw·c_in), else `delta · weightᵀ` for [`delta_rows`] output rows,
/// [rows·out_w, kh·kw·c_in]. `usize::MAX` when the size overflows `usize`.
pub fn conv2d_workspace_len(
    height: usize, width: usize, c_in: usize, c_out: usize, kh: usize, kw: usize, stride: usize,
) -> usize {
    let _ = height;
    let len = || -> Option<usize> {
        if stride >= kw {
            return Some(0);
        }
        let row = kw.checked_mul(c_in)?;
        let taps = kh.checked_mul(row)?;
        if row % NR == 0 {
            taps.checked_mul(c_out)
        } else {
            let out_w = out_len(width, kw, stride);
            delta_rows(out_w, taps).checked_mul(out_w)?.checked_mul(taps)
        }
    };
    // usize::MAX is never a length that fits memory: it marks an overflow (the abi's check
    // and ts/core/conv.ts both refuse it).
    len().unwrap_or(usize::MAX)
}

/// Floats of `delta · weightᵀ` one GEMM of [`conv2d_backward_delta_simd`] aims at (64 KiB: the
/// block stays in L2 while its windows are added into dx).
const DELTA_BLOCK: usize = 16 * 1024;

/// Output rows per GEMM of [`conv2d_backward_delta_simd`]: rows of consecutive output positions
/// (across images too), at least one, about [`DELTA_BLOCK`] floats of result.
pub fn delta_rows(out_w: usize, taps: usize) -> usize {
    (DELTA_BLOCK / out_w.saturating_mul(taps).max(1)).max(1)
}

/// `y[b, i, j, :] = Σ_{p<kh, q<kw} x[b, i·stride + p, j·stride + q, :] · weight[p, q] + bias`;
/// overwrites y whole. Shapes: x [batch, height, width, c_in], y [batch, out_h, out_w, c_out],
/// weight [kh, kw, c_in, c_out], bias [c_out].
///
/// # Safety
/// Pointers valid for their shapes; y does not overlap any input.
pub unsafe fn conv2d_forward(
    x: *const f32, y: *mut f32, weight: *const f32, bias: *const f32,
    batch: usize, height: usize, width: usize, c_in: usize, c_out: usize,
    kh: usize, kw: usize, stride: usize,
) {
    #[cfg(target_feature = "simd128")]
    conv2d_forward_simd(x, y, weight, bias, batch, height, width, c_in, c_out, kh, kw, stride);
    #[cfg(not(target_feature = "simd128"))]
    conv2d_forward_scalar(x, y, weight, bias, batch, height, width, c_in, c_out, kh, kw, stride);
}

/// SIMD twin of [`conv2d_forward`]: one GEMM `windows · weight + bias` over the whole batch.
/// When c_out is a multiple of NR it runs without packing ([`forward_direct`]); otherwise the
/// engine packs the windows straight from x (see [`Windows`]).
///
/// # Safety
/// As [`conv2d_forward`].
pub unsafe fn conv2d_forward_simd(
    x: *const f32, y: *mut f32, weight: *const f32, bias: *const f32,
    batch: usize, height: usize, width: usize, c_in: usize, c_out: usize,
    kh: usize, kw: usize, stride: usize,
) {
    debug_assert!(kh >= 1 && kw >= 1 && stride >= 1);
    let win = Windows::<false>::new(x, height, width, c_in, kh, kw, stride);
    let out = Out { c: y, ldc: c_out, accumulate: false, bias };
    let positions = batch * win.out_h * win.out_w;
    if c_out % NR == 0 {
        forward_direct(&win, positions, kh, weight, c_out, out);
    } else {
        let w = Strided { ptr: weight, so: 1, sp: c_out };
        packed_gemm(positions, kh * kw * c_in, c_out, win, w, out);
    }
}

/// Scalar twin of [`conv2d_forward`].
///
/// # Safety
/// As [`conv2d_forward`].
pub unsafe fn conv2d_forward_scalar(
    x: *const f32, y: *mut f32, weight: *const f32, bias: *const f32,
    batch: usize, height: usize, width: usize, c_in: usize, c_out: usize,
    kh: usize, kw: usize, stride: usize,
) {
    let (out_h, out_w) = (out_len(height, kh, stride), out_len(width, kw, stride));
    let run = kw * c_in;
    for b in 0..batch {
        for i in 0..out_h {
            for j in 0..out_w {
                let y_px = y.add(((b * out_h + i) * out_w + j) * c_out);
                for co in 0..c_out {
                    *y_px.add(co) = *bias.add(co);
                }
                for p in 0..kh {
                    let x_win = x.add(((b * height + i * stride + p) * width + j * stride) * c_in);
                    let w_p = weight.add(p * run * c_out);
                    for r in 0..run {
                        let xv = *x_win.add(r);
                        for co in 0..c_out {
                            *y_px.add(co) += xv * *w_p.add(r * c_out + co);
                        }
                    }
                }
            }
        }
    }
}

/// `dx = ∂L/∂x` from `delta = ∂L/∂y`: overwrites dx whole; overlapping windows add up and
/// positions no window covers (stride > kernel) get 0.
/// Shapes: delta [batch, out_h, out_w, c_out], dx [batch, height, width, c_in],
/// weight [kh, kw, c_in, c_out], work [conv2d_workspace_len(..)].
///
/// # Safety
/// Pointers valid for their shapes; dx and work overlap nothing else.
pub unsafe fn conv2d_backward_delta(
    delta: *const f32, dx: *mut f32, weight: *const f32, work: *mut f32,
    batch: usize, height: usize, width: usize, c_in: usize, c_out: usize,
    kh: usize, kw: usize, stride: usize,
) {
    #[cfg(target_feature = "simd128")]
    conv2d_backward_delta_simd(
        delta, dx, weight, work, batch, height, width, c_in, c_out, kh, kw, stride,
    );
    #[cfg(not(target_feature = "simd128"))]
    conv2d_backward_delta_scalar(
        delta, dx, weight, work, batch, height, width, c_in, c_out, kh, kw, stride,
    );
}

/// SIMD twin of [`conv2d_backward_delta`]. When windows overlap along a row and a kernel row
/// holds a multiple of NR floats, [`delta_direct`] adds each tile of `delta · weightᵀ` straight
/// into dx; with other overlapping shapes, `delta · weightᵀ` is one GEMM per block of
/// [`delta_rows`] output rows into `work`, and each window's slice is added into dx; without
/// overlap one GEMM per output row and kernel row adds straight into dx rows `stride·c_in` apart.
///
/// # Safety
/// As [`conv2d_backward_delta`].
pub unsafe fn conv2d_backward_delta_simd(
    delta: *const f32, dx: *mut f32, weight: *const f32, work: *mut f32,
    batch: usize, height: usize, width: usize, c_in: usize, c_out: usize,
    kh: usize, kw: usize, stride: usize,
) {
    debug_assert!(kh >= 1 && kw >= 1 && stride >= 1);
    let (out_h, out_w) = (out_len(height, kh, stride), out_len(width, kw, stride));
    let (run, taps) = (kw * c_in, kh * kw * c_in);
    fill_zero(dx, batch * height * width * c_in);
    if stride >= kw {
        for b in 0..batch {
            for i in 0..out_h {
                let d_row = delta.add((b * out_h + i) * out_w * c_out);
                for p in 0..kh {
                    let w_p = weight.add(p * run * c_out);
                    let dx_row = dx.add((b * height + i * stride + p) * width * c_in);
                    // Accumulate: kernel rows of neighbouring output rows can hit the same dx row.
                    // delta rows · w_pᵀ (w_p [run, c_out] read transposed), into dx rows
                    // stride·c_in apart.
                    let ldc = stride * c_in;
                    gemm(d_row, w_p, dx_row, out_w, c_out, run, c_out, 1, 1, c_out, ldc, true);
                }
            }
        }
    } else if run % NR == 0 {
        delta_direct(delta, dx, weight, work, batch, height, width, c_in, c_out, kh, kw, stride);
    } else {
        // Consecutive output rows (b, i) have consecutive delta rows: one GEMM per block of
        // `rows` of them, then each window's slice of the result is added into dx.
        let (rows, all) = (delta_rows(out_w, taps), batch * out_h);
        let mut r0 = 0;
        while r0 < all {
            let n = rows.min(all - r0);
            let d_rows = delta.add(r0 * out_w * c_out);
            let rows_n = n * out_w;
            gemm(d_rows, weight, work, rows_n, c_out, taps, c_out, 1, 1, c_out, taps, false);
            for r in 0..n {
                let (b, i) = ((r0 + r) / out_h, (r0 + r) % out_h);
                for j in 0..out_w {
                    for p in 0..kh {
                        let src = work.add((r * out_w + j) * taps + p * run);
                        let px = (b * height + i * stride + p) * width + j * stride;
                        add_into(src, dx.add(px * c_in), run);
                    }
                }
            }
            r0 += n;
        }
    }
}

/// Scalar twin of [`conv2d_backward_delta`] (uses no workspace).
///
/// # Safety
/// As [`conv2d_backward_delta`].
pub unsafe fn conv2d_backward_delta_scalar(
    delta: *const f32, dx: *mut f32, weight: *const f32, work: *mut f32,
    batch: usize, height: usize, width: usize, c_in: usize, c_out: usize,
    kh: usize, kw: usize, stride: usize,
) {
    let _ = work;
    let (out_h, out_w) = (out_len(height, kh, stride), out_len(width, kw, stride));
    let run = kw * c_in;
    fill_zero(dx, batch * height * width * c_in);
    for b in 0..batch {
        for i in 0..out_h {
            for j in 0..out_w {
                let d_px = delta.add(((b * out_h + i) * out_w + j) * c_out);
                for p in 0..kh {
                    let px = (b * height + i * stride + p) * width + j * stride;
                    let dx_win = dx.add(px * c_in);
                    let w_p = weight.add(p * run * c_out);
                    for r in 0..run {
                        let mut s = 0.0f32;
                        for co in 0..c_out {
                            s += *d_px.add(co) * *w_p.add(r * c_out + co);
                        }
                        *dx_win.add(r) += s;
                    }
                }
            }
        }
    }
}

/// `grad_weight[p, q] (+)= Σ_{b,i,j} x[b, i·s + p, j·s + q, :]ᵀ · delta[b, i, j, :]`,
/// `grad_bias (+)= Σ_{b,i,j} delta[b, i, j, :]`: `beta = 0` overwrites both without reading
/// them, `beta = 1` adds into them (no other value is valid).
/// Shapes: x [batch, height, width, c_in], delta [batch, out_h, out_w, c_out],
/// grad_weight [kh, kw, c_in, c_out], grad_bias [c_out].
///
/// # Safety
/// Pointers valid for their shapes; the gradients overlap nothing else.
pub unsafe fn conv2d_backward_update_gradient(
    x: *const f32, delta: *const f32, grad_weight: *mut f32, grad_bias: *mut f32,
    batch: usize, height: usize, width: usize, c_in: usize, c_out: usize,
    kh: usize, kw: usize, stride: usize, beta: u32,
) {
    #[cfg(target_feature = "simd128")]
    conv2d_backward_update_gradient_simd(
        x, delta, grad_weight, grad_bias, batch, height, width, c_in, c_out, kh, kw, stride, beta,
    );
    #[cfg(not(target_feature = "simd128"))]
    conv2d_backward_update_gradient_scalar(
        x, delta, grad_weight, grad_bias, batch, height, width, c_in, c_out, kh, kw, stride, beta,
    );
}

/// SIMD twin of [`conv2d_backward_update_gradient`]: one GEMM `windowsᵀ · delta` over the whole
/// batch, overwriting or adding into grad_weight as the GEMM's first k slice does; without
/// packing when c_out is a multiple of NR ([`weight_gradient_direct`]).
///
/// # Safety
/// As [`conv2d_backward_update_gradient`].
pub unsafe fn conv2d_backward_update_gradient_simd(
    x: *const f32, delta: *const f32, grad_weight: *mut f32, grad_bias: *mut f32,
    batch: usize, height: usize, width: usize, c_in: usize, c_out: usize,
    kh: usize, kw: usize, stride: usize, beta: u32,
) {
    debug_assert!(kh >= 1 && kw >= 1 && stride >= 1);
    let win = Windows::<true>::new(x, height, width, c_in, kh, kw, stride);
    let positions = batch * win.out_h * win.out_w;
    debug_assert!(beta <= 1);
    let accumulate = beta != 0;
    let out = Out { c: grad_weight, ldc: c_out, accumulate, bias: core::ptr::null() };
    if c_out % NR == 0 {
        // The direct loop keeps its accumulating tile store constant: with a runtime flag LLVM
        // compiles it about 15% slower (measured on LeNet's convolutions), so beta 0 zeroes first.
        if !accumulate {
            fill_zero(grad_weight, kh * win.run * c_out);
        }
        weight_gradient_direct(&win, batch, kh, delta, grad_weight, c_out);
        bias_gradient(delta, grad_bias, positions, c_out, accumulate);
    } else {
        let d = Strided { ptr: delta, so: 1, sp: c_out };
        packed_gemm(kh * kw * c_in, positions, c_out, win, d, out);
        bias_grad(delta, grad_bias, positions, c_out, accumulate);
    }
}

/// Scalar twin of [`conv2d_backward_update_gradient`].
///
/// # Safety
/// As [`conv2d_backward_update_gradient`].
pub unsafe fn conv2d_backward_update_gradient_scalar(
    x: *const f32, delta: *const f32, grad_weight: *mut f32, grad_bias: *mut f32,
    batch: usize, height: usize, width: usize, c_in: usize, c_out: usize,
    kh: usize, kw: usize, stride: usize, beta: u32,
) {
    let (out_h, out_w) = (out_len(height, kh, stride), out_len(width, kw, stride));
    let run = kw * c_in;
    if beta == 0 {
        fill_zero(grad_weight, kh * run * c_out);
        fill_zero(grad_bias, c_out);
    }
    for b in 0..batch {
        for i in 0..out_h {
            for j in 0..out_w {
                let d_px = delta.add(((b * out_h + i) * out_w + j) * c_out);
                for co in 0..c_out {
                    *grad_bias.add(co) += *d_px.add(co);
                }
                for p in 0..kh {
                    let x_win = x.add(((b * height + i * stride + p) * width + j * stride) * c_in);
                    let gw_p = grad_weight.add(p * run * c_out);
                    for r in 0..run {
                        let xv = *x_win.add(r);
                        for co in 0..c_out {
                            *gw_p.add(r * c_out + co) += xv * *d_px.add(co);
                        }
                    }
                }
            }
        }
    }
}

/// Forward without packing, for c_out a multiple of NR: each MR x NR tile of y (MR consecutive
/// output positions, NR channels) sums over the taps with the windows read straight from x
/// (`v128.load32_splat`) and the weight rows as stored ([taps, c_out]). With few input channels
/// packing the windows costs as much as the multiply-adds; this loop does one extra address add
/// per window row and step instead. Overwrites y (and adds the bias) through `out`.
///
/// # Safety
/// As [`conv2d_forward`], with `positions = batch · out_h · out_w` and `c_out % NR == 0`.
unsafe fn forward_direct(
    win: &Windows<false>, positions: usize, kh: usize, weight: *const f32, c_out: usize, out: Out,
) {
    let run = win.run;
    let (mut b, mut i, mut j) = (0, 0, 0);
    let mut r = 0;
    while r < positions {
        let rows = (positions - r).min(MR);
        // Rows past the last position repeat it (valid reads); the tile store skips them.
        let mut at = [0usize; MR];
        for k in 0..MR {
            if k >= rows {
                at[k] = at[rows - 1];
                continue;
            }
            at[k] = b * win.image + i * win.step_i + j * win.step_j;
            j += 1;
            if j == win.out_w {
                j = 0;
                i += 1;
                if i == win.out_h {
                    i = 0;
                    b += 1;
                }
            }
        }
        let mut jr = 0;
        while jr < c_out {
            let mut acc = [[F32x4::splat(0.0); NV]; MR];
            for p in 0..kh {
                let xp = win.x.add(p * win.row);
                let a = [xp.add(at[0]), xp.add(at[1]), xp.add(at[2]), xp.add(at[3])];
                let wp = weight.add(p * run * c_out + jr);
                for u in 0..run {
                    let w = wp.add(u * c_out);
                    let bv = [F32x4::load(w), F32x4::load(w.add(4))];
                    for (acc, a) in acc.iter_mut().zip(a.iter()) {
                        let av = F32x4::load_splat(a.add(u));
                        for v in 0..NV {
                            acc[v] = av.mul_add(bv[v], acc[v]);
                        }
                    }
                }
            }
            out.tile(r, jr, rows, NR, &acc);
            jr += NR;
        }
        r += MR;
    }
}

/// Input gradient for overlapping windows whose kernel rows hold a multiple of NR floats
/// (kw·c_in): each MR x NR tile of `delta · weightᵀ` (MR consecutive output positions, NR taps
/// of one kernel row) sums over c_out with delta rows read as stored and weightᵀ packed once
/// into `work` ([taps / NR, c_out, NR] panels), then is added into the NR contiguous floats of
/// dx that each position's window covers, one position after another (windows overlap).
/// dx must be zeroed first.
///
/// # Safety
/// As [`conv2d_backward_delta`], with `work` valid for `kh·kw·c_in·c_out` floats.
unsafe fn delta_direct(
    delta: *const f32, dx: *mut f32, weight: *const f32, work: *mut f32,
    batch: usize, height: usize, width: usize, c_in: usize, c_out: usize,
    kh: usize, kw: usize, stride: usize,
) {
    let (out_h, out_w) = (out_len(height, kh, stride), out_len(width, kw, stride));
    let (run, row) = (kw * c_in, width * c_in);
    let taps = kh * run;
    for tb in 0..taps / NR {
        for co in 0..c_out {
            for l in 0..NR {
                *work.add((tb * c_out + co) * NR + l) = *weight.add((tb * NR + l) * c_out + co);
            }
        }
    }
    let positions = batch * out_h * out_w;
    let (mut b, mut i, mut j) = (0, 0, 0);
    let mut r = 0;
    while r < positions {
        let rows = (positions - r).min(MR);
        // Rows past the last position repeat it (valid reads); only `rows` are added into dx.
        let mut at = [0usize; MR];
        let mut d = [delta; MR];
        for k in 0..MR {
            if k >= rows {
                at[k] = at[rows - 1];
                d[k] = d[rows - 1];
                continue;
            }
            at[k] = ((b * height + i * stride) * width + j * stride) * c_in;
            d[k] = delta.add((r + k) * c_out);
            j += 1;
            if j == out_w {
                j = 0;
                i += 1;
                if i == out_h {
                    i = 0;
                    b += 1;
                }
            }
        }
        for p in 0..kh {
            let mut u = 0;
            while u < run {
                let panel = work.add((p * run + u) / NR * c_out * NR);
                let mut acc = [[F32x4::splat(0.0); NV]; MR];
                for co in 0..c_out {
                    let w = panel.add(co * NR);
                    let bv = [F32x4::load(w), F32x4::load(w.add(4))];
                    for (acc, d) in acc.iter_mut().zip(d.iter()) {
                        let av = F32x4::load_splat(d.add(co));
                        for v in 0..NV {
                            acc[v] = av.mul_add(bv[v], acc[v]);
                        }
                    }
                }
                for (acc, &at) in acc.iter().zip(at.iter()).take(rows) {
                    let dst = dx.add(at + p * row + u);
                    for (v, a) in acc.iter().enumerate() {
                        F32x4::load(dst.add(4 * v)).add(*a).store(dst.add(4 * v));
                    }
                }
                u += NR;
            }
        }
        r += MR;
    }
}

/// `grad_bias (+)= Σ_r delta[r, :]` for c_out a multiple of 4: per 4-column strip, four partial
/// sums (rows r mod 4) so the adds of a long, narrow delta (conv: rows = positions) do not wait
/// on each other, as one chain per strip would. Without `accumulate` it overwrites grad_bias
/// without reading it.
///
/// # Safety
/// `delta` valid for `rows · cols`, `grad_bias` for `cols`; `cols % 4 == 0`.
unsafe fn bias_gradient(
    delta: *const f32, grad_bias: *mut f32, rows: usize, cols: usize, accumulate: bool,
) {
    let mut j = 0;
    while j < cols {
        let mut s = [F32x4::splat(0.0); 4];
        let mut r = 0;
        while r + 4 <= rows {
            for (k, s) in s.iter_mut().enumerate() {
                *s = s.add(F32x4::load(delta.add((r + k) * cols + j)));
            }
            r += 4;
        }
        for r in r..rows {
            s[0] = s[0].add(F32x4::load(delta.add(r * cols + j)));
        }
        let g = grad_bias.add(j);
        let sum = s[0].add(s[1]).add(s[2].add(s[3]));
        if accumulate { F32x4::load(g).add(sum) } else { sum }.store(g);
        j += 4;
    }
}

/// Floats of delta one pass of [`weight_gradient_direct`] walks (32 KiB: it stays in L1/L2
/// while every tap tile reads it).
const GRAD_BLOCK: usize = 8 * 1024;

/// Weight gradient without packing, for c_out a multiple of NR: each MR x NR tile of
/// grad_weight (MR taps, NR channels) sums over the output positions of a block of output rows,
/// x read straight from the windows (`v128.load32_splat`) and delta rows as stored; blocks of
/// about [`GRAD_BLOCK`] floats of delta keep both in cache. Adds into grad_weight (the caller
/// zeroes it for beta 0).
///
/// # Safety
/// As [`conv2d_backward_update_gradient`], with `c_out % NR == 0`.
unsafe fn weight_gradient_direct(
    win: &Windows<true>, batch: usize, kh: usize, delta: *const f32, grad_weight: *mut f32,
    c_out: usize,
) {
    let (out_h, out_w) = (win.out_h, win.out_w);
    let taps = kh * win.run;
    let rows_all = batch * out_h;
    let block = (GRAD_BLOCK / (out_w * c_out).max(1)).max(1);
    let out = Out { c: grad_weight, ldc: c_out, accumulate: true, bias: core::ptr::null() };
    let mut r0 = 0;
    while r0 < rows_all {
        let r1 = (r0 + block).min(rows_all);
        let mut t = 0;
        while t < taps {
            let rows = (taps - t).min(MR);
            // Taps past the last repeat it (valid reads); the tile store skips them.
            let mut off = [0usize; MR];
            for (k, o) in off.iter_mut().enumerate() {
                *o = win.tap(t + k.min(rows - 1));
            }
            let mut jr = 0;
            while jr < c_out {
                let mut acc = [[F32x4::splat(0.0); NV]; MR];
                for row in r0..r1 {
                    let (b, i) = (row / out_h, row % out_h);
                    let xr = win.x.add(b * win.image + i * win.step_i);
                    let a = [xr.add(off[0]), xr.add(off[1]), xr.add(off[2]), xr.add(off[3])];
                    let dr = delta.add(row * out_w * c_out + jr);
                    for j in 0..out_w {
                        let d = dr.add(j * c_out);
                        let bv = [F32x4::load(d), F32x4::load(d.add(4))];
                        let xj = j * win.step_j;
                        for (acc, a) in acc.iter_mut().zip(a.iter()) {
                            let av = F32x4::load_splat(a.add(xj));
                            for v in 0..NV {
                                acc[v] = av.mul_add(bv[v], acc[v]);
                            }
                        }
                    }
                }
                out.tile(t, jr, rows, NR, &acc);
                jr += NR;
            }
            t += MR;
        }
        r0 = r1;
    }
}

/// The im2col matrix of a convolution, never stored: row r is the window of output position
/// r = (b, i, j) and column t = (p, q, c) is one tap of it, so element (r, t) lies at
/// `x + pos(r) + tap(t)`. The engine packs its panels straight from x. `T = false` reads it as
/// [positions, taps] (forward), `T = true` as [taps, positions] (weight gradient).
#[derive(Clone, Copy)]
struct Windows<const T: bool> {
    x: *const f32,
    out_h: usize,
    out_w: usize,
    /// Floats from one input row to the next (`width · c_in`), and from one image to the next.
    row: usize,
    image: usize,
    /// Floats from one output column to the next (`stride · c_in`) and row (`stride · row`).
    step_j: usize,
    step_i: usize,
    /// Taps per kernel row (`kw · c_in`): one contiguous run of x.
    run: usize,
}

impl<const T: bool> Windows<T> {
    fn new(
        x: *const f32, height: usize, width: usize, c_in: usize, kh: usize, kw: usize, stride: usize,
    ) -> Self {
        let row = width * c_in;
        Windows {
            x,
            out_h: out_len(height, kh, stride),
            out_w: out_len(width, kw, stride),
            row,
            image: height * row,
            step_j: stride * c_in,
            step_i: stride * row,
            run: kw * c_in,
        }
    }

    /// Offset of the window of output position r: (b, i, j) from one division each.
    fn pos(&self, r: usize) -> usize {
        let per_image = self.out_h * self.out_w;
        let (b, rem) = (r / per_image, r % per_image);
        b * self.image + (rem / self.out_w) * self.step_i + (rem % self.out_w) * self.step_j
    }

    /// Offset of tap t inside a window.
    fn tap(&self, t: usize) -> usize {
        (t / self.run) * self.row + t % self.run
    }
}

impl<const T: bool> Panel for Windows<T> {
    #[inline(always)]
    unsafe fn pack<const R: usize>(self, o0: usize, rows: usize, p0: usize, kc: usize, dst: *mut f32) {
        if !T {
            // Rows are positions: walk each window's taps run by run.
            for r in 0..R {
                if r >= rows {
                    for p in 0..kc {
                        *dst.add(p * R + r) = 0.0;
                    }
                    continue;
                }
                let base = self.x.add(self.pos(o0 + r));
                let (mut seg, mut q) = (p0 / self.run, p0 % self.run);
                for p in 0..kc {
                    *dst.add(p * R + r) = *base.add(seg * self.row + q);
                    q += 1;
                    if q == self.run {
                        q = 0;
                        seg += 1;
                    }
                }
            }
        } else {
            // Rows are taps, k runs over positions: step (b, i, j) without dividing per step.
            let mut taps = [0usize; R];
            for (r, t) in taps.iter_mut().enumerate().take(rows) {
                *t = self.tap(o0 + r);
            }
            let per_image = self.out_h * self.out_w;
            let rem = p0 % per_image;
            let (mut i, mut j) = (rem / self.out_w, rem % self.out_w);
            let mut image = self.x.add((p0 / per_image) * self.image);
            for p in 0..kc {
                let base = image.add(i * self.step_i + j * self.step_j);
                for (r, t) in taps.iter().enumerate() {
                    *dst.add(p * R + r) = if r < rows { *base.add(*t) } else { 0.0 };
                }
                j += 1;
                if j == self.out_w {
                    j = 0;
                    i += 1;
                    if i == self.out_h {
                        i = 0;
                        image = image.add(self.image);
                    }
                }
            }
        }
    }
}

/// `dst[0..n] += src[0..n]`, four lanes at a time.
///
/// # Safety
/// Both valid for `n` floats and not overlapping.
unsafe fn add_into(src: *const f32, dst: *mut f32, n: usize) {
    let mut i = 0;
    while i + 4 <= n {
        F32x4::load(dst.add(i)).add(F32x4::load(src.add(i))).store(dst.add(i));
        i += 4;
    }
    while i < n {
        *dst.add(i) += *src.add(i);
        i += 1;
    }
}

// ---------------------------------------------------------------------------------------------
// Zero padding

// Zero padding (front: Conv1D / Conv2D `padding: 'same'` in `ts/core/conv.ts`). Channels last:
// y [batch, top + height + bottom, left + width + right, c] holds x [batch, height, width, c] at
// (top, left) and zeros elsewhere; backward crops delta back to x's shape. 1-D is height = 1,
// top = bottom = 0. Both passes move contiguous runs (a row of x is `width·c` floats), as memset
// and memcpy: there is no arithmetic, so there are no SIMD / scalar twins.

/// `y[b, top + i, left + j, ch] = x[b, i, j, ch]`, zero elsewhere; overwrites y whole.
/// Shapes: x [batch, height, width, c], y [batch, top + height + bottom, left + width + right, c].
///
/// # Safety
/// Pointers valid for their shapes; y overlaps nothing else.
pub unsafe fn pad_forward(
    x: *const f32, y: *mut f32, batch: usize, height: usize, width: usize, c: usize,
    top: usize, bottom: usize, left: usize, right: usize,
) {
    let out_row = (left + width + right) * c;
    let (row, out_h) = (width * c, top + height + bottom);
    for b in 0..batch {
        let yb = y.add(b * out_h * out_row);
        fill_zero(yb, top * out_row);
        for i in 0..height {
            let yr = yb.add((top + i) * out_row);
            fill_zero(yr, left * c);
            copy_f32(x.add((b * height + i) * row), yr.add(left * c), row);
            fill_zero(yr.add((left + width) * c), right * c);
        }
        fill_zero(yb.add((top + height) * out_row), bottom * out_row);
    }
}

/// `dx[b, i, j, ch] = delta[b, top + i, left + j, ch]`: the crop of delta that x was copied to;
/// overwrites dx whole. Shapes: delta [batch, top + height + bottom, left + width + right, c],
/// dx [batch, height, width, c].
///
/// # Safety
/// Pointers valid for their shapes; dx overlaps nothing else.
pub unsafe fn pad_backward_delta(
    delta: *const f32, dx: *mut f32, batch: usize, height: usize, width: usize, c: usize,
    top: usize, bottom: usize, left: usize, right: usize,
) {
    let out_row = (left + width + right) * c;
    let (row, out_h) = (width * c, top + height + bottom);
    for b in 0..batch {
        for i in 0..height {
            let from = delta.add((b * out_h + top + i) * out_row + left * c);
            copy_f32(from, dx.add((b * height + i) * row), row);
        }
    }
}

#[cfg(test)]
mod tests {
    // Tolerances: atol = rtol = 1e-4. Inputs lie in [-1, 1); an output sums up to 400 f32
    // products (gradients up to batch·out_h·out_w = 357), in another order than the float64
    // reference. Observed errors are ≤ 3e-6 (all pass at 1e-5); 1e-4 leaves room for a GEMM
    // with another blocking order. Gaps no window covers must be exactly 0.
    use super::*;
    use crate::testutil::{assert_close, values, Canary};

    const ATOL: f64 = 1e-4;
    const RTOL: f64 = 1e-4;

    /// One conv2d case; conv1d is the same with height = kh = 1.
    #[derive(Clone, Copy, Debug)]
    struct Dims {
        batch: usize,
        height: usize,
        width: usize,
        c_in: usize,
        c_out: usize,
        kh: usize,
        kw: usize,
        stride: usize,
    }

    impl Dims {
        fn out_h(&self) -> usize {
            (self.height - self.kh) / self.stride + 1
        }
        fn out_w(&self) -> usize {
            (self.width - self.kw) / self.stride + 1
        }
        fn n_x(&self) -> usize {
            self.batch * self.height * self.width * self.c_in
        }
        fn n_y(&self) -> usize {
            self.batch * self.out_h() * self.out_w() * self.c_out
        }
        fn n_w(&self) -> usize {
            self.kh * self.kw * self.c_in * self.c_out
        }
    }

    /// Float64 reference: (y, dx, grad_weight, grad_bias), written from the definition.
    fn reference(
        d: Dims, x: &[f32], w: &[f32], bias: &[f32], delta: &[f32],
    ) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
        let (oh, ow) = (d.out_h(), d.out_w());
        let mut y = vec![0.0; d.n_y()];
        let mut dx = vec![0.0; d.n_x()];
        let mut gw = vec![0.0; d.n_w()];
        let mut gb = vec![0.0; d.c_out];
        let xi = |b: usize, h: usize, wd: usize, c: usize| {
            ((b * d.height + h) * d.width + wd) * d.c_in + c
        };
        let wi = |p: usize, q: usize, c: usize, o: usize| {
            ((p * d.kw + q) * d.c_in + c) * d.c_out + o
        };
        for b in 0..d.batch {
            for i in 0..oh {
                for j in 0..ow {
                    for o in 0..d.c_out {
                        let yi = ((b * oh + i) * ow + j) * d.c_out + o;
                        let dl = delta[yi] as f64;
                        let mut s = bias[o] as f64;
                        gb[o] += dl;
                        for p in 0..d.kh {
                            for q in 0..d.kw {
                                for c in 0..d.c_in {
                                    let a = xi(b, i * d.stride + p, j * d.stride + q, c);
                                    let k = wi(p, q, c, o);
                                    s += x[a] as f64 * w[k] as f64;
                                    dx[a] += dl * w[k] as f64;
                                    gw[k] += x[a] as f64 * dl;
                                }
                            }
                        }
                        y[yi] = s;
                    }
                }
            }
        }
        (y, dx, gw, gb)
    }

    /// Float64 1-D reference for conv1d's forward output, independent of the 2-D mapping.
    fn reference_1d_forward(d: Dims, x: &[f32], w: &[f32], bias: &[f32]) -> Vec<f64> {
        let (length, k) = (d.width, d.kw);
        let out = (length - k) / d.stride + 1;
        let mut y = vec![0.0; d.batch * out * d.c_out];
        for b in 0..d.batch {
            for t in 0..out {
                for o in 0..d.c_out {
                    let mut s = bias[o] as f64;
                    for i in 0..k {
                        for c in 0..d.c_in {
                            let xv = x[(b * length + t * d.stride + i) * d.c_in + c] as f64;
                            s += xv * w[(i * d.c_in + c) * d.c_out + o] as f64;
                        }
                    }
                    y[(b * out + t) * d.c_out + o] = s;
                }
            }
        }
        y
    }

    type Fwd = unsafe fn(*const f32, *mut f32, *const f32, *const f32, Dims);
    type Bwd = unsafe fn(*const f32, *mut f32, *const f32, *mut f32, Dims);
    type Upd = unsafe fn(*const f32, *const f32, *mut f32, *mut f32, Dims, u32);

    /// Runs one twin (forward, backward_delta, update_gradient with beta = 1 twice, then with
    /// beta = 0 onto NaN) with NaN canaries and checks it against the float64 reference.
    fn check(d: Dims, fwd: Fwd, bwd: Bwd, upd: Upd, work_len: usize, what: &str) {
        let x = values(d.n_x(), 1);
        let w = values(d.n_w(), 2);
        let bias = values(d.c_out, 3);
        let delta = values(d.n_y(), 4);
        let (y_ref, dx_ref, gw_ref, gb_ref) = reference(d, &x, &w, &bias, &delta);
        let what = format!("{} {:?}", what, d);

        let mut y = Canary::nan(d.n_y());
        unsafe { fwd(x.as_ptr(), y.ptr(), w.as_ptr(), bias.as_ptr(), d) };
        y.check_written();
        assert_close(&y.vec(), &y_ref, ATOL, RTOL, &format!("{} forward", what));
        if d.height == 1 && d.kh == 1 {
            let y1 = reference_1d_forward(d, &x, &w, &bias);
            assert_close(&y.vec(), &y1, ATOL, RTOL, &format!("{} forward (1-D ref)", what));
        }

        let mut dx = Canary::nan(d.n_x());
        let mut work = Canary::nan(work_len);
        unsafe { bwd(delta.as_ptr(), dx.ptr(), w.as_ptr(), work.ptr(), d) };
        dx.check_written();
        work.check_guards();
        assert_close(&dx.vec(), &dx_ref, ATOL, RTOL, &format!("{} backward_delta", what));
        for (i, (&g, &r)) in dx.vec().iter().zip(&dx_ref).enumerate() {
            if r == 0.0 {
                assert_eq!(g, 0.0, "{}: dx[{}] in a gap must be exactly 0", what, i);
            }
        }

        let gw0 = values(d.n_w(), 5);
        let gb0 = values(d.c_out, 6);
        let mut gw = Canary::new(d.n_w(), |i| gw0[i]);
        let mut gb = Canary::new(d.c_out, |i| gb0[i]);
        for _ in 0..2 {
            unsafe { upd(x.as_ptr(), delta.as_ptr(), gw.ptr(), gb.ptr(), d, 1) };
        }
        gw.check_written();
        gb.check_written();
        let twice = |g0: &[f32], g: &[f64]| -> Vec<f64> {
            g0.iter().zip(g).map(|(&a, &b)| a as f64 + 2.0 * b).collect()
        };
        let gw_want = twice(&gw0, &gw_ref);
        assert_close(&gw.vec(), &gw_want, ATOL, RTOL, &format!("{} grad_weight", what));
        let gb_want = twice(&gb0, &gb_ref);
        assert_close(&gb.vec(), &gb_want, ATOL, RTOL, &format!("{} grad_bias", what));

        let mut gw = Canary::nan(d.n_w());
        let mut gb = Canary::nan(d.c_out);
        unsafe { upd(x.as_ptr(), delta.as_ptr(), gw.ptr(), gb.ptr(), d, 0) };
        gw.check_written();
        gb.check_written();
        assert_close(&gw.vec(), &gw_ref, ATOL, RTOL, &format!("{} grad_weight beta 0", what));
        assert_close(&gb.vec(), &gb_ref, ATOL, RTOL, &format!("{} grad_bias beta 0", what));
    }

    unsafe fn f2_simd(x: *const f32, y: *mut f32, w: *const f32, b: *const f32, d: Dims) {
        let Dims { batch, height, width, c_in, c_out, kh, kw, stride } = d;
        conv2d_forward_simd(x, y, w, b, batch, height, width, c_in, c_out, kh, kw, stride)
    }
    unsafe fn f2_scalar(x: *const f32, y: *mut f32, w: *const f32, b: *const f32, d: Dims) {
        let Dims { batch, height, width, c_in, c_out, kh, kw, stride } = d;
        conv2d_forward_scalar(x, y, w, b, batch, height, width, c_in, c_out, kh, kw, stride)
    }
    unsafe fn b2_simd(dl: *const f32, dx: *mut f32, w: *const f32, wk: *mut f32, d: Dims) {
        let Dims { batch, height, width, c_in, c_out, kh, kw, stride } = d;
        conv2d_backward_delta_simd(
            dl, dx, w, wk, batch, height, width, c_in, c_out, kh, kw, stride,
        )
    }
    unsafe fn b2_scalar(dl: *const f32, dx: *mut f32, w: *const f32, wk: *mut f32, d: Dims) {
        let Dims { batch, height, width, c_in, c_out, kh, kw, stride } = d;
        conv2d_backward_delta_scalar(
            dl, dx, w, wk, batch, height, width, c_in, c_out, kh, kw, stride,
        )
    }
    unsafe fn u2_simd(x: *const f32, dl: *const f32, gw: *mut f32, gb: *mut f32, d: Dims, beta: u32) {
        let Dims { batch, height, width, c_in, c_out, kh, kw, stride } = d;
        conv2d_backward_update_gradient_simd(
            x, dl, gw, gb, batch, height, width, c_in, c_out, kh, kw, stride, beta,
        )
    }
    unsafe fn u2_scalar(x: *const f32, dl: *const f32, gw: *mut f32, gb: *mut f32, d: Dims, beta: u32) {
        let Dims { batch, height, width, c_in, c_out, kh, kw, stride } = d;
        conv2d_backward_update_gradient_scalar(
            x, dl, gw, gb, batch, height, width, c_in, c_out, kh, kw, stride, beta,
        )
    }
    unsafe fn f1_simd(x: *const f32, y: *mut f32, w: *const f32, b: *const f32, d: Dims) {
        conv1d_forward_simd(x, y, w, b, d.batch, d.width, d.c_in, d.c_out, d.kw, d.stride)
    }
    unsafe fn f1_scalar(x: *const f32, y: *mut f32, w: *const f32, b: *const f32, d: Dims) {
        conv1d_forward_scalar(x, y, w, b, d.batch, d.width, d.c_in, d.c_out, d.kw, d.stride)
    }
    unsafe fn b1_simd(dl: *const f32, dx: *mut f32, w: *const f32, wk: *mut f32, d: Dims) {
        let Dims { batch, width, c_in, c_out, kw, stride, .. } = d;
        conv1d_backward_delta_simd(dl, dx, w, wk, batch, width, c_in, c_out, kw, stride)
    }
    unsafe fn b1_scalar(dl: *const f32, dx: *mut f32, w: *const f32, wk: *mut f32, d: Dims) {
        let Dims { batch, width, c_in, c_out, kw, stride, .. } = d;
        conv1d_backward_delta_scalar(dl, dx, w, wk, batch, width, c_in, c_out, kw, stride)
    }
    unsafe fn u1_simd(x: *const f32, dl: *const f32, gw: *mut f32, gb: *mut f32, d: Dims, beta: u32) {
        let Dims { batch, width, c_in, c_out, kw, stride, .. } = d;
        conv1d_backward_update_gradient_simd(x, dl, gw, gb, batch, width, c_in, c_out, kw, stride, beta)
    }
    unsafe fn u1_scalar(x: *const f32, dl: *const f32, gw: *mut f32, gb: *mut f32, d: Dims, beta: u32) {
        let Dims { batch, width, c_in, c_out, kw, stride, .. } = d;
        conv1d_backward_update_gradient_scalar(x, dl, gw, gb, batch, width, c_in, c_out, kw, stride, beta)
    }
    unsafe fn u2(x: *const f32, dl: *const f32, gw: *mut f32, gb: *mut f32, d: Dims, beta: u32) {
        let Dims { batch, height, width, c_in, c_out, kh, kw, stride } = d;
        conv2d_backward_update_gradient(
            x, dl, gw, gb, batch, height, width, c_in, c_out, kh, kw, stride, beta,
        )
    }

    /// Kernel sizes for an axis of length n: 1, 2, 3 and n (one output position).
    fn kernels(n: usize) -> Vec<usize> {
        let mut ks: Vec<usize> = vec![1, 2, 3, n].into_iter().filter(|&k| k <= n).collect();
        ks.dedup();
        ks
    }

    #[test]
    fn conv1d_twins_match_reference() {
        let mut cases = 0;
        for &batch in &[1, 3] {
            for &length in &[1, 3, 4, 5, 15, 16, 17] {
                for k in kernels(length) {
                    for &stride in &[1, 2, 3, 5] {
                        for &(c_in, c_out) in &[(1, 1), (3, 4), (4, 5), (5, 17), (16, 3), (1, 8), (3, 16)] {
                            let (height, width, kh, kw) = (1, length, 1, k);
                            let d = Dims { batch, height, width, c_in, c_out, kh, kw, stride };
                            let wl = conv1d_workspace_len(length, c_in, c_out, k, stride);
                            check(d, f1_simd, b1_simd, u1_simd, wl, "conv1d simd");
                            check(d, f1_scalar, b1_scalar, u1_scalar, 0, "conv1d scalar");
                            cases += 1;
                        }
                    }
                }
            }
        }
        assert!(cases > 500);
    }

    #[test]
    fn conv2d_twins_match_reference() {
        for &batch in &[1, 3] {
            for &(height, width) in &[(1, 1), (3, 5), (4, 4), (5, 3), (7, 17), (16, 5)] {
                for kh in kernels(height) {
                    for kw in kernels(width) {
                        for &stride in &[1, 2, 3] {
                            for &(c_in, c_out) in &[(1, 1), (3, 4), (5, 17), (1, 8), (2, 16), (8, 3)] {
                                let d = Dims { batch, height, width, c_in, c_out, kh, kw, stride };
                                let (h, w) = (height, width);
                                let wl = conv2d_workspace_len(h, w, c_in, c_out, kh, kw, stride);
                                check(d, f2_simd, b2_simd, u2_simd, wl, "conv2d simd");
                                check(d, f2_scalar, b2_scalar, u2_scalar, 0, "conv2d scalar");
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn conv1d_small_integers_are_exact() {
        // x = [1, 2, 3, 4, 5], k = 2, w = [1, 10], bias 0.5: y_t = x_t + 10 x_{t+1} + 0.5.
        let x = [1.0f32, 2.0, 3.0, 4.0, 5.0];
        let w = [1.0f32, 10.0];
        let bias = [0.5f32];
        for &(stride, ref want) in &[(1, vec![21.5f32, 32.5, 43.5, 54.5]), (2, vec![21.5, 43.5])] {
            let n = want.len();
            let mut a = Canary::nan(n);
            let mut b = Canary::nan(n);
            let (xp, wp, bp) = (x.as_ptr(), w.as_ptr(), bias.as_ptr());
            unsafe {
                conv1d_forward_simd(xp, a.ptr(), wp, bp, 1, 5, 1, 1, 2, stride);
                conv1d_forward_scalar(xp, b.ptr(), wp, bp, 1, 5, 1, 1, 2, stride);
            }
            assert_eq!(&a.vec(), want);
            assert_eq!(&b.vec(), want);
            // delta = 1: overlapping windows add (stride 1), the uncovered x_4 gets 0 (stride 2).
            let delta = vec![1.0f32; n];
            let mut dx = Canary::nan(5);
            let mut work = Canary::nan(conv1d_workspace_len(5, 1, 1, 2, stride));
            unsafe {
                let dp = delta.as_ptr();
                conv1d_backward_delta_simd(dp, dx.ptr(), wp, work.ptr(), 1, 5, 1, 1, 2, stride);
            }
            let want_dx = if stride == 1 {
                vec![1.0, 11.0, 11.0, 11.0, 10.0]
            } else {
                vec![1.0, 10.0, 1.0, 10.0, 0.0]
            };
            assert_eq!(dx.vec(), want_dx);
        }
    }

    #[test]
    fn update_gradient_beta_0_overwrites_across_gemm_blocks() {
        // out_w·c_out = 38·16 floats per output row: [`weight_gradient_direct`] takes blocks of
        // 13 of the 36 rows, and 684 positions are three KC slices of the packed GEMM (c_out 5).
        for &c_out in &[16, 8, 5] {
            let d = Dims { batch: 2, height: 20, width: 40, c_in: 2, c_out, kh: 3, kw: 3, stride: 1 };
            let x = values(d.n_x(), 7);
            let w = values(d.n_w(), 8);
            let bias = values(c_out, 9);
            let delta = values(d.n_y(), 10);
            let (_, _, gw_ref, gb_ref) = reference(d, &x, &w, &bias, &delta);
            for (upd, name) in [(u2_simd as Upd, "simd"), (u2_scalar, "scalar"), (u2, "dispatch")] {
                let what = format!("{} c_out={}", name, c_out);
                let mut gw = Canary::nan(d.n_w());
                let mut gb = Canary::nan(c_out);
                unsafe { upd(x.as_ptr(), delta.as_ptr(), gw.ptr(), gb.ptr(), d, 0) };
                gw.check_written();
                gb.check_written();
                assert_close(&gw.vec(), &gw_ref, ATOL, RTOL, &format!("{} grad_weight", what));
                assert_close(&gb.vec(), &gb_ref, ATOL, RTOL, &format!("{} grad_bias", what));
                unsafe { upd(x.as_ptr(), delta.as_ptr(), gw.ptr(), gb.ptr(), d, 1) };
                let twice = |g: &[f64]| g.iter().map(|v| 2.0 * v).collect::<Vec<_>>();
                assert_close(&gw.vec(), &twice(&gw_ref), ATOL, RTOL, &format!("{} 2 grad_weight", what));
                assert_close(&gb.vec(), &twice(&gb_ref), ATOL, RTOL, &format!("{} 2 grad_bias", what));
            }
        }
    }

    #[test]
    fn update_gradient_of_an_empty_batch_is_zero_or_unchanged() {
        for &c_out in &[16, 5] {
            let d2 = Dims { batch: 0, height: 4, width: 5, c_in: 3, c_out, kh: 2, kw: 3, stride: 1 };
            let d1 = Dims { height: 1, kh: 1, ..d2 };
            let twins = [(u2_simd as Upd, d2), (u2_scalar, d2), (u2, d2)];
            for (upd, d) in twins.into_iter().chain([(u1_simd as Upd, d1), (u1_scalar, d1)]) {
                let (x, delta) = ([0.0f32; 1], [0.0f32; 1]);
                let mut gw = Canary::nan(d.n_w());
                let mut gb = Canary::nan(c_out);
                unsafe { upd(x.as_ptr(), delta.as_ptr(), gw.ptr(), gb.ptr(), d, 0) };
                gw.check_written();
                gb.check_written();
                assert!(gw.vec().iter().chain(gb.vec().iter()).all(|&v| v == 0.0));
                let mut gw = Canary::new(d.n_w(), |i| i as f32);
                unsafe { upd(x.as_ptr(), delta.as_ptr(), gw.ptr(), gb.ptr(), d, 1) };
                assert!((0..d.n_w()).all(|i| gw.get(i) == i as f32));
            }
        }
    }

    #[test]
    fn workspace_is_zero_without_overlap_and_never_panics() {
        assert_eq!(conv1d_workspace_len(10, 3, 4, 2, 2), 0);
        // Overlap: delta_rows output rows of out_w x taps.
        assert_eq!(conv1d_workspace_len(10, 3, 4, 3, 2), delta_rows(4, 9) * 4 * 3 * 3);
        assert_eq!(delta_rows(4, 9), DELTA_BLOCK / 36);
        assert_eq!(conv2d_workspace_len(5, 6, 2, 7, 3, 3, 1), delta_rows(4, 18) * 4 * 3 * 3 * 2);
        // Kernel rows of a multiple of NR floats: the packed weightᵀ.
        assert_eq!(conv2d_workspace_len(12, 12, 8, 16, 5, 5, 1), 5 * 5 * 8 * 16);
        assert_eq!(delta_rows(100, 1000), 1);
        assert_eq!(conv2d_workspace_len(1, 2, 2, 7, 3, 3, 1), 0);
        assert_eq!(out_len(2, 3, 1), 0);
        assert_eq!(out_len(7, 3, 2), 3);
    }
}

#[cfg(test)]
mod pad_tests {
    // Tolerances: none. Padding copies values and writes zeros, so every element must match the
    // reference bit for bit.
    use super::*;
    use crate::testutil::{values, Canary, SIZES};

    /// Index into x of y's element (b, i, j, ch), or `None` where y is padding.
    fn source(dims: [usize; 8], b: usize, i: usize, j: usize, ch: usize) -> Option<usize> {
        let [_, height, width, c, top, _, left, _] = dims;
        let inside = i >= top && i < top + height && j >= left && j < left + width;
        inside.then(|| ((b * height + i - top) * width + j - left) * c + ch)
    }

    fn check(dims: [usize; 8]) {
        let [batch, height, width, c, top, bottom, left, right] = dims;
        let (oh, ow) = (top + height + bottom, left + width + right);
        let (n_x, n_y) = (batch * height * width * c, batch * oh * ow * c);
        let x = values(n_x, 3);
        let mut y = Canary::nan(n_y);
        let (xp, yp) = (x.as_ptr(), y.ptr());
        unsafe { pad_forward(xp, yp, batch, height, width, c, top, bottom, left, right) };
        y.check_written();
        let delta = values(n_y, 4);
        let mut dx = Canary::nan(n_x);
        unsafe {
            let dp = delta.as_ptr();
            pad_backward_delta(dp, dx.ptr(), batch, height, width, c, top, bottom, left, right)
        };
        dx.check_written();
        let mut want_dx = vec![f32::NAN; n_x];
        for b in 0..batch {
            for i in 0..oh {
                for j in 0..ow {
                    for ch in 0..c {
                        let o = ((b * oh + i) * ow + j) * c + ch;
                        let want = source(dims, b, i, j, ch).map_or(0.0, |a| x[a]);
                        assert_eq!(y.get(o).to_bits(), want.to_bits(), "{:?} y[{}]", dims, o);
                        if let Some(a) = source(dims, b, i, j, ch) {
                            want_dx[a] = delta[o];
                        }
                    }
                }
            }
        }
        assert_eq!(dx.vec(), want_dx, "{:?} dx", dims);
    }

    #[test]
    fn pad_matches_reference_for_every_side() {
        let mut cases = 0;
        for &batch in &[0, 1, 3] {
            for &(height, width) in &[(1, 1), (1, 5), (3, 4), (5, 2)] {
                for &c in SIZES {
                    for &(top, bottom) in &[(0, 0), (1, 0), (0, 2), (1, 1)] {
                        for &(left, right) in &[(0, 0), (1, 0), (0, 1), (1, 2), (3, 3)] {
                            check([batch, height, width, c, top, bottom, left, right]);
                            cases += 1;
                        }
                    }
                }
            }
        }
        assert!(cases > 1000);
    }

    #[test]
    fn pad_small_exact_values() {
        // 1-D 'same' padding for k = 4: one zero on the left, two on the right.
        let x = [1.0f32, 2.0, 3.0];
        let mut y = Canary::nan(6);
        unsafe { pad_forward(x.as_ptr(), y.ptr(), 1, 1, 3, 1, 0, 0, 1, 2) };
        assert_eq!(y.vec(), vec![0.0, 1.0, 2.0, 3.0, 0.0, 0.0]);
        let delta = [9.0f32, 4.0, 5.0, 6.0, 9.0, 9.0];
        let mut dx = Canary::nan(3);
        unsafe { pad_backward_delta(delta.as_ptr(), dx.ptr(), 1, 1, 3, 1, 0, 0, 1, 2) };
        dx.check_written();
        assert_eq!(dx.vec(), vec![4.0, 5.0, 6.0]);
    }
}
