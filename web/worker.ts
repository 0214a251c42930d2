// The demo's worker: loads torchlet, trains the report's conv net on the 8x8 digits, then its
// autoencoder, posting every epoch, and classifies drawings. All the numeric work is here, so
// the page's main thread only draws. Between epochs it yields, so predictions are answered live.
import {
  BCELoss,
  LogSoftmaxCrossEntropy,
  type Preset,
  Tensor,
  accuracy,
  asSamples,
  fetchDigits,
  init,
  preset,
  sgd,
} from 'torchlet';
import type { FromWorker, PredictRequest } from './protocol.js';

const CLASSIFIER = { epochs: 15, batchSize: 32, step: 0.05 };
const AUTOENCODER = { epochs: 30, batchSize: 32, step: 0.05 };
/** Test digits whose reconstructions the page shows. */
const SHOWN = 10;

const post = (message: FromWorker): void => self.postMessage(message);
const yieldToMessages = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

// Drawings that arrive before the classifier has trained one epoch wait here. The listener is
// registered first: a message that finds no listener is dropped.
const pending: PredictRequest[] = [];
let classifier: Preset | null = null;
self.addEventListener('message', (e: MessageEvent<PredictRequest>) => {
  if (e.data.type !== 'predict') return;
  pending.push(e.data);
  if (classifier) answerPredictions(classifier);
});

/** Softmax of the conv net's logits for each pending drawing. */
function answerPredictions({ net, inputShape }: Preset): void {
  for (const request of pending.splice(0)) {
    const x = Tensor.from(request.pixels, [1, ...inputShape]);
    const logits = Array.from(net.forward(x).data);
    x.dispose();
    const max = Math.max(...logits);
    const exps = logits.map((v) => Math.exp(v - max));
    const sum = exps.reduce((a, b) => a + b, 0);
    post({ type: 'prediction', id: request.id, probabilities: exps.map((v) => v / sum) });
  }
}

async function main(): Promise<void> {
  await init();
  post({ type: 'status', text: 'loading the digits' });
  const { train, test } = await fetchDigits();

  const conv = preset('conv1d', { seed: 1 });
  const trainSet = { x: asSamples(train.x, conv.inputShape), y: train.y };
  const testSet = { x: asSamples(test.x, conv.inputShape), y: test.y };
  const crossEntropy = new LogSoftmaxCrossEntropy();
  post({ type: 'status', text: `training ${conv.description}` });
  for (let epoch = 0; epoch < CLASSIFIER.epochs; epoch++) {
    const { loss } = sgd(conv.net, trainSet, crossEntropy, {
      ...CLASSIFIER,
      epochs: 1,
      seed: epoch,
    });
    post({
      type: 'epoch',
      model: 'classifier',
      epoch,
      epochs: CLASSIFIER.epochs,
      loss: loss[0]!,
      accuracy: accuracy(conv.net, testSet),
    });
    classifier = conv;
    answerPredictions(conv);
    await yieldToMessages();
  }

  const ae = preset('autoencoder', { seed: 1 });
  const shown = test.x.rows(0, SHOWN);
  const bce = new BCELoss();
  post({ type: 'status', text: `training ${ae.description}` });
  for (let epoch = 0; epoch < AUTOENCODER.epochs; epoch++) {
    const { loss } = sgd(ae.net, { x: train.x, y: train.x }, bce, {
      ...AUTOENCODER,
      epochs: 1,
      seed: epoch,
    });
    post({
      type: 'epoch',
      model: 'autoencoder',
      epoch,
      epochs: AUTOENCODER.epochs,
      loss: loss[0]!,
    });
    if (epoch % 5 === 4 || epoch === AUTOENCODER.epochs - 1) {
      const outputs = Array.from(ae.net.forward(shown).data);
      post({
        type: 'reconstructions',
        count: SHOWN,
        inputs: Array.from(shown.data),
        outputs,
        epoch,
      });
    }
    await yieldToMessages();
  }
  post({ type: 'done' });
}

main().catch((e: unknown) =>
  post({ type: 'error', message: e instanceof Error ? e.message : String(e) }),
);
