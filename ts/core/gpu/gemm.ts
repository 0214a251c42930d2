// The gemm family on WebGPU: one tiled, strided GEMM and the Linear kernels built on it, plus the
// small row kernels that live next to them in the WASM core (gather_rows, one_hot, fill_zero).
//
//   gemm:    c[i, j] (+)= Σ_p a[i·rsa + p·csa] · b[p·rsb + j·csb], c [m, n] contiguous row-major;
//            beta = 0 overwrites c without reading it, beta ≠ 0 adds into it (a zero k writes 0,
//            or adds 0).
//   linear_forward:          y = x · W + bias             (x [batch, in], W [in, out])
//   linear_backward_delta:   dx = delta · Wᵀ              (W read through strides 1, n_out)
//   linear_backward_update_gradient:
//                            gW (+)= xᵀ · delta,  gb (+)= Σ_r delta[r, :]   (beta as for gemm)
//   gather_rows:  dst[r, :] = src[indices[r], :]
//   one_hot:      out[r, c] = 1 if c = labels[r] else 0
//   fill_zero:    x[0..n] = 0
//
// The GEMM: each workgroup of 16 x 16 invocations owns a T x T tile of c, each invocation an
// r x r block of it (T = 64, r = 4; or T = 32, r = 2 for problems whose 64-tiles, even with k
// split, cannot fill a large GPU). k is walked in chunks of 16: the chunk of op(a) (T x 16) and
// op(b) (16 x T) is staged in workgroup memory, k-major in vec{r} units, so one k step of the
// inner loop is one vector load of a (a broadcast), one of b, and r vector multiply-adds. The
// next chunk is fetched into registers while the current one is multiplied, so global latency
// overlaps the arithmetic. Global reads are coalesced along whichever of an operand's two
// strides is smaller (a flag the plan computes), so a·b, a·bᵀ and aᵀ·b all read contiguous runs.
// When the tile grid alone is too small to occupy the device (the MNIST layer, 64 x 784 x 100,
// is 8 tiles of 32), k is split over grid z: each split writes its partial tile to scratch, and
// a second pass adds the partials in split order (deterministic: no atomics) and applies bias
// and beta. Every element sums its products in k order within a split, as the WASM engine does
// within its 256-deep k slices: for k <= 256 a device that rounds each multiply and add
// (SwiftShader) gives the WASM bits; one that fuses them (most GPUs) differs by roundings only.

import type { Dispatch, GpuFamily, GpuPlan, PlanContext } from './shader.js';
import { groups1d, MAX_GROUPS, w, words } from './shader.js';

/** Depth of one k chunk staged in workgroup memory. */
const KT = 16;
/** Invocations of a 1-D workgroup (elementwise kernels, the split-k reduction). */
const WG = 256;
/** Workgroups a GEMM should launch to keep a large GPU busy (about two per SM on big parts). */
const TARGET_GROUPS = 256;
/** The least depth worth a split of k: four chunks, so each split amortises its tile writes. */
const SPLIT_MIN_K = 4 * KT;
/** Cap on k splits: the reduction reads every partial, so more splits only shift the cost. */
const MAX_SPLITS = 32;

// Uniform layout of the GEMM entries (u32 words; pointers are heap word indices).
const P = {
  A: 0,
  B: 1,
  C: 2,
  M: 3,
  K: 4,
  N: 5,
  RSA: 6,
  CSA: 7,
  RSB: 8,
  CSB: 9,
  FLAGS: 10,
  BIAS: 11,
  ROW_TILE0: 12,
  COL_TILE0: 13,
  K_PER_SPLIT: 14,
  SCRATCH: 15,
  SPLITS: 16,
} as const;

// FLAGS bits.
const BETA = 1;
const A_K_FAST = 2;
const B_K_FAST = 4;
const HAS_BIAS = 8;
const TO_SCRATCH = 16;

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/**
 * The tiled GEMM entry `gemm_tile{t}` (t = 32 or 64), generated with its loads and micro-tile
 * unrolled. Each invocation owns an r x r block of c (r = t / 16: rows lid.y·r.., columns
 * lid.x·r..), so one k step reads one vec{r} of a and one of b from workgroup memory and does
 * r vector multiply-adds. The staged chunk is k-major in vec{r} units, with the vector column
 * XOR-swizzled by k: the readers' addresses stay a permutation of one row (no bank conflicts),
 * and staging stores from a k-fast operand (16 consecutive invocations, 16 consecutive k) land on
 * different banks instead of one.
 */
