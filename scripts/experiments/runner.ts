// The shared runner of the report's experiments: flags (--full, --smoke, --out), seeded
// multi-seed training with per-epoch test loss and accuracy, mean ± spread, and the writers of
// figures (SVG) and numbers (JSON). `--full` (the report's epochs, 5 seeds) writes docs/figures +
// docs/results, behind the committed page docs/report.md; quick mode (fewer epochs, 3 seeds: the CI
// smoke run of the page) writes docs/quick/; --smoke (1 seed, 1-2 epochs: does the script still
// run against the current API? test/experiments.test.ts) writes to a temporary folder, never to
// docs/. `--out DIR` writes DIR/figures and DIR/results instead, in any mode.
// Each section script calls `writeSection(...)` once; scripts/experiments/report.ts reads the JSONs.
// Statistics and the verdict rule live in stats.ts.

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
import { type Stat, stat } from './stats.js';

export { type Stat, stat };

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * How much a section trains: `full` (the report's epochs, 5 seeds: the committed page), `quick`
 * (fewer epochs, 3 seeds: docs/quick/, the CI smoke run of the page), `smoke` (1 seed, 1-2 epochs).
 */
export type Mode = 'quick' | 'full' | 'smoke';

/** The seeds of every multi-seed run, per mode: 5 in full mode, 3 in quick mode, 1 in smoke mode. */
export const SEEDS: Record<Mode, number[]> = {
  full: [1, 2, 3, 4, 5],
  quick: [1, 2, 3],
  smoke: [1],
};

/** The folder a mode writes to without `--out` (smoke: none, a fresh temporary folder). */
export function modeDir(mode: Mode): string | undefined {
  return mode === 'full'
    ? join(root, 'docs')
    : mode === 'quick'
      ? join(root, 'docs', 'quick')
      : undefined;
}

/** Where a section writes, and in which mode it runs. */
export interface Ctx {
  mode: Mode;
  /** True with `--full`: the report's epoch counts and 5 seeds. */
  full: boolean;
  /** Folder of the SVG figures. */
  figDir: string;
  /** Folder of the JSON results. */
  resDir: string;
  /** Path of a figure as the report links it (relative to the page's folder). */
  figLink(name: string): string;
  /** Seeds of the multi-seed runs: 5 in full mode, 3 in quick mode, 1 in smoke mode (`SEEDS`). */
  seeds: number[];
  /** `quick` in quick mode, `full` in full mode, `smoke` (default `quick`) in smoke mode. */
  pick<T>(quick: T, full: T, smoke?: T): T;
}

/**
 * The mode and output folder from the command-line arguments (without node and the script):
 * `--full`, `--smoke`, `--out DIR`. Any other argument is refused unless `extra` names it
 * (`extra` maps a flag to whether it takes a value), so that a misspelt flag is never ignored.
 */
export function parseFlags(
  args: readonly string[],
  extra: Record<string, boolean> = {},
): { mode: Mode; out: string | undefined } {
  const known: Record<string, boolean> = {
    '--full': false,
    '--smoke': false,
    '--out': true,
    ...extra,
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!(a in known))
      throw new Error(
        `experiments: expected one of ${Object.keys(known).join(', ')}, got ${JSON.stringify(a)}`,
      );
    if (known[a]) {
      const v = args[i + 1];
      if (v === undefined || v.startsWith('--'))
        throw new Error(`experiments: expected a value after ${a}, got ${v ?? 'nothing'}`);
      i += 1;
    }
  }
  const full = args.includes('--full');
  const smoke = args.includes('--smoke');
  if (full && smoke) throw new Error('experiments: expected at most one of --full and --smoke');
  const i = args.indexOf('--out');
  return { mode: full ? 'full' : smoke ? 'smoke' : 'quick', out: i < 0 ? undefined : args[i + 1] };
}

