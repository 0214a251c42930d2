// The page of the browser bench (bench/webgpu.ts bundles and serves it): the tasks the URL names
// (`?backend=webgpu|wasm&tasks=W1,W4,gemm`) on one backend, since the backend is chosen once per
// thread by `init`; one page runs them all, so each GPU pipeline is compiled once. A workload
// trains as the Node bench's BenchStepper does (same initial weights, batch orders and step) and
// records each epoch's time and mean loss; each epoch's clock stops only after `readLosses()` and
// `sync()`, because GPU work is queued and timing without waiting for it measures nothing.
// `gemm` times the GEMM entry of the kernel table on the Node bench's shapes. Each task's result
// is appended to `window.__results` as it finishes (a timeout keeps those before it), then
// `window.__done` is set.
import * as tl from '../ts/index.js';
import { kernels } from '../ts/core/wasm.js';
import { BenchStepper, W6, WORKLOADS, batchOrder } from './workloads.js';

/** What bench/webgpu.ts writes next to the page as job.json. */
export interface PageJob {
  seed: number;
  workloads: Record<string, { epochs: number; batchesPerEpoch: number | null }>;
  gemm: { shapes: Array<{ m: number; k: number; n: number }>; runs: number; minMs: number };
}

/** The adapter as the page sees it; `fallback` is the browser's software-adapter flag (null where
 * the browser does not say), read from a second adapter request (the same default options). */
export interface AdapterInfo extends tl.GpuInfo {
  fallback: boolean | null;
}

/** One workload trained on one backend. */
export interface WorkloadRun {
  id: string;
  steps: number;
  samplesPerEpoch: number;
  /** Wall milliseconds of every epoch, each ended by a read of its losses and a sync. */
  epochMs: number[];
  /** Mean of the epoch's step losses. */
  epochLoss: number[];
  /** Milliseconds from the task's start to its first step (data fetch, building the network). */
  setupMs: number;
}

/** GFLOP/s of the three GEMM forms on one shape (as bench/gemm.ts's GemmResult). */
export interface GemmRun {
  m: number;
  k: number;
  n: number;
  nn: number;
  nt: number;
  tn: number;
}

/** One task's result on one backend. */
export interface PageResult {
  task: string;
  backend: tl.Backend;
  adapter: AdapterInfo | null;
  workload?: WorkloadRun;
  gemm?: GemmRun[];
  error?: string;
}

async function adapterInfo(): Promise<AdapterInfo | null> {
  const info = tl.gpuInfo();
  if (info === null) return null;
  // The runtime's info has no fallback flag; a second adapter request from the same browser
  // answers it (`info.isFallbackAdapter` in current Chromium, `isFallbackAdapter` before).
  const nav = navigator as Navigator & { gpu?: GPU };
  const a = (await nav.gpu?.requestAdapter()) as
    | (GPUAdapter & { isFallbackAdapter?: boolean; info?: { isFallbackAdapter?: boolean } })
    | null
    | undefined;
  const fallback = a?.info?.isFallbackAdapter ?? a?.isFallbackAdapter ?? null;
  return { ...info, fallback };
}

async function fetchFloats(name: string): Promise<Float32Array> {
  const r = await fetch(name);
  if (!r.ok) throw new Error(`fetch ${name}: HTTP ${r.status}`);
  return new Float32Array(await r.arrayBuffer());
}

