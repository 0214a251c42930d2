// WebGPU twins of the convolution kernels (crates/kernels/src/conv.rs). Channels last, valid
// padding, one stride s; 1-D is the 2-D case with height = kh = 1 (same memory layout):
//
//   forward:  y[b, i, j, co] = bias[co] + Σ_{p<kh, q<kw, ci} x[b, i·s + p, j·s + q, ci] · w[p, q, ci, co]
//   delta:    dx[b, h, v, ci] = Σ_{p, q, co : h = i·s + p, v = j·s + q} delta[b, i, j, co] · w[p, q, ci, co]
//             (overlapping windows add up; positions no window covers get 0)
//   gradient: gw[p, q, ci, co] (+)= Σ_{b, i, j} x[b, i·s + p, j·s + q, ci] · delta[b, i, j, co]
//             gb[co] (+)= Σ_{b, i, j} delta[b, i, j, co]          (beta 0 overwrites, 1 adds)
//
// Each is one tiled GEMM whose tile loads compute their operand's address (implicit GEMM: the
// im2col matrix is never built):
//   forward   M = positions (b, i, j), N = c_out, K = taps (p, q, ci): A = windows of x, B = w.
//   delta     M = input positions (b, h, v), N = c_in, K = (p, q, co): A[(b, h, v), (p, q, co)] =
//             delta[b, (h - p) / s, (v - q) / s, co] where that output position exists, else 0,
//             B = wᵀ per tap; each dx element gathers its own sum, so nothing is scattered and no
//             atomics are needed, and dx is overwritten whole.
//   gradient  M = taps + 1, N = c_out, K = positions: A = windowsᵀ with a last row of ones, so
//             the bias gradient is the GEMM's last output row. K (batch · out_h · out_w) is long
//             and the output small, so K is split over workgroups into scratch partials that a
//             second pass adds in split order (fixed order: the same bits every run).
// The WASM side's `work` argument is not used here.

import {
  type Dispatch,
  type GpuFamily,
  type PlanContext,
  MAX_GROUPS,
  groups1d,
  w,
  words,
} from './shader.js';

/** A GEMM tile: bm x bn outputs per workgroup, tm x tn per invocation, bk deep per step. */
interface Tile {
  readonly id: string;
  readonly bm: number;
  readonly bn: number;
  readonly tm: number;
  readonly tn: number;
  readonly bk: number;
}

/** For N above 16 (c_out of most layers): 4x4 per invocation. */
const WIDE: Tile = { id: 'w', bm: 64, bn: 64, tm: 4, tn: 4, bk: 16 };
/** For N up to 16 (few channels, e.g. LeNet's 8 or the delta of a 1-channel input): no idle columns. */
const NARROW: Tile = { id: 'n', bm: 128, bn: 16, tm: 8, tn: 1, bk: 16 };
const TILES: readonly Tile[] = [WIDE, NARROW];

const threads = (t: Tile): number => (t.bm / t.tm) * (t.bn / t.tn);

/**
 * Tiles along x before the grid folds into y (raised where y would pass 65535): any width is as
 * fast, and a small one makes ordinary shapes (LeNet at batch 64) run the fold.
 */
const FOLD_X = 256;
/** Invocations per workgroup of the split-K reduction. */
const REDUCE_WG = 64;
/** Positions (K) per split of the weight gradient, before rounding to whole k steps. */
const SPLIT_K = 512;
/** Most splits of the weight gradient. */
const MAX_SPLITS = 64;

/**
 * A tiled GEMM entry `${prefix}_${tile.id}` over the per-kernel WGSL hooks
 * `${prefix}_a_row(m) -> vec4<u32>`, `${prefix}_a_col(k) -> vec4<u32>` (index work that depends
 * only on A's row or only on its column, done once per row or per column a thread loads),
 * `${prefix}_a(row, col) -> f32`, `${prefix}_b(k, n) -> f32` and `${prefix}_store(m, n, v, z)`;
 * the index hooks may see m or k past the end (they only compute), the others never do. Uniform words 0..5: M, N, K, tiles along N, tiles in
 * all, K per split (the split is workgroup z); kernels' own words follow from 6.
 * `aAlongK`: A's contiguous axis is K (the loads walk k fastest and each thread keeps its rows'
 * index work across steps), else M (each thread keeps its one row's).
 */
