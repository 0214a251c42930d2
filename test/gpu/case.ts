// One GPU kernel check: a case builds its inputs in WASM memory, calls one kernel-table entry,
// and names the regions the call wrote. The page (test/browser/gpu-kernels.ts) runs every case
// twice on the same seeded inputs, once on the WASM table and once on the WebGPU table, and
// compares what each wrote (and the returned number, for losses and counts).
import type { Kernels, Ptr } from '../../ts/core/wasm.js';

/** How a case's buffer starts: seeded normal(0, 1), zeros, uniform in [lo, hi), or these values. */
export type Fill = 'normal' | 'zeros' | { uniform: readonly [number, number] } | readonly number[];

/** Seeded buffers for one run of a case (freed by the page after the run). */
export interface CaseMemory {
  /** `n` floats, filled as `fill` says (default 'normal'); the same values on both runs. */
  f32(n: number, fill?: Fill): Ptr;
  /** Unsigned 32-bit words (indices, labels, arg-max). */
  u32(values: ArrayLike<number>): Ptr;
  /** `n` words of room for a kernel to write u32s into (zeros). */
  u32zeros(n: number): Ptr;
}

/** A region a call wrote: `n` words at `ptr`, floats unless `u32`. */
export interface Region {
  ptr: Ptr;
  n: number;
  u32?: boolean;
}

export interface KernelCase {
  /** What is checked, e.g. 'gemm a·bᵀ 7x13x5 beta 1'. */
  name: string;
  /** The kernel-table entry the case calls (the page checks every GPU entry has a case). */
  kernel: keyof Kernels;
  /** Allocates, fills, calls `k[kernel](...)` once, and returns the regions it wrote. */
  run(k: Kernels, m: CaseMemory): Region[];
  /** The entry returns a number to compare: 'f32' (losses) or 'u32' (counts). */
  returns?: 'f32' | 'u32';
  /** Allowed |gpu - wasm| / (1 + max |wasm|) over each region; default 1e-5. u32 regions match exactly. */
  tol?: number;
}
