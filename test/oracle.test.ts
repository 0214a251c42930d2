// Independent oracle (issue 7.2): TensorFlow.js (CPU backend, different authors, autodiff) computes
// the loss, the parameter gradients and the input gradient of five small networks built from the
// same weights — an MLP (MSE), a strided Conv1D net (log-softmax cross-entropy on labels), a Conv2D
// net (Softmax + cross-entropy on probabilities), an AutoEncoder (BCE), and one Linear head per loss
// — and then trains each for 100 plain SGD steps. TF.js shares torchlet's layouts (channels last,
// Linear weight [in, out] for x·W, conv filters [k, inC, outC] / [kH, kW, inC, outC]), so weights
// copy over unchanged. Compared with test/compare.ts (NaN matches only NaN; ±Inf only itself).
// Tolerances, |got - want| <= atol + rtol·|want|:
// - losses and gradients: rtol 1e-4, atol 1e-5 — both sides are float32 with different summation
//   orders; atol covers gradient elements that cancel to ~0.
// - weights after 100 steps (lr 0.05): rtol 1e-3, atol 1e-5 — per-step rounding differences of
//   ~1e-7 compound over 100 steps.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, it } from 'vitest';
import {
  AutoEncoder,
  BCELoss,
  Conv1D,
  Conv2D,
  CrossEntropyLoss,
  Flatten,
  Linear,
  LogSoftmaxCrossEntropy,
  type Loss,
  MSELoss,
  MaxPool1D,
  MaxPool2D,
  type Module,
  ReLU,
  Rng,
  Sequential,
  Sigmoid,
  Softmax,
  TanH,
  Tensor,
  init,
} from '../ts/index.js';
import { assertClose } from './compare.js';
import { TIMEOUT, tier } from './tiers.js';

await init();
tf.env().set('IS_TEST', true); // silences the "install tfjs-node" hint; changes no math
await tf.setBackend('cpu');

const GRAD = { rtol: 1e-4, atol: 1e-5 };
const TRAINED = { rtol: 1e-3, atol: 1e-5 };
const SEEDS = tier(5, 20);
const STEPS = 100;
const LR = 0.05;
let cases = 0;
let trained = 0;
let worstGrad = 0;
let worstTrained = 0;

type LossName = 'mse' | 'bce' | 'ce' | 'lsce';
interface Case {
  net: Module;
  loss: Loss;
  lossName: LossName;
  x: Tensor;
  /** Target for torchlet: class indices [batch] for ce/lsce, dense otherwise. */
  y: Tensor;
  /** The same target dense, for TF.js. */
  yDense: tf.Tensor;
  /** The network in TF.js ops, parameters in torchlet's `parameters()` order. */
  tfNet: (x: tf.Tensor, p: tf.Tensor[]) => tf.Tensor;
}

const linear = (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) =>
  tf.add(tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D), b);
const flatten = (x: tf.Tensor) => tf.reshape(x, [x.shape[0]!, -1]);
const pool1d = (x: tf.Tensor, k: number, s: number) => {
  const [b, l, c] = x.shape as [number, number, number];
  const y = tf.maxPool(tf.reshape(x, [b, 1, l, c]) as tf.Tensor4D, [1, k], [1, s], 'valid');
  return tf.reshape(y, [b, y.shape[2], c]);
};

function tfLoss(name: LossName, y: tf.Tensor, yhat: tf.Tensor): tf.Scalar {
  const rows = yhat.shape[0]!;
  const clog = (p: tf.Tensor) => tf.maximum(tf.log(p), -100);
  switch (name) {
    case 'mse':
      return tf.div(tf.sum(tf.square(tf.sub(yhat, y))), rows);
    case 'bce':
      return tf.div(
        tf.neg(tf.sum(tf.add(tf.mul(y, clog(yhat)), tf.mul(tf.sub(1, y), clog(tf.sub(1, yhat)))))),
        rows,
      );
    case 'ce':
      return tf.div(tf.neg(tf.sum(tf.mul(y, clog(yhat)))), rows);
    case 'lsce':
      return tf.div(tf.neg(tf.sum(tf.mul(y, tf.logSoftmax(yhat)))), rows);
  }
}

function uniform(rng: Rng, shape: number[], lo = -1, hi = 1): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return Tensor.from(
    Float32Array.from({ length: n }, () => rng.uniform(lo, hi)),
    shape,
  );
}

