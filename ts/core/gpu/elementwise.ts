// WebGPU twins of the element-wise kernels (crates/kernels/src/activation.rs, optim.rs, util.rs):
//
//   tanh:     y = tanh x (Cephes: x + x³·P(x²) below |x| = 0.625, else 1 - 2 / (e^2|x| + 1)
//             with |x| clamped to 9.5, sign copied from x);     dx = delta · (1 - y²)
//   sigmoid:  y = 1 / (1 + e^-x);                                dx = delta · (y · (1 - y))
//   relu:     y = x < 0 ? 0 : x (NaN and -0 kept);               dx = x > 0 ? delta : 0
//   softmax:  per row, y_j = e^(x_j - max x) / Σ_k e^(x_k - max x);
//             dx_j = y_j · (delta_j - Σ_k delta_k y_k)
//   sgd:      p -= g · step;   with decay: p = p - (g + p · wd) · step
//   momentum: g' = g + p · wd, v = v · mu + g', p = p - d · step with d = v, or with Nesterov
//             d = g' + v · mu (PyTorch's rule, no dampening)
//   adam:     g' = g + p · wd, m = m · b1 + g' · (1 - b1), v = v · b2 + (g' · g') · (1 - b2),
//             p = p - (step_size · m) / (sqrt(v) · inv_sqrt_bias2 + eps)
//   counts:   #{i : x_i is NaN or ±Inf};  #{i : !(lo <= x_i <= hi)} (NaN counts as outside)
//
// e^x is the Cephes `expf` of activation.rs step for step (same clamps, same Cody-Waite split,
// same polynomial, same two-factor 2^n), so the GPU differs from WASM only where WGSL's divide
// and sqrt round differently or a driver fuses a multiply-add (a few ulp), never by a different
// approximation. Reductions (softmax rows, counts) pair values in a fixed tree: the same bits on
// every run.

import { type Dispatch, type GpuFamily, type PlanContext, groups1d, w, words } from './shader.js';
import { EXP_P, LN2_HI, LN2_LO, LOG2E, expWgsl, f, horner } from './wgslmath.js';

/** Invocations per workgroup of the one-element-per-invocation maps and optimiser updates. */
const MAP_WG = 64;
/** Invocations per workgroup of the row-per-workgroup softmax variants. */
const ROW_WG = 64;
/** Most workgroups of the workgroup-per-row softmax: enough to fill a large GPU; more rows loop. */
const ROW_GROUPS = 4096;
/** At most this many columns, a softmax row is one invocation's sequential loop. */
const ROW_SERIAL_COLS = 32;
/** Invocations per workgroup of the two counting passes. */
const COUNT_WG = 256;
/** Most workgroups of the first counting pass: each loops over the data with a grid stride. */
const COUNT_GROUPS = 1024;

// tanh's constants in activation.rs, as the f32s Rust parses from the same decimals.
const TANH_P = [-5.7049887e-3, 2.0639089e-2, -5.3739716e-2, 1.3331442e-1, -3.3333282e-1];
const TANH_SMALL = f(0.625);
const TANH_CLAMP = f(9.5);

