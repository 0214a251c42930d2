// 3.2.2 Learning rate: Linear(64,100)->ReLU->Linear(100,10) with steps from 1e-4 to 1.
import { LogSoftmaxCrossEntropy, Linear, ReLU, Rng, Sequential } from '../../ts/index.js';
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
const epochs = ctx.pick(60, 200, 2);
const loss = new LogSoftmaxCrossEntropy();
const steps = [1e-4, 1e-3, 1e-2, 1e-1, 1];
const configs = steps.map((step) =>
  multiSeed(
    `step ${step}`,
    `Linear(64,100) -> ReLU -> Linear(100,10), step ${step}`,
    ctx.seeds,
    (seed) => {
      const rng = new Rng(seed);
      return train(
        new Sequential(new Linear(64, 100, { rng }), new ReLU(), new Linear(100, 10, { rng })),
        data.flat,
        loss,
        { epochs, step, seed, nonFinite: 'skip' },
      );
    },
  ),
);
for (const c of configs) c.epochsTo = { 'acc 0.9': epochsTo(c.curves.testAcc, 0.9) };
const lo = configs[0]!;
const mid = configs.reduce((a, b) => (b.best.testLoss.mean < a.best.testLoss.mean ? b : a));
const hi = configs.at(-1)!;
writeSection(ctx, '3.2.2-learning-rate', {
  section: '3.2.2',
  title: 'Learning rate',
  claim: 'A step too low converges slowly; a step too high gives a worse test loss.',
  epochs,
  setup: `plain SGD, batch 32, LogSoftmaxCrossEntropy, seeds ${ctx.seeds.join(', ')}`,
  configs,
  checks: [
    {
      claim: 'the lowest step converges slowest (latest to 0.9 test accuracy, highest final loss)',
      holds: configs.every((c) => c === lo || lo.final.trainLoss.mean > c.final.trainLoss.mean),
      evidence: configs
        .map(
          (c) =>
            `${c.name}: train ${c.final.trainLoss.mean.toFixed(3)}, acc 0.9 at ${c.epochsTo!['acc 0.9'] ?? 'never'}`,
        )
        .join('; '),
    },
    {
      claim: 'the highest step ends with a worse test loss than the best step',
      holds: hi.final.testLoss.mean > mid.final.testLoss.mean,
      evidence: `${hi.name} ${fmtStat(hi.final.testLoss)} vs best ${mid.name} ${fmtStat(mid.final.testLoss)}`,
    },
  ],
  figures: [
    lossFigure(ctx, '3.2.2-loss.svg', configs, 'Learning rate: loss', true),
    accuracyFigure(ctx, '3.2.2-accuracy.svg', configs, 'Learning rate: test accuracy'),
  ],
  wallSeconds: since(t0),
});
