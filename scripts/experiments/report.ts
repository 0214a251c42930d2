// Generates a mode's page from the section JSONs: `--full` -> docs/report.md (the committed page),
// quick mode -> docs/quick/report.md (the CI smoke run, marked as such at its top), with
// `--out DIR` (any mode; required with --smoke) DIR/report.md from DIR/results. It adds the
// hand-written discussion in docs/notes/: `<section>.md` (e.g. `3.1.1.md`) is pasted under that
// section, `intro.md` under "How to read this page", `outro.md` at the end, and `<key>.<mode>.md`
// replaces `<key>.md` on that mode's page (see docs/notes/README.md). The verdict rule is printed
// once, from stats.ts, so the page cannot state a rule the code does not apply.
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type Config,
  type SectionResult,
  SEEDS,
  epochsText,
  modeDir,
  parseFlags,
} from './runner.js';
import { RULE } from './stats.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { mode, out: outDir } = parseFlags(process.argv.slice(2));
const base = outDir !== undefined ? resolve(outDir) : modeDir(mode);
if (base === undefined)
  throw new Error('report: expected --out DIR with --smoke (smoke runs never write to docs/)');
const resDir = join(base, 'results');
const outFile = join(base, 'report.md');
// The committed page, linked from the quick and smoke pages (as a path when written elsewhere).
const fullPage =
  outDir === undefined
    ? `[docs/report.md](${relative(base, join(root, 'docs', 'report.md'))})`
    : '`docs/report.md`';

// One file per block in docs/notes/: `<key>.<mode>.md` (this page's mode) wins over `<key>.md`.
const notesDir = join(root, 'docs', 'notes');
const noteOf = (key: string): string | undefined => {
  for (const file of [`${key}.${mode}.md`, `${key}.md`]) {
    const path = join(notesDir, file);
    if (existsSync(path)) return readFileSync(path, 'utf8').trim();
  }
  return undefined;
};

const order = (s: string): number[] => s.split('.').map(Number);
const sections: SectionResult[] = readdirSync(resDir)
  .filter((f) => f.endsWith('.json'))
  .map((f) => {
    const s = JSON.parse(readFileSync(join(resDir, f), 'utf8')) as SectionResult;
    // A JSON written before the page labelled every row with its epochs and seeds cannot be shown.
    if (!Array.isArray(s.seeds) || s.configs.some((c) => typeof c.epochs !== 'number'))
      throw new Error(
        `report: expected ${join(resDir, f)} to carry its seeds and each config's epochs (written by the current runner), got an older file: re-run it (npm run experiments -- --only ${s.section}${mode === 'quick' ? '' : ` --${mode}`})`,
      );
    return s;
  })
  .sort((a, b) => {
    const [x, y] = [order(a.section), order(b.section)];
    for (let i = 0; i < Math.max(x.length, y.length); i++)
      if ((x[i] ?? -1) !== (y[i] ?? -1)) return (x[i] ?? -1) - (y[i] ?? -1);
    return 0;
  });

const f = (v: number, d = 4): string => v.toFixed(d);
const pm = (s: { mean: number; std: number }, d = 4): string =>
  s.std === 0 ? f(s.mean, d) : `${f(s.mean, d)} ± ${f(s.std, d)}`;
/** The distinct epoch counts of a section ("200", or "1, 2, 45" when its configs differ). */
const epochsShort = (e: SectionResult['epochs']): string =>
  typeof e === 'number' ? `${e}` : [...new Set(Object.values(e))].sort((a, b) => a - b).join(', ');
const plural = (n: string, word: string): string => `${n} ${word}${n === '1' ? '' : 's'}`;
/** The seed counts of a section's configs ("5", or "3, 5" when they differ). */
const seedsOf = (s: SectionResult): string => {
  const counts = [...new Set(s.configs.map((c) => c.seeds.length))];
  return counts.length > 0 ? counts.join(', ') : `${s.seeds.length}`;
};

function table(configs: Config[]): string[] {
  if (configs.length === 0) return [];
  const acc = configs.some((c) => c.final.testAcc !== null);
  const rows = [
    `| run | epochs | seeds | final train loss | final test loss | best test loss (epoch) |${acc ? ' final test accuracy |' : ''}`,
    `|---|---|---|---|---|---|${acc ? '---|' : ''}`,
  ];
  for (const c of configs) {
    rows.push(
      `| ${c.name} | ${c.epochs} | ${c.seeds.length} | ${pm(c.final.trainLoss)} | ${pm(c.final.testLoss)} | ${pm(c.best.testLoss)} (${c.best.epoch}) |${acc ? ` ${c.final.testAcc ? pm(c.final.testAcc, 3) : '–'} |` : ''}`,
    );
  }
  rows.push(
    '',
    '<details><summary>Architectures</summary>',
    '',
    ...configs.map((c) => `- **${c.name}**: \`${c.description}\``),
    '',
    '</details>',
  );
  return rows;
}

function clusteringTable(extra: Record<string, unknown>): string[] {
  type Stat = { mean: number; std: number; n: number };
  const scores = extra['scores'] as
    Record<string, Record<'train' | 'test', { purity: Stat; ari: Stat }>> | undefined;
  if (scores === undefined) return [];
  // The blank line ends the architectures' <details> block above, so the table renders as one.
  const rows = [
    '',
    '| space | seeds | purity (train) | ARI (train) | purity (test) | ARI (test) |',
    '|---|---|---|---|---|---|',
  ];
  for (const [name, s] of Object.entries(scores))
    rows.push(
      `| ${name} | ${s.train.ari.n} | ${pm(s.train.purity, 3)} | ${pm(s.train.ari, 3)} | ${pm(s.test.purity, 3)} | ${pm(s.test.ari, 3)} |`,
    );
  return rows;
}

