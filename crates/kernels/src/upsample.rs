//! Nearest-neighbour upsampling (front: `ts/core/upsample.ts`). Channels last, integer factors:
//! y[b, i, j, c] = x[b, i / sh, j / sw, c] for x [batch, height, width, c] and
//! y [batch, height·sh, width·sw, c]; backward sums each sh x sw block of delta into one dx.
//! 1-D is the 2-D case with height = sh = 1. Both passes move whole runs of `c` channels.
#![allow(clippy::too_many_arguments)]

use crate::simd::F32x4;
use crate::util::copy_f32;

/// `y[b, i, j, ch] = x[b, i / sh, j / sw, ch]`; overwrites y whole.
/// Shapes: x [batch, height, width, c], y [batch, height·sh, width·sw, c].
///
/// # Safety
/// Pointers valid for their shapes; y overlaps nothing else.
pub unsafe fn upsample_forward(
    x: *const f32, y: *mut f32, batch: usize, height: usize, width: usize, c: usize, sh: usize, sw: usize,
) {
    #[cfg(target_feature = "simd128")]
    upsample_forward_simd(x, y, batch, height, width, c, sh, sw);
    #[cfg(not(target_feature = "simd128"))]
    upsample_forward_scalar(x, y, batch, height, width, c, sh, sw);
}

/// SIMD twin of [`upsample_forward`].
///
/// # Safety
/// As [`upsample_forward`].
pub unsafe fn upsample_forward_simd(
    x: *const f32, y: *mut f32, batch: usize, height: usize, width: usize, c: usize, sh: usize, sw: usize,
) {
    let out_row = width * sw * c;
    for r in 0..batch * height {
        let src = x.add(r * width * c);
        let first = y.add(r * sh * out_row);
        for j in 0..width {
            let from = src.add(j * c);
            for q in 0..sw {
                let to = first.add((j * sw + q) * c);
                let mut ch = 0;
                while ch + 4 <= c {
                    F32x4::load(from.add(ch)).store(to.add(ch));
                    ch += 4;
                }
                for t in ch..c {
                    *to.add(t) = *from.add(t);
                }
            }
        }
        // The other sh - 1 output rows repeat the first one.
        for p in 1..sh {
            copy_f32(first, first.add(p * out_row), out_row);
        }
    }
}

/// Scalar twin of [`upsample_forward`].
///
/// # Safety
/// As [`upsample_forward`].
pub unsafe fn upsample_forward_scalar(
    x: *const f32, y: *mut f32, batch: usize, height: usize, width: usize, c: usize, sh: usize, sw: usize,
) {
    let (oh, ow) = (height * sh, width * sw);
    for b in 0..batch {
        for i in 0..oh {
            for j in 0..ow {
                for ch in 0..c {
                    *y.add(((b * oh + i) * ow + j) * c + ch) = *x.add(((b * height + i / sh) * width + j / sw) * c + ch);
                }
            }
        }
    }
}

/// `dx[b, i, j, ch] = Σ_{p<sh, q<sw} delta[b, i·sh + p, j·sw + q, ch]`; overwrites dx whole.
/// Shapes: delta [batch, height·sh, width·sw, c], dx [batch, height, width, c].
///
/// # Safety
/// Pointers valid for their shapes; dx overlaps nothing else.
pub unsafe fn upsample_backward_delta(
    delta: *const f32, dx: *mut f32, batch: usize, height: usize, width: usize, c: usize, sh: usize, sw: usize,
) {
    #[cfg(target_feature = "simd128")]
    upsample_backward_delta_simd(delta, dx, batch, height, width, c, sh, sw);
    #[cfg(not(target_feature = "simd128"))]
    upsample_backward_delta_scalar(delta, dx, batch, height, width, c, sh, sw);
}

/// SIMD twin of [`upsample_backward_delta`].
///
/// # Safety
/// As [`upsample_backward_delta`].
pub unsafe fn upsample_backward_delta_simd(
    delta: *const f32, dx: *mut f32, batch: usize, height: usize, width: usize, c: usize, sh: usize, sw: usize,
) {
    let out_row = width * sw * c;
    for r in 0..batch * height {
        let block = delta.add(r * sh * out_row);
        for j in 0..width {
            let to = dx.add((r * width + j) * c);
            let mut ch = 0;
            while ch + 4 <= c {
                let mut s = F32x4::splat(0.0);
                for p in 0..sh {
                    for q in 0..sw {
                        s = s.add(F32x4::load(block.add(p * out_row + (j * sw + q) * c + ch)));
                    }
                }
                s.store(to.add(ch));
                ch += 4;
            }
            for t in ch..c {
                let mut s = 0.0;
                for p in 0..sh {
                    for q in 0..sw {
                        s += *block.add(p * out_row + (j * sw + q) * c + t);
                    }
                }
                *to.add(t) = s;
            }
        }
    }
}

