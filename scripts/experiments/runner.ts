// The shared runner of the report's experiments: flags (--full, --smoke, --out), seeded
// multi-seed training with per-epoch test loss and accuracy, mean ± spread, and the writers of
// figures (SVG) and numbers (JSON). Quick mode writes docs/figures + docs/results (committed);
// --full writes docs/full/; --smoke (1 seed, 1-2 epochs: does the script still run against the
// current API? test/experiments.test.ts) writes to a temporary folder, never to docs/.
// `--out DIR` writes DIR/figures and DIR/results instead, in any mode.
// Each section script calls `writeSection(...)` once; scripts/experiments/report.ts reads the JSONs.

import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type Dataset,
  type Loss,
  type Module,
  type SgdOptions,
  init,
  lossCurvesSvg,
  sgd,
  imageGridSvg,
} from '../../ts/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** How much a section trains: `quick` (committed), `full` (the report's epochs), `smoke` (1-2 epochs). */
export type Mode = 'quick' | 'full' | 'smoke';

/** Where a section writes, and in which mode it runs. */
export interface Ctx {
  mode: Mode;
  /** True with `--full`: the report's epoch counts and 5 seeds. */
  full: boolean;
  /** Folder of the SVG figures. */
  figDir: string;
  /** Folder of the JSON results. */
  resDir: string;
  /** Path of a figure as the report links it (relative to docs/, or to `--out`). */
  figLink(name: string): string;
  /** Seeds of the multi-seed runs. */
  seeds: number[];
  /** `quick` in quick mode, `full` in full mode, `smoke` (default `quick`) in smoke mode. */
  pick<T>(quick: T, full: T, smoke?: T): T;
}

/** The mode and output folder from argv: `--full`, `--smoke`, `--out DIR`. */
export function parseFlags(argv: readonly string[]): { mode: Mode; out: string | undefined } {
  const full = argv.includes('--full');
  const smoke = argv.includes('--smoke');
  if (full && smoke) throw new Error('experiments: expected at most one of --full and --smoke');
  const i = argv.indexOf('--out');
  const out = i < 0 ? undefined : argv[i + 1];
  if (i >= 0 && (out === undefined || out.startsWith('--')))
    throw new Error(`experiments: expected a folder after --out, got ${out ?? 'nothing'}`);
  return { mode: full ? 'full' : smoke ? 'smoke' : 'quick', out };
}

/** Parses argv, loads the WASM, makes the output folders. */
export async function context(): Promise<Ctx> {
  const { mode, out } = parseFlags(process.argv);
  const full = mode === 'full';
  // Smoke runs never write to docs/: a fresh temporary folder unless --out names one.
  const base =
    out !== undefined
      ? resolve(out)
      : mode === 'smoke'
        ? mkdtempSync(join(tmpdir(), 'torchlet-experiments-smoke-'))
        : full
          ? join(root, 'docs', 'full')
          : join(root, 'docs');
  const figDir = join(base, 'figures');
  const resDir = join(base, 'results');
  mkdirSync(figDir, { recursive: true });
  mkdirSync(resDir, { recursive: true });
  if (mode === 'smoke' && out === undefined) console.log(`smoke: writing to ${base}`);
  await init();
  return {
    mode,
    full,
    figDir,
    resDir,
    figLink: (name) => `${full && out === undefined ? 'full/' : ''}figures/${name}`,
    seeds: full ? [1, 2, 3, 4, 5] : mode === 'smoke' ? [1] : [1, 2, 3],
    pick: (quick, fullValue, smoke = quick) =>
      mode === 'full' ? fullValue : mode === 'smoke' ? smoke : quick,
  };
}

/** One training run's per-epoch curves. */
export interface Curves {
  trainLoss: number[];
  testLoss: number[];
  /** Test accuracy per epoch (classification only). */
  testAcc: number[];
  seconds: number;
}

