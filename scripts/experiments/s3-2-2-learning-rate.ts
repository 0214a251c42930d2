// 3.2.2 Learning rate: Linear(64,100)->ReLU->Linear(100,10) over a grid of steps that runs past the
// best one on both sides, twice: with our loss averaged over the batch (steps 1e-4 to 5, our
// default 0.05 included), and with the loss summed over the batch (steps 1e-5 to 1e-1 around the
// report's default 1e-3; a summed loss multiplies the gradient, so the effective step, by the batch
// size). Summed losses are divided by the sample count in the curves, so every loss is per sample.
import {
  LogSoftmaxCrossEntropy,
  Linear,
  ReLU,
  Rng,
  Sequential,
  type Reduction,
} from '../../ts/index.js';
import {
  type Check,
  type Config,
  accuracyFigure,
  context,
  digits,
  lossFigure,
  multiSeed,
  since,
  train,
  writeSection,
} from './runner.js';
import { decreasing, differs, fmt } from './stats.js';

const t0 = performance.now();
const ctx = await context();
const data = await digits();
const epochs = ctx.pick(60, 200, 2);
const nTrain = data.flat.train.y.shape[0]!;
const nTest = data.flat.test.y.shape[0]!;

interface Grid {
  label: string;
  reduction: Reduction;
  steps: number[];
}
const grids: Grid[] = [
  {
    label: 'mean loss',
    reduction: 'batchmean',
    steps: [1e-4, 1e-3, 1e-2, 0.05, 0.1, 0.5, 1, 2, 5],
  },
  {
    label: 'summed loss',
    reduction: 'sum',
    steps: [1e-5, 1e-4, 1e-3, 1e-2, 1e-1],
  },
];

function sweep(grid: Grid): Config[] {
  const loss = new LogSoftmaxCrossEntropy({ reduction: grid.reduction });
  return grid.steps.map((step) =>
    multiSeed(
      `step ${step} (${grid.label})`,
      `Linear(64,100) -> ReLU -> Linear(100,10), ${grid.label}, step ${step}`,
      ctx.seeds,
      (seed) => {
        const rng = new Rng(seed);
        const c = train(
          new Sequential(new Linear(64, 100, { rng }), new ReLU(), new Linear(100, 10, { rng })),
          data.flat,
          loss,
          { epochs, step, seed, nonFinite: 'skip' },
        );
        return grid.reduction === 'sum'
          ? {
              ...c,
              trainLoss: c.trainLoss.map((v) => v / nTrain),
              testLoss: c.testLoss.map((v) => v / nTest),
            }
          : c;
      },
    ),
  );
}

/** The two checks of one grid: slow below the best step, worse test loss above it. */
function checksOf(grid: Grid, configs: Config[]): Check[] {
  // The best step: the lowest mean final test loss.
  const best = configs.reduce((a, b) => (b.final.testLoss.mean < a.final.testLoss.mean ? b : a));
  const i = configs.indexOf(best);
  const lower = configs.slice(0, i + 1);
  const higher = configs.slice(i + 1);
  return [
    {
      claim: `${grid.label}: a step too low converges slowly (below the best step, each smaller step ends with a higher training loss, each step counting)`,
      holds: lower.length > 1 && decreasing(lower.map((c) => c.final.trainLoss)),
      evidence:
        lower.length > 1
          ? `final train loss ${lower.map((c) => `${c.name.split(' (')[0]} ${fmt(c.final.trainLoss, 4)}`).join(', ')} (best ${best.name.split(' (')[0]})`
          : `no step below the best (${best.name.split(' (')[0]}) in the grid`,
    },
    {
      claim: `${grid.label}: a step too high gives a worse test loss (every step above the best ends with a higher final test loss than the best)`,
      holds:
        higher.length > 0 &&
        higher.every((c) => differs(c.final.testLoss, best.final.testLoss) === 1),
      evidence:
        higher.length > 0
          ? `final test loss: best ${best.name.split(' (')[0]} ${fmt(best.final.testLoss, 4)}; above it ${higher.map((c) => `${c.name.split(' (')[0]} ${fmt(c.final.testLoss, 4)} (acc ${fmt(c.final.testAcc!, 3)})`).join(', ')}`
          : `no step above the best (${best.name.split(' (')[0]}) in the grid`,
    },
  ];
}

const [meanGrid, sumGrid] = grids as [Grid, Grid];
const mean = sweep(meanGrid);
const summed = sweep(sumGrid);
writeSection(ctx, '3.2.2-learning-rate', {
  section: '3.2.2',
  title: 'Learning rate',
  claim: 'A step too low converges slowly; a step too high gives a worse test loss.',
  epochs,
  setup: `plain SGD, batch 32, LogSoftmaxCrossEntropy, seeds ${ctx.seeds.join(', ')}; steps ${meanGrid.steps.join(', ')} with the loss averaged over the batch; steps ${sumGrid.steps.join(', ')} with the loss summed over the batch (shown per sample); batches whose loss or gradient is not finite are skipped`,
  configs: [...mean, ...summed],
  checks: [...checksOf(meanGrid, mean), ...checksOf(sumGrid, summed)],
  figures: [
    lossFigure(ctx, '3.2.2-loss.svg', mean, 'Learning rate, mean loss: loss', true),
    accuracyFigure(ctx, '3.2.2-accuracy.svg', mean, 'Learning rate, mean loss: test accuracy'),
    lossFigure(
      ctx,
      '3.2.2-loss-summed.svg',
      summed,
      'Learning rate, summed loss: loss per sample',
      true,
    ),
    accuracyFigure(
      ctx,
      '3.2.2-accuracy-summed.svg',
      summed,
      'Learning rate, summed loss: test accuracy',
    ),
  ],
  wallSeconds: since(t0),
});
