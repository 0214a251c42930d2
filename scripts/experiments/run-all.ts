// Runs the section scripts (two at a time: the machine has 2 cores), then regenerates the page.
// `npm run experiments` is quick mode (fewer epochs, 3 seeds: docs/quick/, the CI smoke run of
// the page); `-- --full` uses the report's epochs and 5 seeds (docs/report.md, docs/results,
// docs/figures: the committed page); `-- --smoke` trains 1 seed for 1-2 epochs into a temporary
// folder (does every script still run?). `--only 3.2.3` (repeatable) re-runs chosen sections;
// the page is then rebuilt from every section's JSON in that folder.
// Usage: tsx scripts/experiments/run-all.ts [--full | --smoke] [--out DIR] [--jobs N] [--only 3.2.3]...
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { modeDir, parseFlags } from './runner.js';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const flags = parseFlags(args, { '--only': true, '--jobs': true });
const values = (name: string): string[] =>
  args.flatMap((a, i) => (a === name && i + 1 < args.length ? [args[i + 1]!] : []));
const jobsArg = values('--jobs').at(-1);
const jobs = jobsArg === undefined ? 2 : Number(jobsArg);
if (!Number.isInteger(jobs) || jobs < 1)
  throw new Error(`experiments: expected --jobs to be a whole number >= 1, got ${jobsArg}`);

/** The section a script runs: s3-2-3-batch-size.ts -> 3.2.3, s4-clustering.ts -> 4. */
function sectionOf(script: string): string {
  return /^s(\d+(?:-\d+)*)-/.exec(script)![1]!.replaceAll('-', '.');
}
const all = readdirSync(here).filter((f) => /^s[0-9].*\.ts$/.test(f));
const sections = all.map(sectionOf);
const only = values('--only');
const unknown = only.filter((s) => !sections.includes(s));
if (unknown.length > 0)
  throw new Error(
    `experiments: expected --only to name a section (${[...sections].sort(bySection).join(', ')}), got ${unknown.join(', ')}`,
  );
function bySection(a: string, b: string): number {
  const [x, y] = [a.split('.').map(Number), b.split('.').map(Number)];
  for (let i = 0; i < Math.max(x.length, y.length); i++)
    if ((x[i] ?? -1) !== (y[i] ?? -1)) return (x[i] ?? -1) - (y[i] ?? -1);
  return 0;
}

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
const scripts = all
  .filter((f) => only.length === 0 || only.includes(sectionOf(f)))
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
  `experiments: ${flags.mode} mode, ${scripts.length} section${scripts.length === 1 ? '' : 's'} (${scripts.map(sectionOf).sort(bySection).join(', ')}) written to ${outDir ?? modeDir(flags.mode)} in ${((performance.now() - t0) / 1000).toFixed(0)} s${failed ? `, ${failed} failed` : ''}`,
);
process.exit(failed ? 1 : 0);
