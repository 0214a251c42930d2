// The pool family on WebGPU: the WGSL twins of crates/kernels/src/pool.rs, upsample.rs, the zero
// padding of conv.rs and the dropout products of activation.rs. Tensors are channels last,
// x [batch, height, width, c]; 1-D is height = kh = 1 (or sh = 1, top = bottom = 0).
//
//   maxpool{1,2}d_forward:  y[b, i, j, ch] = max over p < kh, q < kw of
//                           x[b, i·s + p, j·s + q, ch], out = (in - k) / s + 1 (0 when in < k);
//                           argmax = the flat index into x of the winner: the first in row-major
//                           window order on ties, the first NaN if the window has one.
//   maxpool_backward_delta: dx = 0, then dx[argmax[o]] += delta[o] for o = 0, 1, ... in order.
//   avgpool_forward:        y = (Σ_p Σ_q x[b, i·s + p, j·s + q, ch], from 0 in window order) / (kh·kw)
//   avgpool_backward_delta: dx[b, h, w, ch] = Σ over the windows (i, j) covering (h, w), in output
//                           order, of delta[b, i, j, ch] / (kh·kw); 0 where no window covers.
//   pad_forward:            y = x placed at (top, left) in [batch, top + h + bottom, left + w + right, c],
//                           zeros elsewhere;   pad_backward_delta: dx = that crop of delta.
//   upsample_forward:       y[b, i, j, ch] = x[b, i / sh, j / sw, ch];
//   upsample_backward_delta: dx[b, i, j, ch] = Σ_p Σ_q delta[b, i·sh + p, j·sw + q, ch] (from 0).
//   dropout_{forward,backward_delta}: out = in ⊙ mask (mask: f32, 0 or 1 / (1 - p)).
//
// Every kernel but the max-pool backward is one invocation per output element that gathers what
// the Rust loop would have added into it, in the same order and from the same 0, so sums match
// WASM bit for bit (an average's one division may differ by WGSL's division ulps). The max-pool
// forward compares order keys of the float bits instead of floats, so ties between -0 and +0,
// infinities, subnormals and NaNs follow the Rust rule exactly whatever the GPU's float compare
// does, and y is a bit copy of the winning input.
//
// maxpool_backward_delta is a scatter whose arguments carry no pooling geometry (only n_out,
// n_in, and argmax may point anywhere below n_in), so neither a gather per dx element nor a
// walk per (sample, channel) plane can be planned from them, and float atomics would make the
// sums' order vary. Instead the outputs are sorted by (argmax[o], o) with a bitonic sort in
// scratch (no atomics: compare-exchange stages, the short ones in workgroup memory), which
// groups each dx element's contributions in ascending o; then the first invocation of each group
// adds them in that order onto dx, zeroed first. That is the WASM loop's order for every dx
// element, so dx matches bit for bit, deterministically, for any argmax. Outputs beyond the
// scratch are sorted and added in chunks, in chunk order, which keeps the order. An argmax at or
// past n_in (the WASM entry refuses the call) is skipped rather than written out of bounds.

import type { Dispatch, GpuFamily, PlanContext } from './shader.js';
import { groups1d, w, words } from './shader.js';

/** Invocations per workgroup of the one-output-per-invocation kernels. */
const MAP_WG = 64;
/** Invocations per workgroup of the sort: each compare-exchanges one pair. */
const SORT_WG = 256;
/** Elements a workgroup sorts in workgroup memory (two per invocation: 4 KiB of keys and values). */
const SORT_BLOCK = 2 * SORT_WG;
/** Marks a padding slot of the sort: it sorts after every output. */
const SENTINEL = 0xffffffff;

