// `npm run bench` (full) and `npm run bench:quick` (CI smoke run, no thresholds): training
// throughput of torchlet against TF.js (wasm and cpu backends) and PyTorch CPU on workloads
// W1-W5, and GEMM GFLOP/s, all measured in this one process run on this machine. Same data,
// initial weights, batch order and learning rate for every framework; round 0 is warm-up; each
// figure is the median over rounds (a round is one epoch, replayed until it has run
// `minRoundSeconds`, and cut short after `roundSeconds`). Then the same on all cores: torchlet
// with data-parallel workers, PyTorch with its intra-op threads.
// Writes bench/results.json and bench/results.md (quick runs: bench/results-quick.*). The warm-up
// figure (epochs 2..E of an ordinary run in a fresh process, bench/warmup.ts) is part of both;
// `--warmup` runs it alone (bench/results-warmup.*). `--backend webgpu` runs the WebGPU backend's
// bench in Chromium instead (bench/webgpu.ts); `--backend wasm` is this one.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { availableCores, init, memory, stopWorkers, type Dataset } from '../ts/index.js';
import { autoWorkers } from '../ts/train/parallel.js';
import { type CoreProbe, coreSpeedLines, probeCores } from './cores.js';
import { GEMM_SHAPES, benchGemm, gemmTable, type GemmResult } from './gemm.js';
import { BenchStepper, WORKLOADS, batchOrder, workloadData, type Workload } from './workloads.js';
import { STEADY_SECONDS, WARMUP_EPOCHS, spawnWarmup, summarise, type WarmupRun } from './warmup.js';

const quick = process.argv.includes('--quick');
/** Measured rounds after the warm-up round, and the time cap of one round. */
const ROUNDS = quick ? 2 : 5;
const ROUND_SECONDS = quick ? 0.3 : 3;
/** A round replays its epoch's batch order until it has run this long: a digits epoch takes a few
 * milliseconds, too short to time (or for V8 to finish optimising) on its own. */
const MIN_ROUND_SECONDS = quick ? 0.1 : 0.5;
const SEED = 1;
/** The single-thread WASM SIMD128 multiply-add ceiling on the reference CPU (issue 5). */
const CEILING = 46;
const PYTHON = '/usr/bin/python3';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

interface Peer {
  rate: number | null;
  note?: string;
}

interface WorkloadResult {
  id: string;
  title: string;
  torchlet: number;
  gflops: number;
  wasmBytesAfterWarmup: number;
  wasmBytesAtEnd: number;
  /** 1-minute load average when torchlet's run of this workload started. */
  load: number;
  peers: Record<string, Peer>;
  /** The warm-up figure (see `warmupFigures`). */
  warmup?: WarmupFigure;
  /** All cores: torchlet with `workers` = the cores, PyTorch with as many threads. */
  allCores?: { cores: number; torchlet: number; auto: number; pytorch: number | null };
}

/** Epochs 2..E of an ordinary run in a fresh process, and the steady state after them. */
interface WarmupFigure {
  epochs: number;
  /** Fresh processes per framework; the figures are those of the median run (by `warm`). */
  runs: number;
  torchlet: Pick<WarmupRun, 'warm' | 'steady' | 'cpuWarm' | 'cpuSteady' | 'setupMs'> & {
    /** `warm` of every run. */
    all: number[];
  };
  pytorch: { warm: number; steady: number; all: number[] } | null;
}

/** torchlet samples/s per round: Optim.step on gathered batches, as sgd() runs them. */
function trainTorchlet(
  w: Workload,
  data: Dataset,
  orders: Uint32Array[],
  workers = 1,
): { rates: number[]; wasm: number[] } {
  const stepper = new BenchStepper(w, data, SEED, workers);
  const n = data.x.shape[0]!;
  const rates: number[] = [];
  const wasm: number[] = [];
  for (const order of orders) {
    const t0 = performance.now();
    let done = 0;
    do {
      for (let start = 0; start + w.batch <= n; start += w.batch) {
        stepper.step(order, start);
        done += w.batch;
        if (performance.now() - t0 > ROUND_SECONDS * 1000) break;
      }
    } while (performance.now() - t0 < MIN_ROUND_SECONDS * 1000);
    rates.push(done / ((performance.now() - t0) / 1000));
    wasm.push(memory().wasmBytes);
  }
  stepper.dispose();
  return { rates, wasm };
}

