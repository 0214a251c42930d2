// The messages between the demo page (main.ts) and its training worker (worker.ts). The page's first
// message picks the worker's backend, which is fixed for the worker's life (switching backends
// starts a new worker). Every message about a training carries its run number: the page numbers its
// requests, the worker runs one at a time (a new request stops the current run first), and the page
// drops reports of older runs.

import type { Backend, OptimizerName, PresetName } from 'torchlet';

export type { Backend };

/** What one training uses: the controls' values. */
export interface RunConfig {
  /** A digits preset: a classifier, or 'autoencoder' (reconstructs its input). */
  preset: PresetName;
  optimizer: OptimizerName;
  /** The gradient step (learning rate). */
  step: number;
  epochs: number;
  batchSize: number;
  /** Seed of the initial weights and of the shuffling. */
  seed: number;
}

/** Page -> worker, first and once: initialise torchlet with this backend. */
export interface InitRequest {
  type: 'init';
  backend: Backend;
}

/** Page -> worker: stop the current training (if any) and start this one. */
export interface TrainRequest {
  type: 'train';
  run: number;
  config: RunConfig;
}

/** Page -> worker: stop the current training; the model trained so far stays. */
export interface StopRequest {
  type: 'stop';
}

/** Page -> worker: classify a drawn digit (64 pixels in [0, 1], row-major 8x8). */
export interface PredictRequest {
  type: 'predict';
  id: number;
  pixels: number[];
}

/** Page -> worker. */
export type ToWorker = InitRequest | TrainRequest | StopRequest | PredictRequest;

/** Worker -> page. */
export type FromWorker =
  | { type: 'status'; text: string }
  /** torchlet is initialised on `backend`; `label` says what runs the kernels. */
  | { type: 'backend'; backend: Backend; label: string }
  /** `init({ backend })` failed (`code`: the TorchletError's, e.g. NO_GPU); nothing will train. */
  | { type: 'backend-error'; backend: Backend; code?: string; message: string }
  /** The digits presets the worker can train (sent once, at start). */
  | { type: 'presets'; presets: Array<{ name: PresetName; description: string; task: Task }> }
  /** A run has started: what it trains. */
  | { type: 'started'; run: number; config: RunConfig; description: string; task: Task }
  /** One epoch (index from 0); test accuracy for a classifier. */
  | {
      type: 'epoch';
      run: number;
      epoch: number;
      epochs: number;
      loss: number;
      accuracy?: number;
      /** Threads each batch is split over ('auto': this machine's choice for this network). */
      threads: number;
    }
  /** Test digits and their reconstructions, `count` rows of 64 pixels each (autoencoder runs). */
  | {
      type: 'reconstructions';
      run: number;
      count: number;
      inputs: number[];
      outputs: number[];
      epoch: number;
    }
  /** The test set's confusion matrix after a classifier run: `matrix[label][predicted]`. */
  | { type: 'confusion'; run: number; matrix: number[][] }
  /**
   * A run ended: after all its epochs, or stopped (by a stop or a newer train request) after
   * `epochsDone` epochs. `seconds` is its training time in the worker.
   */
  | { type: 'finished'; run: number; stopped: boolean; epochsDone: number; seconds: number }
  /** The model the drawing pad uses changed (the first epoch of a classifier run is done). */
  | { type: 'classifier'; run: number }
  | { type: 'prediction'; id: number; probabilities: number[] }
  | { type: 'error'; run?: number; message: string };

/** What a preset predicts. */
export type Task = 'classify' | 'reconstruct';
