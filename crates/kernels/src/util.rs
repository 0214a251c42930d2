//! The allocator pair, and the small kernels the training loop needs between layers:
//! finiteness checks, row gathers for shuffled batches, one-hot labels, zeroing.

use crate::simd::F32x4;
use std::alloc::{alloc as raw_alloc, dealloc, Layout};

/// Alignment of every block: one v128.
const ALIGN: usize = 16;

/// Allocates `bytes` (> 0) aligned to 16; null when the request cannot be met.
pub fn alloc(bytes: usize) -> *mut u8 {
    match Layout::from_size_align(bytes.max(1), ALIGN) {
        // SAFETY: the layout has a non-zero size.
        Ok(layout) => unsafe { raw_alloc(layout) },
        Err(_) => core::ptr::null_mut(),
    }
}

/// Frees a block from [`alloc`].
///
/// # Safety
/// `ptr` came from `alloc(bytes)` with this same `bytes`, and is not used afterwards.
pub unsafe fn free(ptr: *mut u8, bytes: usize) {
    if !ptr.is_null() {
        dealloc(ptr, Layout::from_size_align_unchecked(bytes.max(1), ALIGN));
    }
}

/// Number of NaN or infinite values in `x[0..n]`.
///
/// # Safety
/// `x` is valid for `n` reads.
pub unsafe fn non_finite_count(x: *const f32, n: usize) -> usize {
    let mut count = 0;
    for i in 0..n {
        count += !(*x.add(i)).is_finite() as usize;
    }
    count
}

/// Number of values of `x[0..n]` outside `[lo, hi]`; NaN counts as outside.
///
/// # Safety
/// `x` is valid for `n` reads.
pub unsafe fn count_outside(x: *const f32, n: usize, lo: f32, hi: f32) -> usize {
    let mut count = 0;
    for i in 0..n {
        let v = *x.add(i);
        count += !(v >= lo && v <= hi) as usize;
    }
    count
}

/// `dst[i, :] = src[indices[i], :]`.
///
/// # Safety
/// `dst` is valid for `rows * cols` writes, each `indices[i] * cols + cols` is in `src`.
pub unsafe fn gather_rows(src: *const f32, indices: *const u32, dst: *mut f32, rows: usize, cols: usize) {
    for i in 0..rows {
        let from = src.add(*indices.add(i) as usize * cols);
        copy_f32(from, dst.add(i * cols), cols);
    }
}

/// `dst[0..n] = src[0..n]`, four floats per v128 load and store.
///
/// NOTE: not `copy_nonoverlapping`: without wasm's bulk-memory feature that is compiler-builtins'
/// `memcpy`, a loop of 4-byte words, which made a W2 batch gather (64 rows of 784 floats) take
/// about 40 us, a tenth of the step.
///
/// # Safety
/// `src` valid for `n` reads, `dst` for `n` writes; they do not overlap.
#[inline(always)]
pub(crate) unsafe fn copy_f32(src: *const f32, dst: *mut f32, n: usize) {
    let mut i = 0;
    while i + 16 <= n {
        let a = F32x4::load(src.add(i));
        let b = F32x4::load(src.add(i + 4));
        let c = F32x4::load(src.add(i + 8));
        let d = F32x4::load(src.add(i + 12));
        a.store(dst.add(i));
        b.store(dst.add(i + 4));
        c.store(dst.add(i + 8));
        d.store(dst.add(i + 12));
        i += 16;
    }
    while i + 4 <= n {
        F32x4::load(src.add(i)).store(dst.add(i));
        i += 4;
    }
    while i < n {
        *dst.add(i) = *src.add(i);
        i += 1;
    }
}

/// `out[r, :]` = one-hot of `labels[r]`.
///
/// # Safety
/// `labels` valid for `rows` reads, each an integer in `[0, cols)`; `out` for `rows * cols` writes.
pub unsafe fn one_hot(labels: *const f32, out: *mut f32, rows: usize, cols: usize) {
    fill_zero(out, rows * cols);
    for r in 0..rows {
        let label = *labels.add(r) as usize;
        debug_assert!(label < cols);
        *out.add(r * cols + label) = 1.0;
    }
}