function tiledGemm(prefix: string, t: Tile, aAlongK: boolean): string {
  const e = `${prefix}_${t.id}`;
  const n = threads(t);
  const [rs, cs] = [t.bm / t.tm, t.bn / t.tn];
  const la = (t.bm * t.bk) / n;
  const lb = (t.bk * t.bn) / n;
  const fits = [n % t.bk, n % t.bm, n % t.bn, (t.bm * t.bk) % n, (t.bk * t.bn) % n].every(
    (r) => r === 0,
  );
  if (n > 256 || !fits) {
    throw new Error(`conv gpu: tile ${t.id} does not divide its invocations`);
  }
  const us = (count: number): number[] => Array.from({ length: count }, (_, u) => u);
  const am = us(t.tm);
  const bn = us(t.tn);
  const acc = (a: number, b: number): string => `acc_${a}_${b}`;
  let loadA: string;
  let preA: string;
  if (aAlongK) {
    const step = n / t.bk;
    preA = `  let a_kk = lid % ${t.bk}u;
  let a_r = lid / ${t.bk}u;
${us(la)
  .map(
    (u) => `  let a_m${u} = m0 + a_r + ${u * step}u;
  let a_ok${u} = a_m${u} < m_all;
  let a_row${u} = ${prefix}_a_row(a_m${u});`,
  )
  .join('\n')}`;
    loadA = `    let a_k = k0 + a_kk;
    let a_kin = a_k < kend;
    let a_col = ${prefix}_a_col(a_k);
${us(la)
  .map(
    (u) => `    {
      var v = 0.0;
      if (a_kin && a_ok${u}) { v = ${prefix}_a(a_row${u}, a_col); }
      ${e}_ta[a_kk * ${t.bm}u + a_r + ${u * step}u] = v;
    }`,
  )
  .join('\n')}`;
  } else {
    const step = n / t.bm;
    preA = `  let a_t = lid % ${t.bm}u;
  let a_c = lid / ${t.bm}u;
  let a_ok = m0 + a_t < m_all;
  let a_row = ${prefix}_a_row(m0 + a_t);`;
    loadA = us(la)
      .map(
        (u) => `    {
      let kk = a_c + ${u * step}u;
      let k = k0 + kk;
      var v = 0.0;
      if (a_ok && k < kend) { v = ${prefix}_a(a_row, ${prefix}_a_col(k)); }
      ${e}_ta[kk * ${t.bm}u + a_t] = v;
    }`,
      )
      .join('\n');
  }
  const bStep = n / t.bn;
  const loadB = us(lb)
    .map(
      (u) => `    {
      let kk = b_k + ${u * bStep}u;
      let k = k0 + kk;
      var v = 0.0;
      if (k < kend && b_nin) { v = ${prefix}_b(k, b_n); }
      ${e}_tb[kk * ${t.bn}u + b_c] = v;
    }`,
    )
    .join('\n');
  return /* wgsl */ `
var<workgroup> ${e}_ta: array<f32, ${t.bk * t.bm}>;
var<workgroup> ${e}_tb: array<f32, ${t.bk * t.bn}>;

@compute @workgroup_size(${n})
fn ${e}(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let tile = wid.y * nwg.x + wid.x;
  if (tile >= pu(4u)) { return; }
  let m_all = pu(0u);
  let n_all = pu(1u);
  let m0 = (tile / pu(3u)) * ${t.bm}u;
  let n0 = (tile % pu(3u)) * ${t.bn}u;
  let kbeg = wid.z * pu(5u);
  let kend = min(pu(2u), kbeg + pu(5u));
  let tr = lid / ${cs}u;
  let tc = lid % ${cs}u;
  let b_c = lid % ${t.bn}u;
  let b_k = lid / ${t.bn}u;
  let b_n = n0 + b_c;
  let b_nin = b_n < n_all;
${preA}
${am.flatMap((a) => bn.map((b) => `  var ${acc(a, b)} = 0.0;`)).join('\n')}
  for (var k0 = kbeg; k0 < kend; k0 += ${t.bk}u) {
${loadA}
${loadB}
    workgroupBarrier();
    for (var kk = 0u; kk < ${t.bk}u; kk++) {
${am.map((a) => `      let ra${a} = ${e}_ta[kk * ${t.bm}u + tr + ${a * rs}u];`).join('\n')}
${bn.map((b) => `      let rb${b} = ${e}_tb[kk * ${t.bn}u + tc + ${b * cs}u];`).join('\n')}
${am.flatMap((a) => bn.map((b) => `      ${acc(a, b)} += ra${a} * rb${b};`)).join('\n')}
    }
    workgroupBarrier();
  }
${am
  .map(
    (a) => `  {
    let m = m0 + tr + ${a * rs}u;
    if (m < m_all) {
${bn
  .map(
    (b) => `      {
        let n = n0 + tc + ${b * cs}u;
        if (n < n_all) { ${prefix}_store(m, n, ${acc(a, b)}, wid.z); }
      }`,
  )
  .join('\n')}
    }
  }`,
  )
  .join('\n')}
}
`;
}