function tileEntry(t: number): string {
  const r = t / 16; // micro-tile side, and also each invocation's loads per operand per chunk
  const vec = `vec${r}<f32>`;
  const rowVecs = t / r; // vec{r} per staged k row: 16 for both tile sizes
  const mask = 32 / r - 1; // swizzle over the vectors one 32-bank row holds
  const sh = Math.log2(t);
  const lr = Math.log2(r);
  const sa = `gemm_sa${t}`;
  const sb = `gemm_sb${t}`;
  const comp = ['x', 'y', 'z', 'w'];
  const q = range(r);
  const lines = (f: (i: number) => string): string => q.map(f).join('\n');
  // Vector slot of staged element (k row p, column o) as WGSL.
  const slot = (p: string, o: string): string =>
    `${p} * ${rowVecs}u + ((${o} >> ${lr}u) ^ (${p} & ${mask}u))`;
  return /* wgsl */ `
var<workgroup> ${sa}: array<${vec}, ${KT * rowVecs}>;
var<workgroup> ${sb}: array<${vec}, ${KT * rowVecs}>;

@compute @workgroup_size(16, 16, 1)
fn gemm_tile${t}(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(local_invocation_index) li: u32,
) {
  let i0 = (wid.y + pu(${P.ROW_TILE0}u)) * ${t}u;
  let j0 = (wid.x + pu(${P.COL_TILE0}u)) * ${t}u;
  let kb = wid.z * pu(${P.K_PER_SPLIT}u);
  let ke = max(kb, min(pu(${P.K}u), kb + pu(${P.K_PER_SPLIT}u)));
  let chunks = (ke - kb + ${KT - 1}u) / ${KT}u;
  let akf = (pu(${P.FLAGS}u) & ${A_K_FAST}u) != 0u;
  let bkf = (pu(${P.FLAGS}u) & ${B_K_FAST}u) != 0u;
  // Which staged element each invocation fetches: consecutive invocations walk the operand's
  // smaller stride, so a warp reads contiguous runs whatever the layout.
${lines(
  (i) => `  let ea${i} = li + ${i * 256}u;
  let pa${i} = select(ea${i} >> ${sh}u, ea${i} & ${KT - 1}u, akf);
  let ia${i} = select(ea${i} & ${t - 1}u, ea${i} >> 4u, akf);
  let sa${i} = ${slot(`pa${i}`, `ia${i}`)};
  let pb${i} = select(ea${i} >> ${sh}u, ea${i} & ${KT - 1}u, bkf);
  let jb${i} = select(ea${i} & ${t - 1}u, ea${i} >> 4u, bkf);
  let sb${i} = ${slot(`pb${i}`, `jb${i}`)};
  var ra${i} = gemm_at(i0 + ia${i}, kb + pa${i}, ke);
  var rb${i} = gemm_bt(kb + pb${i}, j0 + jb${i}, ke);`,
)}
${lines((y) => `  var c${y} = ${vec}();`)}
  for (var ch = 0u; ch < chunks; ch++) {
${lines(
  (i) =>
    `    ${sa}[sa${i}][ia${i} & ${r - 1}u] = ra${i};\n    ${sb}[sb${i}][jb${i} & ${r - 1}u] = rb${i};`,
)}
    workgroupBarrier();
    let kn = kb + (ch + 1u) * ${KT}u;
${lines(
  (i) =>
    `    ra${i} = gemm_at(i0 + ia${i}, kn + pa${i}, ke);\n    rb${i} = gemm_bt(kn + pb${i}, j0 + jb${i}, ke);`,
)}
    for (var p = 0u; p < ${KT}u; p++) {
      let av = ${sa}[p * ${rowVecs}u + (lid.y ^ (p & ${mask}u))];
      let bv = ${sb}[p * ${rowVecs}u + (lid.x ^ (p & ${mask}u))];
${lines((y) => `      c${y} = c${y} + av.${comp[y]} * bv;`)}
    }
    workgroupBarrier();
  }
  let i1 = i0 + lid.y * ${r}u;
  let j1 = j0 + lid.x * ${r}u;
${q
  .flatMap((y) => q.map((x) => `  gemm_put(i1 + ${y}u, j1 + ${x}u, c${y}.${comp[x]}, wid.z);`))
  .join('\n')}
}
`;
}

