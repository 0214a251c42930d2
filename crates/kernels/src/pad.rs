//! Zero padding (front: Conv1D / Conv2D `padding: 'same'` in `ts/core/conv.ts`). Channels last:
//! y [batch, top + height + bottom, left + width + right, c] holds x [batch, height, width, c] at
//! (top, left) and zeros elsewhere; backward crops delta back to x's shape. 1-D is height = 1,
//! top = bottom = 0. Both passes move contiguous runs (a row of x is `width·c` floats), as memset
//! and memcpy: there is no arithmetic, so there are no SIMD / scalar twins.
#![allow(clippy::too_many_arguments)]

use crate::util::fill_zero;

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
            core::ptr::copy_nonoverlapping(x.add((b * height + i) * row), yr.add(left * c), row);
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
            core::ptr::copy_nonoverlapping(from, dx.add((b * height + i) * row), row);
        }
    }
}

#[cfg(test)]
mod tests {
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
