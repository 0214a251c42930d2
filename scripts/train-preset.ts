// `npm run train:conv1d` / `npm run train:lenet`: trains a classifier preset on its data set (the
// report's conv net on the 8x8 digits viewed as [n, 64, 1]; LeNet on MNIST [n, 28, 28, 1], 8,000
// train / 2,000 test), printing the loss, test accuracy and samples/s per epoch. Flags, named as in
// the torchlet CLI (README, "CLI vocabulary"): --preset, --epochs at --lr, then --decay-epochs more
// at --decay-lr; --batch-size --seed --optimizer --weight-decay.
import { parseArgs } from 'node:util';
import {
  type Dataset,
  LogSoftmaxCrossEntropy,
  type OptimizerName,
  PRESETS,
  type PresetName,
  accuracy,
  asSamples,
  init,
  loadDigits,
  loadMnist,
  preset,
  sgd,
} from '../ts/index.js';

// Schedules that reach the figures in the README with seed 1.
const DEFAULTS: Record<
  string,
  { epochs: number; lr: number; decayEpochs: number; decayLr: number; batchSize: number }
> = {
  digits: { epochs: 15, lr: 0.1, decayEpochs: 5, decayLr: 0.01, batchSize: 32 },
  mnist: { epochs: 8, lr: 0.2, decayEpochs: 4, decayLr: 0.02, batchSize: 64 },
};

function flags() {
  try {
    return parseArgs({
      options: {
        preset: { type: 'string', default: 'conv1d' },
        epochs: { type: 'string' },
        lr: { type: 'string' },
        'decay-epochs': { type: 'string' },
        'decay-lr': { type: 'string' },
        'batch-size': { type: 'string' },
        seed: { type: 'string', default: '1' },
        optimizer: { type: 'string', default: 'sgd' },
        'weight-decay': { type: 'string', default: '0' },
      },
    }).values;
  } catch (e) {
    // An unknown flag or a missing value: one line and exit code 2, as the torchlet CLI does.
    console.error(`train-preset: ${(e as Error).message}`);
    process.exit(2);
  }
}
const values = flags();
const info = PRESETS.find((p) => p.name === values.preset);
if (info === undefined || info.task !== 'classify') {
  console.error(
    `train-preset: expected a classifier preset (${PRESETS.filter((p) => p.task === 'classify')
      .map((p) => p.name)
      .join(', ')}), got ${values.preset}`,
  );
  process.exit(2);
}
const d = DEFAULTS[info.data]!;
const num = (v: string | undefined, fallback: number): number =>
  v === undefined ? fallback : Number(v);
const [epochs, lr, decayEpochs, decayLr, batchSize, seed] = [
  num(values.epochs, d.epochs),
  num(values.lr, d.lr),
  num(values['decay-epochs'], d.decayEpochs),
  num(values['decay-lr'], d.decayLr),
  num(values['batch-size'], d.batchSize),
  Number(values.seed),
];

await init();
const { net, inputShape, description } = preset(info.name as PresetName, { seed });
const raw = info.data === 'digits' ? loadDigits() : loadMnist({ layout: 'image' });
const view = (set: Dataset): Dataset => ({ x: asSamples(set.x, inputShape), y: set.y });
const [train, test] = [view(raw.train), view(raw.test)];
const n = train.x.shape[0]!;
console.log(
  `torchlet: ${description} on ${info.data} (${n} train / ${test.x.shape[0]} test), batch ${batchSize}, seed ${seed}`,
);
console.log(
  `schedule: ${epochs} epochs at lr ${lr}, then ${decayEpochs} at ${decayLr} (${values.optimizer})`,
);

const loss = new LogSoftmaxCrossEntropy();
const started = performance.now();
let trainMs = 0;
let counted = 0;
let done = 0;
const phase = (count: number, phaseLr: number, phaseSeed: number): void => {
  let epochStart = performance.now();
  sgd(net, train, loss, {
    batchSize,
    epochs: count,
    step: phaseLr,
    seed: phaseSeed,
    optimizer: values.optimizer as OptimizerName,
    weightDecay: Number(values['weight-decay']),
    onEpoch: (_, value) => {
      const ms = performance.now() - epochStart;
      // The first epoch warms up the JIT and buffers; evaluation is kept out of the timing too.
      if (done > 0) {
        trainMs += ms;
        counted += n;
      }
      done++;
      const acc = accuracy(net, test);
      console.log(
        `epoch ${String(done).padStart(2)}  lr ${phaseLr}  loss ${value.toFixed(4)}  test accuracy ${acc.toFixed(4)}  ${(n / (ms / 1000)).toFixed(0)} samples/s`,
      );
      epochStart = performance.now();
    },
  });
};
phase(epochs, lr, seed);
if (decayEpochs > 0) phase(decayEpochs, decayLr, seed + 1);
const seconds = (performance.now() - started) / 1000;
console.log(
  `test accuracy ${accuracy(net, test).toFixed(4)}  training ${(counted / (trainMs / 1000)).toFixed(0)} samples/s after the first epoch  (${seconds.toFixed(1)} s in all)`,
);
