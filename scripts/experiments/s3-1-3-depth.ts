// 3.1.3 Depth: Linear(64,10); Linear(64,100)->ReLU->Linear(100,10); and the deeper net, read as
// Linear(64,100)->ReLU->Linear(100,100)->ReLU->Linear(100,200)->ReLU->Linear(200,10) (the
// report's Linear(100,10)->ReLU->Linear(100,200) does not chain; we keep its widths, 100 not 10).
import {
  LogSoftmaxCrossEntropy,
  Linear,
  ReLU,
  Rng,
  Sequential,
  type Module,
} from '../../ts/index.js';
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
import { decreasing, fmt } from './stats.js';

const t0 = performance.now();
const ctx = await context();
const data = await digits();
const epochs = ctx.pick(60, 200, 2);
const step = 0.05;
const loss = new LogSoftmaxCrossEntropy();
const nets: [string, string, (rng: Rng) => Module][] = [
  ['1 layer', 'Linear(64,10)', (rng) => new Linear(64, 10, { rng })],
  [
    '2 layers',
    'Linear(64,100) -> ReLU -> Linear(100,10)',
    (rng) => new Sequential(new Linear(64, 100, { rng }), new ReLU(), new Linear(100, 10, { rng })),
  ],
  [
    '4 layers',
    'Linear(64,100) -> ReLU -> Linear(100,100) -> ReLU -> Linear(100,200) -> ReLU -> Linear(200,10)',
    (rng) =>
      new Sequential(
        new Linear(64, 100, { rng }),
        new ReLU(),
        new Linear(100, 100, { rng }),
        new ReLU(),
        new Linear(100, 200, { rng }),
        new ReLU(),
        new Linear(200, 10, { rng }),
      ),
  ],
];
const configs = nets.map(([name, desc, build]) =>
  multiSeed(name, desc, ctx.seeds, (seed) =>
    train(build(new Rng(seed)), data.flat, loss, { epochs, step, seed }),
  ),
);
writeSection(ctx, '3.1.3-depth', {
  section: '3.1.3',
  title: 'Depth',
  claim: 'More layers give a better loss.',
  epochs,
  setup: `plain SGD, step ${step}, batch 32, LogSoftmaxCrossEntropy, seeds ${ctx.seeds.join(', ')}`,
  configs,
  checks: [
    {
      claim: 'the final training loss falls with every added depth (each step counting)',
      holds: decreasing(configs.map((c) => c.final.trainLoss)),
      evidence: configs.map((c) => `${c.name} ${fmt(c.final.trainLoss, 4)}`).join(', '),
    },
    {
      claim:
        'the best test loss (lowest over the epochs, per seed) falls with every added depth (each step counting)',
      holds: decreasing(configs.map((c) => c.best.testLoss)),
      evidence: configs
        .map((c) => `${c.name} ${fmt(c.best.testLoss, 4)} (final ${fmt(c.final.testLoss, 4)})`)
        .join(', '),
    },
  ],
  figures: [
    lossFigure(ctx, '3.1.3-loss.svg', configs, 'Depth: loss', true),
    accuracyFigure(ctx, '3.1.3-accuracy.svg', configs, 'Depth: test accuracy'),
  ],
  wallSeconds: since(t0),
});
