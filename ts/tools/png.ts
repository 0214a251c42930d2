// PNG in, pixels out, for `torchlet predict`: a decoder for 8-bit grayscale, gray+alpha, RGB and
// RGBA, non-interlaced (node:zlib inflates the IDAT stream; the five scanline filters are undone
// here), then ink maps: gray in [0, 1] with alpha composited onto white, and the two resizings a
// model's input needs (the 8x8 digits' bitmap counting, or an area-average to any height x width).

import { crc32 } from '../core/crc32.js';
import { TorchletError } from '../core/errors.js';

/** A decoded image: 8-bit samples, row-major, `channels` per pixel (1 gray, 2 gray+alpha, 3, 4). */
export interface PngImage {
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
  data: Uint8Array;
}

/** Most pixels `decodePng` accepts (4096 x 4096). */
export const MAX_PNG_PIXELS = 4096 * 4096;

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
/** PNG colour type -> channels, for the types this decoder reads. */
const CHANNELS: Record<number, 1 | 2 | 3 | 4> = { 0: 1, 4: 2, 2: 3, 6: 4 };
const COLOUR_NAMES: Record<number, string> = {
  0: 'grayscale',
  2: 'RGB',
  3: 'palette',
  4: 'gray+alpha',
  6: 'RGBA',
};

/**
 * Decodes a PNG file's bytes (Node only: inflates with node:zlib).
 * @throws TorchletError `BAD_FILE` for a file that is not a PNG, a bad chunk CRC, truncated or
 *   corrupt data, and the formats it does not read (palette, 1/2/4/16-bit, interlaced), naming them.
 */
export function decodePng(bytes: Uint8Array, source = 'PNG'): PngImage {
  const bad = (m: string): TorchletError =>
    new TorchletError('BAD_FILE', `decodePng (${source}): expected ${m}`);
  if (bytes.length < 8 || SIGNATURE.some((b, i) => bytes[i] !== b))
    throw bad('a PNG file (signature 89 50 4E 47 0D 0A 1A 0A), got other bytes');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 8;
  let header: { width: number; height: number; depth: number; colour: number } | null = null;
  const idat: Uint8Array[] = [];
  let ended = false;
  while (at + 12 <= bytes.length && !ended) {
    const length = dv.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    if (at + 12 + length > bytes.length)
      throw bad(`a complete ${type} chunk, got a file cut after ${bytes.length} bytes`);
    const data = bytes.subarray(at + 8, at + 8 + length);
    if (crc32([bytes.subarray(at + 4, at + 8 + length)]) !== dv.getUint32(at + 8 + length))
      throw bad(`a valid CRC for the ${type} chunk at byte ${at}, got a mismatch (corrupt file)`);
    if (type === 'IHDR') {
      if (length !== 13) throw bad(`a 13-byte IHDR, got ${length} bytes`);
      const h = new DataView(data.buffer, data.byteOffset, 13);
      header = { width: h.getUint32(0), height: h.getUint32(4), depth: data[8]!, colour: data[9]! };
      if (data[12] !== 0)
        throw bad(
          'a non-interlaced PNG, got an interlaced (Adam7) one; re-save it without interlacing',
        );
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') ended = true;
    at += 12 + length;
  }
  if (header === null) throw bad('an IHDR chunk first, got none');
  const { width, height, depth, colour } = header;
  const channels = CHANNELS[colour];
  if (channels === undefined || depth !== 8)
    throw bad(
      `8-bit grayscale, gray+alpha, RGB or RGBA, got ${depth}-bit ${COLOUR_NAMES[colour] ?? `colour type ${colour}`}; re-save it as 8-bit RGB or grayscale`,
    );
  if (width === 0 || height === 0 || width * height > MAX_PNG_PIXELS)
    throw bad(`between 1 and ${MAX_PNG_PIXELS} pixels, got ${width} x ${height}`);
  if (idat.length === 0) throw bad('image data (IDAT), got none');
  const zlib = process.getBuiltinModule('node:zlib');
  let raw: Uint8Array;
  try {
    raw = new Uint8Array(zlib.inflateSync(concat(idat)));
  } catch (e) {
    throw bad(`deflate-compressed image data, got ${(e as Error).message}`);
  }
  const stride = width * channels;
  if (raw.length !== height * (stride + 1))
    throw bad(
      `${height * (stride + 1)} bytes of scanlines for ${width} x ${height}, got ${raw.length}`,
    );
  const data = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const out = data.subarray(y * stride, (y + 1) * stride);
    const prev = y > 0 ? data.subarray((y - 1) * stride, y * stride) : null;
    if (filter > 4) throw bad(`a scanline filter in 0..4, got ${filter} on row ${y + 1}`);
    unfilter(filter, line, out, prev, channels);
  }
  return { width, height, channels, data };
}

