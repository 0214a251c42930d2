// A drawing -> the 8x8 digits' format. The UCI digits are 32x32 bitmaps, size-normalised, whose
// 4x4 blocks count their ink pixels (0..16); here the ink's bounding box is scaled to fit 32x32
// (aspect kept, centred), thresholded, thickened, and counted the same way, then scaled to [0, 1].

/** Ink alpha (0..255, row-major width x height) -> 64 values in [0, 1]; all zeros for a blank drawing. */
export function toDigitPixels(
  alpha: ArrayLike<number>,
  width: number,
  height: number,
): Float32Array {
  let [x0, y0, x1, y1] = [width, height, -1, -1];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (alpha[y * width + x]! > 32)
        [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
    }
  }
  const out = new Float32Array(64);
  if (x1 < 0) return out;
  const side = Math.max(x1 - x0 + 1, y1 - y0 + 1);
  // Top-left of the square (in drawing pixels) that the 32x32 bitmap covers, centring the ink.
  const left = x0 - (side - (x1 - x0 + 1)) / 2;
  const top = y0 - (side - (y1 - y0 + 1)) / 2;
  const cell = side / 32;
  const SUB = 4; // samples per bitmap pixel and axis
  const bitmap = new Uint8Array(32 * 32);
  for (let by = 0; by < 32; by++) {
    for (let bx = 0; bx < 32; bx++) {
      let ink = 0;
      for (let sy = 0; sy < SUB; sy++) {
        for (let sx = 0; sx < SUB; sx++) {
          const x = Math.floor(left + (bx + (sx + 0.5) / SUB) * cell);
          const y = Math.floor(top + (by + (sy + 0.5) / SUB) * cell);
          if (x >= 0 && y >= 0 && x < width && y < height) ink += alpha[y * width + x]!;
        }
      }
      bitmap[by * 32 + bx] = ink / (SUB * SUB) > 96 ? 1 : 0;
    }
  }
  // The UCI writers' strokes are thicker than a mouse's after size normalisation: widen by one pixel.
  for (let by = 0; by < 32; by++) {
    for (let bx = 0; bx < 32; bx++) {
      let on = 0;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const y = by + dy;
          const x = bx + dx;
          if (x >= 0 && y >= 0 && x < 32 && y < 32) on |= bitmap[y * 32 + x]!;
        }
      }
      out[(by >> 2) * 8 + (bx >> 2)] += on / 16;
    }
  }
  return out;
}
