//! Dropout (front: `Dropout` in `ts/core/activation.ts`): y = x ⊙ mask, dx = delta ⊙ mask, any
//! shape flattened to [n]. TS draws mask [n] in training as 0 or 1 / (1 - p) per element (inverted
//! dropout, as PyTorch), so evaluation is the identity and needs no kernel. A NaN or infinite
//! input times a 0 of the mask gives NaN, as in PyTorch's `x * mask`.

use crate::simd::F32x4;

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
