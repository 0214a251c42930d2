// WebGPU twins of the losses (crates/kernels/src/loss.rs). y is the target, yhat the prediction,
// both [rows, cols]; a forward returns the mean over rows of each row's summed loss, a backward
// overwrites grad with d(forward)/d(yhat):
//
//   mse:   Σ (yhat - y)² / rows;                                grad = (yhat - y) · (2 / rows)
//   bce:   -Σ [y ln yhat + (1 - y) ln(1 - yhat)] / rows, each ln floored at -100;
//          grad = (yhat - y) / max(yhat (1 - yhat), 1e-12) · (1 / rows)
//   ce:    -Σ y ln yhat / rows, ln floored at -100;
//          grad = -(y / yhat) · (1 / rows) for yhat >= 27·2⁻¹⁴⁹ (the least f32 whose ln is not
//          floored), -(y · 0) below (the floored forward is flat there), NaN for yhat < 0
//   lsce:  per row, with m = max yhat and ls = ln Σ e^(yhat - m): Σ y_j ((m - yhat_j) + ls),
//          mean over rows;  grad = (e^(yhat - m) · (Σ y / Σ e^(yhat - m)) - y) · (1 / rows)
//   Zero rows or columns: the forward is 0 (an empty sum), the backward writes nothing.
//
// WASM accumulates a forward in f64; WGSL has no f64, so a forward is a deterministic two-pass
// f32 reduction: pass 1 gives one partial sum per workgroup (a contiguous block of elements or
// rows, summed in a fixed order in workgroup memory) into scratch, pass 2 adds the partials in one
// workgroup and divides by rows. Every term is >= 0 for targets in [0, 1], so nothing cancels and the sum
// stays within a few 1e-7 relative of the f64 one (the cases allow 1e-5).
//
// ln is the Cephes `logf` of loss.rs's ln_simd and e^x the Cephes `expf` of activation.rs, step
// for step, so the GPU differs from WASM by rounding order, not by approximation. Special values
// are told apart by their bits (a GPU compiler may assume floats are never NaN, and a GPU may
// flush subnormals to 0): ln of a subnormal is taken from its integer mantissa, and
// cross-entropy's gradient divides by a subnormal yhat through a scaled copy, so both match WASM
// on hardware that flushes.

import { type Dispatch, type GpuFamily, type GpuPlan, groups1d, w, words } from './shader.js';
import { LN2_HI, LN2_LO, expWgsl, f, horner } from './wgslmath.js';

/** Invocations per workgroup of the reductions (pass 1 over elements, pass 2). */
const RED_WG = 256;
/** Invocations per workgroup of the element maps and the row-per-workgroup log-softmax. */
const MAP_WG = 64;
/** At most this many columns, a log-softmax row is one invocation's sequential loop. */
const ROW_SERIAL_COLS = 32;
/**
 * Most workgroups of a pass over blocks (pass 1's partial sums, the per-row backward): enough to
 * fill a GPU, and pass 2's invocations add at most 4 partials each.
 */
const MAX_BLOCKS = 1024;

/** Term kinds of the element-wise forwards and maps. */
const MSE = 0;
const BCE = 1;
const CE = 2;

// ln's constants in loss.rs, as the f32s Rust parses from the same decimals.
const LN_P = [
  7.0376836e-2, -1.151461e-1, 1.1676999e-1, -1.2420141e-1, 1.4249323e-1, -1.6668058e-1,
  2.0000715e-1, -2.4999994e-1, 3.3333331e-1,
];
const SQRT_HALF = f(Math.SQRT1_2);
const GRAD_EPS = f(1e-12);
/** Bits of the least f32 whose ln is at least -100 (loss.rs's LOG_FLOOR_ARG). */
const LOG_FLOOR_BITS = 27;

