//! One strided GEMM (the matrixmultiply crate's sgemm: any row and column strides for a and b),
//! bias add / reduce, and the Linear kernels. Transposes are strides, so the forms the layers
//! need (a·b, a·bᵀ, aᵀ·b) and convolutions' GEMMs over overlapping rows of x are one function.
//! Linear: y = x W + b with W [in, out]; dx = delta Wᵀ; dW (+)= xᵀ delta; db (+)= Σ_rows delta.
//! SIMD: one packed, cache-blocked engine with a 4 x 8 register-blocked micro-kernel over
//! `F32x4` serves every stride pattern (see the engine's notes below).
#![allow(clippy::too_many_arguments)]

use crate::simd::F32x4;

/// `c[m, n] (+)= op(a) · op(b)`: element (i, p) of op(a) is `a[i·rsa + p·csa]`, element (p, j)
/// of op(b) is `b[p·rsb + j·csb]`, and rows of c are `rsc` floats apart (its columns are
/// contiguous). a stored [m, k] is `rsa = k, csa = 1`; stored [k, m] (transposed) it is
/// `rsa = 1, csa = m`; likewise b. `accumulate = false` overwrites c without reading it. a and b
/// may overlap themselves (conv windows: `rsa < k`, or a stride of 0): they are only read.
///
/// # Safety
/// a and b valid for every element their strides reach; c valid for `(m - 1)·rsc + n` floats,
/// `rsc >= n`, and c overlaps neither a nor b.
pub unsafe fn gemm(
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    m: usize,
    k: usize,
    n: usize,
    rsa: usize,
    csa: usize,
    rsb: usize,
    csb: usize,
    rsc: usize,
    accumulate: bool,
) {
    #[cfg(target_feature = "simd128")]
    gemm_simd(a, b, c, m, k, n, rsa, csa, rsb, csb, rsc, accumulate);
    #[cfg(not(target_feature = "simd128"))]
    gemm_scalar(a, b, c, m, k, n, rsa, csa, rsb, csb, rsc, accumulate);
}

/// SIMD twin of [`gemm`]: the packed engine, which reads a as [m, k] and b as [n, k] through
/// their strides; its packing picks vector copies or 4 x 4 transposes from them.
///
/// # Safety
/// As [`gemm`].
pub unsafe fn gemm_simd(
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    m: usize,
    k: usize,
    n: usize,
    rsa: usize,
    csa: usize,
    rsb: usize,
    csb: usize,
    rsc: usize,
    accumulate: bool,
) {
    let out = Out {
        c,
        ldc: rsc,
        accumulate,
        bias: core::ptr::null(),
    };
    let a = Strided {
        ptr: a,
        so: rsa,
        sp: csa,
    };
    let b = Strided {
        ptr: b,
        so: csb,
        sp: rsb,
    };
    packed_gemm(m, k, n, a, b, out);
}

