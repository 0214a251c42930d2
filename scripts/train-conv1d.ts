// `npm run train:conv1d`: trains the report's conv net (preset 'conv1d': Conv1D(3, 1, 32) ->
// MaxPool1D(2, 2) -> Flatten -> Linear(992, 100) -> ReLU -> Linear(100, 10)) on the 8x8 digits
// viewed as [n, 64, 1], printing the loss, test accuracy and samples/s per epoch. Flags: --epochs
// --step, then --decay-epochs more at --decay-step; --batch --seed --preset (a digits classifier).
import { parseArgs } from 'node:util';
import {
  LogSoftmaxCrossEntropy, PRESETS, type PresetName, accuracy, asSamples, init, loadDigits, preset, sgd,
} from '../ts/index.js';

const { values } = parseArgs({
  options: {
    epochs: { type: 'string', default: '15' },
    step: { type: 'string', default: '0.1' },
    'decay-epochs': { type: 'string', default: '5' },
    'decay-step': { type: 'string', default: '0.01' },
    batch: { type: 'string', default: '32' },
    seed: { type: 'string', default: '1' },
    preset: { type: 'string', default: 'conv1d' },
  },
});
const name = values.preset as PresetName;
const info = PRESETS.find((p) => p.name === name);
if (info === undefined || info.data !== 'digits' || info.task !== 'classify') {
  throw new Error(`train-conv1d: expected a digits classifier preset, got ${name}`);
}
const [epochs, step, decayEpochs, decayStep, batchSize, seed] = [
  values.epochs, values.step, values['decay-epochs'], values['decay-step'], values.batch, values.seed,
].map(Number) as [number, number, number, number, number, number];

await init();
const { net, inputShape, description } = preset(name, { seed });
const digits = loadDigits();
const train = { x: asSamples(digits.train.x, inputShape), y: digits.train.y };
const test = { x: asSamples(digits.test.x, inputShape), y: digits.test.y };
const n = train.x.shape[0]!;
console.log(`torchlet: ${description} on 8x8 digits (${n} train / ${test.x.shape[0]} test), batch ${batchSize}, seed ${seed}`);
console.log(`schedule: ${epochs} epochs at step ${step}, then ${decayEpochs} at ${decayStep}`);

const loss = new LogSoftmaxCrossEntropy();
const started = performance.now();
let trainMs = 0;
let counted = 0;
let done = 0;
const phase = (count: number, stepSize: number, phaseSeed: number): void => {
  let epochStart = performance.now();
  sgd(net, train, loss, {
    batchSize, epochs: count, step: stepSize, seed: phaseSeed,
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