const HOOKS = /* wgsl */ `
// ---- forward. pu(6..): x, y, w, bias, height, width, c_in, out_h, out_w, stride, kw·c_in.
// A row: the window's first float in x; A column (p, r): its offset inside the window, kernel
// row p a whole image row of x further, r along the row's contiguous kw·c_in floats.
fn conv_fwd_a_row(m: u32) -> vec4<u32> {
  let hw = pu(13u) * pu(14u);
  let b = m / hw;
  let i = (m % hw) / pu(14u);
  let j = m % pu(14u);
  return vec4<u32>(((b * pu(10u) + i * pu(15u)) * pu(11u) + j * pu(15u)) * pu(12u), 0u, 0u, 0u);
}
fn conv_fwd_a_col(k: u32) -> vec4<u32> {
  return vec4<u32>((k / pu(16u)) * pu(11u) * pu(12u) + k % pu(16u), 0u, 0u, 0u);
}
fn conv_fwd_a(row: vec4<u32>, col: vec4<u32>) -> f32 { return ld(pu(6u) + row.x + col.x); }
fn conv_fwd_b(k: u32, n: u32) -> f32 { return ld(pu(8u) + k * pu(1u) + n); }
fn conv_fwd_store(m: u32, n: u32, v: f32, z: u32) {
  st(pu(7u) + m * pu(1u) + n, ld(pu(9u) + n) + v);
}

// ---- input gradient. pu(6..): delta, dx, w, height, width, c_in, c_out, out_h, out_w, stride, kw.
// A row: dx's position (b, h, v); A column: the tap (p, q) and output channel co. The output
// position whose window puts tap (p, q) on (h, v) is ((h - p) / s, (v - q) / s) when both
// divide and it lies inside the output; otherwise that term is 0.
fn conv_bwd_a_row(m: u32) -> vec4<u32> {
  let hw = pu(9u) * pu(10u);
  return vec4<u32>(m / hw, (m % hw) / pu(10u), m % pu(10u), 0u);
}
fn conv_bwd_a_col(k: u32) -> vec4<u32> {
  let pq = k / pu(12u);
  return vec4<u32>(pq / pu(16u), pq % pu(16u), k % pu(12u), 0u);
}
fn conv_bwd_a(row: vec4<u32>, col: vec4<u32>) -> f32 {
  let s = pu(15u);
  if (row.y < col.x || row.z < col.y) { return 0.0; }
  let ih = row.y - col.x;
  let jv = row.z - col.y;
  if (ih % s != 0u || jv % s != 0u) { return 0.0; }
  let i = ih / s;
  let j = jv / s;
  if (i >= pu(13u) || j >= pu(14u)) { return 0.0; }
  return ld(pu(6u) + ((row.x * pu(13u) + i) * pu(14u) + j) * pu(12u) + col.z);
}
// B[(p, q, co), ci] = w[p, q, ci, co].
fn conv_bwd_b(k: u32, n: u32) -> f32 {
  return ld(pu(8u) + ((k / pu(12u)) * pu(11u) + n) * pu(12u) + k % pu(12u));
}
fn conv_bwd_store(m: u32, n: u32, v: f32, z: u32) { st(pu(7u) + m * pu(1u) + n, v); }

// ---- weight and bias gradient. pu(6..): x, delta, gw, gb, height, width, c_in, out_h, out_w,
// stride, kw·c_in, beta, taps, partials (word index), split (1: write partials, 0: the outputs).
// A row: the tap's offset inside a window, or (y = 1) the row of ones; A column: a position's
// window start, as the forward's A row.
fn conv_wgt_a_row(t: u32) -> vec4<u32> {
  if (t == pu(18u)) { return vec4<u32>(0u, 1u, 0u, 0u); }
  return vec4<u32>((t / pu(16u)) * pu(11u) * pu(12u) + t % pu(16u), 0u, 0u, 0u);
}
fn conv_wgt_a_col(k: u32) -> vec4<u32> {
  let hw = pu(13u) * pu(14u);
  let b = k / hw;
  let i = (k % hw) / pu(14u);
  let j = k % pu(14u);
  return vec4<u32>(((b * pu(10u) + i * pu(15u)) * pu(11u) + j * pu(15u)) * pu(12u), 0u, 0u, 0u);
}
fn conv_wgt_a(row: vec4<u32>, col: vec4<u32>) -> f32 {
  if (row.y == 1u) { return 1.0; }
  return ld(pu(6u) + col.x + row.x);
}
fn conv_wgt_b(k: u32, n: u32) -> f32 { return ld(pu(7u) + k * pu(1u) + n); }
// beta 0 must not read the output (it may hold NaN): the sum is stored as is.
fn conv_wgt_final(t: u32, n: u32, v: f32) {
  var at = pu(9u) + n;
  if (t < pu(18u)) { at = pu(8u) + t * pu(1u) + n; }
  if (pu(17u) != 0u) { st(at, ld(at) + v); } else { st(at, v); }
}
fn conv_wgt_store(m: u32, n: u32, v: f32, z: u32) {
  if (pu(20u) != 0u) {
    st(pu(19u) + (z * pu(0u) + m) * pu(1u) + n, v);
  } else {
    conv_wgt_final(m, n, v);
  }
}

// Adds the splits' partials in split order. pu(0): M·N, pu(1): N, pu(2): splits, pu(3): the
// partials; pu(8), pu(9), pu(17), pu(18) as the GEMM entry's (gw, gb, beta, taps).
@compute @workgroup_size(${REDUCE_WG})
fn conv_wgt_reduce(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid, ${REDUCE_WG}u);
  let total = pu(0u);
  if (i >= total) { return; }
  var s = 0.0;
  for (var z = 0u; z < pu(2u); z++) { s += ld(pu(3u) + z * total + i); }
  conv_wgt_final(i / pu(1u), i % pu(1u), s);
}
`;