const CODE = /* wgsl */ `
// Element (i, p) of op(a) for p in the split's [kb, ke), else 0 (pads ragged tiles).
fn gemm_at(i: u32, p: u32, ke: u32) -> f32 {
  if (i < pu(${P.M}u) && p < ke) {
    return ld(pu(${P.A}u) + i * pu(${P.RSA}u) + p * pu(${P.CSA}u));
  }
  return 0.0;
}

// Element (p, j) of op(b), or 0 outside.
fn gemm_bt(p: u32, j: u32, ke: u32) -> f32 {
  if (p < ke && j < pu(${P.N}u)) {
    return ld(pu(${P.B}u) + p * pu(${P.RSB}u) + j * pu(${P.CSB}u));
  }
  return 0.0;
}

// Finishes element e = i·n + j of c from its sum s: c = s + bias, or c += s + bias (the WASM
// engine's order).
fn gemm_out(e: u32, j: u32, s: f32) {
  var v = s;
  if ((pu(${P.FLAGS}u) & ${HAS_BIAS}u) != 0u) {
    v = v + ld(pu(${P.BIAS}u) + j);
  }
  let o = pu(${P.C}u) + e;
  if ((pu(${P.FLAGS}u) & ${BETA}u) != 0u) {
    v = ld(o) + v;
  }
  st(o, v);
}

// A tile's sum for (i, j): to c, or to split z's partial plane in scratch.
fn gemm_put(i: u32, j: u32, s: f32, z: u32) {
  let m = pu(${P.M}u);
  let n = pu(${P.N}u);
  if (i >= m || j >= n) {
    return;
  }
  if ((pu(${P.FLAGS}u) & ${TO_SCRATCH}u) != 0u) {
    st(pu(${P.SCRATCH}u) + (z * m + i) * n + j, s);
    return;
  }
  gemm_out(i * n + j, j, s);
}
${tileEntry(64)}
${tileEntry(32)}
// Adds the k splits' partial planes in split order, then bias and beta.
@compute @workgroup_size(${WG})
fn gemm_reduce(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) li: u32,
) {
  let n = pu(${P.N}u);
  let mn = pu(${P.M}u) * n;
  let e = linear_id(wid, nwg, li, ${WG}u);
  if (e >= mn) {
    return;
  }
  let base = pu(${P.SCRATCH}u) + e;
  var s = ld(base);
  for (var z = 1u; z < pu(${P.SPLITS}u); z++) {
    s = s + ld(base + z * mn);
  }
  gemm_out(e, e % n, s);
}

// Column sums of delta [rows, cols] into gb [cols] (beta as gemm): each workgroup takes 32
// columns; its 8 lanes per column sum every 8th row, then a fixed tree adds the lanes.
var<workgroup> gemm_red: array<f32, 256>;

@compute @workgroup_size(32, 8, 1)
fn gemm_bias_grad(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
) {
  let rows = pu(2u);
  let cols = pu(3u);
  let j = linear_id(wid, nwg, lid.x, 32u);
  var s = 0.0;
  if (j < cols) {
    for (var r = lid.y; r < rows; r += 8u) {
      s = s + ld(pu(0u) + r * cols + j);
    }
  }
  gemm_red[lid.y * 32u + lid.x] = s;
  workgroupBarrier();
  for (var h = 4u; h > 0u; h = h >> 1u) {
    if (lid.y < h) {
      gemm_red[lid.y * 32u + lid.x] = gemm_red[lid.y * 32u + lid.x] + gemm_red[(lid.y + h) * 32u + lid.x];
    }
    workgroupBarrier();
  }
  if (lid.y == 0u && j < cols) {
    let o = pu(1u) + j;
    var v = gemm_red[lid.x];
    if (pu(4u) != 0u) {
      v = ld(o) + v;
    }
    st(o, v);
  }
}

@compute @workgroup_size(${WG})
fn gemm_fill_zero(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) li: u32,
) {
  let e = linear_id(wid, nwg, li, ${WG}u);
  if (e < pu(1u)) {
    heap[pu(0u) + e] = 0u;
  }
}

@compute @workgroup_size(${WG})
fn gemm_gather_rows(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) li: u32,
) {
  let cols = pu(4u);
  let e = linear_id(wid, nwg, li, ${WG}u);
  if (e >= pu(3u) * cols) {
    return;
  }
  let r = e / cols;
  // A bit copy: gathered rows keep their exact patterns (NaN payloads included).
  heap[pu(2u) + e] = heap[pu(0u) + heap[pu(1u) + r] * cols + (e - r * cols)];
}

@compute @workgroup_size(${WG})
fn gemm_one_hot(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) li: u32,
) {
  let cols = pu(3u);
  let e = linear_id(wid, nwg, li, ${WG}u);
  if (e >= pu(2u) * cols) {
    return;
  }
  let r = e / cols;
  let label = u32(ld(pu(0u) + r));
  st(pu(1u) + e, select(0.0, 1.0, e - r * cols == label));
}
`;

