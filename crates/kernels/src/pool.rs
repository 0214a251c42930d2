//! MaxPool1D / MaxPool2D and AvgPool1D / AvgPool2D kernels (front: `ts/core/pool.ts`). Channels
//! last, valid padding, one stride: y[b, i, j, c] = max (or mean) over p<kh, q<kw of
//! x[b, i·s + p, j·s + q, c] for x [batch, height, width, c] and y, argmax
//! [batch, out_h, out_w, c]; 1-D is the 2-D case with height = kh = 1. argmax holds the flat index into x of the winner: the
//! first in row-major window order on ties, and the first NaN if the window has one (a NaN
//! propagates, as in PyTorch). Backward scatters delta to it, or spreads delta / (kh·kw) over the
//! window for the mean.
#![allow(clippy::too_many_arguments)]

use crate::conv::out_len;
use crate::simd::F32x4;
use crate::util::fill_zero;

/// `y[b, t, ch] = max_{i<k} x[b, t·stride + i, ch]`, argmax the flat index of that input;
/// overwrites both whole. Shapes: x [batch, length, c], y and argmax [batch, out_len, c].
///
/// # Safety
/// Pointers valid for their shapes; y and argmax overlap nothing else.
pub unsafe fn maxpool1d_forward(
    x: *const f32, y: *mut f32, argmax: *mut u32,
    batch: usize, length: usize, c: usize, k: usize, stride: usize,
) {
    maxpool2d_forward(x, y, argmax, batch, 1, length, c, 1, k, stride)
}

/// SIMD twin of [`maxpool1d_forward`].
///
/// # Safety
/// As [`maxpool1d_forward`].
pub unsafe fn maxpool1d_forward_simd(
    x: *const f32, y: *mut f32, argmax: *mut u32,
    batch: usize, length: usize, c: usize, k: usize, stride: usize,
) {
    maxpool2d_forward_simd(x, y, argmax, batch, 1, length, c, 1, k, stride)
}

/// Scalar twin of [`maxpool1d_forward`].
///
/// # Safety
/// As [`maxpool1d_forward`].
pub unsafe fn maxpool1d_forward_scalar(
    x: *const f32, y: *mut f32, argmax: *mut u32,
    batch: usize, length: usize, c: usize, k: usize, stride: usize,
) {
    maxpool2d_forward_scalar(x, y, argmax, batch, 1, length, c, 1, k, stride)
}

/// `y[b, i, j, ch]` = max over the kh x kw window at `(i·stride, j·stride)`, argmax the flat
/// index of that input; overwrites both whole. Shapes: x [batch, height, width, c],
/// y and argmax [batch, out_h, out_w, c].
///
/// # Safety
/// Pointers valid for their shapes; y and argmax overlap nothing else.
pub unsafe fn maxpool2d_forward(
    x: *const f32, y: *mut f32, argmax: *mut u32,
    batch: usize, height: usize, width: usize, c: usize, kh: usize, kw: usize, stride: usize,
) {
    #[cfg(target_feature = "simd128")]
    maxpool2d_forward_simd(x, y, argmax, batch, height, width, c, kh, kw, stride);
    #[cfg(not(target_feature = "simd128"))]
    maxpool2d_forward_scalar(x, y, argmax, batch, height, width, c, kh, kw, stride);
}

