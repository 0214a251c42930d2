// Runs every section script (two at a time: the machine has 2 cores), then regenerates
// docs/report.md. `npm run experiments` is quick mode; `-- --full` uses the report's epochs.
// Usage: tsx scripts/experiments/run-all.ts [--full] [--jobs N] [--only 3.1.1,4]
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i < 0 ? undefined : args[i + 1];
};
const jobs = Number(flag('--jobs') ?? 2);
const only = flag('--only')?.split(',');
const mode = args.includes('--full') ? ['--full'] : [];
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
  `experiments: ${scripts.length} sections in ${((performance.now() - t0) / 1000).toFixed(0)} s${failed ? `, ${failed} failed` : ''}`,
);
process.exit(failed ? 1 : 0);
