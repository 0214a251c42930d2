// `npm run bench -- --backend webgpu`: the WebGPU backend's training throughput on W1-W6 and
// GEMM GFLOP/s, in headless Chromium, against torchlet's WASM backend in the same browser on the
// same run (a second page: the backend is chosen once per thread). Same data, initial weights,
// batch orders and step as the Node bench; each workload trains E epochs (the issue's table: W1
// 20, W2 5, W3 10, W4 2, W5 20; W6 2) and the figure is epochs 2..E, each epoch's clock stopped
// after its losses are read back and the tensors synced. The per-epoch mean losses of the two
// backends must agree within LOSS_TOLERANCE, else the run exits 1. On a software adapter
// (SwiftShader on a machine without a GPU) every speed figure is labelled as a correctness run.
// Writes bench/results-webgpu.{json,md} (quick runs: bench/results-webgpu-quick.*).
//
//   --quick                 2 epochs of one batch per workload (W6: one batch), 3 GEMM shapes
//   --workloads=W1,W4       only these workloads
//   --max-batches=N         at most N batches per epoch (a full run's correctness pass on SwiftShader)
//   --no-gemm               no GEMM shapes
//   --chromium-flag=FLAG    one more Chromium flag (repeatable); CHROMIUM_PATH another browser
//
// On a GPU machine Chromium may need its platform's flags to reach the GPU, for example
// `--chromium-flag=--enable-features=Vulkan` on Linux (untested: no GPU machine was reachable);
// the adapter line of the output says which adapter the page got.

import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { init, loadDigits, loadMnist } from '../ts/index.js';
import { type Served, serve } from '../scripts/serve.js';
import { bundleSource } from '../test/browser/bundle-source.js';
import { launchChromium } from '../test/browser/chromium.js';
import { GEMM_SHAPES } from './gemm.js';
import { WARMUP_EPOCHS } from './warmup.js';
import type { AdapterInfo, GemmRun, PageJob, PageResult, WorkloadRun } from './webgpu-page.js';
import { W6, WORKLOADS, type Workload } from './workloads.js';

/** The Node bench's seed: initial weights and batch orders. */
const SEED = 1;
/** Largest relative difference allowed between the backends' mean loss of any epoch. */
export const LOSS_TOLERANCE = 1e-3;
/** What every speed figure says when the adapter is SwiftShader. */
export const SWIFTSHADER_LABEL =
  'SwiftShader software adapter (CPU): correctness run, not a GPU speed figure';
/** The issue's target on a real GPU: W4 and W6 at least this many times the WASM backend. */
const TARGET = 10;
const TARGET_IDS = ['W4', 'W6'];

export interface WebgpuBenchOptions {
  quick: boolean;
  /** Flags added to Chromium's (after `--enable-unsafe-webgpu`). */
  chromiumFlags?: string[];
  /** Only these workload ids (default all, W1-W6). */
  only?: string[];
  /** Longest wait for one backend's page (default 10 minutes quick, 4 hours full). */
  timeoutMs?: number;
  /** Full runs: at most this many batches per epoch (a software adapter's correctness run). */
  maxBatches?: number;
  /** Data sets to treat as missing (the skipped rows' path, for tests). */
  withoutData?: Array<'digits' | 'mnist'>;
  /** Skip the GEMM shapes. */
  noGemm?: boolean;
  /** Where the page is bundled and served from (it is emptied first). */
  workDir?: string;
  /** `<outBase>.json` and `<outBase>.md` are written; null writes nothing. */
  outBase?: string | null;
  log?: (line: string) => void;
}

/** One workload row: both backends' runs and their comparison, or why it was skipped. */
export interface WorkloadRow {
  id: string;
  title: string;
  skipped?: string;
  error?: string;
  epochs?: number;
  gpu?: WorkloadRun;
  wasm?: WorkloadRun;
  /** Samples/s over epochs 2..E. */
  gpuRate?: number;
  wasmRate?: number;
  gpuGflops?: number;
  /** Largest |gpu - wasm| / |wasm| over the epochs' mean losses. */
  lossDiff?: number;
  lossOk?: boolean;
}

export interface GemmRow extends Pick<GemmRun, 'm' | 'k' | 'n'> {
  gpu: GemmRun | null;
  wasm: GemmRun | null;
}