/// Scalar twin of [`gemm`].
///
/// # Safety
/// As [`gemm`].
pub unsafe fn gemm_scalar(
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    m: usize,
    k: usize,
    n: usize,
    rsa: usize,
    csa: usize,
    rsb: usize,
    csb: usize,
    rsc: usize,
    accumulate: bool,
) {
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0f32;
            for p in 0..k {
                s += *a.add(i * rsa + p * csa) * *b.add(p * rsb + j * csb);
            }
            let cij = c.add(i * rsc + j);
            *cij = if accumulate { *cij + s } else { s };
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The packed engine behind every SIMD GEMM (Goto/BLIS blocking, as in the matrixmultiply crate).
// For each NC-column block of b and KC-deep slice of k, b is packed into KC x NR micro-panels;
// for each MC-row block of a, a is packed into MR x KC micro-panels; the MR x NR micro-kernel
// then walks both contiguous panels with its block of c held in registers. Both operands are
// seen as [outer, k] matrices (a as [m, k], b as [n, k]), so one packing routine serves every
// stride pattern: unit stride along the outer index packs with vector copies, unit stride along
// k with 4 x 4 transposes, anything else element by element.

/// Micro-tile rows: each k step broadcasts MR values of a with `v128.load32_splat`.
pub const MR: usize = 4;
/// Micro-tile columns: NR / 4 vectors of b per k step.
pub const NR: usize = 8;
/// Depth of one packed slice of k: a KC x NR micro-panel of b (8 KiB) stays in L1.
pub const KC: usize = 256;
/// Rows of a packed per block: MC x KC floats (64 KiB) stay in L2.
pub const MC: usize = 64;
/// Columns of b packed per block: KC x NC floats (128 KiB).
pub const NC: usize = 128;
/// Floats of packing scratch. It lives on the stack (192 KiB of the 1 MiB WASM stack): the
/// blocks have fixed sizes, so a caller-passed buffer would add an argument to every GEMM
/// caller, and an export to size it, and buy nothing.
const PACK_LEN: usize = MC * KC + KC * NC;

/// Vectors per micro-tile row.
pub(crate) const NV: usize = NR / 4;

/// A source the engine packs from, seen as an [outer, k] matrix.
pub(crate) trait Panel: Copy {
    /// Packs rows `o0 .. o0 + rows` (`rows <= R`), columns `p0 .. p0 + kc`, into `dst[p·R + r]`,
    /// padding rows `rows .. R` with zeros.
    unsafe fn pack<const R: usize>(
        self,
        o0: usize,
        rows: usize,
        p0: usize,
        kc: usize,
        dst: *mut f32,
    );

    /// Packs rows `o0 .. o0 + rows` (any count) into consecutive micro-panels: panel q at
    /// `dst + q·R·kc`. A last panel of at most 4 rows is 4 wide (`dst[p·4 + r]`, see
    /// [`panel_width`]), so a ragged edge of b runs the 4 x 4 micro-kernel, not half-empty tiles.
    #[inline(always)]
    unsafe fn pack_block<const R: usize>(self, o0: usize, rows: usize, p0: usize, kc: usize, dst: *mut f32) {
        let mut q = 0;
        while q < rows {
            let r = (rows - q).min(R);
            if panel_width::<R>(r) == 4 {
                self.pack::<4>(o0 + q, r, p0, kc, dst.add(q * kc));
            } else {
                self.pack::<R>(o0 + q, r, p0, kc, dst.add(q * kc));
            }
            q += R;
        }
    }
}

/// Width of a packed panel holding `rows` (<= R) rows: R, or 4 for an edge of at most 4 rows.
#[inline(always)]
pub(crate) fn panel_width<const R: usize>(rows: usize) -> usize {
    if rows <= 4 {
        4
    } else {
        R
    }
}

/// Element (o, p) is at `ptr + o·so + p·sp` (overlapping rows are fine: it is only read).
#[derive(Clone, Copy)]
pub(crate) struct Strided {
    pub(crate) ptr: *const f32,
    pub(crate) so: usize,
    pub(crate) sp: usize,
}

impl Panel for Strided {
    #[inline(always)]
    unsafe fn pack_block<const R: usize>(self, o0: usize, rows: usize, p0: usize, kc: usize, dst: *mut f32) {
        if self.so != 1 {
            // Rows contiguous along k (or general strides): panel by panel.
            let mut q = 0;
            while q < rows {
                let r = (rows - q).min(R);
                if panel_width::<R>(r) == 4 {
                    self.pack::<4>(o0 + q, r, p0, kc, dst.add(q * kc));
                } else {
                    self.pack::<R>(o0 + q, r, p0, kc, dst.add(q * kc));
                }
                q += R;
            }
            return;
        }
        // The rows of one k step are contiguous: read each k step's `rows` floats once, in
        // order, and scatter them to the panels (panel by panel would re-read every cache line
        // R / 16 times, from L2 when kc lines of the source do not fit L1).
        let sp = self.sp;
        let src = self.ptr.add(o0 + p0 * sp);
        let full = rows / R;
        let rem = rows - full * R;
        let w = panel_width::<R>(rem);
        let tail = dst.add(full * R * kc);
        // Chunks of CH k steps: their source lines stay in L1 while every panel takes its part
        // (a store stream per panel, all 4 or 8 KiB apart, would thrash one L1 set).
        const CH: usize = 16;
        let mut p1 = 0;
        while p1 < kc {
            let p2 = (p1 + CH).min(kc);
            for q in 0..full {
                for p in p1..p2 {
                    let (s, d) = (src.add(p * sp + q * R), dst.add(q * R * kc + p * R));
                    for v in 0..R / 4 {
                        F32x4::load(s.add(4 * v)).store(d.add(4 * v));
                    }
                    for r in R / 4 * 4..R {
                        *d.add(r) = *s.add(r);
                    }
                }
            }
            if rem > 0 {
                for p in p1..p2 {
                    let (s, d) = (src.add(p * sp + full * R), tail.add(p * w));
                    for r in 0..w {
                        *d.add(r) = if r < rem { *s.add(r) } else { 0.0 };
                    }
                }
            }
            p1 = p2;
        }
    }

    #[inline(always)]
    unsafe fn pack<const R: usize>(
        self,
        o0: usize,
        rows: usize,
        p0: usize,
        kc: usize,
        dst: *mut f32,
    ) {
        let (so, sp) = (self.so, self.sp);
        let src = self.ptr.add(o0 * so + p0 * sp);
        if rows == R && so == 1 {
            // The R values of one k step are contiguous: vector copies.
            for p in 0..kc {
                let (s, d) = (src.add(p * sp), dst.add(p * R));
                for v in 0..R / 4 {
                    F32x4::load(s.add(4 * v)).store(d.add(4 * v));
                }
                for r in R / 4 * 4..R {
                    *d.add(r) = *s.add(r);
                }
            }
        } else if rows == R && sp == 1 {
            // Rows are contiguous along k: 4 x 4 transposes.
            let mut p = 0;
            while p + 4 <= kc {
                for g in 0..R / 4 {
                    let mut block = [F32x4::splat(0.0); 4];
                    for (i, v) in block.iter_mut().enumerate() {
                        *v = F32x4::load(src.add((4 * g + i) * so + p));
                    }
                    for (i, v) in F32x4::transpose4(block).iter().enumerate() {
                        v.store(dst.add((p + i) * R + 4 * g));
                    }
                }
                for r in R / 4 * 4..R {
                    for i in 0..4 {
                        *dst.add((p + i) * R + r) = *src.add(r * so + p + i);
                    }
                }
                p += 4;
            }
            for p in p..kc {
                for r in 0..R {
                    *dst.add(p * R + r) = *src.add(r * so + p);
                }
            }
        } else {
            for p in 0..kc {
                for r in 0..R {
                    let v = if r < rows {
                        *src.add(r * so + p * sp)
                    } else {
                        0.0
                    };
                    *dst.add(p * R + r) = v;
                }
            }
        }
    }
}

/// Where the engine writes: c, and what it folds into the sums.
#[derive(Clone, Copy)]
pub(crate) struct Out {
    pub(crate) c: *mut f32,
    pub(crate) ldc: usize,
    /// Add into c instead of overwriting it.
    pub(crate) accumulate: bool,
    /// Null, or the bias [n] added to every row.
    pub(crate) bias: *const f32,
}

impl Out {
    /// Writes the finished sum `s` of element (i, j): c = s + bias, or c += s + bias.
    #[inline(always)]
    unsafe fn put(self, i: usize, j: usize, s: f32) {
        let mut s = s;
        if !self.bias.is_null() {
            s += *self.bias.add(j);
        }
        let p = self.c.add(i * self.ldc + j);
        *p = if self.accumulate { *p + s } else { s };
    }

    /// Writes the `rows` x `cols` valid part of the micro-tile `acc` at (i, j).
    #[inline(always)]
    pub(crate) unsafe fn tile(self, i: usize, j: usize, rows: usize, cols: usize, acc: &[[F32x4; NV]; MR]) {
        self.tile_n::<NV>(i, j, rows, cols, acc)
    }

    /// [`Out::tile`] for a micro-tile of MR x 4V.
    #[inline(always)]
    pub(crate) unsafe fn tile_n<const V: usize>(
        self,
        i: usize,
        j: usize,
        rows: usize,
        cols: usize,
        acc: &[[F32x4; V]; MR],
    ) {
        if rows == MR && cols == 4 * V {
            for (r, row) in acc.iter().enumerate() {
                for (v, s) in row.iter().enumerate() {
                    let mut s = *s;
                    if !self.bias.is_null() {
                        s = s.add(F32x4::load(self.bias.add(j + 4 * v)));
                    }
                    let p = self.c.add((i + r) * self.ldc + j + 4 * v);
                    if self.accumulate {
                        s = F32x4::load(p).add(s);
                    }
                    s.store(p);
                }
            }
        } else {
            let mut t = [0.0f32; MR * NR];
            for (r, row) in acc.iter().enumerate() {
                for (v, s) in row.iter().enumerate() {
                    s.store(t.as_mut_ptr().add(r * 4 * V + 4 * v));
                }
            }
            for r in 0..rows {
                for jj in 0..cols {
                    self.put(i + r, j + jj, t[r * 4 * V + jj]);
                }
            }
        }
    }
}

/// `c (+)= a · bᵀ (+ bias)` with a read as [m, k] and b as [n, k] through their [`Panel`]s.
pub(crate) unsafe fn packed_gemm<A: Panel, B: Panel>(m: usize, k: usize, n: usize, a: A, b: B, out: Out) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        for i in 0..m {
            for j in 0..n {
                out.put(i, j, 0.0);
            }
        }
        return;
    }
    // NOTE: uninitialised on purpose (no 192 KiB memset per call); every float is packed
    // before the micro-kernel reads it.
    let mut buf = core::mem::MaybeUninit::<[f32; PACK_LEN]>::uninit();
    let pa = buf.as_mut_ptr() as *mut f32;
    let pb = pa.add(MC * KC);
    let mut jc = 0;
    while jc < n {
        let nc = (n - jc).min(NC);
        let mut pc = 0;
        while pc < k {
            let kc = (k - pc).min(KC);
            b.pack_block::<NR>(jc, nc, pc, kc, pb);
            // Only the first slice of k overwrites c and adds the bias; later slices add.
            let out = if pc == 0 {
                out
            } else {
                Out {
                    accumulate: true,
                    bias: core::ptr::null(),
                    ..out
                }
            };
            let mut ic = 0;
            while ic < m {
                let mc = (m - ic).min(MC);
                a.pack_block::<MR>(ic, mc, pc, kc, pa);
                block(mc, nc, kc, pa, pb, out, ic, jc);
                ic += MC;
            }
            pc += KC;
        }
        jc += NC;
    }
}

