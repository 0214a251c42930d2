// 3.1.4 Width: Linear(64,h)->ReLU->Linear(h,10) for h = 10, 100, 1000.
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
const configs = [10, 100, 1000].map((h) =>
  multiSeed(`h = ${h}`, `Linear(64,${h}) -> ReLU -> Linear(${h},10)`, ctx.seeds, (seed) => {
    const rng = new Rng(seed);
    return train(
      new Sequential(new Linear(64, h, { rng }), new ReLU(), new Linear(h, 10, { rng })),
      data.flat,
      loss,
      { epochs, step, seed },
    );
  }),
);
const [c10, c100, c1000] = configs as [
  (typeof configs)[0],
  (typeof configs)[0],
  (typeof configs)[0],
];
// Overfitting: the test loss rises from its minimum while the training loss keeps falling.
const rise = (c: typeof c10): number => c.curves.testLoss.at(-1)! - Math.min(...c.curves.testLoss);
writeSection(ctx, '3.1.4-width', {
  section: '3.1.4',
  title: 'Width',
  claim: 'A hidden width of 100 is best; 1000 overfits.',
  epochs,
  setup: `plain SGD, step ${step}, batch 32, LogSoftmaxCrossEntropy, seeds ${ctx.seeds.join(', ')}`,
  configs,
  checks: [
    {
      claim: 'h = 100 has the lowest final test loss',
      holds:
        c100.final.testLoss.mean < c10.final.testLoss.mean &&
        c100.final.testLoss.mean < c1000.final.testLoss.mean,
      evidence: configs.map((c) => `${c.name} ${fmtStat(c.final.testLoss)}`).join(', '),
    },
    {
      claim: "h = 1000 overfits: its test loss rises from its minimum more than h = 100's does",
      holds: rise(c1000) > rise(c100) && rise(c1000) > 0.005,
      evidence: `rise of the mean test loss after its minimum: ${configs.map((c) => `${c.name} ${rise(c).toFixed(4)} (min at epoch ${c.best.epoch})`).join(', ')}; final train loss ${configs.map((c) => `${c.name} ${c.final.trainLoss.mean.toFixed(4)}`).join(', ')}`,
    },
  ],
  figures: [
    lossFigure(ctx, '3.1.4-loss.svg', configs, 'Width: loss', true),
    accuracyFigure(ctx, '3.1.4-accuracy.svg', configs, 'Width: test accuracy'),
  ],
  wallSeconds: since(t0),
});
