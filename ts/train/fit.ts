// fit: sgd's training loop (train.ts's `steps`), driven asynchronously. It runs batches until
// `yieldMs` has passed, then yields to the event loop with a macrotask (setImmediate in Node, a
// MessageChannel in browsers), checks an AbortSignal between batches and reports progress. The
// weights, history and callbacks are sgd's, bit for bit.

import { TorchletError } from '../core/errors.js';
import type { Loss } from '../core/loss.js';
import type { Module } from '../core/module.js';
import { gpuFinished, readLosses, sync } from '../core/wasm.js';
import type { Dataset } from './metrics.js';
import { describe } from './optim.js';
import { checkOptionKeys } from './options.js';
import { startWorkers } from './parallel.js';
import {
  FIT_ONLY,
  type History,
  type Plan,
  SGD_KEYS,
  type SgdOptions,
  checkIdle,
  checkOption,
  plan,
  startPosition,
  steps,
} from './train.js';

/** What `onProgress` receives (indices from 0, as the other callbacks'). */
export interface Progress {
  /** Epoch index, from 0: the epoch in progress, or the one just finished when `epochEnd`. */
  epoch: number;
  /** Epochs asked for (training may stop earlier). */
  epochs: number;
  /** Index, from 0, of the last batch completed in `epoch`. */
  batch: number;
  /** Batches per epoch. */
  batches: number;
  /** Samples trained on so far in this call (skipped batches included). */
  samples: number;
  /**
   * Batches completed over batches planned (epochs × batches), in [0, 1]; it stays below 1 when
   * training stops early (convergence, patience, `onEpoch` returning false).
   */
  fraction: number;
  /** Milliseconds since training started. */
  elapsedMs: number;
  /** True for the report after an epoch's validation and `onEpoch`. */
  epochEnd: boolean;
}

/** Options for `fit`: those of `sgd`, plus cancellation, progress and how often to yield. */
export interface FitOptions extends SgdOptions {
  /**
   * Checked between batches (and before training starts): once aborted, `fit` rejects with
   * `signal.reason` (an `AbortError` DOMException unless `abort(reason)` gave one). The weights
   * are left as after the last completed batch (no best-weight restore), the optimiser state is
   * consistent with them, and fit's buffers are freed.
   */
  signal?: AbortSignal;
  /**
   * Called each time fit yields to the event loop (about every `yieldMs` of training) and after
   * each epoch (`epochEnd: true`, after validation and `onEpoch`).
   */
  onProgress?: (progress: Progress) => void;
  /**
   * Longest run of batches, in milliseconds, between yields to the event loop (default 16: one
   * frame at 60 Hz; 0 yields after every batch). A batch is never split, so a run lasts at least
   * one batch (and one epoch's validation). Yields are macrotasks: setImmediate in Node,
   * MessageChannel in browsers (setTimeout(0) where neither exists).
   */
  yieldMs?: number;
}

/** The keys of `FitOptions`. @internal */
export const FIT_KEYS: readonly string[] = Object.freeze([...SGD_KEYS, ...FIT_ONLY]);

/**
 * `sgd`, asynchronous: the same loop, options and history (bit for bit), yielding to the event
 * loop once `yieldMs` (default 16) of training has passed, at the end of a batch, so a page stays
 * responsive; it reports progress and stops on an `AbortSignal`. It returns at once; training starts in a later macrotask. Do not
 * train the same net elsewhere while it runs (a second sgd or fit on it is refused).
 * @returns The loss history, as `sgd`'s.
 * @throws (rejects with) what `sgd` throws, and `signal.reason` when `signal` aborts (also when it
 *   was aborted before the call: nothing moves then).
 * @example
 * const controller = new AbortController();
 * const optim = new Optim(net, loss, 1e-3, { optimizer: 'adam' });
 * const history = await fit(net, train, loss, {
 *   optim, epochs: 20, signal: controller.signal,
 *   onProgress: (p) => { bar.value = p.fraction; },
 * });
 */
