// Smoke test of the report's experiments (scripts/experiments/): each section script runs in
// `--smoke` mode (1 seed, 1-2 epochs) into a temporary folder and must finish and write its result
// JSON, with finite numbers, and its figures; then report.ts builds a page from them. This catches
// a script that no longer runs against the current API (0.2.0 made sgd refuse unknown option keys
// and MSELoss refuse class indices, and 4 of the 12 sections failed unnoticed). It also checks the
// page's machinery: the 'no claim' verdict, `--only`, and the marks that say which mode a page is
// (quick mode's docs/quick/report.md is the CI smoke run, not the reproduction). It never writes
// to docs/: the committed numbers come from `npm run experiments -- --full` (docs/report.md) and
// `npm run experiments` (docs/quick/).
import { execFile } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Config, writeSection } from '../scripts/experiments/runner.js';
import { stat } from '../scripts/experiments/stats.js';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..');
const dir = join(root, 'scripts', 'experiments');
// The same rule as run-all.ts: every s<digit>…ts file is a section.
const scripts = readdirSync(dir)
  .filter((f) => /^s[0-9].*\.ts$/.test(f))
  .sort();

/** Runs a script of scripts/experiments with node + tsx; rejects on a non-zero exit. */
async function runScript(script: string, args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', join(dir, script), ...args], {
    cwd: root,
    maxBuffer: 16 << 20,
  });
  return stdout;
}

/** Runs a script that must fail; resolves to its stderr. */
async function failScript(script: string, args: string[]): Promise<string> {
  try {
    await runScript(script, args);
  } catch (e) {
    return (e as { stderr: string }).stderr;
  }
  throw new Error(`${script} ${args.join(' ')}: expected a failure, got exit code 0`);
}

/** The result JSONs under docs/ (committed pages) whose mtimes must not change. */
const committed = ['', 'quick']
  .map((d) => join('docs', d))
  .flatMap((d) => [
    ...(existsSync(join(root, d, 'report.md')) ? [join(d, 'report.md')] : []),
    ...(existsSync(join(root, d, 'results'))
      ? readdirSync(join(root, d, 'results')).map((f) => join(d, 'results', f))
      : []),
  ]);

/**
 * Paths (a.b[2].c) of the values in a result JSON that are not plain data: null (what
 * JSON.stringify makes of NaN and ±Infinity) outside the places where it means something (under
 * a key naming an epoch, `epochsTo.*` or `escapeEpochBySeed.*`: never reached; `final.testAcc`: a
 * reconstruction run), and strings that print a non-finite number ("NaN", "Infinity").
 */
function badValues(value: unknown, path: string[] = []): string[] {
  const [parent, key] = path.slice(-2);
  if (value === null)
    return path.slice(0, -1).some((k) => /epoch/i.test(k)) ||
      (parent === 'final' && key === 'testAcc')
      ? []
      : [path.join('.')];
  if (typeof value === 'number') return Number.isFinite(value) ? [] : [path.join('.')];
  if (typeof value === 'string') return /\bNaN\b|Infinity/.test(value) ? [path.join('.')] : [];
  if (typeof value === 'object')
    return Object.entries(value).flatMap(([k, v]) => badValues(v, [...path, k]));
  return [];
}