/** Undoes one scanline's filter (PNG spec §9); `prev` is null on the first row (all zeros). */
function unfilter(
  filter: number,
  line: Uint8Array,
  out: Uint8Array,
  prev: Uint8Array | null,
  bpp: number,
): void {
  for (let i = 0; i < line.length; i++) {
    const a = i >= bpp ? out[i - bpp]! : 0;
    const b = prev ? prev[i]! : 0;
    const c = prev && i >= bpp ? prev[i - bpp]! : 0;
    let p = 0;
    if (filter === 1) p = a;
    else if (filter === 2) p = b;
    else if (filter === 3) p = (a + b) >> 1;
    else if (filter === 4) {
      const pa = Math.abs(b - c);
      const pb = Math.abs(a - c);
      const pc = Math.abs(a + b - 2 * c);
      p = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }
    out[i] = (line[i]! + p) & 0xff;
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Which tone the strokes are: `'auto'` decides by the border (a light border means dark ink). */
export type Ink = 'dark' | 'light' | 'auto';

/**
 * Ink per pixel in [0, 1] (1 = full ink), row-major width x height: luminance (Rec. 601) with
 * alpha composited onto white, inverted when the ink is dark. With `'auto'`, the ink is dark when
 * the one-pixel border is lighter than mid-gray on average (paper scans, drawings on a transparent
 * or white canvas), light otherwise (MNIST-style white on black).
 */
export function inkOf(image: PngImage, ink: Ink = 'auto'): Float32Array {
  const { width, height, channels, data } = image;
  const gray = new Float32Array(width * height);
  for (let p = 0; p < gray.length; p++) {
    const s = data.subarray(p * channels, (p + 1) * channels);
    const lum = channels >= 3 ? 0.299 * s[0]! + 0.587 * s[1]! + 0.114 * s[2]! : s[0]!;
    const alpha = channels === 2 || channels === 4 ? s[channels - 1]! / 255 : 1;
    gray[p] = (lum / 255) * alpha + (1 - alpha);
  }
  let dark = ink === 'dark';
  if (ink === 'auto') {
    let sum = 0;
    let n = 0;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        if (y === 0 || x === 0 || y === height - 1 || x === width - 1) {
          sum += gray[y * width + x]!;
          n++;
        }
      }
    }
    dark = sum / n > 0.5;
  }
  return dark ? gray.map((v) => 1 - v) : gray;
}

/** Area-average resize of a width x height map to outW x outH (each output pixel: the mean of the input area it covers). */
export function resizeArea(
  src: Float32Array,
  width: number,
  height: number,
  outW: number,
  outH: number,
): Float32Array {
  const out = new Float32Array(outW * outH);
  const sx = width / outW;
  const sy = height / outH;
  for (let oy = 0; oy < outH; oy++) {
    const y0 = oy * sy;
    const y1 = y0 + sy;
    for (let ox = 0; ox < outW; ox++) {
      const x0 = ox * sx;
      const x1 = x0 + sx;
      let sum = 0;
      for (let y = Math.floor(y0); y < Math.ceil(y1); y++) {
        const wy = Math.min(y + 1, y1) - Math.max(y, y0);
        for (let x = Math.floor(x0); x < Math.ceil(x1); x++) {
          const wx = Math.min(x + 1, x1) - Math.max(x, x0);
          sum += src[y * width + x]! * wx * wy;
        }
      }
      out[oy * outW + ox] = sum / (sx * sy);
    }
  }
  return out;
}

/**
 * Ink in [0, 1] -> the 8x8 digits' format (64 values in [0, 1], multiples of 1/16): as the UCI
 * digits were made, the ink's bounding box is scaled to fit a 32x32 bitmap (aspect kept, centred),
 * thresholded, and each 4x4 block counts its ink pixels (0..16), scaled by 1/16 as `loadDigits`
 * does. The same steps as the demo's drawing pad (web/digit.ts), less its stroke thickening. All
 * zeros for a blank image.
 */
export function toDigitPixels(inkMap: Float32Array, width: number, height: number): Float32Array {
  let [x0, y0, x1, y1] = [width, height, -1, -1];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (inkMap[y * width + x]! > 0.125)
        [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
    }
  }
  const out = new Float32Array(64);
  if (x1 < 0) return out;
  const side = Math.max(x1 - x0 + 1, y1 - y0 + 1);
  // Top-left of the square (in image pixels) that the 32x32 bitmap covers, centring the ink.
  const left = x0 - (side - (x1 - x0 + 1)) / 2;
  const top = y0 - (side - (y1 - y0 + 1)) / 2;
  const cell = side / 32;
  const SUB = 4; // samples per bitmap pixel and axis
  for (let by = 0; by < 32; by++) {
    for (let bx = 0; bx < 32; bx++) {
      let sum = 0;
      for (let sy = 0; sy < SUB; sy++) {
        for (let sx = 0; sx < SUB; sx++) {
          const x = Math.floor(left + (bx + (sx + 0.5) / SUB) * cell);
          const y = Math.floor(top + (by + (sy + 0.5) / SUB) * cell);
          if (x >= 0 && y >= 0 && x < width && y < height) sum += inkMap[y * width + x]!;
        }
      }
      if (sum / (SUB * SUB) > 0.375) out[(by >> 2) * 8 + (bx >> 2)] += 1 / 16;
    }
  }
  return out;
}