/// `x[0..n] = 0`.
///
/// # Safety
/// `x` is valid for `n` writes.
pub unsafe fn fill_zero(x: *mut f32, n: usize) {
    // NOTE: not `write_bytes`: without bulk memory that is a loop of 4-byte words (see copy_f32).
    let zero = F32x4::splat(0.0);
    let mut i = 0;
    while i + 16 <= n {
        zero.store(x.add(i));
        zero.store(x.add(i + 4));
        zero.store(x.add(i + 8));
        zero.store(x.add(i + 12));
        i += 16;
    }
    while i + 4 <= n {
        zero.store(x.add(i));
        i += 4;
    }
    while i < n {
        *x.add(i) = 0.0;
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Canary;

    #[test]
    fn non_finite_count_finds_nan_and_inf() {
        let x = [0.0, f32::NAN, 1.0, f32::INFINITY, -f32::INFINITY, -0.0, f32::MAX];
        assert_eq!(unsafe { non_finite_count(x.as_ptr(), x.len()) }, 3);
        assert_eq!(unsafe { non_finite_count(x.as_ptr(), 0) }, 0);
    }

    #[test]
    fn count_outside_counts_nan() {
        let x = [0.0, 1.0, 0.5, -0.1, 1.1, f32::NAN];
        assert_eq!(unsafe { count_outside(x.as_ptr(), x.len(), 0.0, 1.0) }, 3);
    }

    #[test]
    fn gather_and_one_hot() {
        let src: Vec<f32> = (0..12).map(|i| i as f32).collect();
        let idx = [2u32, 0, 2];
        let mut dst = Canary::nan(9);
        unsafe { gather_rows(src.as_ptr(), idx.as_ptr(), dst.ptr(), 3, 3) };
        dst.check_guards();
        assert_eq!(dst.vec(), vec![6.0, 7.0, 8.0, 0.0, 1.0, 2.0, 6.0, 7.0, 8.0]);
        let labels = [1.0f32, 0.0, 2.0];
        let mut out = Canary::nan(9);
        unsafe { one_hot(labels.as_ptr(), out.ptr(), 3, 3) };
        out.check_guards();
        assert_eq!(out.vec(), vec![0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn vector_copies_and_zeroing_cover_every_tail() {
        // Lengths around the 16- and 4-float steps: the vector loops, the 4-float loop and the
        // scalar tail each end exactly at n, bits preserved (a NaN payload and -0 included).
        for cols in [0usize, 1, 3, 4, 5, 7, 8, 15, 16, 17, 19, 20, 31, 32, 33, 784] {
            let rows = 3;
            let src: Vec<f32> = (0..4 * cols)
                .map(|i| match i % 7 {
                    0 => f32::from_bits(0x7fc0_1234),
                    1 => -0.0,
                    _ => i as f32 * 0.5 - 3.0,
                })
                .collect();
            let idx = [3u32, 0, 2];
            let mut dst = Canary::nan(rows * cols);
            unsafe { gather_rows(src.as_ptr(), idx.as_ptr(), dst.ptr(), rows, cols) };
            dst.check_guards();
            let got = dst.vec();
            for (r, &i) in idx.iter().enumerate() {
                for c in 0..cols {
                    let want = src[i as usize * cols + c].to_bits();
                    assert_eq!(got[r * cols + c].to_bits(), want, "cols {cols}, row {r}, col {c}");
                }
            }
            let mut z = Canary::new(cols, |i| i as f32 + 1.0);
            unsafe { fill_zero(z.ptr(), cols) };
            z.check_guards();
            assert!(z.vec().iter().all(|v| v.to_bits() == 0), "fill_zero {cols}");
        }
    }

    #[test]
    fn alloc_is_aligned_and_reusable() {
        let p = alloc(100);
        assert!(!p.is_null());
        assert_eq!(p as usize % ALIGN, 0);
        unsafe { free(p, 100) };
    }
}