export interface WebgpuBenchReport {
  started: string;
  mode: 'quick' | 'full';
  adapter: AdapterInfo | null;
  /** The adapter is a software one (SwiftShader, or one the browser flags as a fallback). */
  software: boolean;
  /** Set on a software adapter: the label of every speed figure. */
  label: string | null;
  browser: string;
  chromiumFlags: string[];
  cpu: string | null;
  lossTolerance: number;
  /** `--max-batches`: the cap on batches per epoch of a full run, or null. */
  maxBatches: number | null;
  workloads: WorkloadRow[];
  gemm: GemmRow[];
  /** How each GEMM figure was timed: the median of `runs` timings of enough calls to last `minMs`. */
  gemmTiming: { runs: number; minMs: number };
  gemmError?: string;
  /** Rows whose losses disagree or that failed (the run's exit status is 1 when any). */
  failures: string[];
  markdown: string;
}

/** Epochs per workload: the issue's table (bench/warmup.ts), and W6 as W4. */
export const EPOCHS: Readonly<Record<string, number>> = { ...WARMUP_EPOCHS, W6: 2 };

function workloads(only?: string[]): Workload[] {
  const all = [...WORKLOADS, W6];
  if (only === undefined) return all;
  const unknown = only.filter((id) => !all.some((w) => w.id === id));
  if (unknown.length > 0)
    throw new Error(
      `bench: expected workloads among ${all.map((w) => w.id).join(', ')}, got ${unknown.join(', ')}`,
    );
  return all.filter((w) => only.includes(w.id));
}

/**
 * The job the page reads. Quick runs train 2 epochs of one batch per workload, enough to compare
 * losses across an update, and W6 one batch (a software adapter takes a minute per batch of 512
 * on a busy 2-core machine; W4 checks the same network's update). `maxBatches` caps the batches
 * per epoch of a full run.
 */
function pageJob(quick: boolean, ws: Workload[], maxBatches: number | null): PageJob {
  const plan = Object.fromEntries(
    ws.map((w) => [
      w.id,
      quick
        ? { epochs: w.id === 'W6' ? 1 : 2, batchesPerEpoch: 1 }
        : { epochs: EPOCHS[w.id]!, batchesPerEpoch: maxBatches },
    ]),
  );
  return {
    seed: SEED,
    workloads: plan,
    gemm: quick
      ? { shapes: GEMM_SHAPES.slice(0, 3), runs: 3, minMs: 10 }
      : // 200 ms: a sync's fixed cost (a read-back round trip) stays a few % of each timing.
        { shapes: GEMM_SHAPES, runs: 5, minMs: 200 },
  };
}

/** Writes each data set's training split as raw float32 (x, then labels); returns why a data set
 * is missing, by name. */
function writeData(dir: string, needed: Set<string>): Map<string, string> {
  const missing = new Map<string, string>();
  for (const name of needed) {
    let split;
    try {
      split = name === 'digits' ? loadDigits() : loadMnist();
    } catch (e) {
      missing.set(name, (e as Error).message);
      continue;
    }
    const bytes = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    writeFileSync(`${dir}/${name}-x.bin`, bytes(split.train.x.toArray()));
    writeFileSync(`${dir}/${name}-y.bin`, bytes(split.train.y.toArray()));
    for (const t of [split.train.x, split.train.y, split.test.x, split.test.y]) t.dispose();
  }
  return missing;
}

/** Loads the page with `tasks` on `backend` and returns each task's result; a task the page did
 * not finish (a throw outside the tasks, a timeout) gets an `error`. */
async function runPage(
  context: BrowserContext,
  base: string,
  backend: 'wasm' | 'webgpu',
  tasks: string[],
  timeoutMs: number,
  log: (line: string) => void,
): Promise<Map<string, PageResult>> {
  if (tasks.length === 0) return new Map();
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (m) => log(`  ${m.text()}`));
  page.on('pageerror', (e) => errors.push(e.message));
  let stopped: string | null = null;
  try {
    await page.goto(`${base}index.html?backend=${backend}&tasks=${tasks.join(',')}`);
    await page.waitForFunction(() => '__done' in window, null, {
      timeout: timeoutMs,
      polling: 500,
    });
  } catch (e) {
    stopped = (e as Error).message.split('\n')[0]!;
  }
  const results = await page
    .evaluate(() => (window as unknown as { __results?: PageResult[] }).__results ?? [])
    .catch(() => [] as PageResult[]);
  await page.close();
  const out = new Map(results.map((r) => [r.task, r]));
  const why = [stopped, ...errors].filter((e) => e !== null).join('; ') || 'no result';
  for (const task of tasks)
    if (!out.has(task)) out.set(task, { task, backend, adapter: null, error: why });
  return out;
}

/** Samples/s over epochs 2..E (epoch 1 alone when there is one). */
function rate(run: WorkloadRun): number {
  const timed = run.epochMs.length > 1 ? run.epochMs.slice(1) : run.epochMs;
  return (run.samplesPerEpoch * timed.length) / (timed.reduce((a, b) => a + b, 0) / 1000);
}