function target(
  rng: Rng,
  lossName: LossName,
  rows: number,
  cols: number,
): { y: Tensor; yDense: tf.Tensor } {
  if (lossName === 'ce' || lossName === 'lsce') {
    const labels = Array.from({ length: rows }, () => rng.int(cols));
    return { y: Tensor.from(labels), yDense: tf.oneHot(labels, cols).toFloat() };
  }
  const y = uniform(rng, [rows, cols], lossName === 'bce' ? 0 : -1, 1);
  return { y, yDense: tf.tensor(y.toArray(), [rows, cols]) };
}

const LOSSES: Record<LossName, () => Loss> = {
  mse: () => new MSELoss(),
  bce: () => new BCELoss(),
  ce: () => new CrossEntropyLoss(),
  lsce: () => new LogSoftmaxCrossEntropy(),
};

/** The five networks (the fifth is one Linear head per loss), built from one seed. */
function networks(seed: number): Array<[string, Case]> {
  const rng = new Rng(seed);
  const make = (
    net: Module,
    lossName: LossName,
    xShape: number[],
    cols: number,
    tfNet: Case['tfNet'],
    xRange: [number, number] = [-1, 1],
  ): Case => {
    const x = uniform(rng, xShape, ...xRange);
    return {
      net,
      loss: LOSSES[lossName](),
      lossName,
      x,
      ...target(rng, lossName, xShape[0]!, cols),
      tfNet,
    };
  };
  const out: Array<[string, Case]> = [
    [
      'MLP: Linear -> TanH -> Linear, MSE',
      make(
        new Sequential(new Linear(6, 8, { rng }), new TanH(), new Linear(8, 4, { rng })),
        'mse',
        [5, 6],
        4,
        (x, [w1, b1, w2, b2]) => linear(tf.tanh(linear(x, w1!, b1!)), w2!, b2!),
      ),
    ],
    [
      'Conv1D (stride 2) -> ReLU -> MaxPool1D -> Flatten -> Linear, LogSoftmaxCrossEntropy',
      make(
        new Sequential(
          new Conv1D(3, 2, 4, 2, { rng }),
          new ReLU(),
          new MaxPool1D(2),
          new Flatten(),
          new Linear(8, 3, { rng }),
        ),
        'lsce',
        [4, 11, 2],
        3,
        (x, [w1, b1, w2, b2]) =>
          linear(
            flatten(
              pool1d(
                tf.relu(tf.add(tf.conv1d(x as tf.Tensor3D, w1 as tf.Tensor3D, 2, 'valid'), b1!)),
                2,
                2,
              ),
            ),
            w2!,
            b2!,
          ),
      ),
    ],
    [
      'Conv2D -> TanH -> MaxPool2D -> Flatten -> Linear -> Softmax, CrossEntropyLoss',
      make(
        new Sequential(
          new Conv2D(3, 3, 1, 3, 1, { rng }),
          new TanH(),
          new MaxPool2D(2, 2),
          new Flatten(),
          new Linear(27, 4, { rng }),
          new Softmax(),
        ),
        'ce',
        [3, 8, 8, 1],
        4,
        (x, [w1, b1, w2, b2]) =>
          tf.softmax(
            linear(
              flatten(
                tf.maxPool(
                  tf.tanh(
                    tf.add(tf.conv2d(x as tf.Tensor4D, w1 as tf.Tensor4D, 1, 'valid'), b1!),
                  ) as tf.Tensor4D,
                  2,
                  2,
                  'valid',
                ),
              ),
              w2!,
              b2!,
            ),
          ),
      ),
    ],
  ];
  // AutoEncoder: the target is the input itself.
  const ae = new AutoEncoder(
    new Sequential(new Linear(8, 4, { rng }), new TanH()),
    new Sequential(new Linear(4, 8, { rng }), new Sigmoid()),
  );
  const xa = uniform(rng, [6, 8], 0, 1);
  out.push([
    'AutoEncoder(Linear -> TanH, Linear -> Sigmoid), BCE',
    {
      net: ae,
      loss: new BCELoss(),
      lossName: 'bce',
      x: xa,
      y: xa,
      yDense: tf.tensor(xa.toArray(), [6, 8]),
      tfNet: (x, [w1, b1, w2, b2]) => tf.sigmoid(linear(tf.tanh(linear(x, w1!, b1!)), w2!, b2!)),
    },
  ]);
  // Each loss on a Linear head (probability losses behind the activation that makes probabilities).
  for (const lossName of ['mse', 'bce', 'ce', 'lsce'] as const) {
    const head = lossName === 'bce' ? [new Sigmoid()] : lossName === 'ce' ? [new Softmax()] : [];
    const act =
      lossName === 'bce' ? tf.sigmoid : lossName === 'ce' ? tf.softmax : (t: tf.Tensor) => t;
    out.push([
      `Linear head, ${LOSSES[lossName]().type}`,
      make(new Sequential(new Linear(7, 5, { rng }), ...head), lossName, [4, 7], 5, (x, [w, b]) =>
        act(linear(x, w!, b!)),
      ),
    ]);
  }
  return out;
}