/** Options for `train`: sgd's, plus whether to score accuracy. */
export interface TrainOptions extends SgdOptions {
  epochs: number;
  step: number;
  seed: number;
  /** Score test accuracy each epoch (default true). */
  accuracy?: boolean;
}

/**
 * Trains `net` on `train` with sgd, scoring `test` after every epoch (loss, and accuracy).
 * Plain SGD unless `optimizer` says otherwise; the shuffling seed is `seed`.
 */
export function train(
  net: Module,
  data: { train: Dataset; test: Dataset },
  loss: Loss,
  options: TrainOptions,
): Curves {
  const t0 = performance.now();
  // `accuracy` is ours, not sgd's (sgd refuses unknown option keys): take it out before passing on.
  const { accuracy = true, ...sgdOptions } = options;
  const h = sgd(net, data.train, loss, {
    batchSize: 32,
    ...sgdOptions,
    validation: data.test,
    ...(accuracy ? { metric: 'accuracy' as const } : {}),
  });
  return {
    trainLoss: h.loss,
    testLoss: h.valLoss,
    testAcc: h.valMetric,
    seconds: (performance.now() - t0) / 1000,
  };
}

/** Mean and (sample) standard deviation. */
export interface Stat {
  mean: number;
  std: number;
}

export function stat(xs: readonly number[]): Stat {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const v = xs.length < 2 ? 0 : xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1);
  return { mean, std: Math.sqrt(v) };
}

/** A configuration trained over several seeds: mean curves and final statistics. */
export interface Config {
  name: string;
  /** The network (and anything else that differs), in words. */
  description: string;
  seeds: number[];
  /** Mean over seeds of each per-epoch curve. */
  curves: { trainLoss: number[]; testLoss: number[]; testAcc: number[] };
  /** Last epoch, over seeds. */
  final: { trainLoss: Stat; testLoss: Stat; testAcc: Stat | null };
  /** Lowest test loss over the epochs (mean over seeds), and the epoch (1-based) of the mean curve's minimum. */
  best: { testLoss: Stat; epoch: number };
  /** Epochs until the mean test accuracy first reaches `target` (null when never), if asked. */
  epochsTo?: Record<string, number | null>;
  seconds: number;
}

function meanCurve(curves: number[][]): number[] {
  const len = Math.min(...curves.map((c) => c.length));
  return Array.from(
    { length: len },
    (_, i) => curves.reduce((s, c) => s + c[i]!, 0) / curves.length,
  );
}

/** Runs `run(seed)` for each seed and summarises. */
export function multiSeed(
  name: string,
  description: string,
  seeds: number[],
  run: (seed: number) => Curves,
): Config {
  const runs = seeds.map((s) => run(s));
  const curves = {
    trainLoss: meanCurve(runs.map((r) => r.trainLoss)),
    testLoss: meanCurve(runs.map((r) => r.testLoss)),
    testAcc: runs[0]!.testAcc.length > 0 ? meanCurve(runs.map((r) => r.testAcc)) : [],
  };
  const last = <T>(xs: T[]): T => xs[xs.length - 1]!;
  const bestEpoch = curves.testLoss.indexOf(Math.min(...curves.testLoss));
  const summary: Config = {
    name,
    description,
    seeds,
    curves,
    final: {
      trainLoss: stat(runs.map((r) => last(r.trainLoss))),
      testLoss: stat(runs.map((r) => last(r.testLoss))),
      testAcc: curves.testAcc.length > 0 ? stat(runs.map((r) => last(r.testAcc))) : null,
    },
    best: { testLoss: stat(runs.map((r) => Math.min(...r.testLoss))), epoch: bestEpoch + 1 },
    seconds: runs.reduce((s, r) => s + r.seconds, 0),
  };
  console.log(
    `  ${name}: test loss ${fmtStat(summary.final.testLoss)}${summary.final.testAcc ? `, test acc ${fmtStat(summary.final.testAcc, 3)}` : ''} (${summary.seconds.toFixed(1)} s)`,
  );
  return summary;
}

