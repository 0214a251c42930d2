// Plots: the SVG structure (one path per curve, dashed validation, legend, gaps for NaN), byte-for-
// byte determinism, image grids (one group per image, gray levels), and a valid grayscale PNG.
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
