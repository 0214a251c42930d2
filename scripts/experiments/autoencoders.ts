// The autoencoders of 3.3.1, 3.3.2 and the clustering section: the report's linear autoencoder
// (any widths) and the convolutional ones for 8x8 digits and 28x28 MNIST. Every decoder ends in
// Sigmoid -> Flatten, so the output is [batch, pixels] like the flat data it reconstructs.
// Also the measurements the autoencoder sections share: parameter counts, reconstructions in
// batches, the BCE of each image, and the mean image (the plateau a stuck autoencoder sits on).
import {
  AutoEncoder,
  Conv2D,
  Flatten,
  Linear,
  ReLU,
  Reshape,
  type Module,
  type Rng,
  Sequential,
  Sigmoid,
  TanH,
  type Tensor,
  Upsample2D,
} from '../../ts/index.js';

/** Trainable values of `net`: the sum of its parameter tensors' sizes. */
export function parameterCount(net: Module): number {
  return net.parameters().reduce((s, p) => s + p.value.size, 0);
}

/** `net.forward(x)` in batches of 256 rows, flattened: [n * outputs] values. */
export function reconstruct(net: Module, x: Tensor): Float32Array {
  const n = x.shape[0]!;
  const parts: Float32Array[] = [];
  for (let s = 0; s < n; s += 256)
    parts.push(net.forward(x.rows(s, Math.min(256, n - s))).toArray());
  const out = new Float32Array(parts.reduce((k, p) => k + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Binary cross-entropy of each image, summed over its `pixels` (BCELoss's per-image value, each
 * log clamped at -100): `yhat` and `y` are n rows of `pixels` values, or `yhat` is one row (the
 * same prediction for every image, e.g. the mean image).
 */
export function bcePerImage(
  yhat: ArrayLike<number>,
  y: ArrayLike<number>,
  pixels: number,
): number[] {
  const n = y.length / pixels;
  const shared = yhat.length === pixels;
  return Array.from({ length: n }, (_, i) => {
    let s = 0;
    for (let j = 0; j < pixels; j++) {
      const p = yhat[shared ? j : i * pixels + j]!;
      const t = y[i * pixels + j]!;
      s -= t * Math.max(Math.log(p), -100) + (1 - t) * Math.max(Math.log(1 - p), -100);
    }
    return s;
  });
}

/** The mean of n rows of `pixels` values (the mean image of a data set). */
export function meanImage(x: ArrayLike<number>, pixels: number): Float64Array {
  const n = x.length / pixels;
  const m = new Float64Array(pixels);
  for (let i = 0; i < n; i++) for (let j = 0; j < pixels; j++) m[j] += x[i * pixels + j]! / n;
  return m;
}

/** Linear(p,enc)->TanH->Linear(enc,L)->TanH / Linear(L,dec)->TanH->Linear(dec,p)->Sigmoid. */
export function linearAE(
  pixels: number,
  enc: number,
  latent: number,
  dec: number,
  rng: Rng,
): AutoEncoder {
  return new AutoEncoder(
    new Sequential(
      new Linear(pixels, enc, { rng }),
      new TanH(),
      new Linear(enc, latent, { rng }),
      new TanH(),
    ),
    new Sequential(
      new Linear(latent, dec, { rng }),
      new TanH(),
      new Linear(dec, pixels, { rng }),
      new Sigmoid(),
    ),
  );
}

/** In words, for the tables. */
export function linearAEText(pixels: number, enc: number, latent: number, dec: number): string {
  return `Linear(${pixels},${enc}) -> TanH -> Linear(${enc},${latent}) -> TanH / Linear(${latent},${dec}) -> TanH -> Linear(${dec},${pixels}) -> Sigmoid`;
}

/**
 * 8x8 digits, input [batch, 8, 8, 1]: two valid 3x3 convolutions to [4, 4, 32], a Linear to the
 * code; back with a Linear to [5, 5, 32], nearest upsampling to [10, 10, 32] and a 3x3 convolution
 * to [8, 8, 16], then a 1x1 convolution to one channel.
 */
export function convAEDigits(latent: number, rng: Rng): AutoEncoder {
  return new AutoEncoder(
    new Sequential(
      new Conv2D(3, 3, 1, 16, 1, { rng }),
      new ReLU(),
      new Conv2D(3, 3, 16, 32, 1, { rng }),
      new ReLU(),
      new Flatten(),
      new Linear(512, latent, { rng }),
      new TanH(),
    ),
    new Sequential(
      new Linear(latent, 800, { rng }),
      new ReLU(),
      new Reshape(5, 5, 32),
      new Upsample2D(2),
      new Conv2D(3, 3, 32, 16, 1, { rng }),
      new ReLU(),
      new Conv2D(1, 1, 16, 1, 1, { rng }),
      new Sigmoid(),
      new Flatten(),
    ),
  );
}

export const CONV_AE_DIGITS_TEXT =
  'Conv2D(3,3,1,16) -> ReLU -> Conv2D(3,3,16,32) -> ReLU -> Flatten -> Linear(512,L) -> TanH / ' +
  'Linear(L,800) -> ReLU -> Reshape(5,5,32) -> Upsample2D(2) -> Conv2D(3,3,32,16) -> ReLU -> Conv2D(1,1,16,1) -> Sigmoid -> Flatten';

/**
 * 28x28 MNIST, input [batch, 28, 28, 1]: strided convolutions to [6, 6, 16], a Linear to the code;
 * back with a Linear to [9, 9, 16], upsample to 18, a 3x3 convolution to [16, 16, 8], upsample to
 * 32, and a 5x5 convolution to [28, 28, 1].
 */
export function convAEMnist(latent: number, rng: Rng): AutoEncoder {
  return new AutoEncoder(
    new Sequential(
      new Conv2D(4, 4, 1, 8, 2, { rng }),
      new ReLU(),
      new Conv2D(3, 3, 8, 16, 2, { rng }),
      new ReLU(),
      new Flatten(),
      new Linear(576, latent, { rng }),
      new TanH(),
    ),
    new Sequential(
      new Linear(latent, 1296, { rng }),
      new ReLU(),
      new Reshape(9, 9, 16),
      new Upsample2D(2),
      new Conv2D(3, 3, 16, 8, 1, { rng }),
      new ReLU(),
      new Upsample2D(2),
      new Conv2D(5, 5, 8, 1, 1, { rng }),
      new Sigmoid(),
      new Flatten(),
    ),
  );
}

export const CONV_AE_MNIST_TEXT =
  'Conv2D(4,4,1,8,stride 2) -> ReLU -> Conv2D(3,3,8,16,stride 2) -> ReLU -> Flatten -> Linear(576,L) -> TanH / ' +
  'Linear(L,1296) -> ReLU -> Reshape(9,9,16) -> Upsample2D(2) -> Conv2D(3,3,16,8) -> ReLU -> Upsample2D(2) -> Conv2D(5,5,8,1) -> Sigmoid -> Flatten';