/// SIMD twin of [`maxpool2d_forward`]: four channels per vector. Each lane keeps its best value
/// and, as a u32 bit pattern, the offset of that value from the window's first element, both
/// updated with bit selects, so y is a bit copy of the winner and argmax is one integer add.
/// Channels past the last full vector go through the scalar rule.
///
/// # Safety
/// As [`maxpool2d_forward`].
pub unsafe fn maxpool2d_forward_simd(
    x: *const f32, y: *mut f32, argmax: *mut u32,
    batch: usize, height: usize, width: usize, c: usize, kh: usize, kw: usize, stride: usize,
) {
    debug_assert!(kh >= 1 && kw >= 1 && stride >= 1);
    let (out_h, out_w) = (out_len(height, kh, stride), out_len(width, kw, stride));
    let c4 = c - c % 4;
    for b in 0..batch {
        for i in 0..out_h {
            for j in 0..out_w {
                let o = ((b * out_h + i) * out_w + j) * c;
                let corner = ((b * height + i * stride) * width + j * stride) * c;
                let mut ch = 0;
                while ch < c4 {
                    let first = x.add(corner + ch);
                    let mut best = F32x4::load(first);
                    let mut off = F32x4::splat_bits(0);
                    for p in 0..kh {
                        let row = first.add(p * width * c);
                        for q in (p == 0) as usize..kw {
                            let v = F32x4::load(row.add(q * c));
                            // Take v when it is larger (false for NaNs and for tied infinities),
                            // or when it is the window's first NaN (a NaN best is never replaced).
                            let take = best.lt(v).or(v.is_nan().and_not(best.is_nan()));
                            best = F32x4::select(take, v, best);
                            let d = ((p * width + q) * c) as u32;
                            off = F32x4::select(take, F32x4::splat_bits(d), off);
                        }
                    }
                    best.store(y.add(o + ch));
                    let idx = off.add_bits(F32x4::iota_bits((corner + ch) as u32));
                    idx.store(argmax.add(o + ch) as *mut f32);
                    ch += 4;
                }
                for ch in c4..c {
                    let idx = window_argmax(x, corner + ch, width, c, kh, kw);
                    *argmax.add(o + ch) = idx as u32;
                    *y.add(o + ch) = *x.add(idx);
                }
            }
        }
    }
}

/// Scalar twin of [`maxpool2d_forward`].
///
/// # Safety
/// As [`maxpool2d_forward`].
pub unsafe fn maxpool2d_forward_scalar(
    x: *const f32, y: *mut f32, argmax: *mut u32,
    batch: usize, height: usize, width: usize, c: usize, kh: usize, kw: usize, stride: usize,
) {
    let (out_h, out_w) = (out_len(height, kh, stride), out_len(width, kw, stride));
    for b in 0..batch {
        for i in 0..out_h {
            for j in 0..out_w {
                let o = ((b * out_h + i) * out_w + j) * c;
                let corner = ((b * height + i * stride) * width + j * stride) * c;
                for ch in 0..c {
                    let idx = window_argmax(x, corner + ch, width, c, kh, kw);
                    *argmax.add(o + ch) = idx as u32;
                    *y.add(o + ch) = *x.add(idx);
                }
            }
        }
    }
}

/// `dx = 0`, then `dx[argmax[i]] += delta[i]`: overwrites dx whole, and inputs that win several
/// overlapping windows collect every gradient. Serves both poolings.
/// Shapes: delta [n_out], argmax [n_out] (each < n_in), dx [n_in].
/// A scatter has no SIMD128 form (no scatter store), so there are no twins.
///
/// # Safety
/// Pointers valid for their shapes, every `argmax[i] < n_in`; dx overlaps nothing else.
pub unsafe fn maxpool_backward_delta(
    delta: *const f32, argmax: *const u32, dx: *mut f32, n_out: usize, n_in: usize,
) {
    fill_zero(dx, n_in);
    for i in 0..n_out {
        let to = *argmax.add(i) as usize;
        debug_assert!(to < n_in);
        *dx.add(to) += *delta.add(i);
    }
}

/// Flat index of the max of one channel's window whose first element is `x[first]`: the first
/// in row-major order on ties, or the first NaN.
///
/// # Safety
/// The kh x kw window (rows `width·c` apart, columns `c` apart) is inside x.
unsafe fn window_argmax(
    x: *const f32, first: usize, width: usize, c: usize, kh: usize, kw: usize,
) -> usize {
    let (mut best, mut best_idx) = (*x.add(first), first);
    for p in 0..kh {
        for q in 0..kw {
            let idx = first + (p * width + q) * c;
            let v = *x.add(idx);
            if v > best || (v.is_nan() && !best.is_nan()) {
                best = v;
                best_idx = idx;
            }
        }
    }
    best_idx
}

