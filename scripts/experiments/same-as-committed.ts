// Does a fresh `npm run experiments -- --full` give the committed page? Compares the mode's folder
// (docs/report.md, docs/results, docs/figures; quick mode: docs/quick/) with a git revision, byte
// for byte except the timings: the JSONs' `seconds` and `wallSeconds`, and the page's "(full mode,
// 43 s)" in each setup line. Everything else, down to the last digit of a loss, must match.
// Usage: tsx scripts/experiments/same-as-committed.ts [--full] [--rev HEAD]; exit 1 on a difference.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { modeDir, parseFlags } from './runner.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = process.argv.slice(2);
const { mode, out } = parseFlags(args, { '--rev': true });
if (out !== undefined)
  throw new Error(`same-as-committed: expected no --out (it compares docs/ with git), got ${out}`);
const rev = args.includes('--rev') ? args[args.indexOf('--rev') + 1]! : 'HEAD';
const base = modeDir(mode);
if (base === undefined) throw new Error('same-as-committed: smoke runs are never committed');

/** The text with its timings blanked: the only part of a page that may differ between runs. */
function untimed(path: string, text: string): string {
  if (path.endsWith('.json'))
    return JSON.stringify(
      JSON.parse(text),
      (k, v: unknown) => (k === 'seconds' || k === 'wallSeconds' ? 0 : v),
      1,
    );
  return text.replace(/\((full|quick) mode, \d+ s\)/g, '($1 mode, … s)');
}

const git = (...a: string[]): string =>
  execFileSync('git', a, { cwd: root, encoding: 'utf8', maxBuffer: 1 << 28 });
const folder = relative(root, base);
const committed = git('ls-tree', '-r', '--name-only', rev, '--', folder)
  .split('\n')
  .filter((p) => p !== '' && !relative(folder, p).startsWith('..'));
// Only what the run writes: the page and its two folders (docs/ also holds other documents).
const written = (p: string): boolean =>
  /^(report\.md|results\/[^/]+|figures\/[^/]+)$/.test(relative(folder, p));
const ours = [
  ...(existsSync(join(base, 'report.md')) ? [join(folder, 'report.md')] : []),
  ...['results', 'figures'].flatMap((d) =>
    existsSync(join(base, d)) ? readdirSync(join(base, d)).map((f) => join(folder, d, f)) : [],
  ),
];
const paths = [...new Set([...committed.filter(written), ...ours])].sort();
const problems: string[] = [];
for (const p of paths) {
  const inRev = committed.includes(p);
  const here = existsSync(join(root, p));
  if (!inRev) problems.push(`${p}: not in ${rev}`);
  else if (!here) problems.push(`${p}: in ${rev}, not written by this run`);
  else if (
    untimed(p, git('show', `${rev}:${p}`)) !== untimed(p, readFileSync(join(root, p), 'utf8'))
  )
    problems.push(`${p}: differs from ${rev} beyond timings (git diff ${rev} -- ${p})`);
}
console.log(
  problems.length === 0
    ? `same-as-committed: ${paths.length} files of ${folder}/ match ${rev} (timings aside)`
    : `same-as-committed: ${problems.length} of ${paths.length} files differ:\n  ${problems.join('\n  ')}`,
);
process.exitCode = problems.length === 0 ? 0 : 1;