async function trainWorkload(job: PageJob, id: string): Promise<WorkloadRun> {
  const w = [...WORKLOADS, W6].find((v) => v.id === id);
  const plan = job.workloads[id];
  if (w === undefined || plan === undefined) throw new Error(`no workload ${id}`);
  const start = performance.now();
  const labels = await fetchFloats(`${w.data}-y.bin`);
  const n = labels.length;
  const x = tl.Tensor.from(await fetchFloats(`${w.data}-x.bin`), [n, ...w.inputShape]);
  const y = w.loss === 'bce' ? x : tl.Tensor.from(labels, [n]);
  const stepper = new BenchStepper(w, { x, y }, job.seed);
  const full = Math.floor(n / w.batch);
  const steps = Math.min(full, plan.batchesPerEpoch ?? full);
  const run: WorkloadRun = {
    id,
    steps,
    samplesPerEpoch: steps * w.batch,
    epochMs: [],
    epochLoss: [],
    setupMs: performance.now() - start,
  };
  try {
    for (let e = 0; e < plan.epochs; e++) {
      const order = batchOrder(n, job.seed, e);
      const here: number[] = [];
      const epochStart = performance.now();
      for (let s = 0; s < steps; s++) here.push(stepper.step(order, s * w.batch));
      // The GPU returned NaN per step and logged the losses; WASM returned them.
      const logged = await tl.readLosses();
      await tl.sync();
      run.epochMs.push(performance.now() - epochStart);
      const losses = tl.backend() === 'webgpu' ? Array.from(logged) : here;
      if (losses.length !== steps)
        throw new Error(`${id} epoch ${e + 1}: expected ${steps} losses, got ${losses.length}`);
      run.epochLoss.push(losses.reduce((a, b) => a + b, 0) / steps);
      console.log(
        `${id} ${tl.backend()} epoch ${e + 1}/${plan.epochs}: ${(run.epochMs[e]! / 1000).toFixed(2)} s, loss ${run.epochLoss[e]!.toPrecision(6)}`,
      );
    }
  } finally {
    // A failed task leaves nothing behind for the next one.
    stepper.dispose();
    if (y !== x) y.dispose();
    x.dispose();
  }
  return run;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Seconds per call of `f`: median of `runs` timings of enough calls to last `minMs`, each timing
 * ended by a sync (which also reads c back once: a small share once the calls last `minMs`). */
async function secondsPerCall(f: () => void, runs: number, minMs: number): Promise<number> {
  f(); // the pipeline's first use compiles it
  await tl.sync();
  let reps = 1;
  for (;;) {
    const start = performance.now();
    for (let i = 0; i < reps; i++) f();
    await tl.sync();
    const dt = performance.now() - start;
    if (dt >= minMs) break;
    reps *= dt < minMs / 8 ? 8 : 2;
  }
  const times: number[] = [];
  for (let r = 0; r < runs; r++) {
    const start = performance.now();
    for (let i = 0; i < reps; i++) f();
    await tl.sync();
    times.push((performance.now() - start) / 1000 / reps);
  }
  return median(times);
}

async function gemmRates(job: PageJob): Promise<GemmRun[]> {
  const k = kernels();
  const out: GemmRun[] = [];
  for (const s of job.gemm.shapes) {
    const values = (count: number): tl.Tensor =>
      tl.Tensor.from(
        Float32Array.from({ length: count }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5),
        [count],
      );
    const [a, b, c] = [values(s.m * s.k), values(s.k * s.n), values(s.m * s.n)];
    // bench/gemm.ts's three forms: a·b, a·bᵀ (b stored [n, k]), c += aᵀ·b (a stored [k, m]).
    const forms = [
      () => k.gemm(a.ptr, b.ptr, c.ptr, s.m, s.k, s.n, s.k, 1, s.n, 1, 0),
      () => k.gemm(a.ptr, b.ptr, c.ptr, s.m, s.k, s.n, s.k, 1, 1, s.k, 0),
      () => k.gemm(a.ptr, b.ptr, c.ptr, s.m, s.k, s.n, 1, s.m, s.n, 1, 1),
    ];
    const rates: number[] = [];
    for (const f of forms) {
      const sec = await secondsPerCall(f, job.gemm.runs, job.gemm.minMs);
      rates.push((2 * s.m * s.k * s.n) / sec / 1e9);
    }
    for (const t of [a, b, c]) t.dispose();
    out.push({ ...s, nn: rates[0]!, nt: rates[1]!, tn: rates[2]! });
    console.log(
      `gemm ${tl.backend()} ${s.m}x${s.k}x${s.n}: ${rates.map((r) => r.toFixed(1)).join(' / ')} GFLOP/s`,
    );
  }
  return out;
}

const page = window as unknown as { __results: PageResult[]; __done: boolean };
page.__results = [];

async function main(): Promise<void> {
  const params = new URLSearchParams(location.search);
  const backend = params.get('backend') === 'webgpu' ? 'webgpu' : 'wasm';
  const tasks = (params.get('tasks') ?? '').split(',').filter((t) => t !== '');
  let adapter: AdapterInfo | null = null;
  let job: PageJob | null = null;
  let failed: string | null = null;
  try {
    await tl.init({ backend });
    adapter = await adapterInfo();
    job = (await (await fetch('job.json')).json()) as PageJob;
  } catch (e) {
    failed = message(e);
  }
  for (const task of tasks) {
    const r: PageResult = { task, backend, adapter };
    try {
      if (failed !== null || job === null) throw new Error(failed ?? 'no job');
      if (task === 'gemm') r.gemm = await gemmRates(job);
      else r.workload = await trainWorkload(job, task);
    } catch (e) {
      r.error = message(e);
      console.log(`${task} ${backend}: ${r.error}`);
    }
    page.__results.push(r);
  }
}

const message = (e: unknown): string =>
  e instanceof Error ? `${e.name}: ${e.message}` : String(e);

void main().finally(() => (page.__done = true));