function isSoftware(a: AdapterInfo | null): boolean {
  if (a === null) return false;
  const words = `${a.vendor} ${a.architecture} ${a.device} ${a.description}`;
  return a.fallback === true || /swiftshader|llvmpipe|lavapipe|software/i.test(words);
}

const fmt = (v: number | undefined, digits = 0): string =>
  v === undefined || !Number.isFinite(v)
    ? '—'
    : v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const times = (a: number | undefined, b: number | undefined): string =>
  a === undefined || b === undefined || !(b > 0) ? '—' : `${(a / b).toFixed(2)}x`;

export async function runWebgpuBench(options: WebgpuBenchOptions): Promise<WebgpuBenchReport> {
  const log = options.log ?? ((line: string) => console.log(line));
  const flags = options.chromiumFlags ?? [];
  const dir = options.workDir ?? 'build/bench-webgpu';
  const started = new Date().toISOString();
  const ws = workloads(options.only);
  const job = pageJob(options.quick, ws, options.maxBatches ?? null);
  if (options.noGemm) job.gemm.shapes = [];

  await init(); // the data loaders run in Node's WASM backend
  await bundleSource({ page: 'bench/webgpu-page.ts' }, dir);
  const withoutData = new Set(options.withoutData ?? []);
  const missing = writeData(dir, new Set(ws.map((w) => w.data).filter((d) => !withoutData.has(d))));
  for (const d of withoutData) missing.set(d, 'left out by the caller');
  writeFileSync(`${dir}/job.json`, JSON.stringify(job));
  writeFileSync(
    `${dir}/index.html`,
    '<!doctype html><meta charset="utf-8"><title>torchlet bench</title><link rel="icon" href="data:,"><script type="module" src="./page.js"></script>',
  );
  const server: Served = await serve(dir);
  // Without tests' --disable-gpu, which would keep Chromium on its software paths where a GPU exists.
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  try {
    browser = await launchChromium(['--enable-unsafe-webgpu', ...flags], { allowGpu: true });
  } catch (e) {
    await server.close();
    throw e;
  }
  const context = browser.context;
  const browserName = `Chromium ${context.browser()?.version() ?? '?'}`;
  const pageTimeout = options.timeoutMs ?? (options.quick ? 600_000 : 4 * 3_600_000);
  const rows: WorkloadRow[] = [];
  const gemm: GemmRow[] = [];
  let adapter: AdapterInfo | null = null;
  let gemmError: string | undefined;
  const label = (): string | null =>
    isSoftware(adapter)
      ? adapter!.architecture === 'swiftshader' || /swiftshader/i.test(adapter!.description)
        ? SWIFTSHADER_LABEL
        : `software adapter (${adapter!.description || adapter!.vendor}, CPU): correctness run, not a GPU speed figure`
      : null;
  const tag = (): string => (label() ? ` [${label()}]` : '');
  try {
    const runnable = ws.filter((w) => !missing.has(w.data)).map((w) => w.id);
    const tasks = [...runnable, ...(job.gemm.shapes.length > 0 ? ['gemm'] : [])];
    // WASM first (seconds), then the GPU: each backend in one page, so the GPU compiles each
    // pipeline once.
    log(`WASM backend: ${tasks.join(', ')}`);
    const wasm = await runPage(context, server.url, 'wasm', tasks, pageTimeout, log);
    log(`WebGPU backend: ${tasks.join(', ')}`);
    const gpu = await runPage(context, server.url, 'webgpu', tasks, pageTimeout, log);
    adapter = [...gpu.values()].find((r) => r.adapter !== null)?.adapter ?? null;
    if (adapter !== null)
      log(
        `adapter: vendor '${adapter.vendor}', architecture '${adapter.architecture}', description '${adapter.description}'${adapter.fallback ? ' (fallback adapter)' : ''}${tag()}`,
      );
    for (const w of ws) {
      const row: WorkloadRow = { id: w.id, title: w.title };
      rows.push(row);
      const why = missing.get(w.data);
      if (why !== undefined) {
        row.skipped = `skipped: no ${w.data} data (${why})`;
        log(`${w.id}: ${row.skipped}`);
        continue;
      }
      const a = wasm.get(w.id)!;
      const g = gpu.get(w.id)!;
      if (a.error !== undefined || g.error !== undefined || !a.workload || !g.workload) {
        row.error = [a.error && `wasm: ${a.error}`, g.error && `webgpu: ${g.error}`]
          .filter(Boolean)
          .join('; ');
        log(`${w.id}: failed: ${row.error}`);
        continue;
      }
      row.epochs = g.workload.epochMs.length;
      row.wasm = a.workload;
      row.gpu = g.workload;
      row.wasmRate = rate(a.workload);
      row.gpuRate = rate(g.workload);
      row.gpuGflops = (row.gpuRate * w.flopsPerSample) / 1e9;
      row.lossDiff = Math.max(
        ...a.workload.epochLoss.map(
          (want, e) => Math.abs(g.workload!.epochLoss[e]! - want) / Math.abs(want),
        ),
      );
      row.lossOk =
        g.workload.epochLoss.length === a.workload.epochLoss.length &&
        row.lossDiff <= LOSS_TOLERANCE;
      log(
        `${w.id}: webgpu ${fmt(row.gpuRate)} samples/s, wasm ${fmt(row.wasmRate)} samples/s, ratio ${times(row.gpuRate, row.wasmRate)}${tag()}; loss difference ${row.lossDiff.toExponential(2)} (${row.lossOk ? 'ok' : 'FAIL'}, tolerance ${LOSS_TOLERANCE})`,
      );
    }
    if (job.gemm.shapes.length > 0) {
      const a = wasm.get('gemm')!;
      const g = gpu.get('gemm')!;
      gemmError =
        [a.error && `wasm: ${a.error}`, g.error && `webgpu: ${g.error}`]
          .filter(Boolean)
          .join('; ') || undefined;
      for (const s of job.gemm.shapes) {
        const same = (r: GemmRun) => r.m === s.m && r.k === s.k && r.n === s.n;
        gemm.push({ ...s, gpu: g.gemm?.find(same) ?? null, wasm: a.gemm?.find(same) ?? null });
      }
    }
  } finally {
    await browser.close();
    await server.close();
  }

  const failures = rows.flatMap((r) =>
    r.error !== undefined
      ? [`${r.id}: ${r.error}`]
      : r.lossOk === false
        ? [`${r.id}: loss difference ${r.lossDiff} > ${LOSS_TOLERANCE}`]
        : [],
  );
  if (gemmError !== undefined) failures.push(`gemm: ${gemmError}`);
  if (adapter === null && rows.some((r) => r.skipped === undefined))
    failures.push('no WebGPU adapter reported');
  const report: WebgpuBenchReport = {
    started,
    mode: options.quick ? 'quick' : 'full',
    adapter,
    software: isSoftware(adapter),
    label: label(),
    browser: browserName,
    chromiumFlags: flags,
    cpu: cpus()[0]?.model ?? null,
    lossTolerance: LOSS_TOLERANCE,
    maxBatches: options.quick ? null : (options.maxBatches ?? null),
    workloads: rows,
    gemm,
    gemmTiming: { runs: job.gemm.runs, minMs: job.gemm.minMs },
    ...(gemmError === undefined ? {} : { gemmError }),
    failures,
    markdown: '',
  };
  report.markdown = markdown(report);
  if (options.outBase) {
    mkdirSync(dirname(options.outBase), { recursive: true });
    const { markdown: md, ...json } = report;
    writeFileSync(`${options.outBase}.json`, `${JSON.stringify(json, null, 2)}\n`);
    writeFileSync(`${options.outBase}.md`, md);
    log(`wrote ${options.outBase}.json and ${options.outBase}.md`);
  }
  return report;
}

