// The worker side of data-parallel steps (parallel.ts): runs inside gridworker.js, the one worker
// script torchlet ships. On a `parallel` message it builds the network and the loss in its own
// WASM memory, says it is ready, then serves steps from the shared buffer until told to release:
// weights in, its rows in, forward, loss, backward, gradients and loss out. It blocks on
// Atomics.wait between steps, so it answers no message until released.

import { TorchletError } from '../core/errors.js';
import {
  BCELoss,
  CrossEntropyLoss,
  type Loss,
  LogSoftmaxCrossEntropy,
  MSELoss,
  type LossOptions,
} from '../core/loss.js';
import type { Module } from '../core/module.js';
import { Rng } from '../core/rng.js';
import { fromArchitecture } from '../core/serialize.js';
import { Tensor } from '../core/tensor.js';
import { init, kernels } from '../core/wasm.js';
import {
  ERROR_CODES,
  type JoinMessage,
  RELEASE,
  STATUS_ERROR,
  STATUS_FATAL,
  STATUS_LOSS,
  STATUS_OK,
  STATUS_OUTPUT,
  SPIN_MS,
  SharedViews,
  WORDS,
} from './parallel.js';

const LOSSES: Readonly<Record<string, (o: LossOptions) => Loss>> = {
  LogSoftmaxCrossEntropy: (o) => new LogSoftmaxCrossEntropy(o),
  MSELoss: (o) => new MSELoss(o),
  BCELoss: (o) => new BCELoss(o),
  CrossEntropyLoss: (o) => new CrossEntropyLoss(o),
};

/** Joins a team and serves its steps until released. @internal */
export async function serveTeam(m: JoinMessage): Promise<void> {
  const views = new SharedViews(m.sab, m.layout);
  const { ctrl } = views;
  const w = m.index;
  let net: Module;
  let loss: Loss;
  try {
    await init(m.module);
    net = fromArchitecture(m.architecture, new Rng(m.seed));
    loss = LOSSES[m.loss.type]!({ reduction: m.loss.reduction as LossOptions['reduction'] });
  } catch (e) {
    views.writeMessage(w, e instanceof Error ? e.message : String(e));
    Atomics.store(ctrl, views.word(w, WORDS.W_STATUS), STATUS_FATAL);
    Atomics.add(ctrl, WORDS.READY, 1);
    Atomics.notify(ctrl, WORDS.READY);
    return;
  }
  const params = net.parameters();
  const xShape = [0, ...m.layout.xShape.slice(1)];
  const yShape = [0, ...m.layout.yShape.slice(1)];
  let x: Tensor | null = null;
  let y: Tensor | null = null;
  let seen = Atomics.load(ctrl, WORDS.SEQ);
  // A thread that exits while in a team (process.exit in a callback, an uncaught error) says so,
  // so the coordinator, which may be blocked waiting for it, throws instead of hanging.
  const onExit = (): void => {
    views.writeMessage(w, 'the worker thread exited');
    Atomics.store(ctrl, views.word(w, WORDS.W_STATUS), STATUS_FATAL);
    Atomics.add(ctrl, WORDS.DONE, 1);
    Atomics.notify(ctrl, WORDS.DONE);
  };
  const node = typeof process === 'undefined' ? undefined : process;
  node?.on('exit', onExit);
  Atomics.add(ctrl, WORDS.READY, 1);
  Atomics.notify(ctrl, WORDS.READY);
  try {
    for (;;) {
      spinWait(ctrl, WORDS.SEQ, seen);
      seen = Atomics.load(ctrl, WORDS.SEQ);
      if (Atomics.load(ctrl, WORDS.CMD) === RELEASE) return;
      const rows = Atomics.load(ctrl, views.word(w, WORDS.W_ROWS));
      if (rows === 0) continue;
      let status = STATUS_OK;
      try {
        const training = Atomics.load(ctrl, WORDS.TRAINING) === 1;
        if (net.training !== training) net.train(training);
        let at = 0;
        for (const p of params) {
          p.value.data.set(views.weights.subarray(at, at + p.value.size));
          at += p.value.size;
        }
        if (x === null || x.shape[0] !== rows) {
          x?.dispose();
          y?.dispose();
          xShape[0] = rows;
          yShape[0] = rows;
          x = Tensor.zeros(xShape);
          y = Tensor.zeros(yShape);
        }
        x.data.set(views.x(w, rows));
        y!.data.set(views.y(w, rows));
        const batch = Atomics.load(ctrl, WORDS.BATCH);
        const scale = loss.reduction === 'sum' ? 1 : rows / batch;
        status = step(views, w, net, loss, x, y!, scale);
      } catch (e) {
        status = STATUS_ERROR;
        const code = e instanceof TorchletError ? ERROR_CODES.indexOf(e.code) : -1;
        Atomics.store(ctrl, views.word(w, WORDS.W_CODE), Math.max(code, 0));
        views.writeMessage(w, e instanceof Error ? e.message : String(e));
      }
      Atomics.store(ctrl, views.word(w, WORDS.W_STATUS), status);
      Atomics.add(ctrl, WORDS.DONE, 1);
      Atomics.notify(ctrl, WORDS.DONE);
    }
  } finally {
    node?.off('exit', onExit);
    x?.dispose();
    y?.dispose();
    net.dispose();
  }
}

/** One step on this worker's rows; the gradients and loss go to the shared buffer. */
function step(
  views: SharedViews,
  w: number,
  net: Module,
  loss: Loss,
  x: Tensor,
  y: Tensor,
  scale: number,
): number {
  const k = kernels();
  const yhat = net.forward(x);
  if (k.non_finite_count(yhat.ptr, yhat.size) > 0) {
    const data = yhat.data;
    const i = data.findIndex((v) => !Number.isFinite(v));
    Atomics.store(views.ctrl, views.word(w, WORDS.W_INDEX), i);
    views.losses[w] = data[i]!;
    return STATUS_OUTPUT;
  }
  const { loss: value, gradient } = loss.forwardBackward(y, yhat, scale);
  views.losses[w] = value;
  if (gradient === null) return STATUS_LOSS;
  net.backwardUpdateGradient(x, gradient, 0);
  const grads = views.grads(w);
  let at = 0;
  for (const p of net.parameters()) {
    grads.set(p.grad.data, at);
    at += p.grad.size;
  }
  return STATUS_OK;
}

/** Waits until ctrl[index] leaves `value`: spins for SPIN_MS first (see parallel.ts), then blocks. */
function spinWait(ctrl: Int32Array, index: number, value: number): void {
  const end = performance.now() + SPIN_MS;
  while (Atomics.load(ctrl, index) === value) {
    if (performance.now() > end) {
      Atomics.wait(ctrl, index, value);
      return;
    }
  }
}
