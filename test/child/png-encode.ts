// A tiny PNG encoder for the tests of ts/tools/png.ts and `torchlet predict`: 8-bit samples, any
// of the five scanline filters per row, and header fields that can be overridden to write the
// formats the decoder must refuse.
import { deflateSync } from 'node:zlib';
import { crc32 } from '../../ts/core/crc32.js';

/** An image to encode: 8-bit samples, row-major, `channels` per pixel. */
export interface RawImage {
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
  data: Uint8Array;
}

const COLOUR: Record<number, number> = { 1: 0, 2: 4, 3: 2, 4: 6 };

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  dv.setUint32(8 + data.length, crc32([out.subarray(4, 8 + data.length)]));
  return out;
}

/** Paeth predictor, as the PNG spec defines it. */
function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Encodes `img`, row y filtered with filters[y % filters.length]; header fields overridable. */
export function encodePng(
  img: RawImage,
  filters: number[] = [0],
  over: { depth?: number; colour?: number; interlace?: number } = {},
): Uint8Array {
  const { width, height, channels, data } = img;
  const stride = width * channels;
  const raw = new Uint8Array(height * (stride + 1));
  for (let y = 0; y < height; y++) {
    const f = filters[y % filters.length]!;
    raw[y * (stride + 1)] = f;
    for (let i = 0; i < stride; i++) {
      const x = data[y * stride + i]!;
      const a = i >= channels ? data[y * stride + i - channels]! : 0;
      const b = y > 0 ? data[(y - 1) * stride + i]! : 0;
      const c = y > 0 && i >= channels ? data[(y - 1) * stride + i - channels]! : 0;
      const p = [0, a, b, (a + b) >> 1, paeth(a, b, c)][f]!;
      raw[y * (stride + 1) + 1 + i] = (x - p) & 0xff;
    }
  }
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, width);
  dv.setUint32(4, height);
  ihdr.set([over.depth ?? 8, over.colour ?? COLOUR[channels]!, 0, 0, over.interlace ?? 0], 8);
  const parts = [
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', new Uint8Array(deflateSync(raw))),
    chunk('IEND', new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * An 8x8 digit (values in [0, 1], 1 = ink) drawn as dark ink on white paper, `scale` pixels per
 * cell, with a `margin` of paper around it: what a user's scan or drawing looks like.
 */
export function digitPng(pixels: ArrayLike<number>, scale = 10, margin = 12): Uint8Array {
  const side = 8 * scale + 2 * margin;
  const data = new Uint8Array(side * side).fill(255);
  for (let y = 0; y < 8 * scale; y++)
    for (let x = 0; x < 8 * scale; x++) {
      const v = pixels[Math.floor(y / scale) * 8 + Math.floor(x / scale)]!;
      data[(y + margin) * side + x + margin] = Math.round(255 * (1 - v));
    }
  return encodePng({ width: side, height: side, channels: 1, data });
}
