// The messages between the demo page (main.ts) and its training worker (worker.ts).

/** Page -> worker: classify a drawn digit (64 pixels in [0, 1], row-major 8x8). */
export interface PredictRequest {
  type: 'predict';
  id: number;
  pixels: number[];
}

/** Worker -> page. */
export type FromWorker =
  | { type: 'status'; text: string }
  /** One epoch of the classifier (with test accuracy) or of the autoencoder. */
  | {
      type: 'epoch';
      model: 'classifier' | 'autoencoder';
      epoch: number;
      epochs: number;
      loss: number;
      accuracy?: number;
    }
  /** Test digits and their reconstructions, `count` rows of 64 pixels each. */
  | { type: 'reconstructions'; count: number; inputs: number[]; outputs: number[]; epoch: number }
  | { type: 'prediction'; id: number; probabilities: number[] }
  | { type: 'done' }
  | { type: 'error'; message: string };
