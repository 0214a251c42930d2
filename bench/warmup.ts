// The warm-up figure (issue 13): how fast an ordinary training run is before V8 has optimised it.
// Each run trains one workload in a fresh Node process (nothing compiled, nothing replayed): the
// workload's E epochs with the Optim.step loop on the bench's batch orders (as PyTorch runs them;
// bench/run.ts runs PyTorch the same way), or with `sgd`. It records every epoch's time, then keeps
// training in the same process (the orders again) for the steady state. Reported: throughput over
// epochs 2..E (the first epoch excluded, as the issue's table does), steady-state throughput, and
// their ratio; and the same from the main thread's CPU time, which leaves out waiting for a core.
//
//   npx tsx bench/warmup.ts                 all workloads, both loops, 3 fresh processes each
//   npx tsx bench/warmup.ts W1 --runs 5 --loop sgd
//   npx tsx bench/warmup.ts --child W1 optim   (one run; prints JSON; what the others spawn)

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { init, sgd } from '../ts/index.js';
import {
  BenchStepper,
  WORKLOADS,
  batchOrder,
  workloadData,
  workloadLoss,
  type Workload,
} from './workloads.js';

const SEED = 1;
/** Epochs of the ordinary run per workload (the issue's table). */
export const WARMUP_EPOCHS: Readonly<Record<string, number>> = {
  W1: 20,
  W2: 5,
  W3: 10,
  W4: 2,
  W5: 20,
};
/** After the ordinary run, keep training this long (and at least 3 epochs) for the steady state
 * (environment TORCHLET_STEADY_SECONDS: shorter for the quick bench). */
export const STEADY_SECONDS = Number(process.env['TORCHLET_STEADY_SECONDS'] ?? 2);

/** Which loop trains: the by-hand Optim.step loop on the bench's orders, or `sgd`. */
export type Loop = 'optim' | 'sgd';

/** One fresh-process run. */
export interface WarmupRun {
  id: string;
  loop: Loop;
  /** Epochs of the ordinary run. */
  epochs: number;
  /** Samples per epoch. */
  samples: number;
  /** Milliseconds of every epoch trained (the ordinary run's first, then the steady ones). */
  epochMs: number[];
  /** The main thread's CPU milliseconds in each epoch (NaN where /proc is missing; the kernel
   * updates it at its scheduler tick, so single epochs read 0 or 4 ms: only sums mean much). */
  cpuMs: number[];
  /** `warm` and `steady` from `cpuMs`: what they would be with a core always free. */
  cpuWarm: number;
  cpuSteady: number;
  /** Samples/s over epochs 2..E of the ordinary run. */
  warm: number;
  /** Samples/s of the steady state: median over the second half of the epochs after E. */
  steady: number;
  /** Milliseconds of `init()` in this fresh process (with the kernel warm-up). */
  setupMs: number;
}

const SCHEDSTAT = `/proc/self/task/${process.pid}/schedstat`;
const haveSchedstat = existsSync(SCHEDSTAT);
/** Milliseconds the main thread has run on a CPU (Linux; NaN elsewhere): unlike the wall clock,
 * it leaves out the time spent waiting for a core while other processes or V8's background
 * compiler threads run. */
