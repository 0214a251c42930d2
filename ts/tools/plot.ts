// Plots with no native dependency: loss curves (train solid, validation dashed; one or many runs)
// and image grids (digits, reconstructions) as hand-written SVG strings, deterministic to the
// byte, so they work in browsers too. `imageGridPng` encodes the same grid as a grayscale PNG
// with node:zlib (Node only).

import { crc32 } from '../core/crc32.js';
import { TorchletError } from '../core/errors.js';

/** One run's curves for `lossCurvesSvg`. */
export interface LossRun {
  /** Legend label. */
  name: string;
  /** Training loss per epoch. */
  train: readonly number[];
  /** Validation loss per epoch (optional). */
  validation?: readonly number[];
  /**
   * Half-width of a shaded band around `train` per epoch (optional; e.g. one standard deviation
   * over seeds, with `train` their mean): the band spans `train[i] - trainBand[i]` to
   * `train[i] + trainBand[i]`. Same length as `train`, values >= 0; a non-finite value leaves a gap.
   * Without bands the SVG is exactly what it was before bands existed.
   */
  trainBand?: readonly number[];
  /** Half-width of a shaded band around `validation` per epoch (optional; as `trainBand`). */
  validationBand?: readonly number[];
}

/** Options for `lossCurvesSvg`. */
export interface LossPlotOptions {
  /** Title above the plot. */
  title?: string;
  /** Width and height in pixels (default 640 x 400). */
  width?: number;
  /** Height in pixels. */
  height?: number;
  /** Plot the losses on a log scale (default false). */
  logScale?: boolean;
}

const PALETTE = [
  '#1f77b4',
  '#d62728',
  '#2ca02c',
  '#ff7f0e',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#17becf',
];

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function fmt(v: number): string {
  return Number(v.toFixed(2)).toString();
}

function tick(v: number): string {
  return Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0)
    ? v.toExponential(1)
    : Number(v.toPrecision(3)).toString();
}

/**
 * Loss curves as an SVG document: epochs on x, loss on y, one colour per run, training solid
 * and validation dashed. Non-finite values leave a gap. A run's optional `trainBand` /
 * `validationBand` shade the spread around its curves (e.g. ±1 standard deviation over seeds),
 * drawn under the curves in the run's colour; the y range then covers the bands too (on a log
 * scale, a band reaching 0 or below is cut at the bottom of the plot).
 * @throws TorchletError `BAD_ARGUMENT` when there is no run or no value to plot, or a band is not
 * an array of numbers >= 0 as long as its curve.
 * @example fs.writeFileSync('loss.svg', lossCurvesSvg([{ name: 'mlp', train: h.loss, validation: h.valLoss }]));
 * @example lossCurvesSvg([{ name: 'mlp', train: meanLoss, trainBand: stdLoss }]); // mean ± 1 std
 */