// ---------------------------------------------------------------------------------------------
// AvgPool1D / AvgPool2D (PyTorch's AvgPool2d with padding 0): the mean of each window, summed
// from 0 in row-major window order and divided once by kh·kw (a division, not a multiply by the
// reciprocal: one rounding fewer). Channels last makes each window element a contiguous run of c
// floats, so both passes add whole runs; both twins add in the same order and agree bit for bit.

/// `y[b, i, j, ch]` = mean of x over the kh x kw window at `(i·stride, j·stride)`; overwrites
/// y whole. Shapes: x [batch, height, width, c], y [batch, out_h, out_w, c] with
/// out = (in - k) / stride + 1. 1-D pooling is height = kh = 1.
///
/// # Safety
/// Pointers valid for their shapes; y overlaps nothing else.
pub unsafe fn avgpool_forward(
    x: *const f32, y: *mut f32,
    batch: usize, height: usize, width: usize, c: usize, kh: usize, kw: usize, stride: usize,
) {
    #[cfg(target_feature = "simd128")]
    avgpool_forward_simd(x, y, batch, height, width, c, kh, kw, stride);
    #[cfg(not(target_feature = "simd128"))]
    avgpool_forward_scalar(x, y, batch, height, width, c, kh, kw, stride);
}

/// SIMD twin of [`avgpool_forward`]: each output pixel's c channels are summed in y, four lanes
/// at a time, then divided in place.
///
/// # Safety
/// As [`avgpool_forward`].
pub unsafe fn avgpool_forward_simd(
    x: *const f32, y: *mut f32,
    batch: usize, height: usize, width: usize, c: usize, kh: usize, kw: usize, stride: usize,
) {
    debug_assert!(kh >= 1 && kw >= 1 && stride >= 1);
    let count = (kh * kw) as f32;
    for_windows(batch, height, width, c, kh, kw, stride, |o, corner| {
        let yo = y.add(o);
        fill_zero(yo, c);
        for p in 0..kh {
            for q in 0..kw {
                let src = x.add(corner + (p * width + q) * c);
                let mut ch = 0;
                while ch + 4 <= c {
                    F32x4::load(yo.add(ch)).add(F32x4::load(src.add(ch))).store(yo.add(ch));
                    ch += 4;
                }
                for ch in ch..c {
                    *yo.add(ch) += *src.add(ch);
                }
            }
        }
        let mut ch = 0;
        while ch + 4 <= c {
            F32x4::load(yo.add(ch)).div(F32x4::splat(count)).store(yo.add(ch));
            ch += 4;
        }
        for ch in ch..c {
            *yo.add(ch) /= count;
        }
    });
}

/// Scalar twin of [`avgpool_forward`].
///
/// # Safety
/// As [`avgpool_forward`].
pub unsafe fn avgpool_forward_scalar(
    x: *const f32, y: *mut f32,
    batch: usize, height: usize, width: usize, c: usize, kh: usize, kw: usize, stride: usize,
) {
    let count = (kh * kw) as f32;
    for_windows(batch, height, width, c, kh, kw, stride, |o, corner| {
        for ch in 0..c {
            let mut s = 0.0f32;
            for p in 0..kh {
                for q in 0..kw {
                    s += *x.add(corner + (p * width + q) * c + ch);
                }
            }
            *y.add(o + ch) = s / count;
        }
    });
}

/// `dx[b, h, w, ch]` = Σ over the windows that cover (h, w) of `delta[b, i, j, ch] / (kh·kw)`;
/// overwrites dx whole: overlapping windows add up (in output order), positions no window
/// covers get 0. Shapes: delta [batch, out_h, out_w, c], dx [batch, height, width, c].
///
/// # Safety
/// Pointers valid for their shapes; dx overlaps nothing else.
pub unsafe fn avgpool_backward_delta(
    delta: *const f32, dx: *mut f32,
    batch: usize, height: usize, width: usize, c: usize, kh: usize, kw: usize, stride: usize,
) {
    #[cfg(target_feature = "simd128")]
    avgpool_backward_delta_simd(delta, dx, batch, height, width, c, kh, kw, stride);
    #[cfg(not(target_feature = "simd128"))]
    avgpool_backward_delta_scalar(delta, dx, batch, height, width, c, kh, kw, stride);
}

