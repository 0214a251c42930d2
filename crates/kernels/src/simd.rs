//! `F32x4`: the one 4-lane vector type every SIMD path is written against.
//! On wasm32 with `simd128` it is a `v128`; elsewhere it is `[f32; 4]` with the same lane-wise
//! semantics, so native `cargo test` runs the very same blocking and tail logic as the `.wasm`.
//! SIMD128 has no FMA: `mul_add` is a multiply then an add on both sides, so results match.

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
use core::arch::wasm32::*;

/// Four f32 lanes.
#[derive(Clone, Copy, Debug)]
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub struct F32x4(v128);

/// Four f32 lanes (portable emulation used off wasm32).
#[derive(Clone, Copy, Debug)]
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
pub struct F32x4([f32; 4]);

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
impl F32x4 {
    /// All lanes `x`.
    #[inline(always)]
    pub fn splat(x: f32) -> Self {
        F32x4(f32x4_splat(x))
    }
    /// Loads 4 floats from `p` (no alignment needed).
    ///
    /// # Safety
    /// `p..p+4` must be readable.
    #[inline(always)]
    pub unsafe fn load(p: *const f32) -> Self {
        F32x4(v128_load(p as *const v128))
    }
    /// Stores 4 floats to `p` (no alignment needed).
    ///
    /// # Safety
    /// `p..p+4` must be writable.
    #[inline(always)]
    pub unsafe fn store(self, p: *mut f32) {
        v128_store(p as *mut v128, self.0)
    }
    /// All lanes `*p` (one `v128.load32_splat`: a load, no shuffle).
    ///
    /// # Safety
    /// `p` must be readable.
    #[inline(always)]
    pub unsafe fn load_splat(p: *const f32) -> Self {
        F32x4(v128_load32_splat(p as *const u32))
    }
    /// For positive normal lanes x = m · 2^e with m in [0.5, 1): returns (e, m), e as f32.
    #[inline(always)]
    pub fn frexp(self) -> (Self, Self) {
        let e = i32x4_sub(u32x4_shr(self.0, 23), i32x4_splat(126));
        let m = v128_or(
            v128_and(self.0, u32x4_splat(0x807f_ffff)),
            u32x4_splat(0x3f00_0000),
        );
        (F32x4(f32x4_convert_i32x4(e)), F32x4(m))
    }
    /// True when every lane lies in `[lo, hi]` (a NaN lane makes it false).
    #[inline(always)]
    pub fn all_in(self, lo: f32, hi: f32) -> bool {
        let ge = f32x4_ge(self.0, f32x4_splat(lo));
        i32x4_all_true(v128_and(ge, f32x4_le(self.0, f32x4_splat(hi))))
    }
    /// Transposes the 4 x 4 block whose rows are `r`: lane j of row i becomes lane i of row j.
    #[inline(always)]
    pub fn transpose4(r: [Self; 4]) -> [Self; 4] {
        let t0 = i32x4_shuffle::<0, 4, 1, 5>(r[0].0, r[1].0);
        let t1 = i32x4_shuffle::<2, 6, 3, 7>(r[0].0, r[1].0);
        let t2 = i32x4_shuffle::<0, 4, 1, 5>(r[2].0, r[3].0);
        let t3 = i32x4_shuffle::<2, 6, 3, 7>(r[2].0, r[3].0);
        [
            F32x4(i64x2_shuffle::<0, 2>(t0, t2)),
            F32x4(i64x2_shuffle::<1, 3>(t0, t2)),
            F32x4(i64x2_shuffle::<0, 2>(t1, t3)),
            F32x4(i64x2_shuffle::<1, 3>(t1, t3)),
        ]
    }
    /// Lane-wise `a + b`.
    #[inline(always)]
    pub fn add(self, b: Self) -> Self {
        F32x4(f32x4_add(self.0, b.0))
    }
    /// Lane-wise `a - b`.
    #[inline(always)]
    pub fn sub(self, b: Self) -> Self {
        F32x4(f32x4_sub(self.0, b.0))
    }
    /// Lane-wise `a * b`.
    #[inline(always)]
    pub fn mul(self, b: Self) -> Self {
        F32x4(f32x4_mul(self.0, b.0))
    }
    /// Lane-wise `a / b`.
    #[inline(always)]
    pub fn div(self, b: Self) -> Self {
        F32x4(f32x4_div(self.0, b.0))
    }
    /// Lane-wise square root (IEEE, correctly rounded).
    #[inline(always)]
    pub fn sqrt(self) -> Self {
        F32x4(f32x4_sqrt(self.0))
    }
    /// Lane-wise `max`, with `f32::max`'s NaN rule replaced by IEEE `pmax` (`a < b ? b : a`).
    #[inline(always)]
    pub fn max(self, b: Self) -> Self {
        F32x4(f32x4_pmax(self.0, b.0))
    }
    /// Lane-wise `pmin` (`b < a ? b : a`).
    #[inline(always)]
    pub fn min(self, b: Self) -> Self {
        F32x4(f32x4_pmin(self.0, b.0))
    }
    /// Lanes of `self` where `mask_gt0` > 0, else 0.0 (ReLU's gate).
    #[inline(always)]
    pub fn where_positive(self, mask_gt0: Self) -> Self {
        F32x4(v128_and(self.0, f32x4_gt(mask_gt0.0, f32x4_splat(0.0))))
    }
    /// Lane `i` broadcast to all lanes.
    #[inline(always)]
    pub fn lane_splat<const I: usize>(self) -> Self {
        F32x4(i32x4_shuffle::<I, I, I, I>(self.0, self.0))
    }
    /// Lane-wise round to nearest integer (ties to even).
    #[inline(always)]
    pub fn round(self) -> Self {
        F32x4(f32x4_nearest(self.0))
    }
    /// `2^n` for integral lanes `n` in [-126, 127], built from exponent bits.
    #[inline(always)]
    pub fn pow2i(self) -> Self {
        let n = i32x4_trunc_sat_f32x4(self.0);
        F32x4(i32x4_shl(i32x4_add(n, i32x4_splat(127)), 23))
    }
    /// Sum of the four lanes, added as `(l0 + l1) + (l2 + l3)` on every target.
    #[inline(always)]
    pub fn sum(self) -> f32 {
        let a = f32x4_extract_lane::<0>(self.0) + f32x4_extract_lane::<1>(self.0);
        let b = f32x4_extract_lane::<2>(self.0) + f32x4_extract_lane::<3>(self.0);
        a + b
    }
    /// Lane-wise `|a|` (clears the sign bit, so NaN stays NaN).
    #[inline(always)]
    pub fn abs(self) -> Self {
        F32x4(f32x4_abs(self.0))
    }
    /// Lane-wise `-a` (flips the sign bit).
    #[inline(always)]
    pub fn neg(self) -> Self {
        F32x4(f32x4_neg(self.0))
    }
    /// Lane-wise `a < b` as a mask: all bits set where true, clear where false (NaN: false).
    #[inline(always)]
    pub fn lt(self, b: Self) -> Self {
        F32x4(f32x4_lt(self.0, b.0))
    }
    /// Bitwise select: lanes of `a` where `mask` (from [`F32x4::lt`]) is set, else lanes of `b`.
    #[inline(always)]
    pub fn select(mask: Self, a: Self, b: Self) -> Self {
        F32x4(v128_bitselect(a.0, b.0, mask.0))
    }
    /// Lane-wise magnitude of `self` with the sign bit of `sign`.
    #[inline(always)]
    pub fn copysign(self, sign: Self) -> Self {
        F32x4(v128_bitselect(sign.0, self.0, f32x4_splat(-0.0)))
    }
    /// Largest lane.
    #[inline(always)]
    pub fn max_lane(self) -> f32 {
        let a = f32x4_extract_lane::<0>(self.0).max(f32x4_extract_lane::<1>(self.0));
        let b = f32x4_extract_lane::<2>(self.0).max(f32x4_extract_lane::<3>(self.0));
        a.max(b)
    }
    /// Mask of the NaN lanes (all bits set where the lane is NaN), as [`F32x4::lt`]'s masks.
    #[inline(always)]
    pub fn is_nan(self) -> Self {
        F32x4(f32x4_ne(self.0, self.0))
    }
    /// Bitwise `a | b` (of masks).
    #[inline(always)]
    pub fn or(self, b: Self) -> Self {
        F32x4(v128_or(self.0, b.0))
    }
    /// Bitwise `a & !b` (of masks).
    #[inline(always)]
    pub fn and_not(self, b: Self) -> Self {
        F32x4(v128_andnot(self.0, b.0))
    }
    /// All lanes hold the bit pattern `bits` (a u32 carried in an f32 lane, e.g. an index).
    #[inline(always)]
    pub fn splat_bits(bits: u32) -> Self {
        F32x4(u32x4_splat(bits))
    }
    /// The lanes `[b, b + 1, b + 2, b + 3]` as u32 bit patterns.
    #[inline(always)]
    pub fn iota_bits(b: u32) -> Self {
        F32x4(i32x4_add(u32x4_splat(b), u32x4(0, 1, 2, 3)))
    }
    /// Lane-wise wrapping u32 add of the bit patterns.
    #[inline(always)]
    pub fn add_bits(self, b: Self) -> Self {
        F32x4(i32x4_add(self.0, b.0))
    }
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
impl F32x4 {
    #[inline(always)]
    fn map2(self, b: Self, f: impl Fn(f32, f32) -> f32) -> Self {
        let (a, b) = (self.0, b.0);
        F32x4([f(a[0], b[0]), f(a[1], b[1]), f(a[2], b[2]), f(a[3], b[3])])
    }
    /// All lanes `x`.
    #[inline(always)]
    pub fn splat(x: f32) -> Self {
        F32x4([x; 4])
    }
    /// Loads 4 floats from `p` (no alignment needed).
    ///
    /// # Safety
    /// `p..p+4` must be readable.
    #[inline(always)]
    pub unsafe fn load(p: *const f32) -> Self {
        F32x4([*p, *p.add(1), *p.add(2), *p.add(3)])
    }
    /// Stores 4 floats to `p` (no alignment needed).
    ///
    /// # Safety
    /// `p..p+4` must be writable.
    #[inline(always)]
    pub unsafe fn store(self, p: *mut f32) {
        for i in 0..4 {
            *p.add(i) = self.0[i];
        }
    }
    /// All lanes `*p` (one `v128.load32_splat`: a load, no shuffle).
    ///
    /// # Safety
    /// `p` must be readable.
    #[inline(always)]
    pub unsafe fn load_splat(p: *const f32) -> Self {
        F32x4([*p; 4])
    }
    /// For positive normal lanes x = m · 2^e with m in [0.5, 1): returns (e, m), e as f32.
    #[inline(always)]
    pub fn frexp(self) -> (Self, Self) {
        let e = self.0.map(|v| ((v.to_bits() >> 23) as i32 - 126) as f32);
        let m = self
            .0
            .map(|v| f32::from_bits((v.to_bits() & 0x807f_ffff) | 0x3f00_0000));
        (F32x4(e), F32x4(m))
    }
    /// True when every lane lies in `[lo, hi]` (a NaN lane makes it false).
    #[inline(always)]
    pub fn all_in(self, lo: f32, hi: f32) -> bool {
        self.0.iter().all(|&v| v >= lo && v <= hi)
    }
    /// Transposes the 4 x 4 block whose rows are `r`: lane j of row i becomes lane i of row j.
    #[inline(always)]
    pub fn transpose4(r: [Self; 4]) -> [Self; 4] {
        let at = |j: usize| F32x4([r[0].0[j], r[1].0[j], r[2].0[j], r[3].0[j]]);
        [at(0), at(1), at(2), at(3)]
    }
    /// Lane-wise `a + b`.
    #[inline(always)]
    pub fn add(self, b: Self) -> Self {
        self.map2(b, |a, b| a + b)
    }
    /// Lane-wise `a - b`.
    #[inline(always)]
    pub fn sub(self, b: Self) -> Self {
        self.map2(b, |a, b| a - b)
    }
    /// Lane-wise `a * b`.
    #[inline(always)]
    pub fn mul(self, b: Self) -> Self {
        self.map2(b, |a, b| a * b)
    }
    /// Lane-wise `a / b`.
    #[inline(always)]
    pub fn div(self, b: Self) -> Self {
        self.map2(b, |a, b| a / b)
    }
    /// Lane-wise square root (IEEE, correctly rounded).
    #[inline(always)]
    pub fn sqrt(self) -> Self {
        F32x4(self.0.map(f32::sqrt))
    }
    /// Lane-wise IEEE `pmax` (`a < b ? b : a`).
    #[inline(always)]
    pub fn max(self, b: Self) -> Self {
        self.map2(b, |a, b| if a < b { b } else { a })
    }
    /// Lane-wise `pmin` (`b < a ? b : a`).
    #[inline(always)]
    pub fn min(self, b: Self) -> Self {
        self.map2(b, |a, b| if b < a { b } else { a })
    }
    /// Lanes of `self` where `mask_gt0` > 0, else 0.0 (ReLU's gate).
    #[inline(always)]
    pub fn where_positive(self, mask_gt0: Self) -> Self {
        self.map2(mask_gt0, |a, m| if m > 0.0 { a } else { 0.0 })
    }
    /// Lane `i` broadcast to all lanes.
    #[inline(always)]
    pub fn lane_splat<const I: usize>(self) -> Self {
        F32x4([self.0[I]; 4])
    }
    /// Lane-wise round to nearest integer (ties to even).
    #[inline(always)]
    pub fn round(self) -> Self {
        F32x4(self.0.map(round_ties_even))
    }
    /// `2^n` for integral lanes `n` in [-126, 127], built from exponent bits.
    #[inline(always)]
    pub fn pow2i(self) -> Self {
        F32x4(
            self.0
                .map(|n| f32::from_bits(((n as i32 + 127) << 23) as u32)),
        )
    }
    /// Sum of the four lanes, added as `(l0 + l1) + (l2 + l3)` on every target.
    #[inline(always)]
    pub fn sum(self) -> f32 {
        (self.0[0] + self.0[1]) + (self.0[2] + self.0[3])
    }
    /// Lane-wise `|a|` (clears the sign bit, so NaN stays NaN).
    #[inline(always)]
    pub fn abs(self) -> Self {
        F32x4(self.0.map(|a| f32::from_bits(a.to_bits() & 0x7fff_ffff)))
    }
    /// Lane-wise `-a` (flips the sign bit).
    #[inline(always)]
    pub fn neg(self) -> Self {
        F32x4(self.0.map(|a| f32::from_bits(a.to_bits() ^ 0x8000_0000)))
    }
    /// Lane-wise `a < b` as a mask: all bits set where true, clear where false (NaN: false).
    #[inline(always)]
    pub fn lt(self, b: Self) -> Self {
        self.map2(b, |a, b| f32::from_bits(if a < b { u32::MAX } else { 0 }))
    }
    /// Bitwise select: lanes of `a` where `mask` (from [`F32x4::lt`]) is set, else lanes of `b`.
    #[inline(always)]
    pub fn select(mask: Self, a: Self, b: Self) -> Self {
        let pick = |m: f32, a: f32, b: f32| {
            let m = m.to_bits();
            f32::from_bits((a.to_bits() & m) | (b.to_bits() & !m))
        };
        let (m, a, b) = (mask.0, a.0, b.0);
        F32x4([
            pick(m[0], a[0], b[0]),
            pick(m[1], a[1], b[1]),
            pick(m[2], a[2], b[2]),
            pick(m[3], a[3], b[3]),
        ])
    }
    /// Lane-wise magnitude of `self` with the sign bit of `sign`.
    #[inline(always)]
    pub fn copysign(self, sign: Self) -> Self {
        self.map2(sign, |a, s| {
            f32::from_bits((a.to_bits() & 0x7fff_ffff) | (s.to_bits() & 0x8000_0000))
        })
    }
    /// Largest lane.
    #[inline(always)]
    pub fn max_lane(self) -> f32 {
        self.0[0].max(self.0[1]).max(self.0[2].max(self.0[3]))
    }
    /// Mask of the NaN lanes (all bits set where the lane is NaN), as [`F32x4::lt`]'s masks.
    #[inline(always)]
    pub fn is_nan(self) -> Self {
        F32x4(self.0.map(|a| f32::from_bits(if a.is_nan() { u32::MAX } else { 0 })))
    }
    /// Bitwise `a | b` (of masks).
    #[inline(always)]
    pub fn or(self, b: Self) -> Self {
        self.map2(b, |a, b| f32::from_bits(a.to_bits() | b.to_bits()))
    }
    /// Bitwise `a & !b` (of masks).
    #[inline(always)]
    pub fn and_not(self, b: Self) -> Self {
        self.map2(b, |a, b| f32::from_bits(a.to_bits() & !b.to_bits()))
    }
    /// All lanes hold the bit pattern `bits` (a u32 carried in an f32 lane, e.g. an index).
    #[inline(always)]
    pub fn splat_bits(bits: u32) -> Self {
        F32x4([f32::from_bits(bits); 4])
    }
    /// The lanes `[b, b + 1, b + 2, b + 3]` as u32 bit patterns.
    #[inline(always)]
    pub fn iota_bits(b: u32) -> Self {
        let at = |i: u32| f32::from_bits(b.wrapping_add(i));
        F32x4([at(0), at(1), at(2), at(3)])
    }
    /// Lane-wise wrapping u32 add of the bit patterns.
    #[inline(always)]
    pub fn add_bits(self, b: Self) -> Self {
        self.map2(b, |a, b| f32::from_bits(a.to_bits().wrapping_add(b.to_bits())))
    }
}

/// Round half to even, as wasm's `f32x4.nearest` (f32::round_ties_even is newer than rustc 1.63).
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn round_ties_even(x: f32) -> f32 {
    let r = x.round();
    if (r - x).abs() == 0.5 && r % 2.0 != 0.0 {
        r - x.signum()
    } else {
        r
    }
}

impl F32x4 {
    /// Lane-wise `self * b + c` (two roundings: SIMD128 has no FMA).
    #[inline(always)]
    pub fn mul_add(self, b: Self, c: Self) -> Self {
        self.mul(b).add(c)
    }
}
