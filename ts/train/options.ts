// Options bags are checked key by key: a misspelt option would otherwise keep its default without
// a word. The training entry points (Optim, sgd, fit, evaluate, startWorkers) share this check and
// its hints, so `lr` points at `step` wherever it is written. A module of its own because
// parallel.ts needs it and optim.ts needs parallel.ts.

import { TorchletError, nearestName } from '../core/errors.js';

/** Names users reach for (PyTorch, Keras, scikit-learn, snake_case), and ours. */
const ALIASES: Readonly<Record<string, readonly string[]>> = {
  lr: ['step'],
  learningrate: ['step'],
  learning_rate: ['step'],
  rate: ['step'],
  eta: ['step'],
  batch: ['batchSize'],
  batch_size: ['batchSize'],
  bs: ['batchSize'],
  minibatch: ['batchSize'],
  epoch: ['epochs'],
  n_epochs: ['epochs'],
  nepochs: ['epochs'],
  max_epochs: ['epochs'],
  maxepochs: ['epochs'],
  iterations: ['epochs'],
  weight_decay: ['weightDecay'],
  decay: ['weightDecay'],
  l2: ['weightDecay'],
  optim: ['optimizer'],
  method: ['optimizer'],
  algorithm: ['optimizer'],
  beta: ['betas'],
  eps: ['epsilon'],
  val: ['validation'],
  validation_data: ['validation'],
  validationdata: ['validation'],
  early_stopping: ['patience'],
  earlystopping: ['patience'],
  random_state: ['seed'],
  randomseed: ['seed'],
  random_seed: ['seed'],
  callback: ['onEpoch'],
  on_epoch: ['onEpoch'],
  on_batch: ['onBatch'],
  shuffled: ['shuffle'],
  non_finite: ['nonFinite'],
  nan: ['nonFinite'],
  criterion: ['loss'],
  tol: ['eps'],
  tolerance: ['eps'],
  optimiser: ['optimizer', 'optim'],
  abort: ['signal'],
  abortsignal: ['signal'],
  abort_signal: ['signal'],
  progress: ['onProgress'],
  on_progress: ['onProgress'],
  onprogress: ['onProgress'],
  yield_ms: ['yieldMs'],
  generator: ['rng'],
  random: ['rng'],
};

/** The known key an unknown one most likely meant (quoted), or what `elsewhere` says of it, or null. */
function suggest(
  key: string,
  known: readonly string[],
  elsewhere: Readonly<Record<string, string>>,
): string | null {
  const lower = key.toLowerCase();
  const aliases = Object.hasOwn(ALIASES, lower) ? ALIASES[lower]! : [];
  const alias = aliases.find((k) => known.includes(k));
  if (alias !== undefined) return `\`${alias}\``;
  const other = aliases.find((k) => Object.hasOwn(elsewhere, k));
  if (other !== undefined) return elsewhere[other]!;
  const best = nearestName(key, known) ?? null;
  return best === null ? null : `\`${best}\``;
}

/**
 * Throws `BAD_ARGUMENT` unless `options` is an object (or undefined) whose own keys are all in
 * `known`, so a misspelt option fails instead of silently keeping its default; the message
 * suggests the likely key (`lr` -> `step`), or where that setting lives instead (`elsewhere`:
 * key -> description). @internal
 */
export function checkOptionKeys(
  options: unknown,
  known: readonly string[],
  where: string,
  elsewhere: Readonly<Record<string, string>> = {},
): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${where}: expected options to be an object, got ${Array.isArray(options) ? 'an array' : String(options)}`,
    );
  }
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const hint = suggest(key, known, elsewhere);
    throw new TorchletError(
      'BAD_ARGUMENT',
      hint === null
        ? `${where}: expected one of the options ${known.join(', ')}, got unknown key ${JSON.stringify(key)}`
        : `${where}: expected a known option, got unknown key ${JSON.stringify(key)}; did you mean ${hint}?`,
    );
  }
}