const code = /* wgsl */ `
${expWgsl('ew')}
fn ew_copysign(v: f32, s: f32) -> f32 {
  return bitcast<f32>((bitcast<u32>(v) & 0x7fffffffu) | (bitcast<u32>(s) & 0x80000000u));
}

// e^x for x in [0, 19] (tanh's doubled, clamped |x|): no clamps, one 2^n factor (n <= 28).
fn ew_exp_2x(x: f32) -> f32 {
  let n = round(x * ${LOG2E});
  let r = (x - n * ${LN2_HI}) - n * ${LN2_LO};
  var p = ${f(EXP_P[0]!)};
${horner(EXP_P, 'r')}
  let e = (p * (r * r) + r) + 1.0;
  return e * ew_pow2i(n);
}

// The clamp at 9.5 (where the result already rounds to 1) keeps e^2|x| finite, so large or
// infinite inputs give exactly ±1, never inf / inf.
fn ew_tanh(x: f32) -> f32 {
  let ax = bitcast<f32>(bitcast<u32>(x) & 0x7fffffffu);
  var t: f32;
  if (ax < ${TANH_SMALL}) {
    let z = ax * ax;
    var p = ${f(TANH_P[0]!)};
${horner(TANH_P, 'z')}
    t = (p * z) * ax + ax;
  } else {
    var a = ax;
    if (ax > ${TANH_CLAMP}) {
      a = ${TANH_CLAMP};
    }
    t = 1.0 - 2.0 / (ew_exp_2x(a + a) + 1.0);
  }
  return ew_copysign(t, x);
}

// ---- one element per invocation: pu(0..) pointers (word indices), then n, then f32s.

@compute @workgroup_size(${MAP_WG})
fn ew_tanh_fwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid, ${MAP_WG}u);
  if (i >= pu(2)) { return; }
  st(pu(1) + i, ew_tanh(ld(pu(0) + i)));
}

@compute @workgroup_size(${MAP_WG})
fn ew_tanh_bwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid, ${MAP_WG}u);
  if (i >= pu(3)) { return; }
  let y = ld(pu(0) + i);
  st(pu(2) + i, ld(pu(1) + i) * (1.0 - y * y));
}

@compute @workgroup_size(${MAP_WG})
fn ew_sigmoid_fwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid, ${MAP_WG}u);
  if (i >= pu(2)) { return; }
  st(pu(1) + i, 1.0 / (1.0 + ew_exp(-ld(pu(0) + i))));
}

@compute @workgroup_size(${MAP_WG})
fn ew_sigmoid_bwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid, ${MAP_WG}u);
  if (i >= pu(3)) { return; }
  let y = ld(pu(0) + i);
  st(pu(2) + i, ld(pu(1) + i) * (y * (1.0 - y)));
}

// Only a value below 0 is replaced (f32x4.pmax(x, 0)): -0 and NaN pass through bit for bit.
@compute @workgroup_size(${MAP_WG})
fn ew_relu_fwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid, ${MAP_WG}u);
  if (i >= pu(2)) { return; }
  let b = heap[pu(0) + i];
  heap[pu(1) + i] = select(b, 0u, bitcast<f32>(b) < 0.0);
}

@compute @workgroup_size(${MAP_WG})
fn ew_relu_bwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid, ${MAP_WG}u);
  if (i >= pu(3)) { return; }
  heap[pu(2) + i] = select(0u, heap[pu(1) + i], ld(pu(0) + i) > 0.0);
}

// pu: grad, param, n; pf(3): step.
@compute @workgroup_size(${MAP_WG})
fn ew_sgd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid, ${MAP_WG}u);
  if (i >= pu(2)) { return; }
  let p = pu(1) + i;
  st(p, ld(p) - ld(pu(0) + i) * pf(3));
}

// pu: grad, param, n; pf(3): step, pf(4): weight decay.
@compute @workgroup_size(${MAP_WG})
fn ew_sgd_decay(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid, ${MAP_WG}u);
  if (i >= pu(2)) { return; }
  let pi = pu(1) + i;
  let p = ld(pi);
  st(pi, p - (ld(pu(0) + i) + p * pf(4)) * pf(3));
}

// pu: grad, param, velocity, n, nesterov; pf(5): step, pf(6): momentum, pf(7): weight decay.
@compute @workgroup_size(${MAP_WG})
fn ew_momentum(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid, ${MAP_WG}u);
  if (i >= pu(3)) { return; }
  let mu = pf(6);
  let pi = pu(1) + i;
  let vi = pu(2) + i;
  let p = ld(pi);
  let g = ld(pu(0) + i) + p * pf(7);
  let v = ld(vi) * mu + g;
  st(vi, v);
  var d = v;
  if (pu(4) != 0u) {
    d = g + v * mu;
  }
  st(pi, p - d * pf(5));
}

// pu: grad, param, m, v, n; pf(5..10): step_size, beta1, beta2, epsilon, weight decay,
// inv_sqrt_bias2. 1 - beta is rounded to f32 before use, as Rust's (1.0 - beta1).
@compute @workgroup_size(${MAP_WG})
fn ew_adam(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid, ${MAP_WG}u);
  if (i >= pu(4)) { return; }
  let b1 = pf(6);
  let b2 = pf(7);
  let pi = pu(1) + i;
  let mi = pu(2) + i;
  let vi = pu(3) + i;
  let p = ld(pi);
  let g = ld(pu(0) + i) + p * pf(9);
  let m = ld(mi) * b1 + g * (1.0 - b1);
  let v = ld(vi) * b2 + (g * g) * (1.0 - b2);
  st(mi, m);
  st(vi, v);
  let denom = sqrt(v) * pf(10) + pf(8);
  st(pi, p - (pf(5) * m) / denom);
}

// ---- softmax: pu(0) in (x or y), pu(1) delta (backward only), pu(2) out, pu(3) rows, pu(4) cols.

// pmax's rule (b wins only when a < b): the max is the same value whichever order it is taken in.
fn ew_max(a: f32, b: f32) -> f32 {
  return select(a, b, a < b);
}

// Short rows: one invocation walks its row in order, as the scalar twin.
@compute @workgroup_size(${MAP_WG})
fn ew_softmax_fwd_serial(@builtin(workgroup_id) wid: vec3<u32>,
                         @builtin(num_workgroups) nwg: vec3<u32>,
                         @builtin(local_invocation_index) lid: u32) {
  let r = linear_id(wid, nwg, lid, ${MAP_WG}u);
  let cols = pu(4);
  if (r >= pu(3)) { return; }
  let x = pu(0) + r * cols;
  let y = pu(2) + r * cols;
  var m = ld(x);
  for (var j = 1u; j < cols; j++) {
    m = ew_max(m, ld(x + j));
  }
  var s = 0.0;
  for (var j = 0u; j < cols; j++) {
    let e = ew_exp(ld(x + j) - m);
    st(y + j, e);
    s += e;
  }
  for (var j = 0u; j < cols; j++) {
    st(y + j, ld(y + j) / s);
  }
}

@compute @workgroup_size(${MAP_WG})
fn ew_softmax_bwd_serial(@builtin(workgroup_id) wid: vec3<u32>,
                         @builtin(num_workgroups) nwg: vec3<u32>,
                         @builtin(local_invocation_index) lid: u32) {
  let r = linear_id(wid, nwg, lid, ${MAP_WG}u);
  let cols = pu(4);
  if (r >= pu(3)) { return; }
  let y = pu(0) + r * cols;
  let d = pu(1) + r * cols;
  let dx = pu(2) + r * cols;
  var dot = 0.0;
  for (var j = 0u; j < cols; j++) {
    dot += ld(d + j) * ld(y + j);
  }
  for (var j = 0u; j < cols; j++) {
    st(dx + j, ld(y + j) * (ld(d + j) - dot));
  }
}

var<workgroup> ew_red: array<f32, ${ROW_WG}>;

// Tree reductions over the workgroup: a fixed pairing, so the same bits on every run. The last
// barrier keeps the next reduction's first writes from racing this one's final read.
fn ew_reduce_max(lid: u32, v: f32) -> f32 {
  ew_red[lid] = v;
  workgroupBarrier();
  for (var s = ${ROW_WG / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) {
      ew_red[lid] = ew_max(ew_red[lid], ew_red[lid + s]);
    }
    workgroupBarrier();
  }
  let out = ew_red[0];
  workgroupBarrier();
  return out;
}

fn ew_reduce_sum(lid: u32, v: f32) -> f32 {
  ew_red[lid] = v;
  workgroupBarrier();
  for (var s = ${ROW_WG / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) {
      ew_red[lid] = ew_red[lid] + ew_red[lid + s];
    }
    workgroupBarrier();
  }
  let out = ew_red[0];
  workgroupBarrier();
  return out;
}

// Long rows: a workgroup per row, each invocation taking the columns lid, lid + ${ROW_WG}, ...
// (it rereads only the y entries it wrote itself). Past ${ROW_GROUPS} rows the groups loop over
// rows r, r + ${ROW_GROUPS}, ...: the loop bound is uniform, so the barriers inside stay legal.
@compute @workgroup_size(${ROW_WG})
fn ew_softmax_fwd_row(@builtin(workgroup_id) wid: vec3<u32>,
                      @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) lid: u32) {
  let cols = pu(4);
  for (var r = wid.x; r < pu(3); r += nwg.x) {
    let x = pu(0) + r * cols;
    let y = pu(2) + r * cols;
    // The row's first value seeds every lane: -inf has no WGSL literal, and max is idempotent.
    var m = ld(x);
    for (var j = lid; j < cols; j += ${ROW_WG}u) {
      m = ew_max(m, ld(x + j));
    }
    m = ew_reduce_max(lid, m);
    var s = 0.0;
    for (var j = lid; j < cols; j += ${ROW_WG}u) {
      let e = ew_exp(ld(x + j) - m);
      st(y + j, e);
      s += e;
    }
    s = ew_reduce_sum(lid, s);
    for (var j = lid; j < cols; j += ${ROW_WG}u) {
      st(y + j, ld(y + j) / s);
    }
  }
}

@compute @workgroup_size(${ROW_WG})
fn ew_softmax_bwd_row(@builtin(workgroup_id) wid: vec3<u32>,
                      @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) lid: u32) {
  let cols = pu(4);
  for (var r = wid.x; r < pu(3); r += nwg.x) {
    let y = pu(0) + r * cols;
    let d = pu(1) + r * cols;
    let dx = pu(2) + r * cols;
    var dot = 0.0;
    for (var j = lid; j < cols; j += ${ROW_WG}u) {
      dot += ld(d + j) * ld(y + j);
    }
    dot = ew_reduce_sum(lid, dot);
    for (var j = lid; j < cols; j += ${ROW_WG}u) {
      st(dx + j, ld(y + j) * (ld(d + j) - dot));
    }
  }
}

// ---- counts: pass 1 writes one u32 per workgroup, pass 2 adds them (integer sums are exact, so
// any fixed order gives the same count).

var<workgroup> ew_cnt: array<u32, ${COUNT_WG}>;

fn ew_reduce_count(lid: u32, v: u32) -> u32 {
  ew_cnt[lid] = v;
  workgroupBarrier();
  for (var s = ${COUNT_WG / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) {
      ew_cnt[lid] = ew_cnt[lid] + ew_cnt[lid + s];
    }
    workgroupBarrier();
  }
  return ew_cnt[0];
}

// NaN and ±Inf are told apart by their exponent bits, not float compares, which a GPU compiler
// may assume never see NaN. mode 0: non-finite; mode 1: outside [lo, hi] (NaN x, lo or hi
// counts as outside, as !(x >= lo && x <= hi) does in Rust).
fn ew_counts(b: u32, mode: u32, lo: f32, hi: f32, bounds_nan: bool) -> u32 {
  if (mode == 0u) {
    return select(0u, 1u, (b & 0x7f800000u) == 0x7f800000u);
  }
  let v = bitcast<f32>(b);
  let nan = (b & 0x7fffffffu) > 0x7f800000u;
  return select(0u, 1u, nan || bounds_nan || !(v >= lo && v <= hi));
}

// pu: x, n, mode, out, bounds_nan; pf(5): lo, pf(6): hi. Grid-stride over x.
@compute @workgroup_size(${COUNT_WG})
fn ew_count_partial(@builtin(workgroup_id) wid: vec3<u32>,
                    @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
  let x = pu(0);
  let n = pu(1);
  let mode = pu(2);
  let lo = pf(5);
  let hi = pf(6);
  let bounds_nan = pu(4) != 0u;
  let stride = nwg.x * ${COUNT_WG}u;
  var c = 0u;
  for (var i = wid.x * ${COUNT_WG}u + lid; i < n; i += stride) {
    c += ew_counts(heap[x + i], mode, lo, hi, bounds_nan);
  }
  let total = ew_reduce_count(lid, c);
  if (lid == 0u) {
    heap[pu(3) + wid.x] = total;
  }
}

// pu: partials, count, out. One workgroup.
@compute @workgroup_size(${COUNT_WG})
fn ew_count_final(@builtin(local_invocation_index) lid: u32) {
  let src = pu(0);
  let n = pu(1);
  var c = 0u;
  for (var i = lid; i < n; i += ${COUNT_WG}u) {
    c += heap[src + i];
  }
  let total = ew_reduce_count(lid, c);
  if (lid == 0u) {
    heap[pu(2)] = total;
  }
}
`;