const code = [
  HOOKS,
  ...TILES.map((t) => tiledGemm('conv_fwd', t, true)),
  ...TILES.map((t) => tiledGemm('conv_bwd', t, true)),
  ...TILES.map((t) => tiledGemm('conv_wgt', t, false)),
].join('\n');

const pick = (n: number): Tile => (n <= NARROW.bn ? NARROW : WIDE);

/** The GEMM entry's dispatch: tiles over (M, N) in rows of FOLD_X workgroups, splits along z. */
function gemmDispatch(
  prefix: string,
  m: number,
  n: number,
  k: number,
  splits: number,
  chunk: number,
  own: readonly number[],
): Dispatch {
  const t = pick(n);
  const tn = Math.ceil(n / t.bn);
  const total = Math.ceil(m / t.bm) * tn;
  const gx = Math.min(total, Math.max(FOLD_X, Math.ceil(total / MAX_GROUPS)));
  return {
    entry: `${prefix}_${t.id}`,
    params: words([m, n, k, tn, total, chunk, ...own]),
    groups: [gx, Math.ceil(total / gx), splits],
  };
}

/** out_len of conv.rs: positions of a valid window along one axis (0 when it does not fit). */
function outLen(n: number, k: number, stride: number): number {
  return n < k || stride === 0 ? 0 : Math.floor((n - k) / stride) + 1;
}

function forward(
  x: number,
  y: number,
  wt: number,
  bias: number,
  batch: number,
  height: number,
  width: number,
  cIn: number,
  cOut: number,
  kh: number,
  kw: number,
  stride: number,
): Dispatch[] {
  const [oh, ow] = [outLen(height, kh, stride), outLen(width, kw, stride)];
  const m = batch * oh * ow;
  if (m === 0 || cOut === 0) return [];
  const k = kh * kw * cIn;
  const own = [w(x), w(y), w(wt), w(bias), height, width, cIn, oh, ow, stride, kw * cIn];
  return [gemmDispatch('conv_fwd', m, cOut, k, 1, Math.max(k, 1), own)];
}

