// `npm run train:conv1d` / `npm run train:lenet`: trains a classifier preset on its data set (the
// report's conv net on the 8x8 digits viewed as [n, 64, 1]; LeNet on MNIST [n, 28, 28, 1], 8,000
// train / 2,000 test), printing the loss, test accuracy and samples/s per epoch. Flags: --preset,
// --epochs --step, then --decay-epochs more at --decay-step; --batch --seed --optimizer --weight-decay.
import { parseArgs } from 'node:util';
import {
  type Dataset, LogSoftmaxCrossEntropy, type OptimizerName, PRESETS, type PresetName, accuracy, asSamples, init,
  loadDigits, loadMnist, preset, sgd,
} from '../ts/index.js';

// Schedules that reach the figures in the README with seed 1.
const DEFAULTS: Record<string, { epochs: number; step: number; decayEpochs: number; decayStep: number; batch: number }> = {
  digits: { epochs: 15, step: 0.1, decayEpochs: 5, decayStep: 0.01, batch: 32 },
  mnist: { epochs: 8, step: 0.2, decayEpochs: 4, decayStep: 0.02, batch: 64 },
};

const { values } = parseArgs({
  options: {
    preset: { type: 'string', default: 'conv1d' },
    epochs: { type: 'string' },
    step: { type: 'string' },
    'decay-epochs': { type: 'string' },
    'decay-step': { type: 'string' },
    batch: { type: 'string' },
    seed: { type: 'string', default: '1' },
    optimizer: { type: 'string', default: 'sgd' },
    'weight-decay': { type: 'string', default: '0' },
  },
});
const info = PRESETS.find((p) => p.name === values.preset);
if (info === undefined || info.task !== 'classify') {
  console.error(`train-preset: expected a classifier preset (${PRESETS.filter((p) => p.task === 'classify').map((p) => p.name).join(', ')}), got ${values.preset}`);
  process.exit(2);
}
const d = DEFAULTS[info.data]!;
const num = (v: string | undefined, fallback: number): number => (v === undefined ? fallback : Number(v));
const [epochs, step, decayEpochs, decayStep, batchSize, seed] = [
  num(values.epochs, d.epochs), num(values.step, d.step), num(values['decay-epochs'], d.decayEpochs),
  num(values['decay-step'], d.decayStep), num(values.batch, d.batch), Number(values.seed),
];

await init();
const { net, inputShape, description } = preset(info.name as PresetName, { seed });
const raw = info.data === 'digits' ? loadDigits() : loadMnist({ layout: 'image' });
const view = (set: Dataset): Dataset => ({ x: asSamples(set.x, inputShape), y: set.y });
const [train, test] = [view(raw.train), view(raw.test)];
const n = train.x.shape[0]!;
console.log(`torchlet: ${description} on ${info.data} (${n} train / ${test.x.shape[0]} test), batch ${batchSize}, seed ${seed}`);
console.log(`schedule: ${epochs} epochs at step ${step}, then ${decayEpochs} at ${decayStep} (${values.optimizer})`);

const loss = new LogSoftmaxCrossEntropy();
const started = performance.now();
let trainMs = 0;
let counted = 0;
let done = 0;
const phase = (count: number, stepSize: number, phaseSeed: number): void => {
  let epochStart = performance.now();
  sgd(net, train, loss, {
    batchSize, epochs: count, step: stepSize, seed: phaseSeed,
    optimizer: values.optimizer as OptimizerName, weightDecay: Number(values['weight-decay']),
    onEpoch: (_, value) => {
      const ms = performance.now() - epochStart;
      // The first epoch warms up the JIT and buffers; evaluation is kept out of the timing too.
      if (done > 0) {
        trainMs += ms;
        counted += n;
      }
      done++;
      const acc = accuracy(net, test);
      console.log(`epoch ${String(done).padStart(2)}  step ${stepSize}  loss ${value.toFixed(4)}  test accuracy ${acc.toFixed(4)}  ${(n / (ms / 1000)).toFixed(0)} samples/s`);
      epochStart = performance.now();
    },
  });
};
phase(epochs, step, seed);
if (decayEpochs > 0) phase(decayEpochs, decayStep, seed + 1);
const seconds = (performance.now() - started) / 1000;
console.log(`test accuracy ${accuracy(net, test).toFixed(4)}  training ${(counted / (trainMs / 1000)).toFixed(0)} samples/s after the first epoch  (${seconds.toFixed(1)} s in all)`);