/** Parses the arguments, loads the WASM, makes the output folders. */
export async function context(): Promise<Ctx> {
  const { mode, out } = parseFlags(process.argv.slice(2));
  // Smoke runs never write to docs/: a fresh temporary folder unless --out names one.
  const base =
    out !== undefined
      ? resolve(out)
      : (modeDir(mode) ?? mkdtempSync(join(tmpdir(), 'torchlet-experiments-smoke-')));
  const figDir = join(base, 'figures');
  const resDir = join(base, 'results');
  mkdirSync(figDir, { recursive: true });
  mkdirSync(resDir, { recursive: true });
  if (mode === 'smoke' && out === undefined) console.log(`smoke: writing to ${base}`);
  await init();
  return {
    mode,
    full: mode === 'full',
    figDir,
    resDir,
    figLink: (name) => `figures/${name}`,
    seeds: [...SEEDS[mode]],
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
    // One thread, not 'auto': the committed numbers must not depend on the machine's cores.
    workers: 1,
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

/** A configuration trained over several seeds: mean curves and final statistics. */
export interface Config {
  name: string;
  /** The network (and anything else that differs), in words. */
  description: string;
  seeds: number[];
  /** Epochs trained (the length of the curves), shown in the page's tables next to the seeds. */
  epochs: number;
  /** Mean over seeds of each per-epoch curve. */
  curves: { trainLoss: number[]; testLoss: number[]; testAcc: number[] };
  /** Sample standard deviation over seeds of each per-epoch curve (0 with one seed): the bands. */
  curvesStd: { trainLoss: number[]; testLoss: number[]; testAcc: number[] };
  /** Last epoch, over seeds. */
  final: { trainLoss: Stat; testLoss: Stat; testAcc: Stat | null };
  /** Lowest test loss over the epochs (mean over seeds), and the epoch (1-based) of the mean curve's minimum. */
  best: { testLoss: Stat; epoch: number };
  /** Epochs until the mean test accuracy first reaches `target` (null when never), if asked. */
  epochsTo?: Record<string, number | null>;
  seconds: number;
}

/** Mean and sample standard deviation over runs at each epoch (up to the shortest run). */
function curveStats(curves: number[][]): { mean: number[]; std: number[] } {
  if (curves.length === 0 || curves[0]!.length === 0) return { mean: [], std: [] };
  const len = Math.min(...curves.map((c) => c.length));
  const at = Array.from({ length: len }, (_, i) => stat(curves.map((c) => c[i]!)));
  return { mean: at.map((s) => s.mean), std: at.map((s) => s.std) };
}

/** Runs `run(seed)` for each seed and summarises. */
export function multiSeed(
  name: string,
  description: string,
  seeds: number[],
  run: (seed: number) => Curves,
): Config {
  if (seeds.length === 0)
    throw new Error(`multiSeed: expected at least one seed for ${name}, got none`);
  const runs = seeds.map((s) => run(s));
  const trainLoss = curveStats(runs.map((r) => r.trainLoss));
  const testLoss = curveStats(runs.map((r) => r.testLoss));
  const testAcc = curveStats(runs.map((r) => r.testAcc));
  const curves = { trainLoss: trainLoss.mean, testLoss: testLoss.mean, testAcc: testAcc.mean };
  const curvesStd = { trainLoss: trainLoss.std, testLoss: testLoss.std, testAcc: testAcc.std };
  const last = <T>(xs: T[]): T => xs[xs.length - 1]!;
  const bestEpoch = curves.testLoss.indexOf(Math.min(...curves.testLoss));
  const summary: Config = {
    name,
    description,
    seeds,
    epochs: curves.trainLoss.length,
    curves,
    curvesStd,
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

/** The verdict of a section (see `verdictOf`). */
export type Verdict = 'reproduced' | 'partly' | 'not reproduced' | 'no claim';

/**
 * A figure of a section: the file (relative to the page) and its caption, which `writeSection`
 * ends with the mode, epochs and seeds that produced it ("(full mode, 200 epochs, 5 seeds)").
 */
export interface FigureEntry {
  file: string;
  caption: string;
  /** Epochs and seeds of this figure when they differ from the section's; set by lossFigure. */
  run?: { epochs: number | string; seeds: number | string };
}

/** What a section's JSON holds. */
export interface SectionResult {
  section: string;
  title: string;
  /** The report's claim, in its words. */
  claim: string;
  mode: Mode;
  epochs: number | Record<string, number>;
  /** The mode's seeds (`ctx.seeds`); each config lists the seeds it ran. */
  seeds: number[];
  /** Training setup in words (optimizer, step, batch size, seeds). */
  setup: string;
  configs: Config[];
  /** Empty exactly when `noClaim` is set. */
  checks: Check[];
  /** Why the section checks nothing (the report draws no conclusion): verdict `no claim`. */
  noClaim?: string;
  /**
   * Checks of a hypothesis of ours where the report claims nothing (only with `noClaim`): shown on
   * the page under their own heading, by the same rule, and never counted in the verdict, which
   * stays `no claim`: the page judges the report only on what it says.
   */
  hypotheses?: Check[];
  /** reproduced (all checks hold), partly (some), not reproduced (none), no claim (`noClaim`). */
  verdict: Verdict;
  figures: FigureEntry[];
  /** Any other numbers (tables) the section reports. */
  extra?: Record<string, unknown>;
  wallSeconds: number;
}

/**
 * Writes `<figures folder>/<name>` and returns the entry for `figures`. `run` gives the epochs and
 * seeds behind the figure when they differ from the section's (`writeSection` labels the caption
 * with the section's otherwise).
 */
export function figure(
  ctx: Ctx,
  name: string,
  svg: string,
  caption: string,
  run?: FigureEntry['run'],
): FigureEntry {
  writeFileSync(join(ctx.figDir, name), svg);
  return { file: ctx.figLink(name), caption, ...(run === undefined ? {} : { run }) };
}

/** The configs' epochs and seed counts: one number when they agree, else "20, 30". */
function runOf(configs: readonly Config[]): NonNullable<FigureEntry['run']> {
  const distinct = (xs: number[]): number | string => {
    const u = [...new Set(xs)];
    return u.length === 1 ? u[0]! : u.join(', ');
  };
  return {
    epochs: distinct(configs.map((c) => c.epochs)),
    seeds: distinct(configs.map((c) => c.seeds.length)),
  };
}

/**
 * Loss curves (train solid, test dashed) of each config: the mean over seeds, with a shaded band
 * of ±1 standard deviation over seeds.
 */
export function lossFigure(
  ctx: Ctx,
  name: string,
  configs: Config[],
  title: string,
  logScale = false,
): FigureEntry {
  const svg = lossCurvesSvg(
    configs.map((c) => ({
      name: c.name,
      train: c.curves.trainLoss,
      validation: c.curves.testLoss,
      trainBand: c.curvesStd.trainLoss,
      validationBand: c.curvesStd.testLoss,
    })),
    { title, logScale },
  );
  return figure(
    ctx,
    name,
    svg.replaceAll('(train solid, validation dashed)', '(train solid, test dashed)'),
    `${title}: training loss (solid) and test loss (dashed) per epoch, mean over seeds with a shaded ±1 standard deviation band`,
    runOf(configs),
  );
}

/** Test accuracy curves of each config (the loss plot, relabelled), mean ± 1 std band over seeds. */
export function accuracyFigure(
  ctx: Ctx,
  name: string,
  configs: Config[],
  title: string,
): FigureEntry {
  const svg = lossCurvesSvg(
    configs.map((c) => ({ name: c.name, train: c.curves.testAcc, trainBand: c.curvesStd.testAcc })),
    { title },
  ).replace(/>loss<\/text>/, '>test accuracy</text>');
  return figure(
    ctx,
    name,
    svg,
    `${title}: test accuracy per epoch, mean over seeds with a shaded ±1 standard deviation band`,
    runOf(configs),
  );
}

/** Rows of images: originals on top, then one row per reconstruction, labelled on the left. */
export function reconstructionFigure(
  ctx: Ctx,
  name: string,
  rows: { label: string; images: ArrayLike<number> }[],
  count: number,
  imageShape: [number, number],
  title: string,
  run?: FigureEntry['run'],
): FigureEntry {
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
  return figure(
    ctx,
    name,
    svg,
    `${title}: ${rows.map((r) => r.label).join(', ')} (one row each)`,
    run,
  );
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

/** The verdict from the checks: all hold, some hold, none hold; `no claim` with `noClaim`. */
export function verdictOf(checks: readonly Check[], noClaim?: string): Verdict {
  if (noClaim !== undefined) return 'no claim';
  const held = checks.filter((c) => c.holds).length;
  return held === checks.length ? 'reproduced' : held === 0 ? 'not reproduced' : 'partly';
}

/** "60" or "60 (linear), 30 (conv)". */
export function epochsText(e: SectionResult['epochs']): string {
  return typeof e === 'number'
    ? `${e}`
    : Object.entries(e)
        .map(([k, v]) => `${v} (${k})`)
        .join(', ');
}

/** "full mode, 200 epochs, 5 seeds"; "full mode, nothing trained" for 0 epochs and 0 seeds. */
export function runLabel(mode: Mode, epochs: number | string, seeds: number | string): string {
  // A figure of untrained data (section 4's raw pixels) has neither.
  if (epochs === 0 && seeds === 0) return `${mode} mode, nothing trained`;
  return `${mode} mode, ${epochs} epochs, ${seeds} seed${seeds === 1 ? '' : 's'}`;
}

/**
 * Writes `<results folder>/<file>.json` and prints the verdict. A section either has checks or,
 * when the report draws no conclusion, none and `noClaim` saying so (verdict `no claim`). Each
 * figure's caption is labelled with the mode, epochs and seeds behind it.
 * @throws Error with neither checks nor `noClaim`, or with both (nothing is written).
 */
export function writeSection(
  ctx: Pick<Ctx, 'mode' | 'seeds' | 'resDir'>,
  file: string,
  result: Omit<SectionResult, 'verdict' | 'mode' | 'seeds'>,
): void {
  const where = `writeSection(${result.section})`;
  if (result.noClaim !== undefined && result.checks.length > 0)
    throw new Error(
      `${where}: expected no checks with noClaim (a section without a claim checks nothing), got ${result.checks.length}`,
    );
  if (result.noClaim !== undefined && result.noClaim.trim() === '')
    throw new Error(`${where}: expected noClaim to say why the report makes no claim, got ""`);
  if (result.noClaim === undefined && result.checks.length === 0)
    throw new Error(
      `${where}: expected at least one check, or noClaim with the reason the report makes no claim, got neither`,
    );
  if (result.hypotheses !== undefined && result.noClaim === undefined)
    throw new Error(
      `${where}: expected hypotheses only with noClaim (where the report claims something, test that in checks), got ${result.hypotheses.length} hypotheses and no noClaim`,
    );
  if (result.hypotheses !== undefined && result.hypotheses.length === 0)
    throw new Error(`${where}: expected at least one hypothesis check, got an empty list`);
  const configsRun = runOf(result.configs);
  const sectionRun =
    result.configs.length > 0
      ? { epochs: epochsText(result.epochs), seeds: configsRun.seeds }
      : { epochs: epochsText(result.epochs), seeds: ctx.seeds.length };
  const figures = result.figures.map(({ file: f, caption, run }) => {
    const r = run ?? sectionRun;
    return { file: f, caption: `${caption} (${runLabel(ctx.mode, r.epochs, r.seeds)})` };
  });
  const full: SectionResult = {
    ...result,
    figures,
    mode: ctx.mode,
    seeds: [...ctx.seeds],
    verdict: verdictOf(result.checks, result.noClaim),
  };
  writeFileSync(join(ctx.resDir, `${file}.json`), JSON.stringify(full, roundReplacer, 1) + '\n');
  console.log(
    `${result.section} ${result.title}: ${full.verdict} (${result.wallSeconds.toFixed(0)} s)`,
  );
  if (result.noClaim !== undefined) console.log(`  no claim: ${result.noClaim}`);
  for (const c of result.checks)
    console.log(`  [${c.holds ? 'x' : ' '}] ${c.claim}: ${c.evidence}`);
  for (const c of result.hypotheses ?? [])
    console.log(`  ours [${c.holds ? 'x' : ' '}] ${c.claim}: ${c.evidence}`);
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
