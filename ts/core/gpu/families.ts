// The WGSL kernel families the WebGPU backend runs, one file each, by kernel family as in
// crates/kernels/src: every entry of the kernel table but the allocator and the size queries.
import { convFamily } from './conv.js';
import { elementwiseFamily } from './elementwise.js';
import { gemmFamily } from './gemm.js';
import { lossFamily } from './loss.js';
import { poolFamily } from './pool.js';
import type { GpuFamily } from './shader.js';

export const GPU_FAMILIES: readonly GpuFamily[] = [
  gemmFamily,
  convFamily,
  poolFamily,
  lossFamily,
  elementwiseFamily,
];
