// 3.1.2 Activations in Linear(64,100)->act->Linear(100,10): Sigmoid, ReLU, Softmax, in three setups:
// the report's steps (2e-5, 1e-2, 1e-4) with our loss averaged over the batch; one common step 0.05
// with the same loss, so that only the activation differs; the report's steps with the loss summed
// over the batch (the report's setup, as far as it says). Summed losses are divided by the sample
// count in the curves, so every loss on the page is per sample.
import {
  LogSoftmaxCrossEntropy,
  Linear,
  ReLU,
  Rng,
  Sequential,
  Sigmoid,
  Softmax,
  type Module,
  type Reduction,
} from '../../ts/index.js';
import {
  type Check,
  type Config,
  type Curves,
  accuracyFigure,
  context,
  digits,
  lossFigure,
  multiSeed,
  since,
  train,
  writeSection,
} from './runner.js';
import { fmt, increasing } from './stats.js';

const t0 = performance.now();
const ctx = await context();
const data = await digits();
const epochs = ctx.pick(60, 200, 2);
const common = 0.05;
const nTrain = data.flat.train.y.shape[0]!;
const nTest = data.flat.test.y.shape[0]!;
// In the order the report ranks them, best first.
const acts: [string, () => Module, number][] = [
  ['ReLU', () => new ReLU(), 1e-2],
  ['Sigmoid', () => new Sigmoid(), 2e-5],
  ['Softmax', () => new Softmax(), 1e-4],
];
const run =
  (act: () => Module, step: number, reduction: Reduction) =>
  (seed: number): Curves => {
    const rng = new Rng(seed);
    const c = train(
      new Sequential(new Linear(64, 100, { rng }), act(), new Linear(100, 10, { rng })),
      data.flat,
      new LogSoftmaxCrossEntropy({ reduction }),
      { epochs, step, seed },
    );
    return reduction === 'sum'
      ? {
          ...c,
          trainLoss: c.trainLoss.map((v) => v / nTrain),
          testLoss: c.testLoss.map((v) => v / nTest),
        }
      : c;
  };
const setup = (
  label: string,
  stepOf: (reportStep: number) => number,
  reduction: Reduction,
): Config[] =>
  acts.map(([name, act, reportStep]) =>
    multiSeed(
      `${name} (${label}, step ${stepOf(reportStep)})`,
      `Linear(64,100) -> ${name} -> Linear(100,10), ${label}, step ${stepOf(reportStep)}`,
      ctx.seeds,
      run(act, stepOf(reportStep), reduction),
    ),
  );
const reportSteps = setup('mean loss', (s) => s, 'batchmean');
const sameStep = setup('mean loss', () => common, 'batchmean');
const summed = setup('summed loss', (s) => s, 'sum');

const order = (label: string, cs: Config[]): Check => ({
  claim: `${label}: ReLU best, then Sigmoid, Softmax worst (final test loss, each step of the order counting)`,
  holds: increasing(cs.map((c) => c.final.testLoss)),
  evidence: `in the report's order: ${cs.map((c) => `${c.name.split(' ')[0]} ${fmt(c.final.testLoss, 4)}`).join(', ')}`,
});
writeSection(ctx, '3.1.2-activations', {
  section: '3.1.2',
  title: 'Activation functions',
  claim:
    'Softmax is the least effective hidden activation, then Sigmoid (ReLU best), with steps Sigmoid 2e-5, ReLU 1e-2, Softmax 1e-4.',
  epochs,
  setup: `plain SGD, batch 32, LogSoftmaxCrossEntropy, seeds ${ctx.seeds.join(', ')}; the report's steps with the loss averaged over the batch, a common step ${common} with the same loss, and the report's steps with the loss summed over the batch (shown per sample)`,
  configs: [...reportSteps, ...sameStep, ...summed],
  checks: [
    order("the report's steps, mean loss", reportSteps),
    order(`one common step ${common}, mean loss`, sameStep),
    order("the report's steps, summed loss", summed),
  ],
  figures: [
    lossFigure(
      ctx,
      '3.1.2-loss-report-steps.svg',
      reportSteps,
      "Activations, the report's steps, mean loss: loss",
    ),
    lossFigure(
      ctx,
      '3.1.2-loss-common-step.svg',
      sameStep,
      `Activations, common step ${common}: loss`,
    ),
    lossFigure(
      ctx,
      '3.1.2-loss-summed.svg',
      summed,
      "Activations, the report's steps, summed loss: loss per sample",
    ),
    accuracyFigure(
      ctx,
      '3.1.2-accuracy.svg',
      [...reportSteps, ...sameStep, ...summed],
      'Activations: test accuracy',
    ),
  ],
  wallSeconds: since(t0),
});
