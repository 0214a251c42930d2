//! Optimiser update rules (fronts: `ts/train/optim.ts` and `Module.updateParameters`), one call
//! per parameter tensor: plain SGD, SGD with L2 weight decay, momentum / Nesterov and Adam, as
//! PyTorch's rules in float32. The parameter and its state buffers (velocity, m, v) are [n],
//! updated in place; the gradient is only read.
#![allow(clippy::too_many_arguments)]

use crate::simd::F32x4;

/// `param[i] -= step * grad[i]`.
///
/// # Safety
/// Both valid for `n` elements; they do not overlap.
pub unsafe fn sgd_update(grad: *const f32, param: *mut f32, n: usize, step: f32) {
    #[cfg(target_feature = "simd128")]
    sgd_update_simd(grad, param, n, step);
    #[cfg(not(target_feature = "simd128"))]
    sgd_update_scalar(grad, param, n, step);
}

/// SIMD twin of [`sgd_update`].
///
/// # Safety
/// As [`sgd_update`].
pub unsafe fn sgd_update_simd(grad: *const f32, param: *mut f32, n: usize, step: f32) {
    let s = F32x4::splat(step);
    let mut i = 0;
    while i + 4 <= n {
        let p = F32x4::load(param.add(i)).sub(F32x4::load(grad.add(i)).mul(s));
        p.store(param.add(i));
        i += 4;
    }
    sgd_update_scalar(grad.add(i), param.add(i), n - i, step);
}

/// Scalar twin of [`sgd_update`].
///
/// # Safety
/// As [`sgd_update`].
pub unsafe fn sgd_update_scalar(grad: *const f32, param: *mut f32, n: usize, step: f32) {
    for i in 0..n {
        *param.add(i) -= *grad.add(i) * step;
    }
}

/// SGD with L2 weight decay: `param[i] -= step * (grad[i] + weight_decay * param[i])`.
///
/// # Safety
/// Both valid for `n` elements; they do not overlap.
pub unsafe fn sgd_decay_update(grad: *const f32, param: *mut f32, n: usize, step: f32, weight_decay: f32) {
    #[cfg(target_feature = "simd128")]
    sgd_decay_update_simd(grad, param, n, step, weight_decay);
    #[cfg(not(target_feature = "simd128"))]
    sgd_decay_update_scalar(grad, param, n, step, weight_decay);
}

/// SIMD twin of [`sgd_decay_update`].
///
/// # Safety
/// As [`sgd_decay_update`].
pub unsafe fn sgd_decay_update_simd(grad: *const f32, param: *mut f32, n: usize, step: f32, weight_decay: f32) {
    let (s, wd) = (F32x4::splat(step), F32x4::splat(weight_decay));
    let mut i = 0;
    while i + 4 <= n {
        let p = F32x4::load(param.add(i));
        let g = F32x4::load(grad.add(i)).add(p.mul(wd));
        p.sub(g.mul(s)).store(param.add(i));
        i += 4;
    }
    sgd_decay_update_scalar(grad.add(i), param.add(i), n - i, step, weight_decay);
}

/// Scalar twin of [`sgd_decay_update`].
///
/// # Safety
/// As [`sgd_decay_update`].
pub unsafe fn sgd_decay_update_scalar(grad: *const f32, param: *mut f32, n: usize, step: f32, weight_decay: f32) {
    for i in 0..n {
        let p = *param.add(i);
        *param.add(i) = p - (*grad.add(i) + p * weight_decay) * step;
    }
}

/// SGD with momentum (PyTorch's rule, no dampening): `g = grad + weight_decay * param`,
/// `velocity = momentum * velocity + g`, then `param -= step * velocity`, or with `nesterov != 0`
/// `param -= step * (g + momentum * velocity)`. A zero velocity starts it as plain SGD.
///
/// # Safety
/// All three valid for `n` elements; none overlap.
pub unsafe fn momentum_update(
    grad: *const f32,
    param: *mut f32,
    velocity: *mut f32,
    n: usize,
    step: f32,
    momentum: f32,
    weight_decay: f32,
    nesterov: u32,
) {
    #[cfg(target_feature = "simd128")]
    momentum_update_simd(grad, param, velocity, n, step, momentum, weight_decay, nesterov);
    #[cfg(not(target_feature = "simd128"))]
    momentum_update_scalar(grad, param, velocity, n, step, momentum, weight_decay, nesterov);
}

/// SIMD twin of [`momentum_update`].
///
/// # Safety
/// As [`momentum_update`].
pub unsafe fn momentum_update_simd(
    grad: *const f32,
    param: *mut f32,
    velocity: *mut f32,
    n: usize,
    step: f32,
    momentum: f32,
    weight_decay: f32,
    nesterov: u32,
) {
    let (s, mu, wd) = (F32x4::splat(step), F32x4::splat(momentum), F32x4::splat(weight_decay));
    let mut i = 0;
    while i + 4 <= n {
        let p = F32x4::load(param.add(i));
        let g = F32x4::load(grad.add(i)).add(p.mul(wd));
        let v = F32x4::load(velocity.add(i)).mul(mu).add(g);
        v.store(velocity.add(i));
        let d = if nesterov != 0 { g.add(v.mul(mu)) } else { v };
        p.sub(d.mul(s)).store(param.add(i));
        i += 4;
    }
    momentum_update_scalar(
        grad.add(i), param.add(i), velocity.add(i), n - i, step, momentum, weight_decay, nesterov,
    );
}