/// One packed block: c[ic .. ic + mc, jc .. jc + nc] (+)= pa · pbᵀ over kc, tile by tile.
///
/// NOTE: never inlined. Every GEMM form and panel type shares this one function, which holds all
/// the arithmetic; V8 compiles its optimised tier once, in a few milliseconds, instead of once per
/// `packed_gemm` instance at 40-60 ms each, so a short training run stops running its GEMMs in the
/// baseline tier after a few steps instead of after several epochs (issue 13, warm-up).
#[inline(never)]
#[allow(clippy::too_many_arguments)]
unsafe fn block(mc: usize, nc: usize, kc: usize, pa: *const f32, pb: *const f32, out: Out, ic: usize, jc: usize) {
    let mut jr = 0;
    while jr < nc {
        let cols = (nc - jr).min(NR);
        let mut ir = 0;
        if panel_width::<NR>(cols) == 4 {
            // A ragged edge of at most 4 columns: the 4 x 4 kernel on a 4-wide panel.
            while ir < mc {
                let acc = micro_kernel::<1>(kc, pa.add(ir * kc), pb.add(jr * kc));
                out.tile_n::<1>(ic + ir, jc + jr, (mc - ir).min(MR), cols, &acc);
                ir += MR;
            }
        } else {
            while ir < mc {
                let acc = micro_kernel::<NV>(kc, pa.add(ir * kc), pb.add(jr * kc));
                out.tile(ic + ir, jc + jr, (mc - ir).min(MR), cols, &acc);
                ir += MR;
            }
        }
        jr += NR;
    }
}