describe('experiments (scripts/experiments, --smoke)', () => {
  let tmp = '';
  const mtimes = new Map<string, number>();

  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'torchlet-experiments-test-'));
    for (const f of committed) mtimes.set(f, statSync(join(root, f)).mtimeMs);
  });
  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('finds the sections', () => {
    expect(scripts.length).toBeGreaterThanOrEqual(12);
  });

  for (const script of scripts) {
    it(`${script} runs and writes its result JSON and figures`, async () => {
      const out = join(tmp, script.replace(/\.ts$/, ''));
      await runScript(script, ['--smoke', '--out', out]);
      const files = readdirSync(join(out, 'results'));
      expect(files).toHaveLength(1);
      const result = JSON.parse(readFileSync(join(out, 'results', files[0]!), 'utf8')) as {
        mode: string;
        verdict: string;
        noClaim?: unknown;
        checks: { holds: unknown; evidence: unknown }[];
        hypotheses?: { holds: unknown; evidence: unknown }[];
        configs: { curves: { trainLoss: unknown[]; testLoss: unknown[] } }[];
        figures: { file: string }[];
        extra?: Record<string, unknown>;
      };
      expect(result.mode).toBe('smoke');
      // A section checks something, or says why the report makes no claim (and checks nothing).
      if (result.verdict === 'no claim') {
        expect(typeof result.noClaim).toBe('string');
        expect(result.checks).toEqual([]);
      } else {
        expect(['reproduced', 'partly', 'not reproduced']).toContain(result.verdict);
        expect(result.checks.length).toBeGreaterThan(0);
      }
      // Hypotheses of ours appear only where the report claims nothing.
      if (result.hypotheses !== undefined) expect(result.verdict).toBe('no claim');
      for (const c of [...result.checks, ...(result.hypotheses ?? [])]) {
        expect(typeof c.holds).toBe('boolean');
        expect(typeof c.evidence).toBe('string');
      }
      // Section 4 keeps its numbers (clustering scores) in `extra`, the others in `configs`.
      expect(result.configs.length + Object.keys(result.extra ?? {}).length).toBeGreaterThan(0);
      for (const c of result.configs) {
        expect(c.curves.trainLoss.length).toBeGreaterThan(0);
        expect(c.curves.testLoss.length).toBe(c.curves.trainLoss.length);
      }
      expect(badValues(result)).toEqual([]);
      expect(result.figures.length).toBeGreaterThan(0);
      for (const f of result.figures)
        expect(readFileSync(join(out, f.file), 'utf8')).toMatch(/^<svg[^>]*>/);
    });
  }

  it('report.ts builds the page from the sections, linking figures that exist', async () => {
    const all = join(tmp, 'all');
    mkdirSync(join(all, 'results'), { recursive: true });
    mkdirSync(join(all, 'figures'), { recursive: true });
    for (const script of scripts) {
      const out = join(tmp, script.replace(/\.ts$/, ''));
      cpSync(join(out, 'results'), join(all, 'results'), { recursive: true });
      cpSync(join(out, 'figures'), join(all, 'figures'), { recursive: true });
    }
    await runScript('report.ts', ['--smoke', '--out', all]);
    const page = readFileSync(join(all, 'report.md'), 'utf8');
    expect(page.match(/^\*\*Verdict: /gm)).toHaveLength(scripts.length);
    const links = [...page.matchAll(/!\[[^\]]*\]\(([^)]+)\)/g)].map((m) => m[1]!);
    expect(links.length).toBeGreaterThan(0);
    expect(links.filter((l) => !existsSync(join(all, l)))).toEqual([]);
  });

  it("renders a 'no claim' section with its reason and no checks", async () => {
    const dirNc = join(tmp, 'no-claim');
    mkdirSync(join(dirNc, 'results'), { recursive: true });
    const ctx = { mode: 'smoke' as const, seeds: [1], resDir: join(dirNc, 'results') };
    const base = {
      section: '9.1',
      title: 'Something',
      claim: 'The report shows a figure and draws no conclusion.',
      epochs: 2,
      setup: 'none',
      configs: [] as Config[],
      figures: [],
      wallSeconds: 0,
    };
    const check = { claim: 'c', holds: true, evidence: 'e' };
    // Both checks and noClaim, or neither, are refused, and nothing is written.
    expect(() => writeSection(ctx, 'x', { ...base, checks: [check], noClaim: 'why' })).toThrow(
      'writeSection(9.1): expected no checks with noClaim',
    );
    expect(() => writeSection(ctx, 'x', { ...base, checks: [] })).toThrow(
      'writeSection(9.1): expected at least one check, or noClaim',
    );
    expect(() => writeSection(ctx, 'x', { ...base, checks: [], noClaim: ' ' })).toThrow(
      'expected noClaim to say why',
    );
    // Hypotheses of ours only where the report claims nothing, and never an empty list.
    expect(() => writeSection(ctx, 'x', { ...base, checks: [check], hypotheses: [check] })).toThrow(
      'writeSection(9.1): expected hypotheses only with noClaim',
    );
    expect(() =>
      writeSection(ctx, 'x', { ...base, checks: [], noClaim: 'why', hypotheses: [] }),
    ).toThrow('writeSection(9.1): expected at least one hypothesis check');
    expect(readdirSync(join(dirNc, 'results'))).toEqual([]);
    writeSection(ctx, '9.3-ours', {
      ...base,
      section: '9.3',
      title: 'Ours',
      checks: [],
      noClaim: 'the report names this as future work',
      hypotheses: [check, { claim: 'd', holds: false, evidence: 'f' }],
    });
    writeSection(ctx, '9.1-something', {
      ...base,
      checks: [],
      noClaim: 'the report draws no conclusion on this',
    });
    writeSection(ctx, '9.2-other', { ...base, section: '9.2', title: 'Other', checks: [check] });
    await runScript('report.ts', ['--smoke', '--out', dirNc]);
    const page = readFileSync(join(dirNc, 'report.md'), 'utf8');
    const nine1 = page.slice(page.indexOf('## 9.1 Something'), page.indexOf('## 9.2 Other'));
    expect(nine1).toContain('**No claim to check:** the report draws no conclusion on this.');
    expect(nine1).toContain('**Verdict: no claim.**');
    expect(nine1).not.toContain('**Checks:**');
    expect(page).toMatch(
      /\| \[9\.1 Something\]\(#91-something\) \| .* \| \*\*no claim\*\* \| smoke \| 2 \| 1 \|/,
    );
    expect(page).toContain('**Verdict: reproduced.**');
    // A hypothesis of ours is shown with its outcome, and the verdict stays 'no claim'.
    const nine3 = page.slice(page.indexOf('## 9.3 Ours'));
    expect(nine3).toContain(
      "**Our hypothesis (not the report's claim; it does not count in the verdict):**",
    );
    expect(nine3).toContain('- [x] c: e');
    expect(nine3).toContain('- [ ] d: f');
    expect(nine3).toContain('**Our hypothesis holds in part** (1 of 2 checks).');
    expect(nine3).toContain('**Verdict: no claim.**');
    expect(page).toMatch(/\| \[9\.3 Ours\]\(#93-ours\) \| .* \| \*\*no claim\*\* \|/);
  });

  it('--only runs the named sections and no other, and refuses an unknown one', async () => {
    const only = join(tmp, 'only');
    await runScript('run-all.ts', ['--smoke', '--out', only, '--only', '3.2.4', '--only', '3.2.5']);
    expect(readdirSync(join(only, 'results')).sort()).toEqual([
      '3.2.4-kernel-size.json',
      '3.2.5-feature-maps.json',
    ]);
    const page = readFileSync(join(only, 'report.md'), 'utf8');
    expect(page.match(/^\*\*Verdict: /gm)).toHaveLength(2);
    const bad = await failScript('run-all.ts', ['--smoke', '--out', only, '--only', '3.2.9']);
    expect(bad).toContain('experiments: expected --only to name a section (3.1.1, 3.1.2,');
    expect(bad).toContain('3.3.2, 4), got 3.2.9');
    // A misspelt flag is refused, not ignored (it would have run everything in quick mode).
    expect(await failScript('run-all.ts', ['--smoke', '--out', only, '--onyl', '4'])).toContain(
      'experiments: expected one of --full, --smoke, --out, --only, --jobs, got "--onyl"',
    );
  });

  it('marks each page with its mode: quick as the CI smoke run pointing to the full page', async () => {
    const page = join(tmp, 'pages');
    mkdirSync(join(page, 'results'), { recursive: true });
    writeSection({ mode: 'quick', seeds: [1, 2, 3], resDir: join(page, 'results') }, 's', {
      section: '9.1',
      title: 'Something',
      claim: 'c',
      epochs: 2,
      setup: 'none',
      configs: [],
      checks: [{ claim: 'c', holds: stat([1, 2]).mean > 1, evidence: 'e' }],
      figures: [],
      wallSeconds: 0,
    });
    await runScript('report.ts', ['--out', page]);
    const quick = readFileSync(join(page, 'report.md'), 'utf8');
    const top = quick.slice(0, quick.indexOf('## Verdicts'));
    expect(top).toContain('**Smoke run for CI, not the reproduction.**');
    expect(top).toContain('3 seeds per experiment');
    expect(top).toContain('`docs/report.md`');
    expect(top).toContain('## How to read this page');
    expect(top).toContain('a difference counts when it exceeds two standard errors');
    // The rule is stated once, at the top.
    expect(quick.match(/two standard errors/g)).toHaveLength(1);
    await runScript('report.ts', ['--full', '--out', page]);
    const full = readFileSync(join(page, 'report.md'), 'utf8');
    expect(full).toContain("**Full mode:** the report's epoch counts, 5 seeds per experiment.");
    expect(full).not.toContain('Smoke run');
    // The page lists a section run in another mode as such (here: the quick JSON on a full page).
    expect(full).toContain("**quick** (not this page's mode: re-run it)");
  });

  it('report.ts refuses a result JSON from before the labels, naming the command that renews it', async () => {
    const old = join(tmp, 'old');
    mkdirSync(join(old, 'results'), { recursive: true });
    const json = { section: '3.2.3', title: 'Batch size', claim: 'c', mode: 'quick', epochs: 60 };
    writeFileSync(
      join(old, 'results', '3.2.3-batch-size.json'),
      JSON.stringify({
        ...json,
        setup: '',
        configs: [],
        checks: [],
        verdict: 'partly',
        figures: [],
      }),
    );
    expect(await failScript('report.ts', ['--out', old])).toContain(
      'got an older file: re-run it (npm run experiments -- --only 3.2.3)',
    );
    expect(existsSync(join(old, 'report.md'))).toBe(false);
  });

  it('the committed quick page is marked as the CI smoke run and links the full page', () => {
    const quick = readFileSync(join(root, 'docs', 'quick', 'report.md'), 'utf8');
    expect(quick.slice(0, 1200)).toContain('**Smoke run for CI, not the reproduction.**');
    expect(quick).toContain('[docs/report.md](../report.md)');
  });

  it('left docs/ alone', () => {
    expect(committed.length).toBeGreaterThan(0);
    for (const f of committed)
      expect([f, statSync(join(root, f)).mtimeMs]).toEqual([f, mtimes.get(f)]);
  });
});