function markdown(r: WebgpuBenchReport): string {
  const a = r.adapter;
  const lines = [
    `# torchlet WebGPU benchmark (${r.mode}, ${r.started})`,
    '',
    `${r.browser} (headless; flags: --enable-unsafe-webgpu${r.chromiumFlags.map((f) => ` ${f}`).join('')}) on ${r.cpu ?? '?'}, ${cpus().length} cores.`,
    '',
    a === null
      ? 'Adapter: none reported.'
      : `Adapter: vendor '${a.vendor}', architecture '${a.architecture}', device '${a.device}', description '${a.description}'${a.fallback === null ? '' : `, fallback ${a.fallback}`}.`,
    '',
  ];
  if (r.label !== null) lines.push(`**${r.label}.** Every speed figure below is one.`, '');
  if (r.maxBatches !== null)
    lines.push(
      `Epochs cut to ${r.maxBatches} batches each (\`--max-batches=${r.maxBatches}\`): the losses are compared as usual; the speeds are of those batches.`,
      '',
    );
  lines.push(
    `Training samples/s over epochs 2..E of E epochs (epoch 1 where E is 1; each epoch's clock stopped after its losses are read back and the tensors synced, as \`fit\` does), the WebGPU backend and torchlet's WASM backend in the same browser on the same run, same data, initial weights, batch orders and step as \`npm run bench\`. Loss difference: the largest |WebGPU - WASM| / |WASM| over the epochs' mean losses (tolerance ${r.lossTolerance}).`,
    '',
    '| workload | epochs | WebGPU samples/s | GFLOP/s | WASM samples/s | WebGPU / WASM | loss difference |',
    '|---|---:|---:|---:|---:|---:|---:|',
  );
  const mark = r.label !== null ? ' (SwiftShader)' : '';
  for (const w of r.workloads) {
    if (w.skipped !== undefined || w.error !== undefined) {
      lines.push(
        `| ${w.id} ${w.title} | ${w.skipped ?? `failed: ${w.error}`} | — | — | — | — | — |`,
      );
      continue;
    }
    lines.push(
      `| ${w.id} ${w.title} | ${w.epochs} x ${w.gpu!.steps} batches | ${fmt(w.gpuRate)}${mark} | ${fmt(w.gpuGflops, 2)} | ${fmt(w.wasmRate)} | ${times(w.gpuRate, w.wasmRate)}${mark} | ${w.lossDiff!.toExponential(2)} ${w.lossOk ? 'ok' : 'FAIL'} |`,
    );
  }
  lines.push('');
  for (const id of TARGET_IDS) {
    const w = r.workloads.find((v) => v.id === id);
    if (w === undefined || w.gpuRate === undefined) continue;
    const got = w.gpuRate / w.wasmRate!;
    lines.push(
      r.software
        ? `Target (${id} at least ${TARGET}x WASM on a GPU): not judged, software adapter (${got.toFixed(2)}x here).`
        : `Target (${id} at least ${TARGET}x WASM): ${got.toFixed(2)}x, ${got >= TARGET ? 'met' : 'not met'}.`,
    );
  }
  if (r.gemm.length > 0) {
    lines.push(
      '',
      `GEMM GFLOP/s, a·b / a·bᵀ / aᵀ·b (acc), the kernel table's \`gemm\` entry on each backend in the same browser (median of ${r.gemmTiming.runs} timings, each of enough calls to last ${r.gemmTiming.minMs} ms and ended by a sync)${r.label !== null ? `: ${r.label}` : ''}.`,
      '',
      '| shape m x k x n | WebGPU | WASM | WebGPU / WASM (a·b) |',
      '|---|---:|---:|---:|',
    );
    const triple = (g: GemmRun | null) =>
      g ? `${g.nn.toFixed(1)} / ${g.nt.toFixed(1)} / ${g.tn.toFixed(1)}` : '—';
    for (const g of r.gemm)
      lines.push(
        `| ${g.m} x ${g.k} x ${g.n} | ${triple(g.gpu)}${g.gpu ? mark : ''} | ${triple(g.wasm)} | ${times(g.gpu?.nn, g.wasm?.nn)} |`,
      );
    if (r.gemmError !== undefined) lines.push('', `GEMM failed: ${r.gemmError}`);
  }
  lines.push(
    '',
    r.failures.length === 0
      ? 'Correctness: every run row agrees with WASM within the tolerance.'
      : `Correctness: FAILED: ${r.failures.join('; ')}`,
  );
  return `${lines.join('\n')}\n`;
}