/** One dispatch over `n` elements of a map entry, or none for n = 0. */
function map(
  entry: string,
  u: readonly number[],
  n: number,
  fl: readonly number[] = [],
): Dispatch[] {
  if (n === 0) return [];
  return [{ entry, params: words(u, fl), groups: groups1d(n, MAP_WG) }];
}

/** Softmax over rows: serial rows when short, else a workgroup per row (looping past ROW_GROUPS). */
function rows(
  serial: string,
  wide: string,
  u: readonly number[],
  r: number,
  c: number,
): Dispatch[] {
  if (r === 0 || c === 0) return [];
  if (c <= ROW_SERIAL_COLS)
    return [{ entry: serial, params: words(u), groups: groups1d(r, MAP_WG) }];
  return [{ entry: wide, params: words(u), groups: [Math.min(r, ROW_GROUPS), 1, 1] }];
}

/**
 * A count: one partial pass whose groups each loop over the data, then a final pass over the
 * partials; a single group writes the result slot itself.
 */
function count(ctx: PlanContext, x: number, n: number, mode: number, lo = 0, hi = 0): Dispatch[] {
  if (n === 0) return [];
  const g = Math.max(1, Math.min(COUNT_GROUPS, Math.ceil(n / COUNT_WG), ctx.scratchWords));
  const boundsNan = Number.isNaN(lo) || Number.isNaN(hi) ? 1 : 0;
  const first: Dispatch = {
    entry: 'ew_count_partial',
    params: words([w(x), n, mode, g === 1 ? ctx.result : ctx.scratch, boundsNan], [lo, hi]),
    groups: [g, 1, 1],
  };
  if (g === 1) return [first];
  const final: Dispatch = {
    entry: 'ew_count_final',
    params: words([ctx.scratch, g, ctx.result]),
    groups: [1, 1, 1],
  };
  return [first, final];
}