/** How many ways to split k so t-tiles make about TARGET_GROUPS workgroups (1: no split). */
function splitsFor(m: number, k: number, n: number, t: number, ctx: PlanContext): number {
  const tiles = Math.ceil(m / t) * Math.ceil(n / t);
  if (tiles >= TARGET_GROUPS || k < 2 * SPLIT_MIN_K) return 1;
  const s = Math.min(
    Math.ceil(TARGET_GROUPS / tiles),
    Math.floor(k / SPLIT_MIN_K),
    // The partial planes must fit scratch; past it, fewer (or no) splits.
    Math.floor(ctx.scratchWords / (m * n)),
    MAX_SPLITS,
  );
  return Math.max(1, s);
}

/**
 * Dispatches for c (+)= op(a)·op(b) (+ bias): picks the tile size and k split from the problem
 * size, and splits the tile grid into dispatches of at most 65535 tiles a side.
 */
function gemmDispatches(
  g: {
    a: number;
    b: number;
    c: number;
    m: number;
    k: number;
    n: number;
    rsa: number;
    csa: number;
    rsb: number;
    csb: number;
    beta: boolean;
    bias?: number;
  },
  ctx: PlanContext,
): Dispatch[] {
  const { m, k, n } = g;
  if (m === 0 || n === 0) return [];
  // 64-tiles reuse each staged word twice as often as 32-tiles; take them when they (with k split
  // over the grid if need be) fill the device, else 32-tiles, split as far as k allows.
  let t = 64;
  let splits = splitsFor(m, k, n, t, ctx);
  if (Math.ceil(m / t) * Math.ceil(n / t) * splits < TARGET_GROUPS) {
    t = 32;
    splits = splitsFor(m, k, n, t, ctx);
  }
  const rowTiles = Math.ceil(m / t);
  const colTiles = Math.ceil(n / t);
  // Whole chunks per split; rounding up can leave fewer splits than asked.
  const kPerSplit = Math.max(KT, Math.ceil(Math.ceil(k / splits) / KT) * KT);
  splits = Math.max(1, Math.ceil(k / kPerSplit));
  let flags = g.beta ? BETA : 0;
  if (g.csa < g.rsa) flags |= A_K_FAST;
  if (g.rsb < g.csb) flags |= B_K_FAST;
  if (g.bias !== undefined) flags |= HAS_BIAS;
  const tileFlags = splits > 1 ? flags | TO_SCRATCH : flags;
  const pack = (f: number, row0: number, col0: number): Uint32Array =>
    words([
      w(g.a),
      w(g.b),
      w(g.c),
      m,
      k,
      n,
      g.rsa,
      g.csa,
      g.rsb,
      g.csb,
      f,
      w(g.bias ?? 0),
      row0,
      col0,
      kPerSplit,
      ctx.scratch,
      splits,
    ]);
  const out: Dispatch[] = [];
  for (let row0 = 0; row0 < rowTiles; row0 += MAX_GROUPS) {
    for (let col0 = 0; col0 < colTiles; col0 += MAX_GROUPS) {
      out.push({
        entry: `gemm_tile${t}`,
        params: pack(tileFlags, row0, col0),
        groups: [
          Math.min(MAX_GROUPS, colTiles - col0),
          Math.min(MAX_GROUPS, rowTiles - row0),
          splits,
        ],
      });
    }
  }
  if (splits > 1) {
    out.push({ entry: 'gemm_reduce', params: pack(flags, 0, 0), groups: groups1d(m * n, WG) });
  }
  return out;
}

