// Smoke test of the report's experiments (scripts/experiments/): each section script runs in
// `--smoke` mode (1 seed, 1-2 epochs) into a temporary folder and must finish and write its result
// JSON, with finite numbers, and its figures; then report.ts builds a page from them. This catches
// a script that no longer runs against the current API (0.2.0 made sgd refuse unknown option keys
// and MSELoss refuse class indices, and 4 of the 12 sections failed unnoticed). It never writes to
// docs/: the committed numbers come from `npm run experiments` (quick mode).
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
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

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

/**
 * Paths (a.b[2].c) of the values in a result JSON that are not plain data: null (what
 * JSON.stringify makes of NaN and ±Infinity) outside the two places where it means something
 * (`epochsTo.*`: never reached; `final.testAcc`: a reconstruction run), and strings that print a
 * non-finite number ("NaN", "Infinity").
 */
function badValues(value: unknown, path: string[] = []): string[] {
  const [parent, key] = path.slice(-2);
  if (value === null)
    return parent === 'epochsTo' || (parent === 'final' && key === 'testAcc')
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
  const docsFiles = [
    'report.md',
    ...readdirSync(join(root, 'docs', 'results')).map((f) => join('results', f)),
  ];
  const mtimes = new Map<string, number>();

  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'torchlet-experiments-test-'));
    for (const f of docsFiles) mtimes.set(f, statSync(join(root, 'docs', f)).mtimeMs);
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
        checks: { holds: unknown; evidence: unknown }[];
        configs: { curves: { trainLoss: unknown[]; testLoss: unknown[] } }[];
        figures: { file: string }[];
        extra?: Record<string, unknown>;
      };
      expect(result.mode).toBe('smoke');
      expect(['reproduced', 'partly', 'not reproduced']).toContain(result.verdict);
      expect(result.checks.length).toBeGreaterThan(0);
      for (const c of result.checks) {
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

  it('left docs/ alone', () => {
    for (const f of docsFiles)
      expect([f, statSync(join(root, 'docs', f)).mtimeMs]).toEqual([f, mtimes.get(f)]);
  });
});