/** The `--backend webgpu` entry of bench/run.ts; resolves to the exit status. */
export async function main(argv: readonly string[]): Promise<number> {
  const quick = argv.includes('--quick');
  const value = (name: string): string[] =>
    argv.flatMap((a, i) =>
      a.startsWith(`${name}=`)
        ? [a.slice(name.length + 1)]
        : a === name && argv[i + 1] !== undefined
          ? [argv[i + 1]!]
          : [],
    );
  const only = value('--workloads').flatMap((v) => v.split(','));
  const maxBatches = value('--max-batches').map(Number)[0];
  if (maxBatches !== undefined && !(Number.isInteger(maxBatches) && maxBatches > 0)) {
    console.error(
      `bench: expected --max-batches a positive integer, got ${value('--max-batches')[0]}`,
    );
    return 2;
  }
  try {
    workloads(only.length > 0 ? only : undefined);
  } catch (e) {
    console.error((e as Error).message);
    return 2;
  }
  const report = await runWebgpuBench({
    quick,
    chromiumFlags: value('--chromium-flag'),
    ...(only.length > 0 ? { only } : {}),
    ...(maxBatches !== undefined ? { maxBatches } : {}),
    noGemm: argv.includes('--no-gemm'),
    outBase: quick ? 'bench/results-webgpu-quick' : 'bench/results-webgpu',
  });
  console.log(`\n${report.markdown}`);
  return report.failures.length === 0 ? 0 : 1;
}