/// The MR x 4V micro-kernel over packed panels (V = NV: the 4 x 8 tile; V = 1: 4 x 4 for a
/// ragged edge): per k step, V vector loads of b and MR broadcast loads of a feed MR·V
/// independent multiply-adds. Each element sums its products in k order within the slice.
#[inline(always)]
unsafe fn micro_kernel<const V: usize>(kc: usize, a: *const f32, b: *const f32) -> [[F32x4; V]; MR] {
    let mut acc = [[F32x4::splat(0.0); V]; MR];
    for p in 0..kc {
        micro_step(&mut acc, a.add(p * MR), b.add(p * 4 * V));
    }
    acc
}

/// One k step of [`micro_kernel`]: `acc[r][v] += a[r] · b[4v .. 4v + 4]`.
#[inline(always)]
unsafe fn micro_step<const V: usize>(acc: &mut [[F32x4; V]; MR], a: *const f32, b: *const f32) {
    let mut bv = [F32x4::splat(0.0); V];
    for (v, bv) in bv.iter_mut().enumerate() {
        *bv = F32x4::load(b.add(4 * v));
    }
    for (r, acc) in acc.iter_mut().enumerate() {
        let av = F32x4::load_splat(a.add(r));
        for v in 0..V {
            acc[v] = av.mul_add(bv[v], acc[v]);
        }
    }
}

/// `grad_bias (+)= Σ_r delta[r, :]`, adding the rows in order onto the old gradient
/// (`accumulate`) or onto 0 (overwrites grad_bias without reading it).
///
/// # Safety
/// `delta` valid for `rows * cols`, `grad_bias` for `cols`; they do not overlap.
pub unsafe fn bias_grad(
    delta: *const f32,
    grad_bias: *mut f32,
    rows: usize,
    cols: usize,
    accumulate: bool,
) {
    #[cfg(target_feature = "simd128")]
    bias_grad_simd(delta, grad_bias, rows, cols, accumulate);
    #[cfg(not(target_feature = "simd128"))]
    bias_grad_scalar(delta, grad_bias, rows, cols, accumulate);
}

/// SIMD twin of [`bias_grad`].
///
/// # Safety
/// As [`bias_grad`].
pub unsafe fn bias_grad_simd(
    delta: *const f32,
    grad_bias: *mut f32,
    rows: usize,
    cols: usize,
    accumulate: bool,
) {
    let start = |g: *const f32| {
        if accumulate {
            F32x4::load(g)
        } else {
            F32x4::splat(0.0)
        }
    };
    // Column strips of 16 keep four sums in registers while walking down the rows.
    let mut j = 0;
    while j + 16 <= cols {
        let g = grad_bias.add(j);
        let mut acc = [start(g), start(g.add(4)), start(g.add(8)), start(g.add(12))];
        for r in 0..rows {
            let d = delta.add(r * cols + j);
            for (v, acc) in acc.iter_mut().enumerate() {
                *acc = acc.add(F32x4::load(d.add(4 * v)));
            }
        }
        for (v, acc) in acc.iter().enumerate() {
            acc.store(g.add(4 * v));
        }
        j += 16;
    }
    while j + 4 <= cols {
        let mut acc = start(grad_bias.add(j));
        for r in 0..rows {
            acc = acc.add(F32x4::load(delta.add(r * cols + j)));
        }
        acc.store(grad_bias.add(j));
        j += 4;
    }
    for j in j..cols {
        let mut s = if accumulate { *grad_bias.add(j) } else { 0.0 };
        for r in 0..rows {
            s += *delta.add(r * cols + j);
        }
        *grad_bias.add(j) = s;
    }
}

/// Scalar twin of [`bias_grad`].
///
/// # Safety
/// As [`bias_grad`].
pub unsafe fn bias_grad_scalar(
    delta: *const f32,
    grad_bias: *mut f32,
    rows: usize,
    cols: usize,
    accumulate: bool,
) {
    if !accumulate {
        crate::util::fill_zero(grad_bias, cols);
    }
    for r in 0..rows {
        for j in 0..cols {
            *grad_bias.add(j) += *delta.add(r * cols + j);
        }
    }
}