const code = /* wgsl */ `
${expWgsl('loss')}
// Cephes logf as loss.rs's ln_simd, for the bits of a positive finite nonzero f32. A subnormal
// is its integer mantissa (an exact, normal f32) times 2^-149, so it never meets a float unit
// that might flush it.
fn loss_ln_bits(b0: u32) -> f32 {
  var b = b0;
  var e = -126;
  if (b < 0x00800000u) {
    b = bitcast<u32>(f32(b));
    e -= 149;
  }
  e += i32(b >> 23u);
  // b's mantissa with the exponent of [0.5, 1): frexp's fraction.
  var m = bitcast<f32>((b & 0x007fffffu) | 0x3f000000u);
  var ef = f32(e);
  if (m < ${SQRT_HALF}) {
    ef -= 1.0;
    m = m + m - 1.0;
  } else {
    m -= 1.0;
  }
  let z = m * m;
  var p = ${f(LN_P[0]!)};
${horner(LN_P, 'm')}
  var y = p * m * z + ef * ${LN2_LO};
  y -= z * 0.5;
  return m + y + ef * ${LN2_HI};
}

// max(ln v, -100) with loss.rs's special values: ln of ±0 (and anything below 27·2^-149) is
// floored to -100, a negative v or NaN gives NaN, +inf gives +inf.
fn loss_cln(v: f32) -> f32 {
  let b = bitcast<u32>(v);
  let a = b & 0x7fffffffu;
  if (a > 0x7f800000u || b == 0x7f800000u) {
    return v;
  }
  if (a == 0u) {
    return -100.0;
  }
  if (b != a) {
    return bitcast<f32>(b | 0x7fc00000u);
  }
  if (b < ${LOG_FLOOR_BITS}u) {
    return -100.0;
  }
  return loss_ln_bits(b);
}

fn loss_is_inf(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7fffffffu) == 0x7f800000u;
}

// One element's forward term.
fn loss_term(kind: u32, t: f32, v: f32) -> f32 {
  if (kind == ${MSE}u) {
    let d = v - t;
    return d * d;
  }
  if (kind == ${BCE}u) {
    return -(t * loss_cln(v) + (1.0 - t) * loss_cln(1.0 - v));
  }
  return -t * loss_cln(v);
}

// loss.rs's ce_grad: y / yhat first (keeps subnormal targets exact), -(y / rows) / yhat where
// that overflows. A subnormal yhat is divided through its integer mantissa, then scaled by
// 2^149 in two exact steps.
fn loss_ce_grad(t: f32, v: f32, inv: f32) -> f32 {
  let b = bitcast<u32>(v);
  let a = b & 0x7fffffffu;
  if (a > 0x7f800000u) {
    return v;
  }
  if (b != a) {
    if (a == 0u) {
      return -(t * 0.0);
    }
    return bitcast<f32>(b | 0x7fc00000u);
  }
  if (b < ${LOG_FLOOR_BITS}u) {
    return -(t * 0.0);
  }
  if (b < 0x00800000u) {
    let vs = f32(b);
    let q = (t / vs) * ${f(2 ** 74)} * ${f(2 ** 75)};
    if (loss_is_inf(q)) {
      return -((t * inv) / vs) * ${f(2 ** 74)} * ${f(2 ** 75)};
    }
    return -(q * inv);
  }
  let q = t / v;
  if (loss_is_inf(q)) {
    return -(t * inv) / v;
  }
  return -(q * inv);
}

// One element's gradient; s is 2 / rows (mse) or 1 / rows.
fn loss_grad(kind: u32, t: f32, v: f32, s: f32) -> f32 {
  if (kind == ${MSE}u) {
    return (v - t) * s;
  }
  if (kind == ${BCE}u) {
    // The floor keeps a NaN denominator (as pmax), so a NaN yhat gives a NaN gradient.
    let d = v * (1.0 - v);
    return (v - t) / select(d, ${GRAD_EPS}, d < ${GRAD_EPS}) * s;
  }
  return loss_ce_grad(t, v, s);
}

// ---- reductions in two levels (256 = 16 · 16, 64 = 8 · 8): invocation i < k adds the k
// values from k·i, then every invocation adds those k partial sums itself, so all get the same
// bits, with three barriers instead of a binary tree's log2(size) + 1 (SwiftShader switches
// every invocation's coroutine at each barrier). The last barrier keeps the next reduction's
// first writes from racing this one's reads. op 0 adds, op 1 takes the max.

var<workgroup> loss_red: array<f32, ${RED_WG}>;

fn loss_op(op: u32, a: f32, b: f32) -> f32 {
  if (op == 0u) {
    return a + b;
  }
  return max(a, b);
}

// k · k invocations of the workgroup, lid < k · k.
fn loss_reduce(lid: u32, v: f32, k: u32, op: u32) -> f32 {
  loss_red[lid] = v;
  workgroupBarrier();
  if (lid < k) {
    var a = loss_red[lid * k];
    for (var j = 1u; j < k; j++) {
      a = loss_op(op, a, loss_red[lid * k + j]);
    }
    loss_red[lid * k] = a;
  }
  workgroupBarrier();
  var out = loss_red[0];
  for (var j = 1u; j < k; j++) {
    out = loss_op(op, out, loss_red[j * k]);
  }
  workgroupBarrier();
  return out;
}

fn loss_sum_256(lid: u32, v: f32) -> f32 {
  return loss_reduce(lid, v, 16u, 0u);
}

fn loss_sum_64(lid: u32, v: f32) -> f32 {
  return loss_reduce(lid, v, 8u, 0u);
}

fn loss_max_64(lid: u32, v: f32) -> f32 {
  return loss_reduce(lid, v, 8u, 1u);
}

// Pass 1 of the element-wise forwards. pu: kind, y, yhat, n, chunk, out: workgroup g sums the
// terms of elements [g·chunk, (g + 1)·chunk) into out[g].
@compute @workgroup_size(${RED_WG})
fn loss_terms(@builtin(workgroup_id) wid: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
  let kind = pu(0);
  let y = pu(1);
  let v = pu(2);
  let start = wid.x * pu(4);
  let end = min(start + pu(4), pu(3));
  var acc = 0.0;
  for (var i = start + lid; i < end; i += ${RED_WG}u) {
    acc += loss_term(kind, ld(y + i), ld(v + i));
  }
  let total = loss_sum_256(lid, acc);
  if (lid == 0u) {
    st(pu(5) + wid.x, total);
  }
}

// Pass 2. pu: partials, count, result; pf(3): rows. One workgroup; invocation lid adds the
// partials lid, lid + ${RED_WG}, ... in order.
@compute @workgroup_size(${RED_WG})
fn loss_final(@builtin(local_invocation_index) lid: u32) {
  let src = pu(0);
  let n = pu(1);
  var acc = 0.0;
  for (var i = lid; i < n; i += ${RED_WG}u) {
    acc += ld(src + i);
  }
  let total = loss_sum_256(lid, acc);
  if (lid == 0u) {
    st(pu(2), total / pf(3));
  }
}

// An empty forward (no rows or no columns) returns 0.
@compute @workgroup_size(1)
fn loss_zero() {
  st(pu(0), 0.0);
}

// One log-softmax cross-entropy row, sequentially (cols >= 1); the row's first value seeds the
// max (-inf has no WGSL literal, and max is idempotent).
fn loss_lsce_row(y: u32, x: u32, cols: u32) -> f32 {
  var m = ld(x);
  for (var j = 1u; j < cols; j++) {
    m = max(m, ld(x + j));
  }
  var s = 0.0;
  for (var j = 0u; j < cols; j++) {
    s += loss_exp(ld(x + j) - m);
  }
  let ls = loss_cln(s);
  var total = 0.0;
  for (var j = 0u; j < cols; j++) {
    total += ld(y + j) * ((m - ld(x + j)) + ls);
  }
  return total;
}

// Pass 1 of log-softmax cross-entropy on short rows. pu: y, x, rows, cols, chunk, out:
// workgroup g sums rows [g·chunk, (g + 1)·chunk), one row per invocation at a time.
@compute @workgroup_size(${RED_WG})
fn loss_lsce_fwd_serial(@builtin(workgroup_id) wid: vec3<u32>,
                        @builtin(local_invocation_index) lid: u32) {
  let cols = pu(3);
  let start = wid.x * pu(4);
  let end = min(start + pu(4), pu(2));
  var acc = 0.0;
  for (var r = start + lid; r < end; r += ${RED_WG}u) {
    acc += loss_lsce_row(pu(0) + r * cols, pu(1) + r * cols, cols);
  }
  let total = loss_sum_256(lid, acc);
  if (lid == 0u) {
    st(pu(5) + wid.x, total);
  }
}

// Pass 1 on long rows. pu: y, x, rows, cols, chunk, out: workgroup g takes rows
// [g·chunk, (g + 1)·chunk) one after another, all ${MAP_WG} invocations on each row, and adds
// the row losses in row order.
@compute @workgroup_size(${MAP_WG})
fn loss_lsce_fwd_rows(@builtin(workgroup_id) wid: vec3<u32>,
                      @builtin(local_invocation_index) lid: u32) {
  let cols = pu(3);
  let start = wid.x * pu(4);
  let end = min(start + pu(4), pu(2));
  var acc = 0.0;
  for (var r = start; r < end; r++) {
    let y = pu(0) + r * cols;
    let x = pu(1) + r * cols;
    var m = ld(x);
    for (var j = lid; j < cols; j += ${MAP_WG}u) {
      m = max(m, ld(x + j));
    }
    m = loss_max_64(lid, m);
    var s = 0.0;
    for (var j = lid; j < cols; j += ${MAP_WG}u) {
      s += loss_exp(ld(x + j) - m);
    }
    let ls = loss_cln(loss_sum_64(lid, s));
    var t = 0.0;
    for (var j = lid; j < cols; j += ${MAP_WG}u) {
      t += ld(y + j) * ((m - ld(x + j)) + ls);
    }
    acc += loss_sum_64(lid, t);
  }
  if (lid == 0u) {
    st(pu(5) + wid.x, acc);
  }
}

// ---- backward

// pu: kind, y, yhat, grad, n; pf(5): 2 / rows (mse) or 1 / rows.
@compute @workgroup_size(${MAP_WG})
fn loss_map(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid, ${MAP_WG}u);
  if (i >= pu(4)) { return; }
  st(pu(3) + i, loss_grad(pu(0), ld(pu(1) + i), ld(pu(2) + i), pf(5)));
}

// Short rows, one per invocation. pu: y, x, grad, rows, cols; pf(5): 1 / rows. grad holds
// e^(x - m) until the second loop turns it into the gradient (it only rereads its own writes).
@compute @workgroup_size(${MAP_WG})
fn loss_lsce_bwd_serial(@builtin(workgroup_id) wid: vec3<u32>,
                        @builtin(num_workgroups) nwg: vec3<u32>,
                        @builtin(local_invocation_index) lid: u32) {
  let r = linear_id(wid, nwg, lid, ${MAP_WG}u);
  let cols = pu(4);
  if (r >= pu(3)) { return; }
  let y = pu(0) + r * cols;
  let x = pu(1) + r * cols;
  let g = pu(2) + r * cols;
  var m = ld(x);
  for (var j = 1u; j < cols; j++) {
    m = max(m, ld(x + j));
  }
  var s = 0.0;
  var ty = 0.0;
  for (var j = 0u; j < cols; j++) {
    let e = loss_exp(ld(x + j) - m);
    st(g + j, e);
    s += e;
    ty += ld(y + j);
  }
  let scale = ty / s;
  let inv = pf(5);
  for (var j = 0u; j < cols; j++) {
    st(g + j, (ld(g + j) * scale - ld(y + j)) * inv);
  }
}

// Long rows. pu: y, x, grad, rows, cols, chunk; pf(6): 1 / rows. Workgroup g takes rows
// [g·chunk, (g + 1)·chunk) one after another (at most ${MAX_BLOCKS} workgroups, so no grid to
// fold), all ${MAP_WG} invocations on each row: invocation lid takes the columns lid,
// lid + ${MAP_WG}, ... and rereads only the grad entries it wrote itself.
@compute @workgroup_size(${MAP_WG})
fn loss_lsce_bwd_rows(@builtin(workgroup_id) wid: vec3<u32>,
                      @builtin(local_invocation_index) lid: u32) {
  let cols = pu(4);
  let start = wid.x * pu(5);
  let end = min(start + pu(5), pu(3));
  let inv = pf(6);
  for (var r = start; r < end; r++) {
    let y = pu(0) + r * cols;
    let x = pu(1) + r * cols;
    let g = pu(2) + r * cols;
    var m = ld(x);
    for (var j = lid; j < cols; j += ${MAP_WG}u) {
      m = max(m, ld(x + j));
    }
    m = loss_max_64(lid, m);
    var s = 0.0;
    var ty = 0.0;
    for (var j = lid; j < cols; j += ${MAP_WG}u) {
      let e = loss_exp(ld(x + j) - m);
      st(g + j, e);
      s += e;
      ty += ld(y + j);
    }
    let scale = loss_sum_64(lid, ty) / loss_sum_64(lid, s);
    for (var j = lid; j < cols; j += ${MAP_WG}u) {
      st(g + j, (ld(g + j) * scale - ld(y + j)) * inv);
    }
  }
}
`;

