// Plots: the SVG structure (one path per curve, dashed validation, legend, gaps for NaN), byte-for-
// byte determinism, image grids (one group per image, gray levels), and a valid grayscale PNG.
import { createHash } from 'node:crypto';
import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { imageGridPng, imageGridSvg, lossCurvesSvg } from '../ts/index.js';
import { expectError } from './helpers.js';

describe('lossCurvesSvg', () => {
  const runs = [
    { name: 'a & b', train: [2, 1, 0.5], validation: [2.2, 1.4, 0.9] },
    { name: 'c', train: [3, NaN, 1] },
  ];

  it('draws one path per curve, validation dashed, with a legend entry per run', () => {
    const svg = lossCurvesSvg(runs, { title: 'losses' });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg" width="640" height="400"')).toBe(
      true,
    );
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg.match(/<path class="train"/g)).toHaveLength(2);
    expect(svg.match(/<path class="validation"[^>]*stroke-dasharray/g)).toHaveLength(1);
    expect(svg.match(/<g class="legend">/g)).toHaveLength(2);
    expect(svg).toContain('a &#38; b');
    expect(svg).toContain('>losses</text>');
    // NaN leaves a gap: the second run's path restarts with M.
    const c = svg.match(/<path class="train" data-run="c" d="([^"]*)"/)![1]!;
    expect(c.match(/M/g)).toHaveLength(2);
    expect(c).not.toContain('L');
  });

  it('is deterministic and maps the largest loss to the top of the plot', () => {
    expect(lossCurvesSvg(runs)).toBe(lossCurvesSvg(runs));
    const svg = lossCurvesSvg([{ name: 'x', train: [4, 2] }], { height: 400 });
    const d = svg.match(/class="train" data-run="x" d="M([\d.]+) ([\d.]+)L([\d.]+) ([\d.]+)"/)!;
    expect(Number(d[2])).toBeLessThan(Number(d[4]));
    expect(Number(d[1])).toBeLessThan(Number(d[3]));
  });

  it('rejects nothing to plot', () => {
    expectError(
      () => lossCurvesSvg([]),
      'BAD_ARGUMENT',
      /lossCurvesSvg: expected at least one run, got none/,
    );
    expectError(
      () => lossCurvesSvg([{ name: 'x', train: [NaN] }]),
      'BAD_ARGUMENT',
      /expected finite values to plot/,
    );
  });
});