/// `y = x · weight + bias`; overwrites y.
///
/// # Safety
/// Shapes as in `abi::linear_forward`; y overlaps no input.
pub unsafe fn linear_forward(
    x: *const f32,
    y: *mut f32,
    weight: *const f32,
    bias: *const f32,
    batch: usize,
    n_in: usize,
    n_out: usize,
) {
    #[cfg(target_feature = "simd128")]
    linear_forward_simd(x, y, weight, bias, batch, n_in, n_out);
    #[cfg(not(target_feature = "simd128"))]
    linear_forward_scalar(x, y, weight, bias, batch, n_in, n_out);
}

/// SIMD twin of [`linear_forward`]: the bias is added as each block of y is stored, so y is
/// written once.
///
/// # Safety
/// As [`linear_forward`].
pub unsafe fn linear_forward_simd(
    x: *const f32,
    y: *mut f32,
    weight: *const f32,
    bias: *const f32,
    batch: usize,
    n_in: usize,
    n_out: usize,
) {
    let out = Out {
        c: y,
        ldc: n_out,
        accumulate: false,
        bias,
    };
    let x = Strided {
        ptr: x,
        so: n_in,
        sp: 1,
    };
    let w = Strided {
        ptr: weight,
        so: 1,
        sp: n_out,
    };
    packed_gemm(batch, n_in, n_out, x, w, out);
}

/// Scalar twin of [`linear_forward`].
///
/// # Safety
/// As [`linear_forward`].
pub unsafe fn linear_forward_scalar(
    x: *const f32,
    y: *mut f32,
    weight: *const f32,
    bias: *const f32,
    batch: usize,
    n_in: usize,
    n_out: usize,
) {
    gemm_scalar(x, weight, y, batch, n_in, n_out, n_in, 1, n_out, 1, n_out, false);
    for r in 0..batch {
        for j in 0..n_out {
            *y.add(r * n_out + j) += *bias.add(j);
        }
    }
}

/// `dx = delta · weightᵀ`; overwrites dx.
///
/// # Safety
/// Shapes as in `abi::linear_backward_delta`; dx overlaps no input.
pub unsafe fn linear_backward_delta(
    delta: *const f32,
    dx: *mut f32,
    weight: *const f32,
    batch: usize,
    n_in: usize,
    n_out: usize,
) {
    // weight [n_in, n_out] read as weightᵀ [n_out, n_in]: row stride 1, column stride n_out.
    gemm(delta, weight, dx, batch, n_out, n_in, n_out, 1, 1, n_out, n_in, false);
}

/// `grad_weight (+)= xᵀ · delta`, `grad_bias (+)= Σ_b delta[b, :]`: `beta = 0` overwrites both
/// without reading them, `beta = 1` adds into them (no other value is valid).
///
/// # Safety
/// Shapes as in `abi::linear_backward_update_gradient`; the gradients overlap no input.
pub unsafe fn linear_backward_update_gradient(
    x: *const f32,
    delta: *const f32,
    grad_weight: *mut f32,
    grad_bias: *mut f32,
    batch: usize,
    n_in: usize,
    n_out: usize,
    beta: u32,
) {
    debug_assert!(beta <= 1);
    let accumulate = beta != 0;
    // x [batch, n_in] read as xᵀ [n_in, batch]: row stride 1, column stride n_in.
    gemm(x, delta, grad_weight, n_in, batch, n_out, 1, n_in, n_out, 1, n_out, accumulate);
    bias_grad(delta, grad_bias, batch, n_out, accumulate);
}

#[cfg(test)]
mod tests {
    //! Tolerances. Random inputs are in [-1, 1); an f32 sum of k products, added in any order,
    //! is within k·2⁻²³·Σ_p|a·b| of the exact sum (recursive-summation bound with one extra
    //! rounding per product), plus one rounding for each of `accumulate` and bias, so we allow
    //! (k + 2)·2⁻²³·(Σ|a·b| + |c₀| + |bias|). Small-integer inputs make every partial sum exact,
    //! so those cases must match the float64 reference bit for bit.
    use super::*;
    use crate::testutil::{values, Canary, SIZES};

    type Gemm = unsafe fn(
        *const f32,
        *const f32,
        *mut f32,
        usize,
        usize,
        usize,
        usize,
        usize,
        usize,
        usize,
        usize,
        bool,
    );

    /// How a and b are stored: as [m, k] and [k, n] (N), or transposed (T).
    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Form {
        Nn,
        Nt,
        Tn,
        Tt,
    }

    /// Strides `[rsa, csa, rsb, csb]` of a form whose stored rows are `lda` and `ldb` apart.
    fn strides(form: Form, lda: usize, ldb: usize) -> [usize; 4] {
        match form {
            Form::Nn => [lda, 1, ldb, 1],
            Form::Nt => [lda, 1, 1, ldb],
            Form::Tn => [1, lda, ldb, 1],
            Form::Tt => [1, lda, 1, ldb],
        }
    }

    /// Sentinel in the gaps between rows of c (`rsc > n`): no kernel may touch them.
    const GAP: f32 = 1234.5;