/** Everything a peer needs for one workload: data, torchlet's initial weights, the orders. */
function peerJob(w: Workload, data: Dataset, orders: Uint32Array[]) {
  const net = w.build(SEED);
  const weights = net.parameters().map((p) => p.value.toArray());
  net.dispose();
  return { n: data.x.shape[0]!, x: data.x.toArray(), y: data.y.toArray(), weights, orders };
}

/** Which BLAS Debian's alternatives point PyTorch at (reference BLAS is ~20x slower). */
function blasName(): string {
  const r = spawnSync('readlink', ['-f', '/etc/alternatives/libblas.so.3-x86_64-linux-gnu'], {
    encoding: 'utf8',
  });
  return r.status === 0 ? r.stdout.trim() : 'unknown';
}

function torchAvailable(): string | null {
  const r = spawnSync(PYTHON, ['-c', 'import torch; print(torch.__version__)'], {
    encoding: 'utf8',
  });
  return r.status === 0 ? r.stdout.trim() : null;
}

function runTorch(
  jobs: Array<{ w: Workload; job: ReturnType<typeof peerJob> }>,
  gemmShapes: typeof GEMM_SHAPES,
  warmup?: { epochs: number; steadySeconds: number },
  threads = 1,
) {
  const dir = mkdtempSync(join(tmpdir(), 'torchlet-bench-'));
  try {
    const write = (name: string, a: Float32Array | Uint32Array): string => {
      writeFileSync(join(dir, name), new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
      return name;
    };
    const workloads = jobs.map(({ w, job }) => {
      const orders = new Uint32Array(job.orders.length * job.n);
      job.orders.forEach((o, i) => orders.set(o, i * job.n));
      return {
        id: w.id,
        n: job.n,
        inputShape: w.inputShape,
        batch: w.batch,
        lr: w.lr,
        loss: w.loss,
        layers: w.layers,
        roundSeconds: ROUND_SECONDS,
        minRoundSeconds: MIN_ROUND_SECONDS,
        x: write(`${w.id}-x.bin`, job.x),
        y: write(`${w.id}-y.bin`, job.y),
        weights: job.weights.map((v, i) => write(`${w.id}-w${i}.bin`, v)),
        orders: write(`${w.id}-orders.bin`, orders),
        ...(warmup ? { warmup } : {}),
      };
    });
    const gemm = { shapes: gemmShapes, runs: quick ? 3 : 7, minMs: quick ? 10 : 40 };
    writeFileSync(
      join(dir, 'job.json'),
      JSON.stringify(gemmShapes.length > 0 ? { workloads, gemm } : { workloads }),
    );
    // `threads` everywhere (one, but for the all-cores row): PyTorch's intra-op pool and the BLAS.
    const env = {
      ...process.env,
      OMP_NUM_THREADS: String(threads),
      OPENBLAS_NUM_THREADS: String(threads),
      MKL_NUM_THREADS: String(threads),
      TORCH_BENCH_THREADS: String(threads),
    };
    const r = spawnSync(PYTHON, ['bench/torch_bench.py', dir], {
      encoding: 'utf8',
      maxBuffer: 1 << 24,
      env,
    });
    if (r.status !== 0) throw new Error(`torch_bench.py failed: ${r.stderr.slice(-2000)}`);
    return JSON.parse(r.stdout) as {
      version: string;
      threads: number;
      /** Samples/s per round, or with `warmup` seconds per epoch. */
      workloads: Record<string, number[]>;
      gemm?: Array<{ m: number; k: number; n: number; nn: number; nt: number; tn: number }>;
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Fresh processes per framework for the warm-up figure. */
const WARMUP_RUNS = quick ? 1 : 3;

/**
 * The warm-up figure of one workload: WARMUP_RUNS fresh Node processes train it as an ordinary
 * run (bench/warmup.ts: Optim.step, one epoch per order, E epochs, then the steady state), and
 * as many fresh Python processes do the same with PyTorch, alternating; the run with the median
 * epochs 2..E throughput of each is reported.
 */
function warmupFigures(
  w: Workload,
  job: ReturnType<typeof peerJob>,
  withTorch: boolean,
): WarmupFigure {
  const epochs = WARMUP_EPOCHS[w.id]!;
  const orders = Array.from({ length: epochs }, (_, e) => batchOrder(job.n, SEED, e));
  const ours: WarmupRun[] = [];
  const theirs: Array<{ warm: number; steady: number }> = [];
  for (let r = 0; r < WARMUP_RUNS; r++) {
    ours.push(spawnWarmup(w.id, 'optim'));
    if (!withTorch) continue;
    const seconds = runTorch([{ w, job: { ...job, orders } }], [], {
      epochs,
      steadySeconds: STEADY_SECONDS,
    }).workloads[w.id]!;
    const samples = Math.floor(job.n / w.batch) * w.batch;
    theirs.push(
      summarise(
        seconds.map((s) => s * 1000),
        epochs,
        samples,
      ),
    );
  }
  const mid = <T extends { warm: number }>(xs: T[]): T =>
    [...xs].sort((a, b) => a.warm - b.warm)[xs.length >> 1]!;
  const t = mid(ours);
  const p = theirs.length > 0 ? mid(theirs) : null;
  return {
    epochs,
    runs: WARMUP_RUNS,
    torchlet: {
      warm: t.warm,
      steady: t.steady,
      cpuWarm: t.cpuWarm,
      cpuSteady: t.cpuSteady,
      setupMs: t.setupMs,
      all: ours.map((r) => r.warm),
    },
    pytorch: p === null ? null : { ...p, all: theirs.map((r) => r.warm) },
  };
}

const pct = (a: number, b: number): string => `${((100 * a) / b).toFixed(0)} %`;

/** The warm-up table (markdown lines). */
function warmupTable(results: Array<{ id: string; warmup?: WarmupFigure }>): string[] {
  const lines = [
    `Warm-up: an ordinary run of E epochs (the issue's: W1 20, W2 5, W3 10, W4 2, W5 20) in a fresh process, throughput over epochs 2..E; steady = later epochs of the same process (${STEADY_SECONDS} s more), not replayed rounds. torchlet: the Optim.step loop, with the main thread's CPU time in brackets (which leaves out waiting for a core); PyTorch: the same loop, 1 thread. Median of ${WARMUP_RUNS} fresh processes each. Ratio = torchlet / PyTorch over epochs 2..E.`,
    '',
    '| workload | torchlet 2..E | steady | 2..E / steady (CPU) | PyTorch 2..E | steady | 2..E / steady | ratio 2..E |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of results) {
    const f = r.warmup;
    if (f === undefined) continue;
    const t = f.torchlet;
    const p = f.pytorch;
    const peer = p
      ? `${fmt(p.warm)} | ${fmt(p.steady)} | ${pct(p.warm, p.steady)} | ${ratio(t.warm, p.warm)}`
      : 'skipped (no torch) | — | — | —';
    lines.push(
      `| ${r.id}, ${f.epochs} epochs | ${fmt(t.warm)} | ${fmt(t.steady)} | ${pct(t.warm, t.steady)} (${pct(t.cpuWarm, t.cpuSteady)}) | ${peer} |`,
    );
  }
  return lines;
}

/** The all-cores table (markdown lines): torchlet's workers against PyTorch's best setting. */
function allCoresTable(results: WorkloadResult[], cores: number): string[] {
  const lines = [
    `All ${cores} cores: torchlet with \`workers: ${cores}\` (each step's batch split over ${cores} threads, one all-reduce per step) and PyTorch with ${cores} intra-op threads, measured like the table above, right after it. Best PyTorch = the faster of its 1-thread and ${cores}-thread figures. 'auto' = the count torchlet's default picks for this workload.`,
    '',
    `| workload | torchlet 1 | torchlet ${cores} workers | speed-up | 'auto' | PyTorch 1 thread | PyTorch ${cores} threads | torchlet ${cores} / best PyTorch |`,
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of results) {
    const a = r.allCores;
    if (a === undefined) continue;
    const py1 = r.peers['pytorch']?.rate ?? null;
    const best = py1 === null || a.pytorch === null ? (py1 ?? a.pytorch) : Math.max(py1, a.pytorch);
    lines.push(
      `| ${r.id} | ${fmt(r.torchlet)} | ${fmt(a.torchlet)} | ${ratio(a.torchlet, r.torchlet)} | ${a.auto} | ${fmt(py1)} | ${fmt(a.pytorch)} | ${ratio(a.torchlet, best)} |`,
    );
  }
  return lines;
}

/** `--warmup`: the warm-up figures alone, into bench/results-warmup.{json,md}. */
async function warmupOnly(): Promise<void> {
  await init();
  const started = new Date().toISOString();
  const loadAtStart = loadavg()[0]!;
  const probes: CoreProbe[] = [await probeCores('start')];
  const torchVersion = torchAvailable();
  const results: Array<{ id: string; warmup: WarmupFigure; load: number }> = [];
  for (const w of WORKLOADS) {
    const data = workloadData(w);
    const job = peerJob(w, data, []);
    data.dispose();
    const load = loadavg()[0]!;
    const f = warmupFigures(w, job, torchVersion !== null);
    results.push({ id: w.id, warmup: f, load });
    console.log(
      `${w.id}: torchlet ${fmt(f.torchlet.warm)} (${pct(f.torchlet.warm, f.torchlet.steady)} of steady), PyTorch ${fmt(f.pytorch?.warm)}, ratio ${ratio(f.torchlet.warm, f.pytorch?.warm ?? null)} (load ${load.toFixed(1)})`,
    );
  }
  const loadAtEnd = loadavg()[0]!;
  probes.push(await probeCores('end'));
  const md = [
    ...warmupTable(results),
    '',
    `Machine load (1-minute load average) at start ${loadAtStart.toFixed(1)}, at end ${loadAtEnd.toFixed(1)} on ${cpus().length} cores (per workload: ${results.map((r) => `${r.id} ${r.load.toFixed(1)}`).join(', ')}).`,
    '',
    ...coreSpeedLines(probes),
    ...(torchVersion === null
      ? []
      : ['', `PyTorch: ${torchVersion}, BLAS ${blasName()}, 1 thread.`]),
  ].join('\n');
  console.log(`\n${md}`);
  const cpu = cpus()[0]?.model ?? null;
  const json = {
    started,
    cpu,
    cores: cpus().length,
    node: process.versions.node,
    torch: torchVersion,
    loadAverage: { start: loadAtStart, end: loadAtEnd },
    coreSpeeds: probes,
    workloads: results,
  };
  writeFileSync('bench/results-warmup.json', `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(
    'bench/results-warmup.md',
    `# torchlet warm-up benchmark (${started})\n\n${cpu}, ${json.cores} cores, Node ${json.node}\n\n${md}\n`,
  );
  console.log('\nwrote bench/results-warmup.json and bench/results-warmup.md');
}

const fmt = (v: number | null | undefined, digits = 0): string =>
  v === null || v === undefined || !Number.isFinite(v)
    ? '—'
    : v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const ratio = (a: number, b: number | null): string =>
  b === null || !(b > 0) ? '—' : `${(a / b).toFixed(2)}x`;

async function main(): Promise<void> {
  await init();
  const started = new Date().toISOString();
  // Other processes on a 2-core machine halve every figure: record the load to judge a run by.
  const loadAtStart = loadavg()[0]!;
  console.log(
    `torchlet bench (${quick ? 'quick' : 'full'}): ${cpus()[0]?.model ?? '?'}, ${cpus().length} cores, Node ${process.versions.node}`,
  );

  // torchlet first, so its peak RSS is measured before TF.js loads. PyTorch (a child process)
  // runs right after torchlet on each workload and on the GEMMs, so each pair sees about the
  // same load from whatever else shares the machine.
  const torchVersion = torchAvailable();
  if (torchVersion === null)
    console.log(
      `PyTorch: skipped (${PYTHON} -c "import torch" failed; apt-get install python3-torch)`,
    );
  const gemmShapes = quick ? GEMM_SHAPES.slice(0, 3) : GEMM_SHAPES;
  const cores = availableCores();
  const probes: CoreProbe[] = [await probeCores('start')];
  const results: WorkloadResult[] = [];
  const jobs: Array<{ w: Workload; job: ReturnType<typeof peerJob> }> = [];
  for (const w of WORKLOADS) {
    const data = workloadData(w);
    const n = data.x.shape[0]!;
    const orders = Array.from({ length: ROUNDS + 1 }, (_, r) => batchOrder(n, SEED, r));
    const load = loadavg()[0]!;
    const { rates, wasm } = trainTorchlet(w, data, orders);
    const rate = median(rates.slice(1));
    const result: WorkloadResult = {
      id: w.id,
      title: w.title,
      torchlet: rate,
      gflops: (rate * w.flopsPerSample) / 1e9,
      wasmBytesAfterWarmup: wasm[0]!,
      wasmBytesAtEnd: wasm[wasm.length - 1]!,
      load,
      peers: {},
    };
    results.push(result);
    const job = { w, job: peerJob(w, data, orders) };
    jobs.push(job);
    data.dispose();
    console.log(`${w.id} torchlet: ${fmt(rate)} samples/s (load ${load.toFixed(1)})`);
    if (torchVersion !== null) {
      const torch = runTorch([job], []);
      result.peers['pytorch'] = { rate: median(torch.workloads[w.id]!.slice(1)) };
      console.log(`${w.id} pytorch: ${fmt(result.peers['pytorch'].rate)} samples/s`);
    }
    // All cores, right after: torchlet's data-parallel workers, PyTorch's intra-op threads.
    const again = workloadData(w);
    const all = median(trainTorchlet(w, again, orders, cores).rates.slice(1));
    const net = w.build(SEED);
    const auto = autoWorkers(net, [w.batch, ...w.inputShape], cores);
    net.dispose();
    again.dispose();
    const pyAll =
      torchVersion === null
        ? null
        : median(runTorch([job], [], undefined, cores).workloads[w.id]!.slice(1));
    result.allCores = { cores, torchlet: all, auto, pytorch: pyAll };
    probes.push(await probeCores(`after ${w.id}`));
    console.log(
      `${w.id} all ${cores} cores: torchlet ${fmt(all)} (${ratio(all, rate)} of 1 worker; 'auto' picks ${auto}), PyTorch ${fmt(pyAll)}`,
    );
  }
  const torchletRss = process.resourceUsage().maxRSS * 1024;
  const torchletWasm = memory().wasmBytes;

  benchGemm(gemmShapes.slice(0, 1), 3, 10); // tier-up warm-up of the GEMM code
  const gemm: GemmResult[] = benchGemm(gemmShapes, quick ? 3 : 7, quick ? 10 : 40);
  for (const r of gemm)
    console.log(
      `gemm ${r.m}x${r.k}x${r.n}: nn ${r.nn.toFixed(1)}, nt ${r.nt.toFixed(1)}, tn ${r.tn.toFixed(1)} GFLOP/s`,
    );
  const torch = torchVersion === null ? null : runTorch([], gemmShapes);

  // The warm-up figure: what an ordinary run gets before the JIT has settled (issue 13).
  for (const [i, { w, job }] of jobs.entries()) {
    results[i]!.warmup = warmupFigures(w, job, torchVersion !== null);
    const f = results[i]!.warmup!;
    console.log(
      `${w.id} warm-up, epochs 2..${f.epochs}: torchlet ${fmt(f.torchlet.warm)} (${pct(f.torchlet.warm, f.torchlet.steady)} of its steady state)` +
        (f.pytorch
          ? `, PyTorch ${fmt(f.pytorch.warm)} (${pct(f.pytorch.warm, f.pytorch.steady)}), ratio ${ratio(f.torchlet.warm, f.pytorch.warm)}`
          : ''),
    );
  }

  const tfjs = await import('./tfjs.js');
  const tfGemm: Record<string, Awaited<ReturnType<typeof tfjs.gemmTfjs>>> = {};
  for (const backend of ['wasm', 'cpu'] as const) {
    for (const [i, { w, job }] of jobs.entries()) {
      const key = `tfjs-${backend}`;
      if (quick && backend === 'cpu' && w.id === 'W4') {
        results[i]!.peers[key] = { rate: null, note: 'skipped in quick mode' };
        continue;
      }
      try {
        const rates = await tfjs.trainTfjs(
          backend,
          w,
          job.x,
          job.y,
          job.n,
          job.weights,
          job.orders,
          ROUND_SECONDS,
          MIN_ROUND_SECONDS,
        );
        results[i]!.peers[key] = { rate: median(rates.slice(1)) };
      } catch (e) {
        const msg = (e as Error).message.split('\n')[0]!.slice(0, 120);
        results[i]!.peers[key] = { rate: null, note: `fails: ${msg}` };
      }
      console.log(
        `${w.id} ${key}: ${results[i]!.peers[key]!.rate === null ? results[i]!.peers[key]!.note : fmt(results[i]!.peers[key]!.rate)}`,
      );
    }
    const shapes =
      backend === 'cpu' ? gemmShapes.filter((s) => s.m * s.k * s.n <= 512 ** 3) : gemmShapes;
    tfGemm[backend] = await tfjs.gemmTfjs(backend, shapes, quick ? 3 : 5, quick ? 10 : 40);
  }

  const peers = ['pytorch', 'tfjs-wasm', 'tfjs-cpu'];
  const names: Record<string, string> = {
    pytorch: `PyTorch ${torchVersion ?? ''} CPU 1 thread`,
    'tfjs-wasm': 'TF.js 4.22 wasm',
    'tfjs-cpu': 'TF.js 4.22 cpu',
  };
  const lines: string[] = [];
  lines.push(
    `Training samples/s (median of ${ROUNDS} rounds after a warm-up round; a round is one epoch, replayed until it has run ${MIN_ROUND_SECONDS} s and cut at ${ROUND_SECONDS} s), single thread, same data, initial weights, batch order and learning rate. Ratio = torchlet / peer.`,
    '',
  );
  lines.push(
    `| workload | torchlet | GFLOP/s | ${peers.map((p) => `${names[p]} | ratio`).join(' | ')} |`,
  );
  lines.push(`|---|---:|---:|${peers.map(() => '---:|---:').join('|')}|`);
  for (const r of results) {
    const cells = peers.map((p) => {
      const peer = r.peers[p];
      if (!peer) return 'skipped (no torch) | —';
      return peer.rate === null
        ? `${peer.note} | —`
        : `${fmt(peer.rate)} | ${ratio(r.torchlet, peer.rate)}`;
    });
    lines.push(
      `| ${r.id} ${r.title} | ${fmt(r.torchlet)} | ${r.gflops.toFixed(1)} | ${cells.join(' | ')} |`,
    );
  }
  lines.push('', ...allCoresTable(results, cores), '', ...coreSpeedLines(probes));
  lines.push('', ...warmupTable(results));
  lines.push(
    '',
    `GEMM GFLOP/s, torchlet (ceiling ${CEILING} GFLOP/s: a tight single-thread SIMD128 multiply-add loop on the reference CPU):`,
    '',
  );
  lines.push(gemmTable(gemm, CEILING));
  lines.push('', 'GEMM GFLOP/s of the peers (a·b / a·bᵀ / aᵀ·b):', '');
  lines.push('| shape | torchlet | PyTorch | TF.js wasm | TF.js cpu |', '|---|---|---|---|---|');
  const triple = (g?: { nn: number; nt: number; tn: number }) =>
    g ? `${g.nn.toFixed(1)} / ${g.nt.toFixed(1)} / ${g.tn.toFixed(1)}` : '—';
  for (const g of gemm) {
    const same = (x: { m: number; k: number; n: number }) =>
      x.m === g.m && x.k === g.k && x.n === g.n;
    lines.push(
      `| ${g.m}x${g.k}x${g.n} | ${triple(g)} | ${triple(torch?.gemm?.find(same))} | ${triple(tfGemm['wasm']?.find(same))} | ${triple(tfGemm['cpu']?.find(same))} |`,
    );
  }
  const loadAtEnd = loadavg()[0]!;
  lines.push(
    '',
    `Machine load (1-minute load average) at start ${loadAtStart.toFixed(1)}, at end ${loadAtEnd.toFixed(1)} on ${cpus().length} cores (per workload: ${results.map((r) => `${r.id} ${r.load.toFixed(1)}`).join(', ')}): above ~1, other processes share the cores and every figure drops. PyTorch runs right after torchlet on each workload and on the GEMMs.`,
  );
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  lines.push(
    '',
    `Memory: peak RSS ${mib(torchletRss)} after the torchlet runs (${mib(process.resourceUsage().maxRSS * 1024)} at the end, TF.js included); WASM memory ${mib(torchletWasm)}.`,
  );
  lines.push(
    'WASM memory after the warm-up round → at the end of each workload: ' +
      results
        .map((r) => `${r.id} ${mib(r.wasmBytesAfterWarmup)} → ${mib(r.wasmBytesAtEnd)}`)
        .join(', ') +
      '.',
  );
  if (torchVersion !== null)
    lines.push(
      '',
      `PyTorch: ${torchVersion}, BLAS ${blasName()}, 1 thread (torch.set_num_threads(1), OMP/OPENBLAS_NUM_THREADS=1).`,
    );
  if (torchVersion === null)
    lines.push(
      '',
      `PyTorch skipped: \`${PYTHON} -c "import torch"\` failed (install Debian's python3-torch).`,
    );
  const md = lines.join('\n');
  console.log(`\n${md}`);

  const json = {
    started,
    mode: quick ? 'quick' : 'full',
    cpu: cpus()[0]?.model ?? null,
    cores: cpus().length,
    node: process.versions.node,
    loadAverage: { start: loadAtStart, end: loadAtEnd },
    coreSpeeds: probes,
    rounds: ROUNDS,
    roundSeconds: ROUND_SECONDS,
    minRoundSeconds: MIN_ROUND_SECONDS,
    ceilingGflops: CEILING,
    torch: torchVersion,
    torchBlas: torchVersion ? blasName() : null,
    workloads: results,
    gemm: {
      torchlet: gemm,
      pytorch: torch?.gemm ?? null,
      tfjsWasm: tfGemm['wasm'] ?? null,
      tfjsCpu: tfGemm['cpu'] ?? null,
    },
    memory: {
      peakRssTorchletBytes: torchletRss,
      peakRssEndBytes: process.resourceUsage().maxRSS * 1024,
      wasmBytes: torchletWasm,
    },
  };
  const base = quick ? 'bench/results-quick' : 'bench/results';
  writeFileSync(`${base}.json`, `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(
    `${base}.md`,
    `# torchlet benchmark (${json.mode}, ${started})\n\n${json.cpu}, ${json.cores} cores, Node ${json.node}\n\n${md}\n`,
  );
  console.log(`\nwrote ${base}.json and ${base}.md`);
}

/** `--backend wasm` (default: this file's bench) or `webgpu` (bench/webgpu.ts, in Chromium). */
function backendOption(argv: readonly string[]): string {
  const i = argv.findIndex((a) => a === '--backend' || a.startsWith('--backend='));
  if (i < 0) return 'wasm';
  const a = argv[i]!;
  return a.startsWith('--backend=') ? a.slice('--backend='.length) : (argv[i + 1] ?? '');
}

const backendArg = backendOption(process.argv.slice(2));
if (backendArg !== 'wasm' && backendArg !== 'webgpu') {
  console.error(
    `bench: expected --backend wasm or webgpu, got ${backendArg === '' ? 'no value' : `'${backendArg}'`}`,
  );
  process.exitCode = 2;
} else if (backendArg === 'webgpu') {
  const { main: webgpu } = await import('./webgpu.js');
  process.exitCode = await webgpu(process.argv.slice(2));
} else if (process.argv.includes('--warmup')) await warmupOnly();
else await main();
await stopWorkers();
