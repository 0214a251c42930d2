// 3.2.3 Batch size: Linear(64,100)->ReLU->Linear(100,10) with batches of 4 to 512 at one step
// (the same number of epochs, so larger batches take fewer steps).
import { LogSoftmaxCrossEntropy, Linear, ReLU, Rng, Sequential } from '../../ts/index.js';
import {
  accuracyFigure,
  context,
  digits,
  fmtStat,
  lossFigure,
  multiSeed,
  since,
  train,
  writeSection,
} from './runner.js';

const t0 = performance.now();
const ctx = await context();
const data = await digits();
const epochs = ctx.pick(60, 200, 2);
const step = 0.05;
const loss = new LogSoftmaxCrossEntropy();
const sizes = [4, 16, 64, 256, 1024];
const configs = sizes.map((batchSize) =>
  multiSeed(
    `batch ${batchSize}`,
    `Linear(64,100) -> ReLU -> Linear(100,10), batch ${batchSize}`,
    ctx.seeds,
    (seed) => {
      const rng = new Rng(seed);
      return train(
        new Sequential(new Linear(64, 100, { rng }), new ReLU(), new Linear(100, 10, { rng })),
        data.flat,
        loss,
        { epochs, step, seed, batchSize },
      );
    },
  ),
);
const finals = configs.map((c) => c.final.testLoss.mean);
const monotone = finals.every((v, i) => i === 0 || v >= finals[i - 1]!);
const big = configs.slice(2);
writeSection(ctx, '3.2.3-batch-size', {
  section: '3.2.3',
  title: 'Batch size',
  claim: 'Larger batches give a worse test loss curve.',
  epochs,
  setup: `plain SGD, step ${step}, LogSoftmaxCrossEntropy, seeds ${ctx.seeds.join(', ')}, same epochs for every batch size`,
  configs,
  checks: [
    {
      claim: 'from 16 up, each larger batch ends with a worse (higher) test loss',
      holds:
        big.every((c, i) => i === 0 || c.final.testLoss.mean > big[i - 1]!.final.testLoss.mean) &&
        configs[2]!.final.testLoss.mean > configs[1]!.final.testLoss.mean,
      evidence:
        configs.map((c) => `${c.name} ${fmtStat(c.final.testLoss)}`).join(', ') +
        (monotone ? '' : ' (not monotone over all sizes)'),
    },
  ],
  figures: [
    lossFigure(ctx, '3.2.3-loss.svg', configs, 'Batch size: loss', true),
    accuracyFigure(ctx, '3.2.3-accuracy.svg', configs, 'Batch size: test accuracy'),
  ],
  wallSeconds: since(t0),
});