    /// Floats a [rows, cols] matrix with strides (rs, cs) reaches.
    fn extent(rows: usize, cols: usize, rs: usize, cs: usize) -> usize {
        if rows == 0 || cols == 0 {
            0
        } else {
            (rows - 1) * rs + (cols - 1) * cs + 1
        }
    }

    /// Inputs in [-1, 1), or small integers in [-3, 3] when `ints`.
    fn inputs(n: usize, seed: u32, ints: bool) -> Vec<f32> {
        let v = values(n, seed);
        if ints {
            v.iter().map(|x| (x * 3.5).round()).collect()
        } else {
            v
        }
    }

    /// Runs `f` on one case and checks it against a float64 reference, the NaN guards and the
    /// gaps between rows of c.
    fn check(
        f: Gemm,
        (m, k, n): (usize, usize, usize),
        [rsa, csa, rsb, csb]: [usize; 4],
        rsc: usize,
        accumulate: bool,
        ints: bool,
    ) {
        let what = format!(
            "m={} k={} n={} strides=({},{},{},{}) rsc={} acc={} ints={}",
            m, k, n, rsa, csa, rsb, csb, rsc, accumulate, ints
        );
        let a = inputs(extent(m, k, rsa, csa), 1 + m as u32, ints);
        let b = inputs(extent(k, n, rsb, csb), 7 + n as u32, ints);
        let c0 = inputs(extent(m, n, rsc, 1), 13 + k as u32, ints);
        let init = |idx: usize| {
            if idx % rsc >= n {
                GAP
            } else if accumulate {
                c0[idx]
            } else {
                f32::NAN
            }
        };
        let mut c = Canary::new(c0.len(), init);
        let (ap, bp) = (a.as_ptr(), b.as_ptr());
        unsafe { f(ap, bp, c.ptr(), m, k, n, rsa, csa, rsb, csb, rsc, accumulate) };
        c.check_guards();
        for i in 0..m {
            for j in 0..n {
                let (mut want, mut mag) = (0.0f64, 0.0f64);
                if accumulate {
                    want = c0[i * rsc + j] as f64;
                    mag = want.abs();
                }
                for p in 0..k {
                    let t = a[i * rsa + p * csa] as f64 * b[p * rsb + j * csb] as f64;
                    want += t;
                    mag += t.abs();
                }
                let got = c.get(i * rsc + j) as f64;
                let tol = if ints {
                    0.0
                } else {
                    (k + 2) as f64 * mag * f32::EPSILON as f64
                };
                let ok = (got - want).abs() <= tol;
                assert!(ok, "{}: c[{},{}] = {}, want {}", what, i, j, got, want);
            }
            let row_end = if i + 1 < m && n > 0 { rsc } else { n };
            for j in n..row_end {
                let gap = c.get(i * rsc + j);
                assert_eq!(gap, GAP, "{}: gap c[{},{}] written", what, i, j);
            }
        }
    }

    /// Every combination of these (all tails of the 4 x 8, 4 x 2 and k-by-4 blocks), ...
    const SMALL: &[usize] = &[0, 1, 3, 4, 5, 8, 9, 17];

    /// ... then the larger `SIZES` in each position, with the others small or large too.
    fn shapes() -> Vec<(usize, usize, usize)> {
        let mut out = Vec::new();
        for &m in SMALL {
            for &k in SMALL {
                for &n in SMALL {
                    out.push((m, k, n));
                }
            }
        }
        for &big in &[15usize, 16, 63] {
            for &x in &[1usize, 5, 16] {
                for &y in &[1usize, 4, 17] {
                    out.extend_from_slice(&[(big, x, y), (x, big, y), (x, y, big)]);
                }
            }
        }
        out.extend_from_slice(&[(63, 63, 63), (16, 16, 16), (15, 17, 63), (63, 15, 17)]);
        // Across every cache block of the packed engine (MC, KC, NC), with ragged edges.
        out.extend_from_slice(&[
            (MC + 5, KC + 3, NC + 9),
            (2 * MC + 1, 2 * KC + 1, 3),
            (3, KC + 1, NC + 1),
        ]);
        // n = 100: twelve 8-wide strips and a 4-wide edge (the layer shapes of the benchmarks).
        out.extend_from_slice(&[(9, 37, 100), (66, 19, 100)]);
        out
    }

    /// The transpose forms on every shape: tight rows, padded rows, and rows of a that overlap
    /// (a stored row shorter than its length, as conv windows are).
    fn all_shapes(form: Form, f: Gemm) {
        for (m, k, n) in shapes() {
            let a_row = if matches!(form, Form::Tn | Form::Tt) { m } else { k };
            let b_row = if matches!(form, Form::Nt | Form::Tt) { k } else { n };
            let (lda, ldb, rsc) = (a_row.max(1), b_row.max(1), n.max(1));
            check(f, (m, k, n), strides(form, lda, ldb), rsc, false, false);
            check(f, (m, k, n), strides(form, lda, ldb), rsc, true, true);
            check(f, (m, k, n), strides(form, lda + 3, ldb + 5), rsc + 2, true, false);
            if a_row >= 2 {
                check(f, (m, k, n), strides(form, a_row / 2, ldb), rsc + 1, false, true);
                check(f, (m, k, n), strides(form, a_row - 1, ldb), rsc, true, false);
            } else {
                check(f, (m, k, n), strides(form, lda + 1, ldb + 2), rsc + 3, false, true);
            }
        }
    }

