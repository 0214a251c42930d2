// 3.1.1 Linear vs convolution: Linear(64,992)->ReLU->Linear(992,100)->ReLU->Linear(100,10) against
// the report's conv net (preset 'conv1d'), plain SGD, LogSoftmaxCrossEntropy, 200 epochs (--full).
import { LogSoftmaxCrossEntropy, Linear, ReLU, Rng, Sequential, preset } from '../../ts/index.js';
import {
  accuracyFigure,
  context,
  digits,
  epochsTo,
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
const epochs = ctx.pick(30, 200, 2);
const step = 0.05;
const loss = new LogSoftmaxCrossEntropy();
const opts = (seed: number): { epochs: number; step: number; seed: number } => ({
  epochs,
  step,
  seed,
});

const mlp = multiSeed(
  'linear',
  'Linear(64,992) -> ReLU -> Linear(992,100) -> ReLU -> Linear(100,10)',
  ctx.seeds,
  (seed) => {
    const rng = new Rng(seed);
    const net = new Sequential(
      new Linear(64, 992, { rng }),
      new ReLU(),
      new Linear(992, 100, { rng }),
      new ReLU(),
      new Linear(100, 10, { rng }),
    );
    return train(net, data.flat, loss, opts(seed));
  },
);
const conv = multiSeed('conv', preset('conv1d', { seed: 0 }).description, ctx.seeds, (seed) =>
  train(preset('conv1d', { seed }).net, data.seq, loss, opts(seed)),
);
const configs = [mlp, conv];
for (const c of configs)
  c.epochsTo = {
    'acc 0.95': epochsTo(c.curves.testAcc, 0.95),
    'train loss 0.1': epochsTo(c.curves.trainLoss, 0.1, false),
  };

const fasterTrain =
  (conv.epochsTo!['train loss 0.1'] ?? Infinity) < (mlp.epochsTo!['train loss 0.1'] ?? Infinity);
writeSection(ctx, '3.1.1-linear-vs-conv', {
  section: '3.1.1',
  title: 'Linear vs convolution',
  claim: 'Both networks reach 0.99 test accuracy; the convolutional loss converges faster.',
  epochs,
  setup: `plain SGD, step ${step}, batch 32, LogSoftmaxCrossEntropy, seeds ${ctx.seeds.join(', ')}`,
  configs,
  checks: [
    {
      claim: 'both reach 0.99 test accuracy',
      holds: configs.every((c) => c.final.testAcc!.mean >= 0.99),
      evidence: configs.map((c) => `${c.name} ${fmtStat(c.final.testAcc!, 3)}`).join(', '),
    },
    {
      claim: 'both reach the same accuracy (means within 0.01)',
      holds: Math.abs(mlp.final.testAcc!.mean - conv.final.testAcc!.mean) <= 0.01,
      evidence: `difference ${Math.abs(mlp.final.testAcc!.mean - conv.final.testAcc!.mean).toFixed(3)}`,
    },
    {
      claim: 'the convolutional loss converges faster (fewer epochs to a training loss of 0.1)',
      holds: fasterTrain,
      evidence:
        configs.map((c) => `${c.name} ${c.epochsTo!['train loss 0.1'] ?? 'never'}`).join(' vs ') +
        ' epochs',
    },
  ],
  figures: [
    lossFigure(ctx, '3.1.1-loss.svg', configs, 'Linear vs conv: loss', true),
    accuracyFigure(ctx, '3.1.1-accuracy.svg', configs, 'Linear vs conv: test accuracy'),
  ],
  wallSeconds: since(t0),
});