/// Scalar twin of [`momentum_update`].
///
/// # Safety
/// As [`momentum_update`].
pub unsafe fn momentum_update_scalar(
    grad: *const f32,
    param: *mut f32,
    velocity: *mut f32,
    n: usize,
    step: f32,
    momentum: f32,
    weight_decay: f32,
    nesterov: u32,
) {
    for i in 0..n {
        let p = *param.add(i);
        let g = *grad.add(i) + p * weight_decay;
        let v = *velocity.add(i) * momentum + g;
        *velocity.add(i) = v;
        let d = if nesterov != 0 { g + v * momentum } else { v };
        *param.add(i) = p - d * step;
    }
}

/// Adam (PyTorch's rule, L2 weight decay): `g = grad + weight_decay * param`,
/// `m = beta1 m + (1 - beta1) g`, `v = beta2 v + (1 - beta2) g²`, then
/// `param -= step_size * m / (sqrt(v) * inv_sqrt_bias2 + epsilon)`, where the caller passes the
/// bias corrections of step t: `step_size = lr / (1 - beta1^t)`, `inv_sqrt_bias2 = 1 / sqrt(1 - beta2^t)`.
///
/// # Safety
/// All four valid for `n` elements; none overlap.
pub unsafe fn adam_update(
    grad: *const f32,
    param: *mut f32,
    m: *mut f32,
    v: *mut f32,
    n: usize,
    step_size: f32,
    beta1: f32,
    beta2: f32,
    epsilon: f32,
    weight_decay: f32,
    inv_sqrt_bias2: f32,
) {
    #[cfg(target_feature = "simd128")]
    adam_update_simd(grad, param, m, v, n, step_size, beta1, beta2, epsilon, weight_decay, inv_sqrt_bias2);
    #[cfg(not(target_feature = "simd128"))]
    adam_update_scalar(grad, param, m, v, n, step_size, beta1, beta2, epsilon, weight_decay, inv_sqrt_bias2);
}

/// SIMD twin of [`adam_update`]. IEEE sqrt is correctly rounded in both, so the result equals
/// the scalar twin's.
///
/// # Safety
/// As [`adam_update`].
pub unsafe fn adam_update_simd(
    grad: *const f32,
    param: *mut f32,
    m: *mut f32,
    v: *mut f32,
    n: usize,
    step_size: f32,
    beta1: f32,
    beta2: f32,
    epsilon: f32,
    weight_decay: f32,
    inv_sqrt_bias2: f32,
) {
    let (b1, b2) = (F32x4::splat(beta1), F32x4::splat(beta2));
    let (c1, c2) = (F32x4::splat(1.0 - beta1), F32x4::splat(1.0 - beta2));
    let (wd, eps) = (F32x4::splat(weight_decay), F32x4::splat(epsilon));
    let (s, ib2) = (F32x4::splat(step_size), F32x4::splat(inv_sqrt_bias2));
    let mut i = 0;
    while i + 4 <= n {
        let p = F32x4::load(param.add(i));
        let g = F32x4::load(grad.add(i)).add(p.mul(wd));
        let mi = F32x4::load(m.add(i)).mul(b1).add(g.mul(c1));
        let vi = F32x4::load(v.add(i)).mul(b2).add(g.mul(g).mul(c2));
        mi.store(m.add(i));
        vi.store(v.add(i));
        let denom = vi.sqrt().mul(ib2).add(eps);
        p.sub(s.mul(mi).div(denom)).store(param.add(i));
        i += 4;
    }
    adam_update_scalar(
        grad.add(i), param.add(i), m.add(i), v.add(i), n - i, step_size, beta1, beta2, epsilon,
        weight_decay, inv_sqrt_bias2,
    );
}

