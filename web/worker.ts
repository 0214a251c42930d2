// The demo's worker: initialises torchlet on the backend the page picks (WASM or WebGPU, fixed for
// this worker's life: the page starts a new worker to switch), loads the 8x8 digits once, then
// trains what the page asks for (a preset, optimiser, step, epochs), posting every epoch, and
// classifies drawings. All the numeric work is here, so the page's main thread only draws. One
// training at a time: a new request aborts the current run and waits for it to unwind before
// starting, so two runs never interleave. Training is torchlet's async `fit`, which yields to the
// event loop every few milliseconds and stops on an AbortSignal, so stop/retrain requests and
// drawings are answered while it runs. On WebGPU the values the GPU wrote are readable only at
// fit's epoch ends (where onEpoch and the metrics run on synced values) or after `await sync()`.
import {
  type Backend,
  BCELoss,
  LogSoftmaxCrossEntropy,
  type Loss,
  Optim,
  PRESETS,
  type Preset,
  Tensor,
  TorchletError,
  accuracy,
  asSamples,
  backend,
  confusionMatrix,
  fetchDigits,
  fit,
  gpuInfo,
  init,
  preset,
  sync,
} from 'torchlet';
import type { FromWorker, RunConfig, Task, ToWorker } from './protocol.js';

/** Test digits whose reconstructions the page shows (autoencoder runs). */
const SHOWN = 10;

const post = (message: FromWorker): void => self.postMessage(message);
const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));

post({
  type: 'presets',
  presets: PRESETS.filter((p) => p.data === 'digits').map(({ name, description, task }) => ({
    name,
    description,
    task,
  })),
});

let chooseBackend: (name: Backend) => void = () => {};
const ready = new Promise<Backend>((resolve) => (chooseBackend = resolve)).then(async (name) => {
  try {
    await init({ backend: name });
  } catch (e) {
    // No fallback here: the page decides (it shows the message and switches back to WASM).
    const code = e instanceof TorchletError ? { code: e.code } : {};
    post({ type: 'backend-error', backend: name, ...code, message: messageOf(e) });
    throw e;
  }
  post({ type: 'backend', backend: name, label: describeBackend(name) });
  post({ type: 'status', text: 'loading the digits' });
  return fetchDigits();
});

/** What runs the kernels, for the page. */
function describeBackend(name: Backend): string {
  const info = gpuInfo();
  if (name === 'wasm' || info === null) return 'WASM SIMD128';
  const parts = [info.vendor, info.architecture].filter((v) => v !== '');
  return parts.length > 0 ? `WebGPU (${parts.join(', ')})` : 'WebGPU';
}

// The classifier the drawing pad uses: the latest classifier run that has trained an epoch.
// Drawings that arrive before its values can be read wait in `pending`.
const pending: Array<{ id: number; pixels: number[] }> = [];
let classifier: Preset | null = null;
/**
 * WebGPU: drawings answered between runs (forward on the GPU, then a read back). A run starts only
 * once these are done, so none reads a net that training changes or disposes.
 */
let gpuReads: Promise<void> = Promise.resolve();

/** The run that should be running: the latest train request, or null after a stop. */
let wanted: number | null = null;
/** The run in progress and how to stop it. */
let current: { run: number; controller: AbortController } | null = null;
/** Runs execute one after another along this chain. */
let chain: Promise<void> = Promise.resolve();

// Registered before any await: a message that finds no listener is dropped.
self.addEventListener('message', (e: MessageEvent<ToWorker>) => {
  const m = e.data;
  switch (m.type) {
    case 'init':
      chooseBackend(m.backend);
      break;
    case 'predict':
      pending.push(m);
      answerWhenReadable();
      break;
    case 'stop':
      wanted = null;
      current?.controller.abort();
      break;
    case 'train': {
      wanted = m.run;
      current?.controller.abort();
      const { run, config } = m;
      // A request superseded while it waited is skipped.
      chain = chain
        .then(() => (wanted === run ? runTraining(run, config) : undefined))
        .catch((e: unknown) => post({ type: 'error', run, message: messageOf(e) }));
      break;
    }
  }
});

/**
 * Answers the pending drawings where the classifier's outputs can be read now: at once on WASM;
 * on WebGPU only between runs, since during one the classifier may be the net in training, whose
 * values come back at its epoch ends (onEpoch answers the drawings there).
 */
function answerWhenReadable(): void {
  if (classifier === null || pending.length === 0) return;
  if (backend() === 'wasm') {
    answerPredictions(classifier);
  } else if (current === null) {
    const model = classifier;
    gpuReads = gpuReads
      .then(() => answerOnGpu(model))
      .catch((e: unknown) => post({ type: 'error', message: messageOf(e) }));
  }
}

