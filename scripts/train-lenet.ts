// `npm run train:lenet`: trains preset 'lenet' (Conv2D(5, 5, 1, 8) -> ReLU -> MaxPool2D(2, 2, 2) ->
// Conv2D(5, 5, 8, 16) -> ReLU -> MaxPool2D(2, 2, 2) -> Flatten -> Linear(256, 10)) on MNIST
// [n, 28, 28, 1] (8,000 train / 2,000 test), printing the loss, test accuracy and samples/s per
// epoch. Flags: --epochs --step, then --decay-epochs more at --decay-step; --batch --seed
// --optimizer (sgd, momentum, nesterov, adam) --weight-decay --preset.
import { parseArgs } from 'node:util';
import { LogSoftmaxCrossEntropy, type OptimizerName, type PresetName, accuracy, init, loadMnist, preset, sgd } from '../ts/index.js';

const { values } = parseArgs({
  options: {
    epochs: { type: 'string', default: '8' },
    step: { type: 'string', default: '0.2' },
    'decay-epochs': { type: 'string', default: '4' },
    'decay-step': { type: 'string', default: '0.02' },
    batch: { type: 'string', default: '64' },
    seed: { type: 'string', default: '1' },
    preset: { type: 'string', default: 'lenet' },
    optimizer: { type: 'string', default: 'sgd' },
    'weight-decay': { type: 'string', default: '0' },
  },
});
const [epochs, step, decayEpochs, decayStep, batchSize, seed] = [
  values.epochs, values.step, values['decay-epochs'], values['decay-step'], values.batch, values.seed,
].map(Number) as [number, number, number, number, number, number];

await init();
const { net, description } = preset(values.preset as PresetName, { seed });
const { train, test } = loadMnist({ layout: 'image' });
const n = train.x.shape[0]!;
console.log(`torchlet: ${description} on MNIST (${n} train / ${test.x.shape[0]} test), batch ${batchSize}, seed ${seed}`);
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
    optimizer: values.optimizer as OptimizerName, weightDecay: Number(values['weight-decay']),
    onEpoch: (_, value) => {
      const ms = performance.now() - epochStart;
      // The first epoch warms up the JIT and buffers; it is kept out of the throughput.
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