function mainThreadCpuMs(): number {
  return haveSchedstat ? Number(readFileSync(SCHEDSTAT, 'latin1').split(' ')[0]) / 1e6 : NaN;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

/**
 * Samples/s over epochs 2..E and in the steady state (the second half of the epochs after E:
 * their median epoch, or with `pooled` their total, for clocks too coarse to time one epoch).
 */
export function summarise(epochMs: number[], epochs: number, samples: number, pooled = false) {
  const warm = (samples * (epochs - 1)) / (sum(epochMs.slice(1, epochs)) / 1000);
  const tail = epochMs.slice(epochs);
  const late = tail.slice(tail.length >> 1);
  const steady = pooled
    ? (samples * late.length) / (sum(late) / 1000)
    : samples / (median(late) / 1000);
  return { warm, steady };
}

interface Trained {
  epochMs: number[];
  cpuMs: number[];
  samples: number;
}

/** The Optim.step loop of bench/run.ts, one epoch per order, with a clock per epoch. */
function trainOptim(w: Workload, epochs: number): Trained {
  const data = workloadData(w);
  const stepper = new BenchStepper(w, data, SEED);
  const n = data.x.shape[0]!;
  const batches = Math.floor(n / w.batch);
  // The orders of the ordinary run, made before any clock starts; the steady epochs reuse them.
  const orders = Array.from({ length: epochs }, (_, e) => batchOrder(n, SEED, e));
  const epochMs: number[] = [];
  const cpuMs: number[] = [];
  let warmEnd = 0;
  for (let e = 0; ; e++) {
    const order = orders[e % epochs]!;
    const cpu = mainThreadCpuMs();
    const start = performance.now();
    for (let b = 0; b < batches; b++) stepper.step(order, b * w.batch);
    const end = performance.now();
    epochMs.push(end - start);
    cpuMs.push(mainThreadCpuMs() - cpu);
    if (e + 1 === epochs) warmEnd = end;
    if (e + 1 >= epochs + 3 && end - warmEnd > STEADY_SECONDS * 1000) break;
  }
  stepper.dispose();
  data.dispose();
  return { epochMs, cpuMs, samples: batches * w.batch };
}

/** `sgd` with the workload's batch size and step, timed from its onEpoch callback. */
function trainSgd(w: Workload, epochs: number): Trained {
  const data = workloadData(w);
  const net = w.build(SEED);
  const epochMs: number[] = [];
  const cpuMs: number[] = [];
  let last = performance.now();
  let lastCpu = mainThreadCpuMs();
  let warmEnd = 0;
  sgd(net, data, workloadLoss(w), {
    batchSize: w.batch,
    epochs: 1_000_000,
    step: w.lr,
    seed: SEED,
    // The single-thread figure, whatever 'auto' would pick on this machine.
    workers: 1,
    onEpoch: (e) => {
      const now = performance.now();
      const cpu = mainThreadCpuMs();
      epochMs.push(now - last);
      cpuMs.push(cpu - lastCpu);
      last = now;
      lastCpu = cpu;
      if (e + 1 === epochs) warmEnd = now;
      return !(e + 1 >= epochs + 3 && now - warmEnd > STEADY_SECONDS * 1000);
    },
  });
  net.dispose();
  data.dispose();
  return { epochMs, cpuMs, samples: data.x.shape[0]! };
}

/** One run in this process (call it in a fresh one). */
export async function warmupRun(id: string, loop: Loop): Promise<WarmupRun> {
  const setupStart = performance.now();
  await init();
  const w = WORKLOADS.find((x) => x.id === id);
  if (w === undefined) throw new Error(`warmup: no workload ${id}`);
  const epochs = WARMUP_EPOCHS[id]!;
  const setupMs = performance.now() - setupStart;
  const { epochMs, cpuMs, samples } =
    loop === 'optim' ? trainOptim(w, epochs) : trainSgd(w, epochs);
  const cpu = summarise(cpuMs, epochs, samples, true);
  return {
    id,
    loop,
    epochs,
    samples,
    epochMs,
    cpuMs,
    ...summarise(epochMs, epochs, samples),
    cpuWarm: cpu.warm,
    cpuSteady: cpu.steady,
    setupMs,
  };
}

/** Runs `warmupRun` in a fresh Node process (same loader flags as this one). */
export function spawnWarmup(id: string, loop: Loop, nodeFlags: string[] = []): WarmupRun {
  const r = spawnSync(
    process.execPath,
    [...nodeFlags, ...process.execArgv, 'bench/warmup.ts', '--child', id, loop],
    { encoding: 'utf8', maxBuffer: 1 << 26 },
  );
  if (r.status !== 0)
    throw new Error(`warmup child ${id} ${loop} failed: ${r.stderr.slice(-2000)}`);
  return JSON.parse(r.stdout) as WarmupRun;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === '--child') {
    process.stdout.write(JSON.stringify(await warmupRun(argv[1]!, argv[2] as Loop)));
    return;
  }
  const opt = (name: string, dflt: string): string => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1]! : dflt;
  };
  const runs = Number(opt('--runs', '3'));
  const loops = opt('--loop', 'optim,sgd').split(',') as Loop[];
  const flags = opt('--node-flags', '')
    .split(' ')
    .filter((s) => s !== '');
  const ids = argv.filter((a) => /^W\d$/.test(a));
  console.log(`load ${loadavg()[0]!.toFixed(2)}`);
  for (const id of ids.length > 0 ? ids : WORKLOADS.map((w) => w.id)) {
    for (const loop of loops) {
      const rs = Array.from({ length: runs }, () => spawnWarmup(id, loop, flags));
      const fmt = (v: number) => Math.round(v).toLocaleString('en-US');
      const e = rs[0]!.epochs;
      console.log(
        `${id} ${loop}: epochs 2..${e} ${rs.map((r) => fmt(r.warm)).join(' / ')} samples/s, steady ${rs.map((r) => fmt(r.steady)).join(' / ')}, ratio ${rs.map((r) => `${((100 * r.warm) / r.steady).toFixed(0)} %`).join(' / ')}`,
      );
      console.log(
        `   main-thread CPU: epochs 2..${e} ${rs.map((r) => fmt(r.cpuWarm)).join(' / ')}, steady ${rs.map((r) => fmt(r.cpuSteady)).join(' / ')}, ratio ${rs.map((r) => `${((100 * r.cpuWarm) / r.cpuSteady).toFixed(0)} %`).join(' / ')}`,
      );
      const split = (r: WarmupRun): string => {
        const ms = (xs: number[]): string => xs.reduce((a, b) => a + b, 0).toFixed(0);
        return `${r.setupMs.toFixed(0)} + ${ms(r.epochMs.slice(0, 1))} + ${ms(r.epochMs.slice(1, e))}`;
      };
      console.log(`   init + epoch 1 + epochs 2..${e} (ms): ${rs.map(split).join(' / ')}`);
      console.log(
        `   first run's epochs (ms): ${rs[0]!.epochMs
          .slice(0, e + 3)
          .map((m) => m.toFixed(1))
          .join(
            ' ',
          )} … steady ${((rs[0]!.samples / rs[0]!.steady) * 1000).toFixed(2)}; CPU ${rs[0]!.cpuMs
          .slice(0, e + 3)
          .map((m) => m.toFixed(1))
          .join(' ')}`,
      );
    }
  }
  console.log(`load ${loadavg()[0]!.toFixed(2)}`);
}

if (process.argv[1]?.endsWith('warmup.ts')) await main();
