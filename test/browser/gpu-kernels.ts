// Runs every GPU kernel case (test/gpu/cases-*.ts) in the page: each case once on the WASM table
// and once on the WebGPU table, on the same seeded inputs, and reports the largest difference.
// `?cases=gemm,conv` restricts it to those families (GPU_CASES in test/webgpu.test.ts).
import { gpuBackend, heap, init, kernels, sync } from '../../ts/core/wasm.js';
import type { Kernels, Ptr } from '../../ts/core/wasm.js';
import type { CaseMemory, Fill, KernelCase, Region } from '../gpu/case.js';
import { cases as conv } from '../gpu/cases-conv.js';
import { cases as elementwise } from '../gpu/cases-elementwise.js';
import { cases as gemm } from '../gpu/cases-gemm.js';
import { cases as loss } from '../gpu/cases-loss.js';
import { cases as pool } from '../gpu/cases-pool.js';

const FAMILIES: Record<string, readonly KernelCase[]> = { gemm, conv, pool, loss, elementwise };

export interface CaseResult {
  family: string;
  name: string;
  kernel: string;
  err: number;
  tol: number;
  error?: string;
}

export interface KernelPage {
  adapter: { vendor: string; architecture: string };
  gpuEntries: string[];
  results: CaseResult[];
  error?: string;
}

// mulberry32 + Box-Muller: the same values on both runs of a case.
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function memory(k: Kernels, seed: number, owned: Array<[Ptr, number]>): CaseMemory {
  const next = rng(seed);
  const take = (words: number): Ptr => {
    const bytes = Math.max(16, Math.ceil((words * 4) / 16) * 16);
    const p = k.tl_alloc(bytes);
    if (p === 0) throw new Error('case: out of memory');
    owned.push([p, bytes]);
    return p;
  };
  const fill = (p: Ptr, n: number, f: Fill): void => {
    const v = new Float32Array(heap(), p, n);
    if (Array.isArray(f)) v.set(f as readonly number[]);
    else if (f === 'zeros') v.fill(0);
    else if (f === 'normal') {
      for (let i = 0; i < n; i++) {
        const u = Math.max(next(), 1e-12);
        v[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
      }
    } else {
      const [lo, hi] = (f as { uniform: readonly [number, number] }).uniform;
      for (let i = 0; i < n; i++) v[i] = lo + (hi - lo) * next();
    }
  };
  return {
    f32(n, f = 'normal') {
      const p = take(n);
      fill(p, n, f);
      return p;
    },
    u32(values) {
      const p = take(values.length);
      new Uint32Array(heap(), p, values.length).set(Array.from(values));
      return p;
    },
    u32zeros(n) {
      const p = take(n);
      new Uint32Array(heap(), p, n).fill(0);
      return p;
    },
  };
}

function read(r: Region): Float32Array | Uint32Array {
  return r.u32
    ? new Uint32Array(heap(), r.ptr, r.n).slice()
    : new Float32Array(heap(), r.ptr, r.n).slice();
}

function compare(
  a: Float32Array | Uint32Array,
  b: Float32Array | Uint32Array,
  u32: boolean,
): number {
  if (a.length !== b.length) return Infinity;
  if (u32) {
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return Infinity;
    return 0;
  }
  let scale = 0;
  for (let i = 0; i < a.length; i++)
    if (Number.isFinite(a[i]!)) scale = Math.max(scale, Math.abs(a[i]!));
  let err = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (Number.isNaN(x) && Number.isNaN(y)) continue;
    if (x === y) continue;
    const d = Math.abs(x - y);
    err = Math.max(err, Number.isNaN(d) ? Infinity : d / (1 + scale));
  }
  return err;
}