describe('lossCurvesSvg bands', () => {
  const runs = [
    { name: 'a & b', train: [2, 1, 0.5], validation: [2.2, 1.4, 0.9] },
    { name: 'c', train: [3, NaN, 1] },
  ];
  const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

  it('leaves the output without bands byte for byte what it was before bands existed', () => {
    // Hashes of the SVGs drawn by the version before bands (commit d252744).
    expect(sha(lossCurvesSvg(runs, { title: 'losses' }))).toBe(
      'fb4ba772b2f7462b4141efea0e6a69e2103658cab52a914b30bc8b59cfc960a6',
    );
    expect(sha(lossCurvesSvg(runs, { logScale: true }))).toBe(
      '1fc2008dc5ee1317aae44996ef072f8cf55293c94fb6bbd7161712f4edfbaebd',
    );
    expect(lossCurvesSvg(runs)).not.toContain('band');
  });

  it('shades mean ± band under the curves, one area per band, in the run colour', () => {
    const svg = lossCurvesSvg([
      { name: 'x', train: [4, 2], trainBand: [1, 0.5], validation: [5, 3], validationBand: [0, 1] },
    ]);
    const train = svg.indexOf('class="train"');
    const band = svg.match(/<path class="train-band" data-run="x" d="([^"]*)" fill="#1f77b4"/)!;
    expect(svg.indexOf('class="train-band"')).toBeLessThan(train);
    expect(svg.match(/class="validation-band"/g)).toHaveLength(1);
    // Upper edge forward (4 + 1, 2 + 0.5), lower edge back (2 - 0.5, 4 - 1), closed.
    const pts = [...band[1]!.matchAll(/[ML]([\d.]+) ([\d.]+)/g)].map((m) => [+m[1]!, +m[2]!]);
    expect(pts).toHaveLength(4);
    expect(band[1]!.endsWith('Z')).toBe(true);
    const line = svg.match(/class="train" data-run="x" d="M([\d.]+) ([\d.]+)L([\d.]+) ([\d.]+)"/)!;
    const [y0, y1] = [+line[2]!, +line[4]!];
    // y grows downwards: the upper edge is above the curve, the lower edge below, at each epoch.
    expect(pts[0]![1]).toBeLessThan(y0);
    expect(pts[3]![1]).toBeGreaterThan(y0);
    expect(pts[1]![1]).toBeLessThan(y1);
    expect(pts[2]![1]).toBeGreaterThan(y1);
    expect(pts[0]![0]).toBe(pts[3]![0]);
    // The y range covers the band: 5 + 0 = 5 and 2 - 0.5 = 1.5 are the extremes (ticks 1.5 .. 5).
    expect(svg).toContain('>1.5</text>');
    expect(svg).toContain('>5</text>');
  });

  it('leaves a gap in the band where a value is not finite', () => {
    const svg = lossCurvesSvg([
      { name: 'c', train: [3, NaN, 1, 2], trainBand: [0.1, 0.1, 0.1, 0.1] },
    ]);
    const d = svg.match(/class="train-band" data-run="c" d="([^"]*)"/)![1]!;
    expect(d.match(/M/g)).toHaveLength(2);
    expect(d.match(/Z/g)).toHaveLength(2);
  });

  it('cuts a band that reaches 0 at the bottom of a log plot', () => {
    const svg = lossCurvesSvg([{ name: 'x', train: [1, 0.1, 0.01], trainBand: [2, 0.01, 0] }], {
      logScale: true,
      height: 400,
    });
    const d = svg.match(/class="train-band" data-run="x" d="([^"]*)"/)![1]!;
    expect(d).not.toMatch(/NaN|Infinity/);
    // The plot's bottom edge (the axes' vertical stroke ends there): 1 - 2 < 0 is drawn on it.
    const bottom = svg.match(/<path d="M\d+ \d+V([\d.]+)H/)![1]!;
    const pts = [...d.matchAll(/[ML]([\d.]+) ([\d.]+)/g)].map((m) => m[2]!);
    // Upper edge over the 3 epochs, then the lower edge back: 0.01 (the minimum), 0.09, cut.
    expect(pts).toHaveLength(6);
    expect(pts[3]).toBe(bottom);
    expect(pts[4]).not.toBe(bottom);
    expect(pts[5]).toBe(bottom);
  });

  it('rejects a band of the wrong length or with a negative value, naming it', () => {
    expectError(
      () => lossCurvesSvg([{ name: 'x', train: [1, 2], trainBand: [0.1] }]),
      'BAD_ARGUMENT',
      /lossCurvesSvg: expected runs\[0\]\.trainBand to be numbers >= 0, one per value of train \(2\), got 1 values/,
    );
    expectError(
      () =>
        lossCurvesSvg([
          { name: 'x', train: [1, 2], validation: [1, 2], validationBand: [0.1, -1] },
        ]),
      'BAD_ARGUMENT',
      /runs\[0\]\.validationBand .* including -1/,
    );
    expectError(
      () => lossCurvesSvg([{ name: 'x', train: [1, 2], validationBand: [0.1, 0.1] }]),
      'BAD_ARGUMENT',
      /validationBand .*\(none\)/,
    );
  });
});

describe('image grids', () => {
  const images = Float32Array.from({ length: 3 * 4 }, (_, i) => (i % 4) / 3); // 3 images of 2x2

  it('draws one group of gray squares per image', () => {
    const svg = imageGridSvg(images, 3, {
      imageShape: [2, 2],
      columns: 2,
      scale: 5,
      labels: ['a', 'b', 'c'],
    });
    expect(svg.match(/<g class="image">/g)).toHaveLength(3);
    expect(svg.match(/<rect x=/g)).toHaveLength(12);
    expect(svg).toContain('fill="#000000"');
    expect(svg).toContain('fill="#ffffff"/>');
    expect(svg).toContain('>c</text>');
    expectError(
      () => imageGridSvg(images, 4, { imageShape: [2, 2] }),
      'BAD_ARGUMENT',
      /expected 4 images of 2x2 \(16 values\), got 12/,
    );
  });

  it('encodes a valid grayscale PNG of the same grid', () => {
    const png = imageGridPng(images, 3, { imageShape: [2, 2], columns: 3, scale: 1 });
    expect(Array.from(png.subarray(0, 8))).toEqual([
      0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a,
    ]);
    const dv = new DataView(png.buffer, png.byteOffset);
    const [width, height] = [dv.getUint32(16), dv.getUint32(20)];
    expect([width, height]).toEqual([3 * (2 + 4) + 4, 2 + 8]);
    const idatLen = dv.getUint32(33);
    const raw = inflateSync(png.subarray(41, 41 + idatLen));
    expect(raw.length).toBe(height * (width + 1));
    // Row 4 (first pixel row), column 4: image 0 pixel 0 = black; column 5: 1/3 gray.
    expect(raw[4 * (width + 1) + 1 + 4]).toBe(0);
    expect(raw[4 * (width + 1) + 1 + 5]).toBe(85);
  });
});