/** torchlet: loss, then parameter gradients and dL/dx in one backward. */
function torchletStep(c: Case): { loss: number; grads: Float32Array[]; dx: Float32Array } {
  const yhat = c.net.forward(c.x);
  const loss = c.loss.forward(c.y, yhat);
  c.net.zeroGrad();
  const dx = c.net.backward(c.loss.backward(c.y, yhat)).toArray();
  return { loss, grads: c.net.parameters().map((p) => p.grad.toArray()), dx };
}

/** TF.js: the same by autodiff, from the given parameter values. */
function tfStep(
  c: Case,
  params: tf.Tensor[],
): { loss: number; grads: Float32Array[]; dx: Float32Array } {
  return tf.tidy(() => {
    const x = tf.tensor(c.x.toArray(), [...c.x.shape]);
    const f = (xx: tf.Tensor, ...p: tf.Tensor[]) => tfLoss(c.lossName, c.yDense, c.tfNet(xx, p));
    const { value, grads } = tf.valueAndGrads(f)([x, ...params]);
    const all = grads.map((g) => g.dataSync() as Float32Array);
    return { loss: value.dataSync()[0]!, grads: all.slice(1), dx: all[0]! };
  });
}

function check(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  tol: { rtol: number; atol: number },
  what: string,
): number {
  return assertClose(got, want, tol.rtol, tol.atol, what);
}

describe('TensorFlow.js oracle', () => {
  beforeAll(() => {
    cases = 0;
    trained = 0;
  });
  afterAll(() => {
    console.log(
      `oracle: ${cases} gradient cases (${SEEDS} seeds), ${trained} 100-step SGD runs; worst error/tolerance: gradients ${worstGrad.toPrecision(2)}, trained weights ${worstTrained.toPrecision(2)}`,
    );
  });

  for (let seed = 1; seed <= SEEDS; seed++) {
    it(
      `seed ${seed}: losses, parameter and input gradients; then 100 SGD steps`,
      () => {
        for (const [name, c] of networks(seed)) {
          const params = c.net.parameters();
          const tfParams = params.map((p) => tf.tensor(p.value.toArray(), [...p.value.shape]));
          const mine = torchletStep(c);
          const theirs = tfStep(c, tfParams);
          const where = `seed ${seed}, ${name}`;
          worstGrad = Math.max(
            worstGrad,
            check([mine.loss], [theirs.loss], GRAD, `${where}: loss`),
          );
          params.forEach((p, i) => {
            worstGrad = Math.max(
              worstGrad,
              check(mine.grads[i]!, theirs.grads[i]!, GRAD, `${where}: grad ${p.name}`),
            );
          });
          worstGrad = Math.max(worstGrad, check(mine.dx, theirs.dx, GRAD, `${where}: dL/dx`));
          cases++;

          // 100 plain SGD steps on both sides from the same start.
          let tfW = tfParams;
          for (let step = 0; step < STEPS; step++) {
            torchletStep(c);
            c.net.updateParameters(LR);
            const next = tf.tidy(() => {
              const { grads } = tf.valueAndGrads((...p: tf.Tensor[]) =>
                tfLoss(c.lossName, c.yDense, c.tfNet(tf.tensor(c.x.toArray(), [...c.x.shape]), p)),
              )(tfW);
              return tfW.map((w, i) => tf.sub(w, tf.mul(grads[i]!, LR)));
            });
            tfW.forEach((w) => w.dispose());
            tfW = next;
          }
          params.forEach((p, i) => {
            worstTrained = Math.max(
              worstTrained,
              check(
                p.value.toArray(),
                tfW[i]!.dataSync(),
                TRAINED,
                `${where}: ${p.name} after ${STEPS} steps`,
              ),
            );
          });
          trained++;
          tfW.forEach((w) => w.dispose());
          c.yDense.dispose();
          c.net.dispose();
          c.loss.dispose();
          c.x.dispose();
          if (c.y !== c.x) c.y.dispose();
        }
      },
      TIMEOUT,
    );
  }
});
