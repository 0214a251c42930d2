// Runs every section script (two at a time: the machine has 2 cores), then regenerates
// docs/report.md. `npm run experiments` is quick mode; `-- --full` uses the report's epochs;
// `-- --smoke` trains 1 seed for 1-2 epochs into a temporary folder (does every script still run?).
// Usage: tsx scripts/experiments/run-all.ts [--full | --smoke] [--out DIR] [--jobs N] [--only 3.1.1,4]
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseFlags } from './runner.js';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i < 0 ? undefined : args[i + 1];
};
const jobs = Number(flag('--jobs') ?? 2);
const only = flag('--only')?.split(',');
const flags = parseFlags(args);
// One folder for every script and the report; smoke mode never writes to docs/.
const outDir =
  flags.out !== undefined
    ? resolve(flags.out)
    : flags.mode === 'smoke'
      ? mkdtempSync(join(tmpdir(), 'torchlet-experiments-smoke-'))
      : undefined;
const mode = [
  ...(flags.mode === 'quick' ? [] : [`--${flags.mode}`]),
  ...(outDir === undefined ? [] : ['--out', outDir]),
];
// The heaviest first, so that the two queues end together.
const order = ['s3-3-2', 's4-', 's3-3-1', 's3-1-1'];
const scripts = readdirSync(here)
  .filter((f) => /^s[0-9].*\.ts$/.test(f))
  .filter(
    (f) => only === undefined || only.some((s) => f.startsWith(`s${s.replaceAll('.', '-')}-`)),
  )
  .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
function rank(f: string): number {
  const i = order.findIndex((p) => f.startsWith(p));
  return i < 0 ? order.length : i;
}

function run(script: string): Promise<number> {
  return new Promise((resolve) => {
    const t = performance.now();
    const child = spawn(process.execPath, ['--import', 'tsx', join(here, script), ...mode], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => {
      process.stdout.write(
        `--- ${script} (${((performance.now() - t) / 1000).toFixed(0)} s)\n${out}`,
      );
      resolve(code ?? 1);
    });
  });
}

const t0 = performance.now();
const queue = [...scripts];
let failed = 0;
await Promise.all(
  Array.from({ length: Math.max(1, jobs) }, async () => {
    for (let s = queue.shift(); s !== undefined; s = queue.shift())
      if ((await run(s)) !== 0) failed += 1;
  }),
);
failed += await run('report.ts');
console.log(
  `experiments: ${scripts.length} sections${outDir === undefined ? '' : ` (written to ${outDir})`} in ${((performance.now() - t0) / 1000).toFixed(0)} s${failed ? `, ${failed} failed` : ''}`,
);
process.exit(failed ? 1 : 0);
