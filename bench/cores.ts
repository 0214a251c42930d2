// Are the cores equal? A virtual machine's cores can be shares of busier physical cores: on one
// 2-core host of this project's kind, one core ran scalar code at 55 % of the other's speed for
// minutes on end, while the load average (which counts only this machine's processes) read about
// 1, our own. A step split over two threads then waits for the slow one, and the all-cores
// figures measure the host, not the method. So the bench probes every core at once, one pinned process each (a
// scalar loop; no memory traffic, so the cores do not slow each other), and prints each core's
// speed relative to the fastest beside the figures it qualifies.

import { spawn } from 'node:child_process';
import { cpus } from 'node:os';

/** One probe: each core's speed relative to the fastest (1 = the fastest), or why there is none. */
export interface CoreProbe {
  /** When it ran ("start", "after W2", …). */
  at: string;
  /** Per core, in core order; null when the probe could not run. */
  relative: number[] | null;
  /** Why `relative` is null. */
  note?: string;
}

/** Below this relative speed a core counts as slowed (the noise of equal cores is about 3 %). */
export const UNEQUAL_BELOW = 0.9;

const LOOP = (ms: number): string =>
  `const a=new Float64Array(1024).fill(1.0001);let s=0,n=0;const t=performance.now();` +
  `while(performance.now()-t<${ms}){for(let i=0;i<1024;i++)s+=a[i]*a[i];n++}` +
  `console.log(String(s>0?n:-n))`;

/** Runs the scalar loop pinned to each core at once (Linux `taskset`) for `ms` milliseconds. */
export async function probeCores(at: string, ms = 500): Promise<CoreProbe> {
  if (process.platform !== 'linux') return { at, relative: null, note: 'not Linux (no taskset)' };
  const count = cpus().length;
  const one = (core: number): Promise<number | string> =>
    new Promise((resolve) => {
      const child = spawn('taskset', ['-c', String(core), process.execPath, '-e', LOOP(ms)], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.on('error', (e) => resolve(`taskset failed: ${e.message}`));
      child.on('close', (code) => {
        const n = Number(out.trim());
        resolve(code === 0 && n > 0 ? n : `taskset -c ${core} exited ${code}`);
      });
    });
  const counts = await Promise.all(Array.from({ length: count }, (_, c) => one(c)));
  const failed = counts.find((c) => typeof c === 'string');
  if (failed !== undefined) return { at, relative: null, note: String(failed) };
  const fastest = Math.max(...(counts as number[]));
  return { at, relative: (counts as number[]).map((n) => n / fastest) };
}

/** The slowest core's relative speed over the probes that ran (null when none ran). */
export function slowestCore(probes: readonly CoreProbe[]): number | null {
  const all = probes.flatMap((p) => p.relative ?? []);
  return all.length === 0 ? null : Math.min(...all);
}

/** Markdown: the probes, and whether the all-cores figures can be read as the method's. */
export function coreSpeedLines(probes: readonly CoreProbe[]): string[] {
  const pct = (r: number): string => `${Math.round(r * 100)} %`;
  const cells = probes.map((p) =>
    p.relative === null
      ? `${p.at}: not probed (${p.note})`
      : `${p.at} ${p.relative.map(pct).join(' / ')}`,
  );
  const lines = [
    `Core speeds (every core busy at once, one pinned scalar process each, relative to the fastest): ${cells.join('; ')}.`,
  ];
  const slowest = slowestCore(probes);
  if (slowest !== null && slowest < UNEQUAL_BELOW) {
    lines.push(
      '',
      `**Unequal cores:** a core ran at ${pct(slowest)} of the fastest (the host shares it with other work; the load average does not show it). A single-thread figure may have run on it, and a split step waits for its slowest thread, so this run's all-cores figures are held back by that core; compare them only with a run whose cores were equal (and note that a probe between workloads can miss a core slowed for seconds).`,
    );
  }
  return lines;
}