function squaredErrors(extra: Record<string, unknown>): string[] {
  type Stat = { mean: number; std: number; n: number };
  const stats = extra['testSquaredErrorStats'] as Record<string, Stat> | undefined;
  if (stats !== undefined)
    return [
      '',
      `Test squared error per image (sum over pixels), mean ± std over seeds: ${Object.entries(
        stats,
      )
        .map(([k, v]) => `${k} ${pm(v, 3)} (${v.n} seeds)`)
        .join('; ')}.`,
    ];
  const se = (extra['testSquaredError'] ?? extra['testMse']) as Record<string, number> | undefined;
  if (se === undefined) return [];
  return [
    '',
    `Test squared error per image (sum over pixels): ${Object.entries(se)
      .map(([k, v]) => `${k} ${f(v, 3)}`)
      .join('; ')}.`,
  ];
}

// The mark at the top of the page: which mode, and for quick and smoke pages what they are not.
const seedCount = (m: SectionResult['mode']): string =>
  `${SEEDS[m].length} seed${SEEDS[m].length === 1 ? '' : 's'}`;
const banner: Record<SectionResult['mode'], string> = {
  full: `**Full mode:** the report's epoch counts, ${seedCount('full')} per experiment. This is the reproduction's page.`,
  quick: `> **Smoke run for CI, not the reproduction.** This page is quick mode: fewer epochs than the report and ${seedCount('quick')} per experiment, so that every section can be re-run in minutes and checked to still run and agree with itself. Its verdicts can differ from the reproduction's; the page to read is the full-mode one, ${fullPage}.`,
  smoke: `> **Smoke test output:** ${seedCount('smoke')}, 1-2 epochs per experiment; it only shows that every script still runs. No number on this page means anything. The page to read is the full-mode one, ${fullPage}.`,
};
const stale = sections.filter((s) => s.mode !== mode);
for (const s of stale)
  console.error(
    `report: ${s.section} was run in ${s.mode} mode, not ${mode}: re-run it (npm run experiments -- --only ${s.section}${mode === 'quick' ? '' : ` --${mode}`})`,
  );

const out: string[] = [
  '# Reproducing the report with torchlet',
  '',
  `<!-- Generated by scripts/experiments/report.ts from ${outDir !== undefined ? 'the results/*.json next to it' : `${relative(root, resDir)}/*.json`} and docs/notes/; edit those, not this file. -->`,
  '',
  banner[mode],
  '',
  '## How to read this page',
  '',
  noteOf('intro') ?? '',
  '',
  `**The rule.** Every check line below is computed by the section's script, and every one uses the same rule: ${RULE}. A section is **reproduced** when all its checks hold, **partly** when some do, **not reproduced** when none do, and **no claim** when the report draws no conclusion to check (a section may then test a hypothesis of ours, by the same rule, shown apart and not counted).`,
  '',
  '## Verdicts',
  '',
  '| section | claim | verdict | mode | epochs | seeds |',
  '|---|---|---|---|---|---|',
  ...sections.map(
    (s) =>
      `| [${s.section} ${s.title}](#${anchor(s)}) | ${s.claim} | **${s.verdict}** | ${s.mode === mode ? s.mode : `**${s.mode}** (not this page's mode: re-run it)`} | ${epochsShort(s.epochs)} | ${seedsOf(s)} |`,
  ),
  '',
];
function anchor(s: SectionResult): string {
  return `${s.section} ${s.title}`
    .toLowerCase()
    .replace(/[^a-z0-9 -]/g, '')
    .replace(/ /g, '-');
}
for (const s of sections) {
  out.push(`## ${s.section} ${s.title}`, '');
  out.push(`**The report:** ${s.claim}`, '');
  out.push(
    `**Setup:** ${s.setup}; ${epochsText(s.epochs)} epochs, ${plural(seedsOf(s), 'seed')} (${s.mode} mode, ${f(s.wallSeconds, 0)} s).`,
    '',
  );
  for (const fig of s.figures)
    out.push(`![${fig.caption}](${fig.file})`, '', `*${fig.caption}*`, '');
  out.push(...table(s.configs));
  if (s.extra) out.push(...clusteringTable(s.extra), ...squaredErrors(s.extra));
  if (s.noClaim !== undefined) {
    out.push('', `**No claim to check:** ${s.noClaim}${/[.!?]$/.test(s.noClaim) ? '' : '.'}`);
    if (s.hypotheses !== undefined) {
      const held = s.hypotheses.filter((c) => c.holds).length;
      out.push(
        '',
        "**Our hypothesis (not the report's claim; it does not count in the verdict):**",
        '',
        ...s.hypotheses.map((c) => `- [${c.holds ? 'x' : ' '}] ${c.claim}: ${c.evidence}`),
        '',
        `**Our hypothesis ${held === s.hypotheses.length ? 'holds' : held === 0 ? 'does not hold' : 'holds in part'}** (${held} of ${s.hypotheses.length} checks).`,
      );
    }
  } else {
    out.push('', '**Checks:**', '');
    for (const c of s.checks) out.push(`- [${c.holds ? 'x' : ' '}] ${c.claim}: ${c.evidence}`);
  }
  out.push('', `**Verdict: ${s.verdict}.**`, '');
  const note = noteOf(s.section);
  if (note) out.push(note, '');
}
const outro = noteOf('outro');
if (outro !== undefined) out.push(outro, '');
writeFileSync(outFile, out.join('\n').replace(/\n{3,}/g, '\n\n'));
console.log(`report: wrote ${outFile} (${mode} mode, ${sections.length} sections)`);
