// 3.1.2 Activations in Linear(64,100)->act->Linear(100,10): Sigmoid, ReLU, Softmax, first with the
// report's steps (2e-5, 1e-2, 1e-4), then all with one common step so that only the activation differs.
import {
  LogSoftmaxCrossEntropy,
  Linear,
  ReLU,
  Rng,
  Sequential,
  Sigmoid,
  Softmax,
  type Module,
} from '../../ts/index.js';
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
const common = 0.05;
const loss = new LogSoftmaxCrossEntropy();
const acts: [string, () => Module, number][] = [
  ['Sigmoid', () => new Sigmoid(), 2e-5],
  ['ReLU', () => new ReLU(), 1e-2],
  ['Softmax', () => new Softmax(), 1e-4],
];
const run = (act: () => Module, step: number) => (seed: number) => {
  const rng = new Rng(seed);
  return train(
    new Sequential(new Linear(64, 100, { rng }), act(), new Linear(100, 10, { rng })),
    data.flat,
    loss,
    { epochs, step, seed },
  );
};
const reportSteps = acts.map(([name, act, step]) =>
  multiSeed(
    `${name} (step ${step})`,
    `Linear(64,100) -> ${name} -> Linear(100,10), step ${step}`,
    ctx.seeds,
    run(act, step),
  ),
);
const sameStep = acts.map(([name, act]) =>
  multiSeed(
    `${name} (step ${common})`,
    `Linear(64,100) -> ${name} -> Linear(100,10), step ${common}`,
    ctx.seeds,
    run(act, common),
  ),
);
const rank = (cs: typeof sameStep): string[] =>
  [...cs]
    .sort((a, b) => a.final.testLoss.mean - b.final.testLoss.mean)
    .map((c) => c.name.split(' ')[0]!);
const r1 = rank(reportSteps);
const r2 = rank(sameStep);
writeSection(ctx, '3.1.2-activations', {
  section: '3.1.2',
  title: 'Activation functions',
  claim:
    'Softmax is the least effective hidden activation, then Sigmoid (ReLU best), with steps Sigmoid 2e-5, ReLU 1e-2, Softmax 1e-4.',
  epochs,
  setup: `plain SGD, batch 32, LogSoftmaxCrossEntropy, seeds ${ctx.seeds.join(', ')}; the report's steps, then a common step ${common}`,
  configs: [...reportSteps, ...sameStep],
  checks: [
    {
      claim: "with the report's steps: ReLU best, then Sigmoid, Softmax worst (final test loss)",
      holds: r1.join() === 'ReLU,Sigmoid,Softmax',
      evidence: `order ${r1.join(' < ')}; ${reportSteps.map((c) => `${c.name} ${fmtStat(c.final.testLoss, 3)}`).join(', ')}`,
    },
    {
      claim: `with one common step (${common}): ReLU best, then Sigmoid, Softmax worst`,
      holds: r2.join() === 'ReLU,Sigmoid,Softmax',
      evidence: `order ${r2.join(' < ')}; ${sameStep.map((c) => `${c.name} ${fmtStat(c.final.testLoss, 3)}`).join(', ')}`,
    },
  ],
  figures: [
    lossFigure(
      ctx,
      '3.1.2-loss-report-steps.svg',
      reportSteps,
      "Activations, the report's steps: loss",
    ),
    lossFigure(
      ctx,
      '3.1.2-loss-common-step.svg',
      sameStep,
      `Activations, common step ${common}: loss`,
    ),
    accuracyFigure(
      ctx,
      '3.1.2-accuracy.svg',
      [...reportSteps, ...sameStep],
      'Activations: test accuracy',
    ),
  ],
  wallSeconds: since(t0),
});