const plans: GpuFamily['plans'] = {
  tanh_forward: ([x, y, n]) => map('ew_tanh_fwd', [w(x!), w(y!), n!], n!),
  tanh_backward_delta: ([y, d, dx, n]) => map('ew_tanh_bwd', [w(y!), w(d!), w(dx!), n!], n!),
  sigmoid_forward: ([x, y, n]) => map('ew_sigmoid_fwd', [w(x!), w(y!), n!], n!),
  sigmoid_backward_delta: ([y, d, dx, n]) => map('ew_sigmoid_bwd', [w(y!), w(d!), w(dx!), n!], n!),
  relu_forward: ([x, y, n]) => map('ew_relu_fwd', [w(x!), w(y!), n!], n!),
  relu_backward_delta: ([x, d, dx, n]) => map('ew_relu_bwd', [w(x!), w(d!), w(dx!), n!], n!),
  softmax_forward: ([x, y, r, c]) =>
    rows('ew_softmax_fwd_serial', 'ew_softmax_fwd_row', [w(x!), 0, w(y!), r!, c!], r!, c!),
  softmax_backward_delta: ([y, d, dx, r, c]) =>
    rows('ew_softmax_bwd_serial', 'ew_softmax_bwd_row', [w(y!), w(d!), w(dx!), r!, c!], r!, c!),
  sgd_update: ([g, p, n, step]) => map('ew_sgd', [w(g!), w(p!), n!], n!, [step!]),
  sgd_decay_update: ([g, p, n, step, wd]) =>
    map('ew_sgd_decay', [w(g!), w(p!), n!], n!, [step!, wd!]),
  momentum_update: ([g, p, v, n, step, mu, wd, nesterov]) =>
    map('ew_momentum', [w(g!), w(p!), w(v!), n!, nesterov!], n!, [step!, mu!, wd!]),
  adam_update: ([g, p, m, v, n, stepSize, b1, b2, eps, wd, ib2]) =>
    map('ew_adam', [w(g!), w(p!), w(m!), w(v!), n!], n!, [stepSize!, b1!, b2!, eps!, wd!, ib2!]),
  non_finite_count: ([x, n], ctx) => count(ctx, x!, n!, 0),
  count_outside: ([x, n, lo, hi], ctx) => count(ctx, x!, n!, 1, lo!, hi!),
};

export const elementwiseFamily: GpuFamily = { code, plans };