function backwardDelta(
  delta: number,
  dx: number,
  wt: number,
  batch: number,
  height: number,
  width: number,
  cIn: number,
  cOut: number,
  kh: number,
  kw: number,
  stride: number,
): Dispatch[] {
  const m = batch * height * width;
  if (m === 0 || cIn === 0) return [];
  const [oh, ow] = [outLen(height, kh, stride), outLen(width, kw, stride)];
  const k = kh * kw * cOut;
  const own = [w(delta), w(dx), w(wt), height, width, cIn, cOut, oh, ow, stride, kw];
  return [gemmDispatch('conv_bwd', m, cIn, k, 1, Math.max(k, 1), own)];
}

function updateGradient(
  ctx: PlanContext,
  x: number,
  delta: number,
  gw: number,
  gb: number,
  batch: number,
  height: number,
  width: number,
  cIn: number,
  cOut: number,
  kh: number,
  kw: number,
  stride: number,
  beta: number,
): Dispatch[] {
  const [oh, ow] = [outLen(height, kh, stride), outLen(width, kw, stride)];
  const positions = batch * oh * ow;
  // Nothing to add: beta 1 leaves the gradients as they are (bit for bit, -0 included).
  if (cOut === 0 || (positions === 0 && beta !== 0)) return [];
  const taps = kh * kw * cIn;
  const m = taps + 1;
  const t = pick(cOut);
  const steps = Math.ceil(positions / t.bk);
  let splits = Math.min(
    MAX_SPLITS,
    Math.ceil(positions / SPLIT_K),
    Math.floor(ctx.scratchWords / (m * cOut)),
  );
  splits = Math.max(1, splits);
  const chunk = Math.max(1, Math.ceil(steps / splits)) * t.bk;
  splits = Math.max(1, Math.ceil(positions / chunk));
  const split = splits > 1 ? 1 : 0;
  const own = [
    w(x),
    w(delta),
    w(gw),
    w(gb),
    height,
    width,
    cIn,
    oh,
    ow,
    stride,
    kw * cIn,
    beta === 0 ? 0 : 1,
    taps,
    ctx.scratch,
    split,
  ];
  const gemm = gemmDispatch('conv_wgt', m, cOut, positions, splits, chunk, own);
  if (!split) return [gemm];
  // The reduction reads the GEMM's words 1, 8, 9, 17 and 18 at the same places.
  const red = [m * cOut, cOut, splits, ctx.scratch, 0, 0, 0, 0, w(gw), w(gb)];
  red.push(...Array.from({ length: 7 }, () => 0), beta === 0 ? 0 : 1, taps);
  const reduce: Dispatch = {
    entry: 'conv_wgt_reduce',
    params: words(red),
    groups: groups1d(m * cOut, REDUCE_WG),
  };
  return [gemm, reduce];
}

export const convFamily: GpuFamily = {
  code,
  plans: {
    conv1d_forward: ([x, y, wt, b, batch, length, cIn, cOut, k, stride]) =>
      forward(x!, y!, wt!, b!, batch!, 1, length!, cIn!, cOut!, 1, k!, stride!),
    conv1d_backward_delta: ([delta, dx, wt, , batch, length, cIn, cOut, k, stride]) =>
      backwardDelta(delta!, dx!, wt!, batch!, 1, length!, cIn!, cOut!, 1, k!, stride!),
    conv1d_backward_update_gradient: (
      [x, delta, gw, gb, batch, length, cIn, cOut, k, stride, beta],
      ctx,
    ) =>
      updateGradient(
        ctx,
        x!,
        delta!,
        gw!,
        gb!,
        batch!,
        1,
        length!,
        cIn!,
        cOut!,
        1,
        k!,
        stride!,
        beta!,
      ),
    conv2d_forward: ([x, y, wt, b, batch, height, width, cIn, cOut, kh, kw, stride]) =>
      forward(x!, y!, wt!, b!, batch!, height!, width!, cIn!, cOut!, kh!, kw!, stride!),
    conv2d_backward_delta: ([delta, dx, wt, , batch, height, width, cIn, cOut, kh, kw, stride]) =>
      backwardDelta(delta!, dx!, wt!, batch!, height!, width!, cIn!, cOut!, kh!, kw!, stride!),
    conv2d_backward_update_gradient: (
      [x, delta, gw, gb, batch, height, width, cIn, cOut, kh, kw, stride, beta],
      ctx,
    ) =>
      updateGradient(
        ctx,
        x!,
        delta!,
        gw!,
        gb!,
        batch!,
        height!,
        width!,
        cIn!,
        cOut!,
        kh!,
        kw!,
        stride!,
        beta!,
      ),
  },
};