/** First epoch (1-based) at which `curve` reaches `target` from below (accuracy) or above (loss). */
export function epochsTo(curve: readonly number[], target: number, higher = true): number | null {
  const i = curve.findIndex((v) => (higher ? v >= target : v <= target));
  return i < 0 ? null : i + 1;
}

export function fmtStat(s: Stat, digits = 4): string {
  return `${s.mean.toFixed(digits)} ± ${s.std.toFixed(digits)}`;
}

/** One claim of the report and whether our numbers support it. */
export interface Check {
  claim: string;
  holds: boolean;
  evidence: string;
}

/** What a section's JSON holds. */
export interface SectionResult {
  section: string;
  title: string;
  /** The report's claim, in its words. */
  claim: string;
  mode: Mode;
  epochs: number | Record<string, number>;
  /** Training setup in words (optimizer, step, batch size, seeds). */
  setup: string;
  configs: Config[];
  checks: Check[];
  /** reproduced (all checks hold), partly (some), not reproduced (none). */
  verdict: 'reproduced' | 'partly' | 'not reproduced';
  figures: { file: string; caption: string }[];
  /** Any other numbers (tables) the section reports. */
  extra?: Record<string, unknown>;
  wallSeconds: number;
}

/** Writes `docs/[full/]figures/<name>` and returns the entry for `figures`. */
export function figure(
  ctx: Ctx,
  name: string,
  svg: string,
  caption: string,
): { file: string; caption: string } {
  writeFileSync(join(ctx.figDir, name), svg);
  return { file: ctx.figLink(name), caption };
}

/** Loss curves (train solid, test dashed) of the mean curves of each config. */
export function lossFigure(
  ctx: Ctx,
  name: string,
  configs: Config[],
  title: string,
  logScale = false,
): { file: string; caption: string } {
  const svg = lossCurvesSvg(
    configs.map((c) => ({
      name: c.name,
      train: c.curves.trainLoss,
      validation: c.curves.testLoss,
    })),
    { title, logScale },
  );
  return figure(
    ctx,
    name,
    svg
      .replace('(train solid, validation dashed)', '(train solid, test dashed)')
      .replaceAll('(train solid, validation dashed)', '(train solid, test dashed)'),
    `${title}: training loss (solid) and test loss (dashed) per epoch, mean over seeds`,
  );
}

/** Test accuracy curves of each config (the loss plot, relabelled). */
export function accuracyFigure(
  ctx: Ctx,
  name: string,
  configs: Config[],
  title: string,
): { file: string; caption: string } {
  const svg = lossCurvesSvg(
    configs.map((c) => ({ name: c.name, train: c.curves.testAcc })),
    { title },
  ).replace(/>loss<\/text>/, '>test accuracy</text>');
  return figure(ctx, name, svg, `${title}: test accuracy per epoch, mean over seeds`);
}

/** Rows of images: originals on top, then one row per reconstruction, labelled on the left. */
export function reconstructionFigure(
  ctx: Ctx,
  name: string,
  rows: { label: string; images: ArrayLike<number> }[],
  count: number,
  imageShape: [number, number],
  title: string,
): { file: string; caption: string } {
  const all = new Float32Array(rows.length * count * imageShape[0] * imageShape[1]);
  rows.forEach((r, i) =>
    all.set(
      Array.from(r.images).slice(0, count * imageShape[0] * imageShape[1]),
      i * count * imageShape[0] * imageShape[1],
    ),
  );
  const labels = rows.flatMap((r) =>
    Array.from({ length: count }, (_, j) => (j === 0 ? r.label : '')),
  );
  const svg = imageGridSvg(all, rows.length * count, {
    imageShape,
    columns: count,
    scale: imageShape[0] <= 8 ? 6 : 2,
    labels,
    title,
  });
  return figure(ctx, name, svg, `${title}: ${rows.map((r) => r.label).join(', ')} (one row each)`);
}

const COLOURS = [
  '#1f77b4',
  '#d62728',
  '#2ca02c',
  '#ff7f0e',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf',
];