    #[test]
    fn gemm_twins_match_float64_in_every_transpose_form() {
        for form in [Form::Nn, Form::Nt, Form::Tn, Form::Tt] {
            all_shapes(form, gemm_simd);
            all_shapes(form, gemm_scalar);
        }
    }

    #[test]
    fn gemm_twins_match_float64_with_general_strides() {
        // No unit stride at all, strides of 0 (every row of a, or every column of b, the same
        // data), and a c with gaps between its rows.
        for (m, k, n) in shapes() {
            let general = [
                [2 * k + 3, 2, 3, 3 * k + 1],
                [3, 2 * m + 1, 2 * n + 1, 2],
                [0, 1, n, 0],
                [k, 0, 0, 1],
            ];
            for s in general {
                for f in [gemm_simd as Gemm, gemm_scalar] {
                    check(f, (m, k, n), s, n + 3, false, false);
                    check(f, (m, k, n), s, n.max(1), true, true);
                }
            }
        }
    }

    /// The dispatcher picks one twin; a few shapes show it is wired to the strides.
    #[test]
    fn gemm_dispatcher_matches_float64() {
        for &(m, k, n) in &[(5usize, 9usize, 17usize), (4, 4, 8), (1, 3, 1)] {
            for form in [Form::Nn, Form::Nt, Form::Tn, Form::Tt] {
                let lda = if matches!(form, Form::Tn | Form::Tt) { m } else { k };
                let ldb = if matches!(form, Form::Nt | Form::Tt) { k } else { n };
                check(gemm, (m, k, n), strides(form, lda, ldb), n, true, false);
                check(gemm, (m, k, n), strides(form, lda, ldb), n, false, true);
            }
        }
    }

    #[test]
    fn gemm_accumulate_adds_exactly_and_k0_gives_zero_or_c() {
        // Identity a: c = b, and accumulate twice gives 2b + c0, all exact.
        for f in [gemm_simd as Gemm, gemm_scalar] {
            let n = 9;
            let mut a = vec![0.0f32; 25];
            for i in 0..5 {
                a[i * 5 + i] = 1.0;
            }
            let b = inputs(5 * n, 3, false);
            let (ap, bp) = (a.as_ptr(), b.as_ptr());
            let mut c = Canary::new(5 * n, |i| i as f32);
            unsafe { f(ap, bp, c.ptr(), 5, 5, n, 5, 1, n, 1, n, true) };
            unsafe { f(ap, bp, c.ptr(), 5, 5, n, 5, 1, n, 1, n, true) };
            c.check_written();
            for i in 0..5 * n {
                assert_eq!(c.get(i), i as f32 + b[i] + b[i]);
            }
            let mut c = Canary::nan(5 * n);
            unsafe { f(ap, bp, c.ptr(), 5, 0, n, 5, 1, n, 1, n, false) };
            c.check_written();
            assert!(c.vec().iter().all(|&v| v == 0.0));
            let mut c = Canary::new(5 * n, |i| i as f32);
            unsafe { f(ap, bp, c.ptr(), 5, 0, n, 5, 1, n, 1, n, true) };
            c.check_written();
            assert!((0..5 * n).all(|i| c.get(i) == i as f32));
        }
    }