const code = /* wgsl */ `
// ---- max pooling forward

fn pool_is_nan(b: u32) -> bool {
  return (b & 0x7fffffffu) > 0x7f800000u;
}

// A u32 that orders non-NaN floats as IEEE's < does: -0 and +0 map to one key (they compare
// equal, so the first stays the winner), negatives below positives, larger magnitudes outward.
fn pool_order(b: u32) -> u32 {
  if ((b & 0x7fffffffu) == 0u) {
    return 0x80000000u;
  }
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

// pu: x, y, argmax, n_out, height, width, c, kh, kw, stride, out_h, out_w.
@compute @workgroup_size(${MAP_WG})
fn pool_max_fwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
  let o = linear_id(wid, nwg, lid, ${MAP_WG}u);
  if (o >= pu(3)) { return; }
  let width = pu(5);
  let c = pu(6);
  let stride = pu(9);
  let out_h = pu(10);
  let out_w = pu(11);
  let ch = o % c;
  let r = o / c;
  let j = r % out_w;
  let i = (r / out_w) % out_h;
  let b = r / out_w / out_h;
  let first = ((b * pu(4) + i * stride) * width + j * stride) * c + ch;
  let x = pu(0);
  var best = heap[x + first];
  var best_idx = first;
  for (var p = 0u; p < pu(7); p++) {
    for (var q = 0u; q < pu(8); q++) {
      let idx = first + (p * width + q) * c;
      let v = heap[x + idx];
      // Rust: v > best || (v is NaN && best is not): a NaN best is never replaced.
      if (!pool_is_nan(best) && (pool_is_nan(v) || pool_order(v) > pool_order(best))) {
        best = v;
        best_idx = idx;
      }
    }
  }
  heap[pu(1) + o] = best;
  heap[pu(2) + o] = best_idx;
}

// ---- average pooling; pu as pool_max_fwd without argmax (x, y, n_out, height, ..., out_w),
// then pf(11): kh·kw as f32.

@compute @workgroup_size(${MAP_WG})
fn pool_avg_fwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
  let o = linear_id(wid, nwg, lid, ${MAP_WG}u);
  if (o >= pu(2)) { return; }
  let width = pu(4);
  let c = pu(5);
  let stride = pu(8);
  let out_h = pu(9);
  let out_w = pu(10);
  let ch = o % c;
  let r = o / c;
  let j = r % out_w;
  let i = (r / out_w) % out_h;
  let b = r / out_w / out_h;
  let first = pu(0) + ((b * pu(3) + i * stride) * width + j * stride) * c + ch;
  var s = 0.0;
  for (var p = 0u; p < pu(6); p++) {
    for (var q = 0u; q < pu(7); q++) {
      s += ld(first + (p * width + q) * c);
    }
  }
  st(pu(1) + o, s / pf(11));
}

// pu: delta, dx, n_in, height, width, c, kh, kw, stride, out_h, out_w; pf(11): kh·kw.
// The windows covering row h are i in [ceil((h + 1 - kh) / s), h / s] within [0, out_h): walked
// in ascending (i, j), the order in which the Rust loop adds into this element.
@compute @workgroup_size(${MAP_WG})
fn pool_avg_bwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
  let e = linear_id(wid, nwg, lid, ${MAP_WG}u);
  if (e >= pu(2)) { return; }
  let height = pu(3);
  let width = pu(4);
  let c = pu(5);
  let kh = pu(6);
  let kw = pu(7);
  let stride = pu(8);
  let out_h = pu(9);
  let out_w = pu(10);
  let count = pf(11);
  let ch = e % c;
  let r = e / c;
  let x = r % width;
  let h = (r / width) % height;
  let b = r / width / height;
  let i0 = select(0u, (h + 1u - kh + stride - 1u) / stride, h + 1u > kh);
  let i1 = min(h / stride + 1u, out_h);
  let j0 = select(0u, (x + 1u - kw + stride - 1u) / stride, x + 1u > kw);
  let j1 = min(x / stride + 1u, out_w);
  var s = 0.0;
  for (var i = i0; i < i1; i++) {
    for (var j = j0; j < j1; j++) {
      s += ld(pu(0) + ((b * out_h + i) * out_w + j) * c + ch) / count;
    }
  }
  st(pu(1) + e, s);
}

// ---- zero padding; pu: src, dst, n (dst elements), height, width, c, top, left, out_h, out_w.

// One invocation per element of the padded y: a bit copy of x inside, +0 outside.
@compute @workgroup_size(${MAP_WG})
fn pool_pad_fwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
  let o = linear_id(wid, nwg, lid, ${MAP_WG}u);
  if (o >= pu(2)) { return; }
  let height = pu(3);
  let width = pu(4);
  let c = pu(5);
  let top = pu(6);
  let left = pu(7);
  let out_h = pu(8);
  let out_w = pu(9);
  let ch = o % c;
  let r = o / c;
  let j = r % out_w;
  let i = (r / out_w) % out_h;
  let b = r / out_w / out_h;
  var v = 0u;
  if (i >= top && i - top < height && j >= left && j - left < width) {
    v = heap[pu(0) + ((b * height + i - top) * width + j - left) * c + ch];
  }
  heap[pu(1) + o] = v;
}

// One invocation per element of dx: a bit copy from the padded delta.
@compute @workgroup_size(${MAP_WG})
fn pool_pad_bwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
  let e = linear_id(wid, nwg, lid, ${MAP_WG}u);
  if (e >= pu(2)) { return; }
  let height = pu(3);
  let width = pu(4);
  let c = pu(5);
  let ch = e % c;
  let r = e / c;
  let j = r % width;
  let i = (r / width) % height;
  let b = r / width / height;
  heap[pu(1) + e] = heap[pu(0) + ((b * pu(8) + i + pu(6)) * pu(9) + j + pu(7)) * c + ch];
}

// ---- nearest upsampling; pu: src, dst, n (dst elements), height, width, c, sh, sw.

@compute @workgroup_size(${MAP_WG})
fn pool_up_fwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
  let o = linear_id(wid, nwg, lid, ${MAP_WG}u);
  if (o >= pu(2)) { return; }
  let height = pu(3);
  let width = pu(4);
  let c = pu(5);
  let out_h = height * pu(6);
  let out_w = width * pu(7);
  let ch = o % c;
  let r = o / c;
  let j = r % out_w;
  let i = (r / out_w) % out_h;
  let b = r / out_w / out_h;
  heap[pu(1) + o] = heap[pu(0) + ((b * height + i / pu(6)) * width + j / pu(7)) * c + ch];
}

@compute @workgroup_size(${MAP_WG})
fn pool_up_bwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
  let e = linear_id(wid, nwg, lid, ${MAP_WG}u);
  if (e >= pu(2)) { return; }
  let height = pu(3);
  let width = pu(4);
  let c = pu(5);
  let sh = pu(6);
  let sw = pu(7);
  let out_w = width * sw;
  let ch = e % c;
  let r = e / c;
  let j = r % width;
  let i = (r / width) % height;
  let b = r / width / height;
  var s = 0.0;
  for (var p = 0u; p < sh; p++) {
    let row = pu(0) + ((b * height + i) * sh + p) * out_w * c;
    for (var q = 0u; q < sw; q++) {
      s += ld(row + (j * sw + q) * c + ch);
    }
  }
  st(pu(1) + e, s);
}

// ---- dropout (both directions); pu: a, mask, out, n.

@compute @workgroup_size(${MAP_WG})
fn pool_mask_mul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid, ${MAP_WG}u);
  if (i >= pu(3)) { return; }
  st(pu(2) + i, ld(pu(0) + i) * ld(pu(1) + i));
}

// ---- max pooling backward: zero dx, sort outputs by (argmax, index), add each run in order.

// pu: dst, n.
@compute @workgroup_size(${MAP_WG})
fn pool_zero(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid, ${MAP_WG}u);
  if (i >= pu(1)) { return; }
  heap[pu(0) + i] = 0u;
}

// The sort key of output o is (argmax[o], o); a padding slot holds ${SENTINEL}u and sorts last.
fn pool_key(am: u32, e: u32) -> u32 {
  return select(heap[am + e], ${SENTINEL}u, e == ${SENTINEL}u);
}

fn pool_less(ka: u32, a: u32, kb: u32, b: u32) -> bool {
  return ka < kb || (ka == kb && a < b);
}

var<workgroup> pool_sk: array<u32, ${SORT_BLOCK}>;
var<workgroup> pool_sv: array<u32, ${SORT_BLOCK}>;

// pu: argmax, scratch, first output, outputs in the chunk, load mode, k_lo, k_hi, blocks.
// Runs the bitonic stages (k, j) for k = k_lo, 2·k_lo, ..., k_hi and j = min(k / 2, ${SORT_WG}) down
// to 1 on this workgroup's block of ${SORT_BLOCK} slots. Mode 0 starts the sort: slot t holds output
// first + t (padding past the chunk); mode 1 continues from scratch.
@compute @workgroup_size(${SORT_WG})
fn pool_sort_local(@builtin(workgroup_id) wid: vec3<u32>,
                   @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
  let am = pu(0);
  let scr = pu(1);
  let g = wid.y * nwg.x + wid.x;
  // A grid folded into y has spare workgroups; g is the same for the whole workgroup, so
  // returning keeps the barriers below in uniform control flow.
  if (g >= pu(7)) { return; }
  let block = g * ${SORT_BLOCK}u;
  for (var h = 0u; h < 2u; h++) {
    let t = lid + h * ${SORT_WG}u;
    var e = ${SENTINEL}u;
    if (pu(4) == 0u) {
      if (block + t < pu(3)) {
        e = pu(2) + block + t;
      }
    } else {
      e = heap[scr + block + t];
    }
    pool_sv[t] = e;
    pool_sk[t] = pool_key(am, e);
  }
  for (var k = pu(5); k <= pu(6); k <<= 1u) {
    for (var j = min(k >> 1u, ${SORT_WG}u); j > 0u; j >>= 1u) {
      workgroupBarrier();
      let p = 2u * j * (lid / j) + lid % j;
      let q = p + j;
      let ka = pool_sk[p];
      let a = pool_sv[p];
      let kb = pool_sk[q];
      let b = pool_sv[q];
      let ascending = ((block + p) & k) == 0u;
      if (pool_less(kb, b, ka, a) == ascending) {
        pool_sk[p] = kb;
        pool_sv[p] = b;
        pool_sk[q] = ka;
        pool_sv[q] = a;
      }
    }
  }
  workgroupBarrier();
  heap[scr + block + lid] = pool_sv[lid];
  heap[scr + block + lid + ${SORT_WG}u] = pool_sv[lid + ${SORT_WG}u];
}

// pu: argmax, scratch, slots / 2, k, j: one bitonic stage with j >= ${SORT_BLOCK}, a pair per invocation.
@compute @workgroup_size(${SORT_WG})
fn pool_sort_global(@builtin(workgroup_id) wid: vec3<u32>,
                    @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
  let t = linear_id(wid, nwg, lid, ${SORT_WG}u);
  if (t >= pu(2)) { return; }
  let am = pu(0);
  let scr = pu(1);
  let k = pu(3);
  let j = pu(4);
  let p = 2u * j * (t / j) + t % j;
  let q = p + j;
  let a = heap[scr + p];
  let b = heap[scr + q];
  let ka = pool_key(am, a);
  let kb = pool_key(am, b);
  // Ascending (p & k) == 0: swap when q's key is less; descending: when p's is.
  if (pool_less(kb, b, ka, a) == ((p & k) == 0u)) {
    heap[scr + p] = b;
    heap[scr + q] = a;
  }
}

// pu: argmax, delta, dx, scratch, outputs in the chunk, n_in. The first slot of each run of equal
// argmax adds the run's deltas (ascending output index) onto dx, as the WASM loop does.
@compute @workgroup_size(${MAP_WG})
fn pool_run_add(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
  let p = linear_id(wid, nwg, lid, ${MAP_WG}u);
  let n = pu(4);
  if (p >= n) { return; }
  let am = pu(0);
  let scr = pu(3);
  let to = heap[am + heap[scr + p]];
  if ((p > 0u && heap[am + heap[scr + p - 1u]] == to) || to >= pu(5)) { return; }
  let at = pu(2) + to;
  var s = ld(at);
  for (var q = p; q < n; q++) {
    let e = heap[scr + q];
    if (heap[am + e] != to) { break; }
    s += ld(pu(1) + e);
  }
  st(at, s);
}
`;