/** An f32 as Rust's `x as f32` / f32 arithmetic rounds it (the operands already f32). */
const fr = Math.fround;

/**
 * The forward of an empty input: 0 in the result slot. The one call of zero size that still
 * dispatches: its value is 0, not nothing, and the runtime logs the slot only after a plan that
 * dispatched (an empty plan returns NaN).
 */
function zeroResult(result: number): Dispatch[] {
  return [{ entry: 'loss_zero', params: words([result]), groups: [1, 1, 1] }];
}

/**
 * Blocks of `n` items for pass 1: `size` items per block, a multiple of `unit`, and at most
 * `max` blocks (so pass 2 and the scratch stay small whatever n is).
 */
function blocks(n: number, unit: number, max: number): { size: number; count: number } {
  const size = unit * Math.max(1, Math.ceil(n / (unit * max)));
  return { size, count: Math.ceil(n / size) };
}

function partialsCap(scratchWords: number): number {
  return Math.max(1, Math.min(MAX_BLOCKS, scratchWords));
}

/** Pass 2: the partials' sum over rows into the result slot. */
function finalPass(src: number, count: number, result: number, rows: number): Dispatch {
  return {
    entry: 'loss_final',
    params: words([src, count, result], [rows]),
    groups: [1, 1, 1],
  };
}