export function lossCurvesSvg(runs: readonly LossRun[], options: LossPlotOptions = {}): string {
  if (!Array.isArray(runs) || runs.length === 0)
    throw new TorchletError('BAD_ARGUMENT', 'lossCurvesSvg: expected at least one run, got none');
  const bad = runs.findIndex(
    (r) =>
      typeof r !== 'object' ||
      r === null ||
      !Array.isArray(r.train) ||
      !(r.validation === undefined || Array.isArray(r.validation)),
  );
  if (bad >= 0)
    throw new TorchletError(
      'BAD_ARGUMENT',
      `lossCurvesSvg: expected runs[${bad}] to be { train: number[], validation?: number[] }, got ${JSON.stringify(runs[bad])}`,
    );
  for (const [i, r] of runs.entries())
    for (const [key, curve] of [
      ['trainBand', r.train],
      ['validationBand', r.validation],
    ] as const) {
      const band = r[key];
      if (band === undefined) continue;
      if (
        !Array.isArray(band) ||
        band.length !== (curve?.length ?? -1) ||
        band.some((b) => typeof b !== 'number' || b < 0)
      )
        throw new TorchletError(
          'BAD_ARGUMENT',
          `lossCurvesSvg: expected runs[${i}].${key} to be numbers >= 0, one per value of ${key === 'trainBand' ? 'train' : 'validation'} (${curve?.length ?? 'none'}), got ${Array.isArray(band) ? `${band.length} values${band.some((b) => typeof b !== 'number' || b < 0) ? ` including ${JSON.stringify(band.find((b) => typeof b !== 'number' || b < 0))}` : ''}` : JSON.stringify(band)}`,
        );
    }
  const width = options.width ?? 640;
  const height = options.height ?? 400;
  const log = options.logScale ?? false;
  const tf = (v: number): number => (log ? Math.log10(v) : v);
  // The band edges of each run's curves (none without bands: the plot is then unchanged).
  const edges = (vs: readonly number[] | undefined, band: readonly number[] | undefined) =>
    vs === undefined || band === undefined
      ? []
      : vs.flatMap((v, i) => [v - band[i]!, v + band[i]!]);
  const values = runs
    .flatMap((r) => [
      ...r.train,
      ...(r.validation ?? []),
      ...edges(r.train, r.trainBand),
      ...edges(r.validation, r.validationBand),
    ])
    .filter((v) => Number.isFinite(v) && (!log || v > 0));
  if (values.length === 0)
    throw new TorchletError(
      'BAD_ARGUMENT',
      'lossCurvesSvg: expected finite values to plot, got none',
    );
  const epochs = Math.max(...runs.map((r) => Math.max(r.train.length, r.validation?.length ?? 0)));
  let lo = Math.min(...values.map(tf));
  let hi = Math.max(...values.map(tf));
  if (hi - lo < 1e-12) {
    lo -= 0.5;
    hi += 0.5;
  }
  const left = 64;
  const right = 16;
  const top = options.title === undefined ? 16 : 36;
  const legendH = 18 * runs.length + 8;
  const bottom = 40 + legendH;
  const pw = width - left - right;
  const ph = height - top - bottom;
  const x = (i: number): number => left + (epochs <= 1 ? pw / 2 : (i / (epochs - 1)) * pw);
  const y = (v: number): number => top + ph - ((tf(v) - lo) / (hi - lo)) * ph;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
  ];
  if (options.title !== undefined)
    out.push(
      `<text x="${width / 2}" y="22" text-anchor="middle" font-size="14">${esc(options.title)}</text>`,
    );
  out.push(
    `<g class="axes" stroke="#444444" fill="none"><path d="M${left} ${top}V${top + ph}H${left + pw}"/></g>`,
  );
  const ticks: string[] = [];
  for (let t = 0; t <= 4; t++) {
    const v = lo + ((hi - lo) * t) / 4;
    const ty = fmt(top + ph - (ph * t) / 4);
    ticks.push(
      `<line x1="${left - 4}" y1="${ty}" x2="${left}" y2="${ty}" stroke="#444444"/><text x="${left - 6}" y="${ty}" text-anchor="end" dominant-baseline="middle">${tick(log ? 10 ** v : v)}</text>`,
    );
  }
  const step = Math.max(1, Math.ceil(epochs / 10));
  for (let e = 0; e < epochs; e += step) {
    ticks.push(`<text x="${fmt(x(e))}" y="${top + ph + 16}" text-anchor="middle">${e + 1}</text>`);
  }
  out.push(`<g class="ticks">${ticks.join('')}</g>`);
  out.push(`<text x="${left + pw / 2}" y="${top + ph + 32}" text-anchor="middle">epoch</text>`);
  out.push(
    `<text x="14" y="${top + ph / 2}" text-anchor="middle" transform="rotate(-90 14 ${top + ph / 2})">loss${log ? ' (log)' : ''}</text>`,
  );
  const path = (vs: readonly number[]): string => {
    let d = '';
    let pen = false;
    vs.forEach((v, i) => {
      if (!Number.isFinite(v) || (log && v <= 0)) {
        pen = false;
        return;
      }
      d += `${pen ? 'L' : 'M'}${fmt(x(i))} ${fmt(y(v))}`;
      pen = true;
    });
    return d;
  };
  // A band: for each stretch of finite values, the upper edge forward and the lower edge back.
  const area = (vs: readonly number[], band: readonly number[]): string => {
    let d = '';
    let run: number[] = [];
    const flush = (): void => {
      if (run.length === 0) return;
      const yc = (v: number): string => fmt(log && v <= 0 ? top + ph : Math.min(top + ph, y(v)));
      d += run
        .map((i, k) => `${k === 0 ? 'M' : 'L'}${fmt(x(i))} ${yc(vs[i]! + band[i]!)}`)
        .join('');
      d += [...run]
        .reverse()
        .map((i) => `L${fmt(x(i))} ${yc(vs[i]! - band[i]!)}`)
        .join('');
      d += 'Z';
      run = [];
    };
    vs.forEach((v, i) => {
      if (!Number.isFinite(v) || !Number.isFinite(band[i]!) || (log && v <= 0)) flush();
      else run.push(i);
    });
    flush();
    return d;
  };
  runs.forEach((r, i) => {
    const color = PALETTE[i % PALETTE.length]!;
    if (r.trainBand !== undefined)
      out.push(
        `<path class="train-band" data-run="${esc(r.name)}" d="${area(r.train, r.trainBand)}" fill="${color}" fill-opacity="0.18" stroke="none"/>`,
      );
    if (r.validation !== undefined && r.validationBand !== undefined)
      out.push(
        `<path class="validation-band" data-run="${esc(r.name)}" d="${area(r.validation, r.validationBand)}" fill="${color}" fill-opacity="0.1" stroke="none"/>`,
      );
  });
  runs.forEach((r, i) => {
    const color = PALETTE[i % PALETTE.length]!;
    out.push(
      `<path class="train" data-run="${esc(r.name)}" d="${path(r.train)}" fill="none" stroke="${color}" stroke-width="2"/>`,
    );
    if (r.validation !== undefined && r.validation.length > 0) {
      out.push(
        `<path class="validation" data-run="${esc(r.name)}" d="${path(r.validation)}" fill="none" stroke="${color}" stroke-width="2" stroke-dasharray="6 4"/>`,
      );
    }
    const ly = height - legendH + 18 * i + 8;
    out.push(
      `<g class="legend"><line x1="${left}" y1="${ly}" x2="${left + 24}" y2="${ly}" stroke="${color}" stroke-width="2"/><text x="${left + 30}" y="${ly}" dominant-baseline="middle">${esc(r.name)}${r.validation?.length ? ' (train solid, validation dashed)' : ''}</text></g>`,
    );
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** Options for `imageGridSvg` / `imageGridPng`. */
export interface ImageGridOptions {
  /** Height and width of each image in pixels of data (e.g. [8, 8]). */
  imageShape: readonly [number, number];
  /** Images per row (default: all in one row, at most 10). */
  columns?: number;
  /** Screen pixels per data pixel (default 4). */
  scale?: number;
  /** Value shown black and value shown white (default 0 and 1; values are clamped). */
  range?: readonly [number, number];
  /** Labels drawn under each image (SVG only). */
  labels?: readonly string[];
  /** Title above the grid (SVG only). */
  title?: string;
}

interface Grid {
  rows: number;
  cols: number;
  h: number;
  w: number;
  scale: number;
  gray(image: number, pixel: number): number;
}

function grid(
  images: ArrayLike<number>,
  count: number,
  options: ImageGridOptions,
  where: string,
): Grid {
  const [h, w] = options.imageShape ?? [0, 0];
  if (!Number.isInteger(h) || !Number.isInteger(w) || h < 1 || w < 1) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${where}: expected imageShape [height, width] of positive integers, got ${JSON.stringify(options.imageShape)}`,
    );
  }
  if (images === null || typeof images !== 'object' || typeof images.length !== 'number') {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${where}: expected images as an array of numbers, got ${images === null ? 'null' : typeof images}`,
    );
  }
  if (!Number.isInteger(count) || count < 1 || images.length !== count * h * w) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${where}: expected ${count} images of ${h}x${w} (${count * h * w} values), got ${images.length}`,
    );
  }
  const cols = options.columns ?? Math.min(count, 10);
  const [lo, hi] = options.range ?? [0, 1];
  return {
    rows: Math.ceil(count / cols),
    cols,
    h,
    w,
    scale: options.scale ?? 4,
    gray: (i, p) => {
      const v = (images[i * h * w + p]! - lo) / (hi - lo);
      return Math.round(255 * Math.min(1, Math.max(0, Number.isFinite(v) ? v : 0)));
    },
  };
}

/**
 * Images (row-major, `count` of them, each `imageShape`) as an SVG grid of gray squares.
 * @param images `count * height * width` values. @param count Number of images.
 * @example imageGridSvg(x.toArray(), 20, { imageShape: [8, 8], columns: 10, range: [0, 1] })
 */
export function imageGridSvg(
  images: ArrayLike<number>,
  count: number,
  options: ImageGridOptions,
): string {
  const g = grid(images, count, options, 'imageGridSvg');
  const gap = 4;
  const labelH = options.labels === undefined ? 0 : 14;
  const top = options.title === undefined ? gap : 24;
  const cellW = g.w * g.scale + gap;
  const cellH = g.h * g.scale + gap + labelH;
  const width = g.cols * cellW + gap;
  const height = top + g.rows * cellH;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="10" shape-rendering="crispEdges">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
  ];
  if (options.title !== undefined)
    out.push(
      `<text x="${width / 2}" y="16" text-anchor="middle" font-size="12">${esc(options.title)}</text>`,
    );
  for (let i = 0; i < count; i++) {
    const ox = gap + (i % g.cols) * cellW;
    const oy = top + Math.floor(i / g.cols) * cellH;
    // One black square per image, then only the lit pixels: MNIST grids shrink about 5x.
    const px: string[] = [
      `<rect x="${ox}" y="${oy}" width="${g.w * g.scale}" height="${g.h * g.scale}" fill="#000000"/>`,
    ];
    for (let p = 0; p < g.h * g.w; p++) {
      const gray = g.gray(i, p);
      if (gray === 0) continue;
      const v = gray.toString(16).padStart(2, '0');
      px.push(
        `<rect x="${ox + (p % g.w) * g.scale}" y="${oy + Math.floor(p / g.w) * g.scale}" width="${g.scale}" height="${g.scale}" fill="#${v}${v}${v}"/>`,
      );
    }
    out.push(`<g class="image">${px.join('')}</g>`);
    const label = options.labels?.[i];
    if (label !== undefined)
      out.push(
        `<text x="${ox + (g.w * g.scale) / 2}" y="${oy + g.h * g.scale + 11}" text-anchor="middle">${esc(label)}</text>`,
      );
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/**
 * The same grid as `imageGridSvg` as a grayscale PNG (white gaps; no labels or title). Node only:
 * it compresses with node:zlib.
 * @throws TorchletError `BAD_ARGUMENT` outside Node or for bad images.
 */
export function imageGridPng(
  images: ArrayLike<number>,
  count: number,
  options: ImageGridOptions,
): Uint8Array {
  const g = grid(images, count, options, 'imageGridPng');
  const zlib = typeof process === 'undefined' ? undefined : process.getBuiltinModule?.('node:zlib');
  if (!zlib)
    throw new TorchletError(
      'BAD_ARGUMENT',
      'imageGridPng: expected Node >= 20.16 (node:zlib), got none; use imageGridSvg in browsers',
    );
  const gap = 4;
  const width = g.cols * (g.w * g.scale + gap) + gap;
  const height = g.rows * (g.h * g.scale + gap) + gap;
  const raw = new Uint8Array(height * (width + 1)).fill(255);
  for (let r = 0; r < height; r++) raw[r * (width + 1)] = 0; // filter type 0 per scanline
  for (let i = 0; i < count; i++) {
    const ox = gap + (i % g.cols) * (g.w * g.scale + gap);
    const oy = gap + Math.floor(i / g.cols) * (g.h * g.scale + gap);
    for (let p = 0; p < g.h * g.w; p++) {
      const v = g.gray(i, p);
      for (let dy = 0; dy < g.scale; dy++) {
        const row = oy + Math.floor(p / g.w) * g.scale + dy;
        const col = ox + (p % g.w) * g.scale;
        raw.fill(v, row * (width + 1) + 1 + col, row * (width + 1) + 1 + col + g.scale);
      }
    }
  }
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, width);
  dv.setUint32(4, height);
  ihdr.set([8, 0, 0, 0, 0], 8); // 8-bit grayscale, deflate, no interlace
  const chunks = [
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', new Uint8Array(zlib.deflateSync(raw))),
    pngChunk('IEND', new Uint8Array(0)),
  ];
  const signature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  const out = new Uint8Array(8 + chunks.reduce((s, c) => s + c.length, 0));
  out.set(signature, 0);
  let at = 8;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  dv.setUint32(8 + data.length, crc32([out.subarray(4, 8 + data.length)]));
  return out;
}