/// SIMD twin of [`avgpool_backward_delta`]: `delta / (kh·kw)` is recomputed for each run it is
/// added to (the same value each time), so no scratch is needed.
///
/// # Safety
/// As [`avgpool_backward_delta`].
pub unsafe fn avgpool_backward_delta_simd(
    delta: *const f32, dx: *mut f32,
    batch: usize, height: usize, width: usize, c: usize, kh: usize, kw: usize, stride: usize,
) {
    debug_assert!(kh >= 1 && kw >= 1 && stride >= 1);
    let count = (kh * kw) as f32;
    fill_zero(dx, batch * height * width * c);
    for_windows(batch, height, width, c, kh, kw, stride, |o, corner| {
        let d = delta.add(o);
        for p in 0..kh {
            for q in 0..kw {
                let dst = dx.add(corner + (p * width + q) * c);
                let mut ch = 0;
                while ch + 4 <= c {
                    let g = F32x4::load(d.add(ch)).div(F32x4::splat(count));
                    F32x4::load(dst.add(ch)).add(g).store(dst.add(ch));
                    ch += 4;
                }
                for ch in ch..c {
                    *dst.add(ch) += *d.add(ch) / count;
                }
            }
        }
    });
}

/// Scalar twin of [`avgpool_backward_delta`].
///
/// # Safety
/// As [`avgpool_backward_delta`].
pub unsafe fn avgpool_backward_delta_scalar(
    delta: *const f32, dx: *mut f32,
    batch: usize, height: usize, width: usize, c: usize, kh: usize, kw: usize, stride: usize,
) {
    let count = (kh * kw) as f32;
    fill_zero(dx, batch * height * width * c);
    for_windows(batch, height, width, c, kh, kw, stride, |o, corner| {
        for ch in 0..c {
            let g = *delta.add(o + ch) / count;
            for p in 0..kh {
                for q in 0..kw {
                    *dx.add(corner + (p * width + q) * c + ch) += g;
                }
            }
        }
    });
}