function termsForward(kind: number): GpuPlan {
  return (args, ctx) => {
    const [y, yhat, rows, cols] = args as [number, number, number, number];
    const n = rows * cols;
    if (n === 0) return zeroResult(ctx.result);
    const b = blocks(n, RED_WG, partialsCap(ctx.scratchWords));
    return [
      {
        entry: 'loss_terms',
        params: words([kind, w(y), w(yhat), n, b.size, ctx.scratch]),
        groups: [b.count, 1, 1],
      },
      finalPass(ctx.scratch, b.count, ctx.result, rows),
    ];
  };
}

function termsBackward(kind: number): GpuPlan {
  return (args) => {
    const [y, yhat, grad, rows, cols] = args as [number, number, number, number, number];
    const n = rows * cols;
    if (n === 0) return [];
    // Rust's `2.0 / rows as f32` and `1.0 / rows as f32`: one f32 division of exact operands.
    const s = fr((kind === MSE ? 2 : 1) / fr(rows));
    return [
      {
        entry: 'loss_map',
        params: words([kind, w(y), w(yhat), w(grad), n], [s]),
        groups: groups1d(n, MAP_WG),
      },
    ];
  };
}

const lsceForward: GpuPlan = (args, ctx) => {
  const [y, yhat, rows, cols] = args as [number, number, number, number];
  if (rows * cols === 0) return zeroResult(ctx.result);
  const cap = partialsCap(ctx.scratchWords);
  const serial = cols <= ROW_SERIAL_COLS;
  const b = blocks(rows, serial ? RED_WG : 1, cap);
  return [
    {
      entry: serial ? 'loss_lsce_fwd_serial' : 'loss_lsce_fwd_rows',
      params: words([w(y), w(yhat), rows, cols, b.size, ctx.scratch]),
      groups: [b.count, 1, 1],
    },
    finalPass(ctx.scratch, b.count, ctx.result, rows),
  ];
};

