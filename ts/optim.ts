// Optim: one training step on a batch, as in the original design: forward, loss, backward,
// update with `eps` as the gradient step. The loss is checked finite before any weight moves.

import { TorchletError } from './errors.js';
import type { Loss } from './loss.js';
import { Module } from './module.js';
import type { Tensor } from './tensor.js';

/**
 * Plain gradient descent on a module.
 * @example
 * const opt = new Optim(net, new LogSoftmaxCrossEntropy(), 0.05);
 * const loss = opt.step(xBatch, yBatch);
 */
export class Optim {
  /** The network being trained. */
  readonly net: Module;
  /** The loss. */
  readonly loss: Loss;
  /** Gradient step (learning rate). */
  readonly eps: number;

  constructor(net: Module, loss: Loss, eps = 1e-3) {
    if (!(net instanceof Module)) throw new TorchletError('BAD_ARGUMENT', `Optim: expected net to be a Module, got ${typeof net}`);
    if (typeof eps !== 'number' || !Number.isFinite(eps) || eps <= 0) {
      throw new TorchletError('BAD_ARGUMENT', `Optim: expected eps (the gradient step) to be a positive finite number, got ${String(eps)}`);
    }
    this.net = net;
    this.loss = loss;
    this.eps = eps;
  }

  /**
   * Forward, loss, backward and update on one batch.
   * @returns The batch loss before the update.
   * @throws TorchletError `NON_FINITE` (weights untouched) when the loss is NaN or infinite.
   */
  step(x: Tensor, y: Tensor): number {
    const yhat = this.net.forward(x);
    const value = this.loss.forward(y, yhat);
    if (!Number.isFinite(value)) {
      throw new TorchletError('NON_FINITE', `Optim.step: expected a finite loss, got ${value}; weights were not updated (lower the step?)`);
    }
    const delta = this.loss.backward(y, yhat);
    this.net.zeroGrad();
    this.net.backwardUpdateGradient(x, delta);
    this.net.updateParameters(this.eps);
    return value;
  }
}