/// Calls `f(o, corner)` for every output pixel in order: `o` is the offset of its first channel
/// in y (or delta), `corner` that of its window's first element in x (or dx).
fn for_windows(
    batch: usize, height: usize, width: usize, c: usize, kh: usize, kw: usize, stride: usize,
    mut f: impl FnMut(usize, usize),
) {
    let (out_h, out_w) = (out_len(height, kh, stride), out_len(width, kw, stride));
    for b in 0..batch {
        for i in 0..out_h {
            for j in 0..out_w {
                let o = ((b * out_h + i) * out_w + j) * c;
                f(o, ((b * height + i * stride) * width + j * stride) * c);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    // Tolerances: none. A max selects an input exactly, so values and indices must match the
    // reference bit for bit; backward only adds deltas, compared with exact small integers.
    use super::*;
    use crate::testutil::{values, Canary, GUARD, SIZES};

    /// Guard value around argmax outputs; it cannot be a valid index in these tests.
    const GUARD_U32: u32 = 0xDEAD_BEEF;

    /// A u32 output with guards, filled with GUARD_U32 so unwritten elements are caught.
    struct IndexCanary(Vec<u32>);

    impl IndexCanary {
        fn new(n: usize) -> Self {
            IndexCanary(vec![GUARD_U32; n + 2 * GUARD])
        }
        fn ptr(&mut self) -> *mut u32 {
            unsafe { self.0.as_mut_ptr().add(GUARD) }
        }
        fn vec(&self) -> Vec<u32> {
            let n = self.0.len() - 2 * GUARD;
            let v = self.0[GUARD..GUARD + n].to_vec();
            let guards_intact = |g: &[u32]| g.iter().all(|&e| e == GUARD_U32);
            assert!(guards_intact(&self.0[..GUARD]), "guard before argmax written");
            assert!(guards_intact(&self.0[GUARD + n..]), "guard after argmax written");
            assert!(v.iter().all(|&i| i != GUARD_U32), "argmax element not written");
            v
        }
    }

    type Pool2 =
        unsafe fn(*const f32, *mut f32, *mut u32, usize, usize, usize, usize, usize, usize, usize);
    const TWINS: [(Pool2, &str); 2] =
        [(maxpool2d_forward_simd, "simd"), (maxpool2d_forward_scalar, "scalar")];

    /// Reference: (y, argmax) from the definition, with the documented tie and NaN rules.
    fn reference(
        x: &[f32], batch: usize, height: usize, width: usize, c: usize, kh: usize, kw: usize,
        stride: usize,
    ) -> (Vec<f32>, Vec<u32>) {
        let (oh, ow) = ((height - kh) / stride + 1, (width - kw) / stride + 1);
        let (mut y, mut am) = (Vec::new(), Vec::new());
        for b in 0..batch {
            for i in 0..oh {
                for j in 0..ow {
                    for ch in 0..c {
                        let mut best: Option<usize> = None;
                        for p in 0..kh {
                            for q in 0..kw {
                                let px = (b * height + i * stride + p) * width + j * stride + q;
                                let idx = px * c + ch;
                                best = match best {
                                    None => Some(idx),
                                    Some(k) if x[k].is_nan() => Some(k),
                                    Some(_) if x[idx].is_nan() => Some(idx),
                                    Some(k) if x[idx] > x[k] => Some(idx),
                                    keep => keep,
                                };
                            }
                        }
                        let k = best.unwrap();
                        y.push(x[k]);
                        am.push(k as u32);
                    }
                }
            }
        }
        (y, am)
    }

    /// Runs both twins on x and compares bit for bit with the reference, canaries included.
    fn check(x: &[f32], dims: [usize; 7]) {
        let [batch, height, width, c, kh, kw, stride] = dims;
        let (y_ref, am_ref) = reference(x, batch, height, width, c, kh, kw, stride);
        for &(f, name) in &TWINS {
            let mut y = Canary::nan(y_ref.len());
            let mut am = IndexCanary::new(y_ref.len());
            unsafe { f(x.as_ptr(), y.ptr(), am.ptr(), batch, height, width, c, kh, kw, stride) };
            y.check_guards();
            assert_eq!(am.vec(), am_ref, "{} argmax {:?}", name, dims);
            let bits = |v: Vec<f32>| v.iter().map(|a| a.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(y.vec()), bits(y_ref.clone()), "{} y {:?}", name, dims);
        }
    }

    /// Random values rounded to a few levels, so ties are common.
    fn tied_values(n: usize, seed: u32) -> Vec<f32> {
        values(n, seed).iter().map(|v| (v * 2.0).round()).collect()
    }

    #[test]
    fn maxpool2d_twins_match_reference() {
        for &batch in &[1, 3] {
            for &(height, width) in &[(1, 1), (3, 5), (4, 4), (5, 17), (16, 3)] {
                for &c in &[1, 3, 4, 5, 15, 16, 17] {
                    for &(kh, kw) in &[(1, 1), (1, 2), (2, 2), (3, 2), (height, width)] {
                        if kh > height || kw > width {
                            continue;
                        }
                        for &stride in &[1, 2, 3] {
                            let n = batch * height * width * c;
                            let dims = [batch, height, width, c, kh, kw, stride];
                            check(&values(n, 7), dims);
                            check(&tied_values(n, 8), dims);
                        }
                    }
                }
            }
        }
    }

    type Pool1 = unsafe fn(*const f32, *mut f32, *mut u32, usize, usize, usize, usize, usize);

    #[test]
    fn maxpool1d_matches_2d_with_one_row() {
        for &length in &[1, 3, 4, 5, 15, 16, 17] {
            for &c in &[1, 4, 5, 17] {
                for &k in &[1, 2, 3, length] {
                    for &stride in &[1, 2, 3, 5] {
                        if k > length {
                            continue;
                        }
                        let x = tied_values(3 * length * c, 9);
                        let (y_ref, am_ref) = reference(&x, 3, 1, length, c, 1, k, stride);
                        let twins: [Pool1; 3] =
                            [maxpool1d_forward_simd, maxpool1d_forward_scalar, maxpool1d_forward];
                        for f in twins {
                            let mut y = Canary::nan(y_ref.len());
                            let mut am = IndexCanary::new(y_ref.len());
                            unsafe { f(x.as_ptr(), y.ptr(), am.ptr(), 3, length, c, k, stride) };
                            y.check_written();
                            assert_eq!(am.vec(), am_ref);
                            assert_eq!(y.vec(), y_ref);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn ties_go_to_the_first_index_in_window_order() {
        // Every element equal (including -0.0 vs 0.0, and ±inf): argmax is the window corner.
        for &v in &[0.0f32, -0.0, 2.5, f32::INFINITY, f32::NEG_INFINITY] {
            let (h, w, c) = (4, 5, 6);
            let mut x = vec![v; h * w * c];
            if v == 0.0 {
                for (i, e) in x.iter_mut().enumerate() {
                    *e = if i % 3 == 0 { -0.0 } else { 0.0 };
                }
            }
            for &(f, name) in &TWINS {
                let mut y = Canary::nan(2 * 2 * c);
                let mut am = IndexCanary::new(2 * 2 * c);
                unsafe { f(x.as_ptr(), y.ptr(), am.ptr(), 1, h, w, c, 2, 3, 2) };
                let am = am.vec();
                for i in 0..2 {
                    for j in 0..2 {
                        for ch in 0..c {
                            let corner = ((i * 2) * w + j * 2) * c + ch;
                            let got = am[(i * 2 + j) * c + ch] as usize;
                            assert_eq!(got, corner, "{} v={}", name, v);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn nan_propagates_and_the_first_nan_wins() {
        // One row, c = 5 (one vector and a scalar tail), k = 4, stride 4: two windows.
        let c = 5;
        let mut x = values(8 * c, 3);
        for ch in 0..c {
            x[2 * c + ch] = f32::NAN; // window 0: NaN at position 2
            x[4 * c + ch] = 100.0; // window 1: a big value first, then two NaNs
            x[5 * c + ch] = f32::NAN;
            x[7 * c + ch] = f32::NAN;
        }
        x[c + 1] = f32::INFINITY; // +inf before the NaN still loses to it
        for &(f, name) in &TWINS {
            let mut y = Canary::nan(2 * c);
            let mut am = IndexCanary::new(2 * c);
            unsafe { f(x.as_ptr(), y.ptr(), am.ptr(), 1, 1, 8, c, 1, 4, 4) };
            let am = am.vec();
            for ch in 0..c {
                assert!(y.get(ch).is_nan() && y.get(c + ch).is_nan(), "{}", name);
                assert_eq!(am[ch] as usize, 2 * c + ch, "{}", name);
                assert_eq!(am[c + ch] as usize, 5 * c + ch, "{}", name);
            }
        }
    }

    #[test]
    fn backward_scatters_and_overlapping_windows_add() {
        // x = [0, 5, 0, 0], k = 2, stride 1: windows pick 1, 1, 2 (ties on [0, 0] go first).
        let x = [0.0f32, 5.0, 0.0, 0.0];
        let mut y = Canary::nan(3);
        let mut am = IndexCanary::new(3);
        unsafe { maxpool1d_forward(x.as_ptr(), y.ptr(), am.ptr(), 1, 4, 1, 2, 1) };
        let am = am.vec();
        assert_eq!(am, vec![1, 1, 2]);
        let delta = [1.0f32, 2.0, 4.0];
        let mut dx = Canary::nan(4);
        unsafe { maxpool_backward_delta(delta.as_ptr(), am.as_ptr(), dx.ptr(), 3, 4) };
        dx.check_written();
        assert_eq!(dx.vec(), vec![0.0, 3.0, 4.0, 0.0]);
    }

    #[test]
    fn backward_matches_reference_scatter() {
        let (batch, height, width, c, kh, kw, stride) = (3, 5, 17, 5, 3, 2, 1);
        let x = tied_values(batch * height * width * c, 11);
        let (y_ref, am) = reference(&x, batch, height, width, c, kh, kw, stride);
        let delta: Vec<f32> = (0..y_ref.len()).map(|i| (i % 7) as f32).collect();
        let mut want = vec![0.0f32; x.len()];
        for (i, &k) in am.iter().enumerate() {
            want[k as usize] += delta[i];
        }
        let mut dx = Canary::nan(x.len());
        unsafe { maxpool_backward_delta(delta.as_ptr(), am.as_ptr(), dx.ptr(), am.len(), x.len()) };
        dx.check_written();
        assert_eq!(dx.vec(), want);
    }

    // AvgPool. Tolerances: the twins add in the same order, so they must agree bit for bit; against
    // the float64 reference a sum of K = kh·kw f32 values of |v| < 1, then one division, is within
    // (K + 1)·2⁻²⁴·Σ|x| / K (recursive summation). Small integers with K a power of two are exact.

    type Avg = unsafe fn(*const f32, *mut f32, usize, usize, usize, usize, usize, usize, usize);
    const AVG_FWD: [(Avg, &str); 3] = [
        (avgpool_forward_simd, "simd"),
        (avgpool_forward_scalar, "scalar"),
        (avgpool_forward, "dispatch"),
    ];
    const AVG_BWD: [(Avg, &str); 3] = [
        (avgpool_backward_delta_simd, "simd"),
        (avgpool_backward_delta_scalar, "scalar"),
        (avgpool_backward_delta, "dispatch"),
    ];

    /// Float64 reference: (y, bound on |y error|, dx, bound on |dx error|) from the definition.
    fn avg_reference(
        x: &[f32], delta: &[f32], [batch, height, width, c, kh, kw, stride]: [usize; 7],
    ) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
        let (oh, ow) = ((height - kh) / stride + 1, (width - kw) / stride + 1);
        let count = (kh * kw) as f64;
        let eps = (count + 1.0) * f32::EPSILON as f64 / 2.0;
        let n_x = batch * height * width * c;
        let (mut y, mut y_tol) = (vec![0.0; delta.len()], vec![0.0; delta.len()]);
        let (mut dx, mut dx_tol) = (vec![0.0; n_x], vec![0.0; n_x]);
        for b in 0..batch {
            for i in 0..oh {
                for j in 0..ow {
                    for ch in 0..c {
                        let o = ((b * oh + i) * ow + j) * c + ch;
                        for p in 0..kh {
                            for q in 0..kw {
                                let px = (b * height + i * stride + p) * width + j * stride + q;
                                let a = px * c + ch;
                                y[o] += x[a] as f64 / count;
                                y_tol[o] += eps * (x[a] as f64).abs() / count;
                                dx[a] += delta[o] as f64 / count;
                                let d = (delta[o] as f64).abs();
                                dx_tol[a] += 4.0 * count * f32::EPSILON as f64 * d;
                            }
                        }
                    }
                }
            }
        }
        (y, y_tol, dx, dx_tol)
    }

    fn avg_check(dims: [usize; 7], ints: bool) {
        let [batch, height, width, c, kh, kw, stride] = dims;
        let (oh, ow) = ((height - kh) / stride + 1, (width - kw) / stride + 1);
        let n_x = batch * height * width * c;
        let n_y = batch * oh * ow * c;
        let round = |v: Vec<f32>| {
            if ints {
                v.iter().map(|x| (x * 3.5).round()).collect()
            } else {
                v
            }
        };
        let x = round(values(n_x, 5));
        let delta = round(values(n_y, 6));
        let (y_ref, y_tol, dx_ref, dx_tol) = avg_reference(&x, &delta, dims);
        let mut first: Option<(Vec<f32>, Vec<f32>)> = None;
        for (fwd, bwd) in AVG_FWD.iter().zip(AVG_BWD.iter()) {
            let what = format!("{} {:?} ints={}", fwd.1, dims, ints);
            let mut y = Canary::nan(n_y);
            unsafe { (fwd.0)(x.as_ptr(), y.ptr(), batch, height, width, c, kh, kw, stride) };
            y.check_written();
            let mut dx = Canary::nan(n_x);
            unsafe { (bwd.0)(delta.as_ptr(), dx.ptr(), batch, height, width, c, kh, kw, stride) };
            dx.check_written();
            for (o, (&g, &w)) in y.vec().iter().zip(&y_ref).enumerate() {
                assert!((g as f64 - w).abs() <= y_tol[o], "{} y[{}] = {}, want {}", what, o, g, w);
            }
            for (a, (&g, &w)) in dx.vec().iter().zip(&dx_ref).enumerate() {
                let ok = (g as f64 - w).abs() <= dx_tol[a];
                assert!(ok, "{} dx[{}] = {}, want {} (0 outside every window)", what, a, g, w);
            }
            match &first {
                None => first = Some((y.vec(), dx.vec())),
                Some((y0, dx0)) => {
                    let bits = |v: &[f32]| v.iter().map(|a| a.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&y.vec()), bits(y0), "{}: twins differ in y", what);
                    assert_eq!(bits(&dx.vec()), bits(dx0), "{}: twins differ in dx", what);
                }
            }
        }
    }

    #[test]
    fn avgpool_twins_match_reference_and_each_other() {
        let mut cases = 0;
        for &batch in &[1, 3] {
            for &(height, width) in &[(1, 1), (1, 9), (3, 5), (4, 4), (5, 17), (16, 3)] {
                for &c in SIZES {
                    for &(kh, kw) in &[(1, 1), (1, 2), (2, 2), (3, 2), (1, 3), (height, width)] {
                        if kh > height || kw > width {
                            continue;
                        }
                        for &stride in &[1, 2, 3, 4] {
                            avg_check([batch, height, width, c, kh, kw, stride], false);
                            avg_check([batch, height, width, c, kh, kw, stride], true);
                            cases += 1;
                        }
                    }
                }
            }
        }
        assert!(cases > 1000);
    }

    #[test]
    fn avgpool_small_exact_values() {
        // 1-D, x = [1, 2, 3, 4, 6], k = 2: stride 1 means [1.5, 2.5, 3.5, 5]; stride 3 leaves x[2]
        // outside every window, so its gradient is 0; overlapping windows add.
        let x = [1.0f32, 2.0, 3.0, 4.0, 6.0];
        for (fwd, bwd) in AVG_FWD.iter().zip(AVG_BWD.iter()) {
            let mut y = Canary::nan(4);
            unsafe { (fwd.0)(x.as_ptr(), y.ptr(), 1, 1, 5, 1, 1, 2, 1) };
            assert_eq!(y.vec(), vec![1.5, 2.5, 3.5, 5.0], "{}", fwd.1);
            let delta = [2.0f32, 4.0, 6.0, 8.0];
            let mut dx = Canary::nan(5);
            unsafe { (bwd.0)(delta.as_ptr(), dx.ptr(), 1, 1, 5, 1, 1, 2, 1) };
            assert_eq!(dx.vec(), vec![1.0, 3.0, 5.0, 7.0, 4.0], "{}", bwd.1);
            unsafe { (bwd.0)(delta.as_ptr(), dx.ptr(), 1, 1, 5, 1, 1, 2, 3) };
            assert_eq!(dx.vec(), vec![1.0, 1.0, 0.0, 2.0, 2.0], "{}", bwd.1);
            dx.check_written();
        }
    }
}