/// Scalar twin of [`upsample_backward_delta`]; sums in the same (p, q) order as the SIMD twin.
///
/// # Safety
/// As [`upsample_backward_delta`].
pub unsafe fn upsample_backward_delta_scalar(
    delta: *const f32, dx: *mut f32, batch: usize, height: usize, width: usize, c: usize, sh: usize, sw: usize,
) {
    let (oh, ow) = (height * sh, width * sw);
    for b in 0..batch {
        for i in 0..height {
            for j in 0..width {
                for ch in 0..c {
                    let mut s = 0.0;
                    for p in 0..sh {
                        for q in 0..sw {
                            s += *delta.add(((b * oh + i * sh + p) * ow + j * sw + q) * c + ch);
                        }
                    }
                    *dx.add(((b * height + i) * width + j) * c + ch) = s;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{assert_close, values, Canary, SIZES};

    type Kernel = unsafe fn(*const f32, *mut f32, usize, usize, usize, usize, usize, usize);

    /// Float64 references, written from the definition (index arithmetic, not the kernels' loops).
    fn reference_forward(x: &[f32], dims: [usize; 6]) -> Vec<f64> {
        let [batch, h, w, c, sh, sw] = dims;
        let mut y = Vec::new();
        for b in 0..batch {
            for i in 0..h * sh {
                for j in 0..w * sw {
                    for ch in 0..c {
                        y.push(x[((b * h + i / sh) * w + j / sw) * c + ch] as f64);
                    }
                }
            }
        }
        y
    }

    fn reference_backward(delta: &[f32], dims: [usize; 6]) -> Vec<f64> {
        let [batch, h, w, c, sh, sw] = dims;
        let mut dx = vec![0.0f64; batch * h * w * c];
        for b in 0..batch {
            for i in 0..h * sh {
                for j in 0..w * sw {
                    for ch in 0..c {
                        dx[((b * h + i / sh) * w + j / sw) * c + ch] += delta[((b * h * sh + i) * w * sw + j) * c + ch] as f64;
                    }
                }
            }
        }
        dx
    }

    fn check(kernel: Kernel, backward: bool, dims: [usize; 6], what: &str) {
        let [batch, h, w, c, sh, sw] = dims;
        let (n_small, n_big) = (batch * h * w * c, batch * h * sh * w * sw * c);
        let (n_in, n_out) = if backward { (n_big, n_small) } else { (n_small, n_big) };
        let input = values(n_in, 7 + n_in as u32);
        let mut out = Canary::nan(n_out);
        unsafe { kernel(input.as_ptr(), out.ptr(), batch, h, w, c, sh, sw) };
        out.check_written();
        let want = if backward { reference_backward(&input, dims) } else { reference_forward(&input, dims) };
        // f32 sums of at most sh·sw = 6 terms in [-1, 1): a few ulps.
        assert_close(&out.vec(), &want, 1e-6, 1e-6, what);
    }

    #[test]
    fn twins_match_the_definition_on_simd_tails() {
        for &c in SIZES.iter().filter(|&&c| c > 0) {
            for &(h, w, sh, sw) in &[(1, 3, 1, 2), (2, 3, 2, 2), (3, 2, 3, 1), (2, 2, 2, 3), (1, 1, 1, 1)] {
                let dims = [2, h, w, c, sh, sw];
                let tag = format!("c {} h {} w {} sh {} sw {}", c, h, w, sh, sw);
                check(upsample_forward_simd, false, dims, &format!("forward simd {}", tag));
                check(upsample_forward_scalar, false, dims, &format!("forward scalar {}", tag));
                check(upsample_backward_delta_simd, true, dims, &format!("backward simd {}", tag));
                check(upsample_backward_delta_scalar, true, dims, &format!("backward scalar {}", tag));
            }
        }
    }

    #[test]
    fn empty_batch_writes_nothing() {
        let x = [1.0f32; 4];
        let mut y = Canary::nan(0);
        unsafe { upsample_forward(x.as_ptr(), y.ptr(), 0, 2, 2, 1, 2, 2) };
        unsafe { upsample_backward_delta(x.as_ptr(), y.ptr(), 0, 2, 2, 1, 2, 2) };
        y.check_guards();
    }

    #[test]
    fn small_exact_values() {
        // x [1, 1, 2, 2] (one row, two positions, two channels), factor 2 along the width.
        let x = [1.0f32, 2.0, 3.0, 4.0];
        let mut y = Canary::nan(8);
        unsafe { upsample_forward(x.as_ptr(), y.ptr(), 1, 1, 2, 2, 1, 2) };
        y.check_written();
        assert_eq!(y.vec(), vec![1.0, 2.0, 1.0, 2.0, 3.0, 4.0, 3.0, 4.0]);
        // Backward of that: pairs of positions add up per channel.
        let d = [1.0f32, 10.0, 2.0, 20.0, 3.0, 30.0, 4.0, 40.0];
        let mut dx = Canary::nan(4);
        unsafe { upsample_backward_delta(d.as_ptr(), dx.ptr(), 1, 1, 2, 2, 1, 2) };
        dx.check_written();
        assert_eq!(dx.vec(), vec![3.0, 30.0, 7.0, 70.0]);
    }
}