const lsceBackward: GpuPlan = (args) => {
  const [y, yhat, grad, rows, cols] = args as [number, number, number, number, number];
  if (rows * cols === 0) return [];
  const inv = fr(1 / fr(rows));
  if (cols <= ROW_SERIAL_COLS) {
    return [
      {
        entry: 'loss_lsce_bwd_serial',
        params: words([w(y), w(yhat), w(grad), rows, cols], [inv]),
        groups: groups1d(rows, MAP_WG),
      },
    ];
  }
  const b = blocks(rows, 1, MAX_BLOCKS);
  return [
    {
      entry: 'loss_lsce_bwd_rows',
      params: words([w(y), w(yhat), w(grad), rows, cols, b.size], [inv]),
      groups: [b.count, 1, 1],
    },
  ];
};

export const lossFamily: GpuFamily = {
  code,
  plans: {
    mse_loss_forward: termsForward(MSE),
    mse_loss_backward: termsBackward(MSE),
    bce_loss_forward: termsForward(BCE),
    bce_loss_backward: termsBackward(BCE),
    cross_entropy_loss_forward: termsForward(CE),
    cross_entropy_loss_backward: termsBackward(CE),
    log_softmax_cross_entropy_forward: lsceForward,
    log_softmax_cross_entropy_backward: lsceBackward,
  },
};