    /// y = x W + b, dx = delta Wᵀ, dW (+)= xᵀ delta, db (+)= Σ delta, checked in float64.
    #[test]
    fn linear_kernels_match_float64() {
        type Fwd = unsafe fn(*const f32, *mut f32, *const f32, *const f32, usize, usize, usize);
        for &batch in &[0usize, 1, 3, 4, 5, 17] {
            for &n_in in &[1usize, 3, 4, 9, 16] {
                for &n_out in &[1usize, 2, 4, 5, 8, 13] {
                    let x = values(batch * n_in, 1);
                    let w = values(n_in * n_out, 2);
                    let bias = values(n_out, 3);
                    let delta = values(batch * n_out, 4);
                    let (xp, wp, bp, dp) = (x.as_ptr(), w.as_ptr(), bias.as_ptr(), delta.as_ptr());
                    // The module bound with |a|, |b| < 1: Σ|a·b| + |bias| <= K + 1.
                    let big = n_in.max(n_out).max(batch) as f64;
                    let tol = (big + 2.0) * f32::EPSILON as f64 * (big + 1.0);
                    for fwd in [linear_forward_simd as Fwd, linear_forward_scalar, linear_forward] {
                        let mut y = Canary::nan(batch * n_out);
                        unsafe { fwd(xp, y.ptr(), wp, bp, batch, n_in, n_out) };
                        y.check_written();
                        for r in 0..batch {
                            for j in 0..n_out {
                                let mut want = bias[j] as f64;
                                for p in 0..n_in {
                                    want += x[r * n_in + p] as f64 * w[p * n_out + j] as f64;
                                }
                                let got = y.get(r * n_out + j) as f64;
                                assert!((got - want).abs() <= tol, "linear_forward");
                            }
                        }
                    }
                    let mut dx = Canary::nan(batch * n_in);
                    unsafe { linear_backward_delta(dp, dx.ptr(), wp, batch, n_in, n_out) };
                    dx.check_written();
                    for r in 0..batch {
                        for i in 0..n_in {
                            let mut want = 0.0f64;
                            for j in 0..n_out {
                                want += delta[r * n_out + j] as f64 * w[i * n_out + j] as f64;
                            }
                            let got = dx.get(r * n_in + i) as f64;
                            assert!((got - want).abs() <= tol, "linear_backward_delta");
                        }
                    }
                    // beta = 1 adds onto the old gradients; beta = 0 overwrites NaN canaries.
                    for beta in [1u32, 0] {
                        let (gw0, gb0) = if beta == 1 { (0.5, 1.0) } else { (f32::NAN, f32::NAN) };
                        let mut gw = Canary::new(n_in * n_out, |i| i as f32 * gw0);
                        let mut gb = Canary::new(n_out, |i| i as f32 * gb0);
                        let (gwp, gbp) = (gw.ptr(), gb.ptr());
                        let (b, i, o) = (batch, n_in, n_out);
                        unsafe { linear_backward_update_gradient(xp, dp, gwp, gbp, b, i, o, beta) };
                        gw.check_written();
                        gb.check_written();
                        for i in 0..n_in {
                            for j in 0..n_out {
                                let mut want = beta as f64 * (i * n_out + j) as f64 * 0.5;
                                for r in 0..batch {
                                    want += x[r * n_in + i] as f64 * delta[r * n_out + j] as f64;
                                }
                                let got = gw.get(i * n_out + j) as f64;
                                let ok = (got - want).abs() <= tol * (1.0 + want.abs());
                                assert!(ok, "grad_weight beta={}", beta);
                            }
                        }
                        for j in 0..n_out {
                            let sum = (0..batch).map(|r| delta[r * n_out + j] as f64).sum::<f64>();
                            let want = beta as f64 * j as f64 + sum;
                            let ok = (gb.get(j) as f64 - want).abs() <= tol * (1.0 + want.abs());
                            assert!(ok, "grad_bias beta={}", beta);
                        }
                    }
                }
            }
        }
    }

    /// On small integers (exact sums): beta = 0 onto NaN equals beta = 1 onto zeros bit for bit,
    /// and a second call with beta = 1 doubles it.
    #[test]
    fn linear_update_gradient_beta_identities_are_exact() {
        let shapes = [(0usize, 3usize, 5usize), (3, 4, 17), (17, 9, 8), (5, 63, 16)];
        for &(batch, n_in, n_out) in &shapes {
            let x = inputs(batch * n_in, 21, true);
            let delta = inputs(batch * n_out, 22, true);
            let (xp, dp) = (x.as_ptr(), delta.as_ptr());
            let mut gw = Canary::nan(n_in * n_out);
            let mut gb = Canary::nan(n_out);
            let mut zw = Canary::zeros(n_in * n_out);
            let mut zb = Canary::zeros(n_out);
            unsafe {
                linear_backward_update_gradient(xp, dp, gw.ptr(), gb.ptr(), batch, n_in, n_out, 0);
                linear_backward_update_gradient(xp, dp, zw.ptr(), zb.ptr(), batch, n_in, n_out, 1);
            }
            gw.check_written();
            gb.check_written();
            assert_eq!(gw.vec(), zw.vec());
            assert_eq!(gb.vec(), zb.vec());
            let once = (gw.vec(), gb.vec());
            let (gwp, gbp) = (gw.ptr(), gb.ptr());
            unsafe { linear_backward_update_gradient(xp, dp, gwp, gbp, batch, n_in, n_out, 1) };
            assert_eq!(gw.vec(), once.0.iter().map(|v| 2.0 * v).collect::<Vec<_>>());
            assert_eq!(gb.vec(), once.1.iter().map(|v| 2.0 * v).collect::<Vec<_>>());
        }
    }

    #[test]
    fn bias_grad_twins_are_exact_on_integers() {
        type BiasFn = unsafe fn(*const f32, *mut f32, usize, usize, bool);
        for &rows in &[0usize, 1, 3, 5] {
            for &cols in SIZES.iter().chain(&[33usize, 35]) {
                let delta = inputs(rows * cols, 6, true);
                for f in [bias_grad_simd as BiasFn, bias_grad_scalar, bias_grad] {
                    for accumulate in [true, false] {
                        let start = if accumulate { 1.0 } else { f32::NAN };
                        let mut g = Canary::new(cols, |j| j as f32 * start);
                        unsafe { f(delta.as_ptr(), g.ptr(), rows, cols, accumulate) };
                        g.check_written();
                        for j in 0..cols {
                            let sum = (0..rows).map(|r| delta[r * cols + j]).sum::<f32>();
                            let want = if accumulate { j as f32 + sum } else { sum };
                            let what = format!("rows={} cols={} acc={}", rows, cols, accumulate);
                            assert_eq!(g.get(j), want, "bias_grad {}", what);
                        }
                    }
                }
            }
        }
    }
}