export async function fit(
  net: Module,
  data: Dataset,
  loss: Loss,
  options: FitOptions = {},
): Promise<History> {
  const where = 'fit';
  checkOptionKeys(options, FIT_KEYS, where);
  const { signal, onProgress } = options;
  if (
    signal !== undefined &&
    (typeof signal !== 'object' || signal === null || typeof signal.aborted !== 'boolean')
  ) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${where}: expected signal to be an AbortSignal, got ${describe(signal)}`,
    );
  }
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${where}: expected onProgress to be a function, got ${describe(onProgress)}`,
    );
  }
  const yieldMs = checkOption(
    options.yieldMs ?? 16,
    where,
    'yieldMs',
    (v) => v >= 0 && Number.isFinite(v),
    'a finite number of milliseconds >= 0',
  );
  const p = plan(net, data, loss, options, where);
  // A function, so each call reads the signal afresh (it changes while we await).
  const checkAbort = (): void => {
    if (signal?.aborted === true) throw signal.reason;
  };
  checkAbort();
  const pause = yielder();
  try {
    await pause.next();
    checkAbort();
    // Data-parallel threads start here, awaited (a page's main thread cannot wait for them).
    const first = [Math.min(p.batchSize, p.n), ...data.x.shape.slice(1)];
    const workers = p.optim.plannedWorkers(first, true);
    if (workers > 1) {
      try {
        await startWorkers(workers);
      } catch (e) {
        if (!p.optim.oneThreadAfter(e)) throw e;
      }
      checkAbort();
    }
    // Again: another fit may have started on this net while this one waited.
    checkIdle(net, where);
    return await drive(p, onProgress, yieldMs, checkAbort, pause);
  } finally {
    pause.close();
  }
}

/** Runs the loop, yielding every `yieldMs` and reporting progress; see `fit`. */
async function drive(
  p: Plan,
  onProgress: FitOptions['onProgress'],
  yieldMs: number,
  checkAbort: () => void,
  pause: Yielder,
): Promise<History> {
  const pos = startPosition();
  const it = steps(p, pos);
  const started = now();
  const total = p.epochs * p.batches;
  const report = (): void => {
    const done = pos.epoch * p.batches + pos.batch + 1;
    onProgress?.({
      epoch: pos.epoch,
      epochs: p.epochs,
      batch: pos.batch,
      batches: p.batches,
      samples: pos.samples,
      fraction: total === 0 ? 1 : done / total,
      elapsedMs: now() - started,
      epochEnd: pos.epochEnd,
    });
  };
  let deadline = started + yieldMs;
  // WebGPU: the work submitted by the previous yield. Awaiting it at the next keeps the GPU at
  // most two yields behind the loop (so an abort or a progress report is not an epoch late, and
  // queued work stays bounded) while it still runs alongside the encoding.
  let gpuDone: Promise<void> | null = null;
  try {
    for (;;) {
      const r = it.next();
      if (r.done === true) return r.value;
      if (pos.needSync) {
        // WebGPU: the epoch's losses and every tensor come back once per epoch.
        pos.losses = await readLosses();
        await sync();
      }
      checkAbort();
      if (pos.epochEnd) report();
      if (now() >= deadline) {
        if (!pos.epochEnd) report();
        await pause.next();
        if (gpuDone !== null) await gpuDone;
        gpuDone = gpuFinished();
        checkAbort();
        deadline = now() + yieldMs;
      }
    }
  } finally {
    // Runs the loop's own finally when it stopped early (abort, a throwing onProgress).
    it.return(undefined as never);
  }
}

const now = (): number => performance.now();

/** Waits for later macrotasks, one at a time; `close` releases what it holds. */
interface Yielder {
  next(): Promise<void>;
  close(): void;
}

/**
 * Yields to the event loop with a macrotask, so pending timers, I/O and (in browsers) rendering get
 * their turn: setImmediate in Node; a MessageChannel message in browsers (setTimeout(0) is clamped
 * to 4 ms once nested); setTimeout(0) where neither exists. One per fit call, closed at its end
 * (an open port would keep Node alive).
 */
function yielder(): Yielder {
  if (typeof setImmediate === 'function') {
    return { next: () => new Promise((resolve) => setImmediate(resolve)), close: () => {} };
  }
  if (typeof MessageChannel === 'function') {
    const channel = new MessageChannel();
    let wake: (() => void) | null = null;
    channel.port1.onmessage = () => {
      const w = wake;
      wake = null;
      w?.();
    };
    return {
      next: () =>
        new Promise((resolve) => {
          wake = resolve;
          channel.port2.postMessage(null);
        }),
      close: () => {
        channel.port1.close();
        channel.port2.close();
      },
    };
  }
  return { next: () => new Promise((resolve) => setTimeout(resolve, 0)), close: () => {} };
}