/** Rust's conv::out_len: windows of k at stride s in n (0 when none fits). */
function outLen(n: number, k: number, s: number): number {
  return n < k || s === 0 ? 0 : Math.floor((n - k) / s) + 1;
}

/** One-invocation-per-element dispatch over n elements, none when n is 0. */
function map(
  entry: string,
  u: readonly number[],
  n: number,
  f: readonly number[] = [],
): Dispatch[] {
  return n === 0 ? [] : [{ entry, params: words(u, f), groups: groups1d(n, MAP_WG) }];
}

function maxpool(
  x: number,
  y: number,
  am: number,
  batch: number,
  height: number,
  width: number,
  c: number,
  kh: number,
  kw: number,
  stride: number,
): Dispatch[] {
  const oh = outLen(height, kh, stride);
  const ow = outLen(width, kw, stride);
  const n = batch * oh * ow * c;
  return map('pool_max_fwd', [w(x), w(y), w(am), n, height, width, c, kh, kw, stride, oh, ow], n);
}

/** The largest power of two not above n (n >= 1). */
function floorPow2(n: number): number {
  return 2 ** Math.floor(Math.log2(n));
}

/** dx = 0, then per chunk of outputs that fits the scratch: sort by (argmax, o), add the runs. */
function maxpoolBackward(
  delta: number,
  am: number,
  dx: number,
  nOut: number,
  nIn: number,
  ctx: PlanContext,
): Dispatch[] {
  const out = map('pool_zero', [w(dx), nIn], nIn);
  if (nIn === 0 || nOut === 0) return out;
  const cap = floorPow2(ctx.scratchWords);
  if (cap < SORT_BLOCK)
    throw new Error(`gpu pool: ${ctx.scratchWords} scratch words, need ${SORT_BLOCK}`);
  const sortLocal = (blocks: number, u: readonly number[]): Dispatch => ({
    entry: 'pool_sort_local',
    params: words([...u, blocks]),
    groups: groups1d(blocks, 1),
  });
  for (let first = 0; first < nOut; first += cap) {
    const count = Math.min(cap, nOut - first);
    const slots = Math.max(SORT_BLOCK, 2 ** Math.ceil(Math.log2(count)));
    const blocks = slots / SORT_BLOCK;
    const base = [w(am), ctx.scratch, first, count];
    out.push(sortLocal(blocks, [...base, 0, 2, SORT_BLOCK]));
    for (let k = 2 * SORT_BLOCK; k <= slots; k *= 2) {
      for (let j = k / 2; j >= SORT_BLOCK; j /= 2) {
        out.push({
          entry: 'pool_sort_global',
          params: words([w(am), ctx.scratch, slots / 2, k, j]),
          groups: groups1d(slots / 2, SORT_WG),
        });
      }
      out.push(sortLocal(blocks, [...base, 1, k, k]));
    }
    out.push(...map('pool_run_add', [w(am), w(delta), w(dx), ctx.scratch, count, nIn], count));
  }
  return out;
}