/** A 2-D scatter plot of points [n, 2] coloured by integer label, with a legend. */
export function scatterSvg(
  points: ArrayLike<number>,
  labels: ArrayLike<number>,
  title: string,
  size = 420,
): string {
  const n = labels.length;
  const xs = Array.from({ length: n }, (_, i) => points[2 * i]!);
  const ys = Array.from({ length: n }, (_, i) => points[2 * i + 1]!);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const pad = 24;
  const top = 30;
  const px = (v: number): string =>
    (pad + ((v - x0) / (x1 - x0 || 1)) * (size - 2 * pad)).toFixed(1);
  const py = (v: number): string =>
    (top + (1 - (v - y0) / (y1 - y0 || 1)) * (size - top - pad)).toFixed(1);
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${size + 60}" height="${size}" viewBox="0 0 ${size + 60} ${size}" font-family="sans-serif" font-size="11">`,
    `<rect width="${size + 60}" height="${size}" fill="#ffffff"/>`,
    `<text x="${size / 2}" y="18" text-anchor="middle" font-size="13">${title.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</text>`,
    `<rect x="${pad}" y="${top}" width="${size - 2 * pad}" height="${size - top - pad}" fill="none" stroke="#cccccc"/>`,
  ];
  for (let i = 0; i < n; i++) {
    out.push(
      `<circle cx="${px(xs[i]!)}" cy="${py(ys[i]!)}" r="2.2" fill="${COLOURS[labels[i]! % 10]}" fill-opacity="0.75"/>`,
    );
  }
  for (let c = 0; c < 10; c++) {
    out.push(
      `<circle cx="${size + 8}" cy="${top + 10 + 18 * c}" r="5" fill="${COLOURS[c]}"/><text x="${size + 18}" y="${top + 14 + 18 * c}">${c}</text>`,
    );
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** The verdict from the checks: all hold, some hold, none hold. */
export function verdictOf(checks: Check[]): SectionResult['verdict'] {
  const held = checks.filter((c) => c.holds).length;
  return held === checks.length ? 'reproduced' : held === 0 ? 'not reproduced' : 'partly';
}

/** Writes docs/[full/]results/<file>.json and prints the verdict. */
export function writeSection(
  ctx: Ctx,
  file: string,
  result: Omit<SectionResult, 'verdict' | 'mode'>,
): void {
  const full: SectionResult = {
    ...result,
    mode: ctx.mode,
    verdict: verdictOf(result.checks),
  };
  writeFileSync(join(ctx.resDir, `${file}.json`), JSON.stringify(full, roundReplacer, 1) + '\n');
  console.log(
    `${result.section} ${result.title}: ${full.verdict} (${result.wallSeconds.toFixed(0)} s)`,
  );
  for (const c of result.checks)
    console.log(`  [${c.holds ? 'x' : ' '}] ${c.claim}: ${c.evidence}`);
}

/** Keeps the JSON small and stable: 5 significant digits. */
function roundReplacer(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isInteger(value)
    ? Number(value.toPrecision(5))
    : value;
}

/** Seconds since `t0` (from performance.now()). */
export function since(t0: number): number {
  return (performance.now() - t0) / 1000;
}

/** The 8x8 digits as rows [n, 64] (`flat`), sequences [n, 64, 1] (`seq`, Conv1D) and images [n, 8, 8, 1]. */
export async function digits(): Promise<
  Record<'flat' | 'seq' | 'image', { train: Dataset; test: Dataset }>
> {
  const { loadDigits, asSamples } = await import('../../ts/index.js');
  const { train, test } = loadDigits();
  const view = (shape: number[]): { train: Dataset; test: Dataset } => ({
    train: { x: asSamples(train.x, shape), y: train.y },
    test: { x: asSamples(test.x, shape), y: test.y },
  });
  return { flat: { train, test }, seq: view([64, 1]), image: view([8, 8, 1]) };
}