async function runCase(family: string, c: KernelCase, seed: number): Promise<CaseResult> {
  const gpu = gpuBackend()!;
  const tol = c.tol ?? 1e-5;
  const base = { family, name: c.name, kernel: c.kernel, tol };
  // The WASM run: the reference.
  const ownedA: Array<[Ptr, number]> = [];
  let want: Array<Float32Array | Uint32Array>;
  let wantValue = 0;
  try {
    const regions = c.run(gpu.hostKernels, memory(gpu.hostKernels, seed, ownedA));
    want = regions.map(read);
    if (c.returns !== undefined) {
      // Run once more for the value: `run` does not hand it back, so call through a spy table.
      wantValue = NaN;
    }
  } catch (e) {
    return { ...base, err: Infinity, error: `wasm: ${(e as Error).message}` };
  } finally {
    for (const [p, b] of ownedA) gpu.hostKernels.tl_free(p, b);
  }
  if (c.returns !== undefined) {
    const spy = spyTable(gpu.hostKernels, c.kernel, (v) => (wantValue = v));
    const owned: Array<[Ptr, number]> = [];
    try {
      c.run(spy, memory(gpu.hostKernels, seed, owned));
    } finally {
      for (const [p, b] of owned) gpu.hostKernels.tl_free(p, b);
    }
  }
  // The GPU run.
  const k = kernels();
  const ownedB: Array<[Ptr, number]> = [];
  try {
    await gpu.readLogRaw();
    let returned = NaN;
    const regions = c.run(
      spyTable(k, c.kernel, (v) => (returned = v)),
      memory(k, seed, ownedB),
    );
    // The log first: it holds the counts, which sync() would turn into errors.
    const log = await gpu.readLogRaw();
    await sync();
    let err = 0;
    regions.forEach((r, i) => {
      err = Math.max(err, compare(want[i]!, read(r), !!r.u32));
    });
    if (c.returns !== undefined) {
      // A call that planned no dispatch (n = 0) logs nothing: its value is the one returned.
      const got =
        log.length === 0
          ? returned
          : c.returns === 'u32'
            ? new Uint32Array(log.buffer)[log.length - 1]!
            : log[log.length - 1]!;
      const d =
        c.returns === 'u32'
          ? got === wantValue
            ? 0
            : Infinity
          : Number.isNaN(got) && Number.isNaN(wantValue)
            ? 0
            : Math.abs(got - wantValue) / (1 + Math.abs(wantValue));
      err = Math.max(err, Number.isNaN(d) ? Infinity : d);
    }
    return { ...base, err };
  } catch (e) {
    return { ...base, err: Infinity, error: `gpu: ${(e as Error).message}` };
  } finally {
    for (const [p, b] of ownedB) k.tl_free(p, b);
  }
}

function spyTable(k: Kernels, name: keyof Kernels, seen: (v: number) => void): Kernels {
  const fn = k[name] as (...a: number[]) => number;
  return {
    ...k,
    [name]: (...a: number[]) => {
      const v = fn(...a);
      seen(v);
      return v;
    },
  } as Kernels;
}

/** Runs the cases of the families in `only` (comma-separated; default all). Node runs it too
 * (test/gpu/node-run.ts). */
export async function runKernelCases(only: string | null): Promise<KernelPage> {
  await init({ backend: 'webgpu' });
  const gpu = gpuBackend()!;
  gpu.forceDevice = true;
  const families = only ? only.split(',') : Object.keys(FAMILIES);
  const results: CaseResult[] = [];
  let seed = 1;
  for (const f of families) {
    for (const c of FAMILIES[f] ?? []) results.push(await runCase(f, c, seed++));
  }
  return {
    adapter: { vendor: gpu.info.vendor, architecture: gpu.info.architecture },
    gpuEntries: gpu.gpuEntries(),
    results,
  };
}

const w = globalThis as unknown as { __result: KernelPage; location?: Location };
if (w.location !== undefined)
  void runKernelCases(new URLSearchParams(w.location.search).get('cases')).then(
    (r) => (w.__result = r),
    (e: unknown) =>
      (w.__result = {
        adapter: { vendor: '', architecture: '' },
        gpuEntries: [],
        results: [],
        error: (e as Error).stack ?? String(e),
      }),
  );