/// Scalar twin of [`adam_update`].
///
/// # Safety
/// As [`adam_update`].
pub unsafe fn adam_update_scalar(
    grad: *const f32,
    param: *mut f32,
    m: *mut f32,
    v: *mut f32,
    n: usize,
    step_size: f32,
    beta1: f32,
    beta2: f32,
    epsilon: f32,
    weight_decay: f32,
    inv_sqrt_bias2: f32,
) {
    for i in 0..n {
        let p = *param.add(i);
        let g = *grad.add(i) + p * weight_decay;
        let mi = *m.add(i) * beta1 + g * (1.0 - beta1);
        let vi = *v.add(i) * beta2 + g * g * (1.0 - beta2);
        *m.add(i) = mi;
        *v.add(i) = vi;
        let denom = vi.sqrt() * inv_sqrt_bias2 + epsilon;
        *param.add(i) = p - step_size * mi / denom;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{Canary, SIZES};

    fn grad(n: usize) -> Vec<f32> {
        (0..n).map(|i| (i as f32 - 3.0) * 0.5).collect()
    }

    #[test]
    fn sgd_update_twins_agree_and_respect_canaries() {
        for &n in SIZES {
            let grad: Vec<f32> = (0..n).map(|i| i as f32 - 3.0).collect();
            let mut a = Canary::new(n, |i| i as f32 * 0.5);
            let mut b = Canary::new(n, |i| i as f32 * 0.5);
            unsafe {
                sgd_update_simd(grad.as_ptr(), a.ptr(), n, 0.25);
                sgd_update_scalar(grad.as_ptr(), b.ptr(), n, 0.25);
            }
            a.check_guards();
            b.check_guards();
            for i in 0..n {
                assert_eq!(a.get(i), i as f32 * 0.5 - (i as f32 - 3.0) * 0.25);
                assert_eq!(a.get(i), b.get(i));
            }
        }
    }

    #[test]
    fn sgd_decay_update_twins_agree() {
        for &n in SIZES {
            let g = grad(n);
            let mut a = Canary::new(n, |i| i as f32);
            let mut b = Canary::new(n, |i| i as f32);
            unsafe {
                sgd_decay_update_simd(g.as_ptr(), a.ptr(), n, 0.5, 0.25);
                sgd_decay_update_scalar(g.as_ptr(), b.ptr(), n, 0.5, 0.25);
            }
            a.check_guards();
            b.check_guards();
            for i in 0..n {
                // Exact in f32: small dyadic values.
                assert_eq!(a.get(i), i as f32 - (g[i] + i as f32 * 0.25) * 0.5);
                assert_eq!(a.get(i), b.get(i));
            }
        }
    }

    #[test]
    fn momentum_update_twins_agree_over_two_steps() {
        for &nesterov in &[0u32, 1] {
            for &n in SIZES {
                let g = grad(n);
                let mut pa = Canary::new(n, |i| i as f32);
                let mut pb = Canary::new(n, |i| i as f32);
                let mut va = Canary::zeros(n);
                let mut vb = Canary::zeros(n);
                for _ in 0..2 {
                    unsafe {
                        momentum_update_simd(g.as_ptr(), pa.ptr(), va.ptr(), n, 0.5, 0.5, 0.0, nesterov);
                        momentum_update_scalar(g.as_ptr(), pb.ptr(), vb.ptr(), n, 0.5, 0.5, 0.0, nesterov);
                    }
                }
                for c in [&pa, &pb, &va, &vb] {
                    c.check_guards();
                }
                for i in 0..n {
                    // Step 1: v = g, step 2: v = 1.5 g. Plain: p -= 0.5 (g + 1.5 g);
                    // Nesterov: p -= 0.5 ((g + 0.5 g) + (g + 0.75 g)).
                    let total = if nesterov == 0 { 2.5 * g[i] } else { 3.25 * g[i] };
                    assert_eq!(va.get(i), 1.5 * g[i]);
                    assert_eq!(pa.get(i), i as f32 - 0.5 * total);
                    assert_eq!(pa.get(i), pb.get(i));
                    assert_eq!(va.get(i), vb.get(i));
                }
            }
        }
    }

    #[test]
    fn adam_update_twins_agree_and_first_step_is_sign_sized() {
        for &n in SIZES {
            let g = grad(n);
            let mut pa = Canary::new(n, |i| i as f32);
            let mut pb = Canary::new(n, |i| i as f32);
            let (mut ma, mut mb, mut va, mut vb) = (Canary::zeros(n), Canary::zeros(n), Canary::zeros(n), Canary::zeros(n));
            let (b1, b2, lr) = (0.9f32, 0.999f32, 0.01f32);
            let step_size = lr / (1.0 - b1);
            let ib2 = 1.0 / (1.0 - b2).sqrt();
            unsafe {
                adam_update_simd(g.as_ptr(), pa.ptr(), ma.ptr(), va.ptr(), n, step_size, b1, b2, 1e-8, 0.0, ib2);
                adam_update_scalar(g.as_ptr(), pb.ptr(), mb.ptr(), vb.ptr(), n, step_size, b1, b2, 1e-8, 0.0, ib2);
            }
            for c in [&pa, &pb, &ma, &mb, &va, &vb] {
                c.check_guards();
            }
            for i in 0..n {
                assert_eq!(pa.get(i), pb.get(i));
                assert_eq!(ma.get(i), mb.get(i));
                assert_eq!(va.get(i), vb.get(i));
                // Adam's first step moves each weight by about lr * sign(g) (0 where g = 0).
                let moved = i as f32 - pa.get(i);
                let want = if g[i] == 0.0 { 0.0 } else { lr * g[i].signum() };
                assert!((moved - want).abs() < 1e-5, "i={} moved={} want={}", i, moved, want);
            }
        }
    }
}
