// PNG decoding for `torchlet predict` (ts/tools/png.ts): a tiny encoder here writes gray, gray+
// alpha, RGB and RGBA images with each of the five scanline filters, which must decode to the same
// bytes; unsupported formats and corrupt files throw naming what they are; ink maps and resizing.
import { describe, expect, it } from 'vitest';
import { decodePng, inkOf, resizeArea, toDigitPixels, type PngImage } from '../ts/tools/png.js';
import { expectError } from './helpers.js';
import { encodePng as encode } from './child/png-encode.js';

function image(width: number, height: number, channels: 1 | 2 | 3 | 4, seed: number): PngImage {
  const data = Uint8Array.from(
    { length: width * height * channels },
    (_, i) => (i * 37 + seed * 101) % 256,
  );
  return { width, height, channels, data };
}

describe('decodePng', () => {
  for (const channels of [1, 2, 3, 4] as const) {
    it(`decodes ${channels}-channel images under every scanline filter`, () => {
      const img = image(7, 5, channels, channels);
      for (const filters of [[0], [1], [2], [3], [4], [4, 3, 2, 1, 0]]) {
        const got = decodePng(encode(img, filters));
        expect(got).toMatchObject({ width: 7, height: 5, channels });
        expect(Array.from(got.data)).toEqual(Array.from(img.data));
      }
    });
  }

  it('names the formats it does not read, and corrupt files', () => {
    const img = image(4, 4, 1, 0);
    expectError(
      () => decodePng(encode(img, [0], { depth: 16 }), 'x.png'),
      'BAD_FILE',
      /^decodePng \(x\.png\): expected 8-bit grayscale, gray\+alpha, RGB or RGBA, got 16-bit grayscale; re-save/,
    );
    expectError(
      () => decodePng(encode(img, [0], { colour: 3 })),
      'BAD_FILE',
      /got 8-bit palette; re-save it as 8-bit RGB or grayscale$/,
    );
    expectError(
      () => decodePng(encode(img, [0], { interlace: 1 })),
      'BAD_FILE',
      /^decodePng \(PNG\): expected a non-interlaced PNG, got an interlaced \(Adam7\) one/,
    );
    expectError(
      () => decodePng(new TextEncoder().encode('GIF89a....')),
      'BAD_FILE',
      /^decodePng \(PNG\): expected a PNG file \(signature 89 50 4E 47 0D 0A 1A 0A\), got other bytes$/,
    );
    const flipped = encode(img);
    flipped[45] ^= 0xff;
    expectError(
      () => decodePng(flipped),
      'BAD_FILE',
      /^decodePng \(PNG\): expected a valid CRC for the IDAT chunk/,
    );
    const cut = encode(img).subarray(0, 45);
    expectError(
      () => decodePng(cut),
      'BAD_FILE',
      /^decodePng \(PNG\): expected a complete IDAT chunk, got a file cut after 45 bytes/,
    );
  });
});

describe('ink maps', () => {
  it('composites alpha onto white and inverts dark ink on a light border (auto)', () => {
    // 3x3 RGBA: transparent background, one opaque black pixel in the middle.
    const data = new Uint8Array(36);
    data.set([0, 0, 0, 255], 4 * 4);
    const ink = inkOf({ width: 3, height: 3, channels: 4, data });
    expect(Array.from(ink)).toEqual([0, 0, 0, 0, 1, 0, 0, 0, 0]);
    // White on black (MNIST style) stays as it is; 'dark' forces the inversion.
    const gray = {
      width: 3,
      height: 3,
      channels: 1 as const,
      data: new Uint8Array([0, 0, 0, 0, 255, 0, 0, 0, 0]),
    };
    expect(Array.from(inkOf(gray))).toEqual([0, 0, 0, 0, 1, 0, 0, 0, 0]);
    expect(Array.from(inkOf(gray, 'dark'))).toEqual([1, 1, 1, 1, 0, 1, 1, 1, 1]);
  });

  it('area-averages to any size', () => {
    const src = Float32Array.from([1, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1]);
    expect(Array.from(resizeArea(src, 4, 4, 2, 2))).toEqual([0.75, 0.25, 0.5, 0.5]);
    expect(Array.from(resizeArea(Float32Array.from([0, 1]), 2, 1, 3, 1))).toEqual([0, 0.5, 1]);
  });

  it("makes the digits' 8x8 counts from a stroke at any size and position", () => {
    // A vertical bar, 10 wide and 40 tall, somewhere in a 100x60 image: centred into 32x32, it
    // covers bitmap columns 12..19 (blocks 3 and 4) fully, every row.
    const w = 100;
    const h = 60;
    const map = new Float32Array(w * h);
    for (let y = 10; y < 50; y++) for (let x = 70; x < 80; x++) map[y * w + x] = 1;
    const d = toDigitPixels(map, w, h);
    for (let r = 0; r < 8; r++) {
      expect(Array.from(d.subarray(r * 8, r * 8 + 8))).toEqual([0, 0, 0, 1, 1, 0, 0, 0]);
    }
    expect(Array.from(toDigitPixels(new Float32Array(16), 4, 4))).toEqual(new Array(64).fill(0));
  });
});
