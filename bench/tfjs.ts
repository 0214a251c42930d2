// The TF.js peers: the same layers and initial weights as torchlet (TF.js layouts are channels
// last with [in, out] / [k.., in, out] kernels, exactly torchlet's), trained with plain SGD on
// the same batches. Also TF.js matMul on the GEMM shapes, in the three forms.

import * as tf from '@tensorflow/tfjs';
import { setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type { GemmShape } from './gemm.js';
import { timePerCall } from './gemm.js';
import type { Workload } from './workloads.js';

/** Selects a TF.js backend, single-threaded. */
export async function useBackend(name: 'wasm' | 'cpu'): Promise<void> {
  if (name === 'wasm') {
    const dist = dirname(
      createRequire(import.meta.url).resolve(
        '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm',
      ),
    );
    setWasmPaths(`${dist}/`);
    setThreadsCount(1);
  }
  if (!(await tf.setBackend(name))) throw new Error(`TF.js backend ${name} did not initialise`);
  await tf.ready();
}

function buildModel(w: Workload, weights: Float32Array[]): tf.Sequential {
  const layers: tf.layers.Layer[] = [];
  let first = true;
  const shape = (): { inputShape?: number[] } => (first ? { inputShape: w.inputShape } : {});
  for (const l of w.layers) {
    let layer: tf.layers.Layer;
    if (l.type === 'linear') layer = tf.layers.dense({ units: l.nOut, ...shape() });
    else if (l.type === 'conv1d')
      layer = tf.layers.conv1d({ filters: l.cOut, kernelSize: l.k, ...shape() });
    else if (l.type === 'conv2d')
      layer = tf.layers.conv2d({ filters: l.cOut, kernelSize: l.k, ...shape() });
    else if (l.type === 'maxpool1d')
      layer = tf.layers.maxPooling1d({ poolSize: l.k, strides: l.k });
    else if (l.type === 'maxpool2d')
      layer = tf.layers.maxPooling2d({ poolSize: l.k, strides: l.k });
    else if (l.type === 'flatten') layer = tf.layers.flatten();
    else layer = tf.layers.activation({ activation: l.type });
    layers.push(layer);
    first = false;
  }
  const model = tf.sequential({ layers });
  let i = 0;
  for (const layer of model.layers) {
    const ws = layer.getWeights();
    if (ws.length === 0) continue;
    // NOTE: getWeights returns the live variables' values: do not dispose them.
    layer.setWeights(ws.map((t) => tf.tensor(weights[i++]!, t.shape)));
  }
  return model;
}

/** Samples/s per round of TF.js training on `backend`, or the error that stopped it. */
export async function trainTfjs(
  backend: 'wasm' | 'cpu',
  w: Workload,
  x: Float32Array,
  y: Float32Array,
  n: number,
  weights: Float32Array[],
  orders: Uint32Array[],
  roundSeconds: number,
  minRoundSeconds = 0,
): Promise<number[]> {
  await useBackend(backend);
  const model = buildModel(w, weights);
  const xs = tf.tensor(x, [n, ...w.inputShape]);
  const ys =
    w.loss === 'ce'
      ? tf.oneHot(tf.tensor1d(Array.from(y), 'int32'), 10).toFloat()
      : tf.tensor(y, [n, 64]);
  const opt = tf.train.sgd(w.lr);
  const lossFn = (target: tf.Tensor, pred: tf.Tensor): tf.Scalar => {
    if (w.loss === 'ce') return tf.losses.softmaxCrossEntropy(target, pred) as tf.Scalar;
    // Summed over features, mean over the batch, log clamped as torchlet and PyTorch do.
    const p = pred.clipByValue(1e-7, 1 - 1e-7);
    const bce = target.mul(p.log()).add(tf.scalar(1).sub(target).mul(tf.scalar(1).sub(p).log()));
    return bce.sum().neg().div(tf.scalar(w.batch)) as tf.Scalar;
  };
  const rates: number[] = [];
  try {
    for (const order of orders) {
      const t0 = performance.now();
      let done = 0;
      // Replay the epoch until the round has run minRoundSeconds, as the torchlet side does.
      do {
        for (let start = 0; start + w.batch <= n; start += w.batch) {
          tf.tidy(() => {
            const idx = tf.tensor1d(
              Int32Array.from(order.subarray(start, start + w.batch)),
              'int32',
            );
            const xb = tf.gather(xs, idx);
            const yb = tf.gather(ys, idx);
            const cost = opt.minimize(
              () => lossFn(yb, model.apply(xb, { training: true }) as tf.Tensor),
              true,
            );
            cost!.dataSync();
          });
          done += w.batch;
          if (performance.now() - t0 > roundSeconds * 1000) break;
        }
      } while (performance.now() - t0 < minRoundSeconds * 1000);
      rates.push(done / ((performance.now() - t0) / 1000));
    }
  } finally {
    xs.dispose();
    ys.dispose();
    model.dispose();
    opt.dispose();
  }
  return rates;
}

/** TF.js matMul GFLOP/s on `backend` in the three forms. */
export async function gemmTfjs(
  backend: 'wasm' | 'cpu',
  shapes: GemmShape[],
  runs: number,
  minMs: number,
) {
  await useBackend(backend);
  const out: Array<GemmShape & { nn: number; nt: number; tn: number }> = [];
  for (const s of shapes) {
    const a = tf.randomUniform([s.m, s.k]),
      at = tf.randomUniform([s.k, s.m]);
    const b = tf.randomUniform([s.k, s.n]),
      bt = tf.randomUniform([s.n, s.k]);
    const flops = 2 * s.m * s.k * s.n;
    const gf = (f: () => tf.Tensor) => flops / timePerCall(() => f().dispose(), runs, minMs) / 1e9;
    out.push({
      ...s,
      nn: gf(() => tf.matMul(a, b)),
      nt: gf(() => tf.matMul(a, bt, false, true)),
      tn: gf(() => tf.matMul(at, b, true, false)),
    });
    [a, at, b, bt].forEach((t) => t.dispose());
  }
  return out;
}
