// 3.1.4 Width: Linear(64,h)->ReLU->Linear(h,10) for h = 10, 100, 1000.
import { LogSoftmaxCrossEntropy, Linear, ReLU, Rng, Sequential } from '../../ts/index.js';
import {
  accuracyFigure,
  context,
  digits,
  lossFigure,
  multiSeed,
  since,
  train,
  writeSection,
} from './runner.js';
import { above, differs, fmt, stat, type Stat } from './stats.js';

const t0 = performance.now();
const ctx = await context();
const data = await digits();
const epochs = ctx.pick(60, 200, 2);
const step = 0.05;
const loss = new LogSoftmaxCrossEntropy();
const widths = [10, 100, 1000];
// Overfitting: the test loss rises from its minimum while the training loss keeps falling. Per
// seed: final test loss minus the lowest test loss of the run.
const rises = new Map<number, number[]>(widths.map((h) => [h, []]));
const configs = widths.map((h) =>
  multiSeed(`h = ${h}`, `Linear(64,${h}) -> ReLU -> Linear(${h},10)`, ctx.seeds, (seed) => {
    const rng = new Rng(seed);
    const c = train(
      new Sequential(new Linear(64, h, { rng }), new ReLU(), new Linear(h, 10, { rng })),
      data.flat,
      loss,
      { epochs, step, seed },
    );
    rises.get(h)!.push(c.testLoss.at(-1)! - Math.min(...c.testLoss));
    return c;
  }),
);
const [c10, c100, c1000] = configs as [
  (typeof configs)[0],
  (typeof configs)[0],
  (typeof configs)[0],
];
const [r10, r100, r1000] = widths.map((h) => stat(rises.get(h)!)) as [Stat, Stat, Stat];
writeSection(ctx, '3.1.4-width', {
  section: '3.1.4',
  title: 'Width',
  claim: 'A hidden width of 100 is best; 1000 overfits.',
  epochs,
  setup: `plain SGD, step ${step}, batch 32, LogSoftmaxCrossEntropy, seeds ${ctx.seeds.join(', ')}`,
  configs,
  checks: [
    {
      claim: 'h = 100 has the lowest final test loss (below both others, counting)',
      holds:
        differs(c100.final.testLoss, c10.final.testLoss) === -1 &&
        differs(c100.final.testLoss, c1000.final.testLoss) === -1,
      evidence: configs.map((c) => `${c.name} ${fmt(c.final.testLoss, 4)}`).join(', '),
    },
    {
      claim:
        "h = 1000 overfits: its test loss rises from its minimum (final minus lowest, per seed), and more than h = 100's does",
      holds: above(r1000, 0) && differs(r1000, r100) === 1,
      evidence: `rise: h = 10 ${fmt(r10, 4)}, h = 100 ${fmt(r100, 4)}, h = 1000 ${fmt(r1000, 4)}; final train loss ${configs.map((c) => `${c.name} ${fmt(c.final.trainLoss, 4)}`).join(', ')}`,
    },
  ],
  figures: [
    lossFigure(ctx, '3.1.4-loss.svg', configs, 'Width: loss', true),
    accuracyFigure(ctx, '3.1.4-accuracy.svg', configs, 'Width: test accuracy'),
  ],
  wallSeconds: since(t0),
});
