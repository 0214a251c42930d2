// The contract between the WebGPU runtime (runtime.ts) and the kernel families' WGSL
// (gemm.ts, conv.ts, pool.ts, elementwise.ts). The GPU holds one storage buffer that mirrors
// WASM linear memory byte for byte (a tensor's pointer means the same place on both sides),
// followed by a device-only tail: a result slot (scalar returns) and scratch (multi-pass
// kernels). Each call of a kernel-table entry becomes one or more dispatches, planned in TS from
// the call's arguments; every dispatch sees the heap and a uniform of 32 words.

import type { Kernels } from '../wasm.js';

/**
 * WGSL every family's code starts with (the runtime prepends it). The heap is `array<u32>`, and
 * floats go through `bitcast`, so integer payloads (arg-max, row indices, labels) and float
 * payloads share one binding and a store never changes a bit pattern.
 */
export const PRELUDE = /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> heap: array<u32>;
struct Params { w: array<vec4<u32>, 8> }
@group(0) @binding(1) var<uniform> params: Params;
fn pu(i: u32) -> u32 { return params.w[i >> 2u][i & 3u]; }
fn pf(i: u32) -> f32 { return bitcast<f32>(pu(i)); }
fn ld(i: u32) -> f32 { return bitcast<f32>(heap[i]); }
fn st(i: u32, v: f32) { heap[i] = bitcast<u32>(v); }
// The linear index of an invocation in a grid from groups1d(): x runs fastest, then y.
fn linear_id(wid: vec3<u32>, nwg: vec3<u32>, lid: u32, size: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * size + lid;
}
`;

/** Words in a dispatch's uniform (`params.w`: 8 vec4<u32>). */
export const PARAM_WORDS = 32;

/** Where a plan may write besides the kernel's own arguments (indices in f32 words). */
export interface PlanContext {
  /** Word index of the result slot: a kernel returning a number writes it here (f32, or u32 for counts). */
  readonly result: number;
  /** Word index of the first scratch word (device-only, contents unspecified between calls). */
  readonly scratch: number;
  /** Scratch words available. */
  readonly scratchWords: number;
}

/** One dispatch of one kernel call. */
export interface Dispatch {
  /** The entry point in the family's WGSL. */
  readonly entry: string;
  /** The uniform: at most PARAM_WORDS words, from `words()`. */
  readonly params: Uint32Array;
  /** Workgroups in x, y, z (each at most 65535). */
  readonly groups: readonly [number, number, number];
}

/** Turns a call's arguments (exactly as the WASM export receives them) into dispatches. */
export type GpuPlan = (args: readonly number[], ctx: PlanContext) => Dispatch[];

/** A family of kernels: its WGSL (without the prelude) and a plan per kernel-table entry. */
export interface GpuFamily {
  readonly code: string;
  readonly plans: Partial<Record<keyof Kernels, GpuPlan>>;
}

/**
 * Packs a uniform: `u` words first (pointers already turned into word indices with `>>> 2`,
 * sizes, flags), then `f` as f32 bit patterns, so WGSL reads `pu(0..u.length-1)` and
 * `pf(u.length..)`.
 */
export function words(u: readonly number[], f: readonly number[] = []): Uint32Array {
  if (u.length + f.length > PARAM_WORDS) {
    throw new Error(`gpu words: ${u.length + f.length} words, at most ${PARAM_WORDS}`);
  }
  const out = new Uint32Array(PARAM_WORDS);
  const asF32 = new Float32Array(out.buffer);
  for (let i = 0; i < u.length; i++) out[i] = u[i]! >>> 0;
  for (let i = 0; i < f.length; i++) asF32[u.length + i] = f[i]!;
  return out;
}

/** The most workgroups in one dimension (WebGPU's default limit). */
export const MAX_GROUPS = 65535;

/**
 * Workgroups for `n` invocations of `size` each, folded into y past 65535 groups; WGSL recovers
 * the index with `linear_id(wid, nwg, lid, size)` and returns when it is `>= n`.
 */
export function groups1d(n: number, size: number): [number, number, number] {
  const g = Math.max(1, Math.ceil(n / size));
  if (g <= MAX_GROUPS) return [g, 1, 1];
  return [MAX_GROUPS, Math.ceil(g / MAX_GROUPS), 1];
}

/** A byte pointer as a heap word index. */
export function w(ptr: number): number {
  return ptr >>> 2;
}