const plans: GpuFamily['plans'] = {
  maxpool1d_forward: ([x, y, am, batch, length, c, k, stride]) =>
    maxpool(x!, y!, am!, batch!, 1, length!, c!, 1, k!, stride!),
  maxpool2d_forward: ([x, y, am, batch, height, width, c, kh, kw, stride]) =>
    maxpool(x!, y!, am!, batch!, height!, width!, c!, kh!, kw!, stride!),
  maxpool_backward_delta: ([delta, am, dx, nOut, nIn], ctx) =>
    maxpoolBackward(delta!, am!, dx!, nOut!, nIn!, ctx),
  avgpool_forward: ([x, y, batch, height, width, c, kh, kw, stride]) => {
    const oh = outLen(height!, kh!, stride!);
    const ow = outLen(width!, kw!, stride!);
    const n = batch! * oh * ow * c!;
    const u = [w(x!), w(y!), n, height!, width!, c!, kh!, kw!, stride!, oh, ow];
    return map('pool_avg_fwd', u, n, [kh! * kw!]);
  },
  avgpool_backward_delta: ([delta, dx, batch, height, width, c, kh, kw, stride]) => {
    const oh = outLen(height!, kh!, stride!);
    const ow = outLen(width!, kw!, stride!);
    const n = batch! * height! * width! * c!;
    // With no window (oh or ow 0, or stride 0) dx is all zeros; stride 1 keeps the WGSL's
    // division defined, and its window ranges are empty anyway.
    const s = stride! === 0 ? 1 : stride!;
    const u = [w(delta!), w(dx!), n, height!, width!, c!, kh!, kw!, s, oh, ow];
    return map('pool_avg_bwd', u, n, [kh! * kw!]);
  },
  pad_forward: ([x, y, batch, height, width, c, top, bottom, left, right]) => {
    const oh = top! + height! + bottom!;
    const ow = left! + width! + right!;
    const n = batch! * oh * ow * c!;
    return map('pool_pad_fwd', [w(x!), w(y!), n, height!, width!, c!, top!, left!, oh, ow], n);
  },
  pad_backward_delta: ([delta, dx, batch, height, width, c, top, bottom, left, right]) => {
    const oh = top! + height! + bottom!;
    const ow = left! + width! + right!;
    const n = batch! * height! * width! * c!;
    const u = [w(delta!), w(dx!), n, height!, width!, c!, top!, left!, oh, ow];
    return map('pool_pad_bwd', u, n);
  },
  upsample_forward: ([x, y, batch, height, width, c, sh, sw]) => {
    const n = batch! * height! * sh! * width! * sw! * c!;
    return map('pool_up_fwd', [w(x!), w(y!), n, height!, width!, c!, sh!, sw!], n);
  },
  upsample_backward_delta: ([delta, dx, batch, height, width, c, sh, sw]) => {
    const n = batch! * height! * width! * c!;
    return map('pool_up_bwd', [w(delta!), w(dx!), n, height!, width!, c!, sh!, sw!], n);
  },
  dropout_forward: ([x, mask, y, n]) => map('pool_mask_mul', [w(x!), w(mask!), w(y!), n!], n!),
  dropout_backward_delta: ([d, mask, dx, n]) =>
    map('pool_mask_mul', [w(d!), w(mask!), w(dx!), n!], n!),
};

export const poolFamily: GpuFamily = { code, plans };