/** Softmax of the classifier's outputs for each pending drawing (values readable on this thread). */
function answerPredictions({ net, inputShape }: Preset): void {
  for (const request of pending.splice(0)) {
    const x = Tensor.from(request.pixels, [1, ...inputShape]);
    const logits = net.forward(x).data;
    postProbabilities(request.id, logits);
    x.dispose();
  }
}

/** `answerPredictions` with the forward pass on the GPU and its output read back. */
async function answerOnGpu({ net, inputShape }: Preset): Promise<void> {
  for (const request of pending.splice(0)) {
    const x = Tensor.from(request.pixels, [1, ...inputShape]);
    try {
      postProbabilities(request.id, await net.forward(x).read());
    } finally {
      x.dispose();
    }
  }
}

function postProbabilities(id: number, logits: Float32Array): void {
  const max = Math.max(...logits);
  const exps = Array.from(logits, (v) => Math.exp(v - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  post({ type: 'prediction', id, probabilities: exps.map((v) => v / sum) });
}

async function runTraining(run: number, config: RunConfig): Promise<void> {
  const { train: trainSplit, test } = await ready;
  // Until `current` is set below (no await in between), drawings may still start GPU reads.
  for (let reads = gpuReads; ; reads = gpuReads) {
    await reads;
    if (reads === gpuReads) break;
  }
  if (wanted !== run) return;
  const info = PRESETS.find((p) => p.name === config.preset);
  if (info === undefined || info.data !== 'digits') {
    post({ type: 'error', run, message: `expected a digits preset, got ${config.preset}` });
    return;
  }
  const controller = new AbortController();
  current = { run, controller };
  const task: Task = info.task;
  const model = preset(config.preset, { seed: config.seed });
  const loss: Loss = task === 'classify' ? new LogSoftmaxCrossEntropy() : new BCELoss();
  const testSet = { x: asSamples(test.x, model.inputShape), y: test.y };
  const data =
    task === 'classify'
      ? { x: asSamples(trainSplit.x, model.inputShape), y: trainSplit.y }
      : { x: trainSplit.x, y: trainSplit.x };
  const shown = test.x.rows(0, SHOWN);
  post({ type: 'started', run, config, description: model.description, task });
  // workers 'auto' (the default): the page is cross-origin isolated, so the batches of a network
  // big enough to gain are split over threads; the page shows how many.
  const optim = new Optim(model.net, loss, config.step, { optimizer: config.optimizer });
  const started = performance.now();
  let epochsDone = 0;
  let stopped = false;
  try {
    try {
      // One fit call for the whole run, so momentum's and Adam's state carries across epochs.
      const { epochs, batchSize, seed } = config;
      await fit(model.net, data, loss, {
        optim,
        epochs,
        batchSize,
        seed,
        signal: controller.signal,
        onEpoch: (epoch, value) => {
          epochsDone = epoch + 1;
          post({
            type: 'epoch',
            run,
            epoch,
            epochs: config.epochs,
            loss: value,
            ...(task === 'classify' ? { accuracy: accuracy(model.net, testSet) } : {}),
            threads: optim.workers ?? 1,
          });
          if (task === 'classify' && classifier !== model) {
            classifier?.net.dispose();
            classifier = model;
            post({ type: 'classifier', run });
          }
          // Readable here on either backend: fit runs onEpoch on synced values.
          if (classifier !== null) answerPredictions(classifier);
          if (task === 'reconstruct' && (epoch % 5 === 4 || epoch === config.epochs - 1)) {
            post({
              type: 'reconstructions',
              run,
              count: SHOWN,
              inputs: Array.from(shown.data),
              outputs: Array.from(model.net.forward(shown).data),
              epoch,
            });
          }
        },
      });
    } catch (e) {
      // Stopped: fit rejects with the signal's reason; the weights are those of the last batch.
      if (!controller.signal.aborted || e !== controller.signal.reason) throw e;
      stopped = true;
    }
    // WebGPU: a stopped run's last steps are still on the GPU (a no-op on WASM).
    await sync();
    const seconds = (performance.now() - started) / 1000;
    if (task === 'classify' && epochsDone > 0 && (wanted === run || wanted === null)) {
      post({ type: 'confusion', run, matrix: confusionMatrix(model.net, testSet).matrix });
    }
    post({
      type: 'finished',
      run,
      stopped,
      epochsDone,
      seconds,
    });
  } catch (e) {
    post({ type: 'error', run, message: messageOf(e) });
  } finally {
    optim.dispose();
    if (classifier !== model) model.net.dispose();
    loss.dispose();
    shown.dispose();
    if (current?.run === run) current = null;
    answerWhenReadable();
  }
}

ready.then(
  () => post({ type: 'status', text: 'ready' }),
  (e: unknown) => post({ type: 'error', message: messageOf(e) }),
);