const gemm: GpuPlan = ([a, b, c, m, k, n, rsa, csa, rsb, csb, beta], ctx) =>
  gemmDispatches(
    {
      a: a!,
      b: b!,
      c: c!,
      m: m!,
      k: k!,
      n: n!,
      rsa: rsa!,
      csa: csa!,
      rsb: rsb!,
      csb: csb!,
      beta: beta !== 0,
    },
    ctx,
  );

const linearForward: GpuPlan = ([x, y, weight, bias, batch, nIn, nOut], ctx) =>
  gemmDispatches(
    {
      a: x!,
      b: weight!,
      c: y!,
      m: batch!,
      k: nIn!,
      n: nOut!,
      rsa: nIn!,
      csa: 1,
      rsb: nOut!,
      csb: 1,
      beta: false,
      bias: bias!,
    },
    ctx,
  );

// weight [n_in, n_out] read as weightᵀ [n_out, n_in]: row stride 1, column stride n_out.
const linearBackwardDelta: GpuPlan = ([delta, dx, weight, batch, nIn, nOut], ctx) =>
  gemmDispatches(
    {
      a: delta!,
      b: weight!,
      c: dx!,
      m: batch!,
      k: nOut!,
      n: nIn!,
      rsa: nOut!,
      csa: 1,
      rsb: 1,
      csb: nOut!,
      beta: false,
    },
    ctx,
  );

// x [batch, n_in] read as xᵀ [n_in, batch]: row stride 1, column stride n_in.
const linearBackwardUpdateGradient: GpuPlan = ([x, delta, gw, gb, batch, nIn, nOut, beta], ctx) => {
  const out = gemmDispatches(
    {
      a: x!,
      b: delta!,
      c: gw!,
      m: nIn!,
      k: batch!,
      n: nOut!,
      rsa: 1,
      csa: nIn!,
      rsb: nOut!,
      csb: 1,
      beta: beta !== 0,
    },
    ctx,
  );
  if (nOut! > 0) {
    out.push({
      entry: 'gemm_bias_grad',
      params: words([w(delta!), w(gb!), batch!, nOut!, beta !== 0 ? 1 : 0]),
      groups: groups1d(nOut!, 32),
    });
  }
  return out;
};

/** A 1-D dispatch over `n` elements, or none when there are none. */
function oneD(entry: string, n: number, u: readonly number[]): Dispatch[] {
  if (n === 0) return [];
  return [{ entry, params: words(u), groups: groups1d(n, WG) }];
}

export const gemmFamily: GpuFamily = {
  code: CODE,
  plans: {
    gemm,
    linear_forward: linearForward,
    linear_backward_delta: linearBackwardDelta,
    linear_backward_update_gradient: linearBackwardUpdateGradient,
    gather_rows: ([src, indices, dst, rows, cols]) =>
      oneD('gemm_gather_rows', rows! * cols!, [w(src!), w(indices!), w(dst!), rows!, cols!]),
    one_hot: ([labels, out, rows, cols]) =>
      oneD('gemm_one_hot', rows! * cols!, [w(labels!), w(out!), rows!, cols!]),
    fill_zero: ([x, n]) => oneD('gemm_fill_zero', n!, [w(x!), n!]),
  },
};
