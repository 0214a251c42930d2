// 3.2.3 Batch size: Linear(64,100)->ReLU->Linear(100,10) with batches of 4 to 1024 at one step,
// twice: with the same number of epochs for every batch (the report's setup: a larger batch makes
// fewer updates per epoch, so fewer updates in all), and, as a control, with the same number of
// updates for every batch (as many as batch 32, the batch of the other sections, makes in this
// mode's epochs). The control separates "a larger batch generalises worse" from "a larger batch
// makes fewer updates".
import {
  LogSoftmaxCrossEntropy,
  Linear,
  ReLU,
  Rng,
  Sequential,
  lossCurvesSvg,
} from '../../ts/index.js';
import {
  type Config,
  accuracyFigure,
  context,
  digits,
  figure,
  lossFigure,
  multiSeed,
  since,
  train,
  writeSection,
} from './runner.js';
import { differs, fmt, increasing } from './stats.js';

const t0 = performance.now();
const ctx = await context();
const data = await digits();
const epochs = ctx.pick(60, 200, 2);
const step = 0.05;
const loss = new LogSoftmaxCrossEntropy();
const sizes = [4, 16, 64, 256, 1024];
const nTrain = data.flat.train.y.shape[0]!;
/** Updates per epoch: sgd's last batch of an epoch may be smaller, so ceil. */
const perEpoch = (b: number): number => Math.ceil(nTrain / b);
/** The control's number of updates: batch 32's in `epochs` epochs. */
const updates = epochs * perEpoch(32);
const controlEpochs = sizes.map((b) => Math.max(1, Math.round(updates / perEpoch(b))));

const run = (batchSize: number, e: number) => (seed: number) => {
  const rng = new Rng(seed);
  return train(
    new Sequential(new Linear(64, 100, { rng }), new ReLU(), new Linear(100, 10, { rng })),
    data.flat,
    loss,
    { epochs: e, step, seed, batchSize },
  );
};
const sameEpochs = sizes.map((b) =>
  multiSeed(
    `batch ${b}`,
    `Linear(64,100) -> ReLU -> Linear(100,10), batch ${b}, ${epochs} epochs (${epochs * perEpoch(b)} updates)`,
    ctx.seeds,
    run(b, epochs),
  ),
);
const sameUpdates = sizes.map((b, i) =>
  multiSeed(
    `batch ${b} (same updates)`,
    `Linear(64,100) -> ReLU -> Linear(100,10), batch ${b}, ${controlEpochs[i]} epochs (${controlEpochs[i]! * perEpoch(b)} updates)`,
    ctx.seeds,
    run(b, controlEpochs[i]!),
  ),
);

// The control's curves have from a few to thousands of epochs: sample each mean curve (and its
// band) at the same K shares of the training (K = the fewest epochs of any control run), so that the
// figure's x axis counts updates and the JSON stays small. `epochs` stays the epochs trained.
const K = Math.min(...controlEpochs);
function resample(c: Config, e: number): void {
  const at = (xs: number[]): number[] =>
    xs.length === 0
      ? xs
      : Array.from({ length: K }, (_, j) => xs[Math.max(1, Math.round(((j + 1) * e) / K)) - 1]!);
  const each = (cs: Config['curves']): Config['curves'] => ({
    trainLoss: at(cs.trainLoss),
    testLoss: at(cs.testLoss),
    testAcc: at(cs.testAcc),
  });
  c.curves = each(c.curves);
  c.curvesStd = each(c.curvesStd);
}
sameUpdates.forEach((c, i) => resample(c, controlEpochs[i]!));
const perTick = Math.round(updates / K);
const controlTitle = `Batch size, the same ${updates} updates: loss`;
const controlSvg = lossCurvesSvg(
  sameUpdates.map((c) => ({
    name: c.name,
    train: c.curves.trainLoss,
    validation: c.curves.testLoss,
    trainBand: c.curvesStd.trainLoss,
    validationBand: c.curvesStd.testLoss,
  })),
  { title: controlTitle, logScale: true },
)
  .replaceAll('(train solid, validation dashed)', '(train solid, test dashed)')
  .replace('>epoch</text>', `>updates (×${perTick})</text>`);

const [small, large] = [sameEpochs[0]!, sameEpochs.at(-1)!];
writeSection(ctx, '3.2.3-batch-size', {
  section: '3.2.3',
  title: 'Batch size',
  claim: 'Larger batches give a worse test loss curve (the report explains it by overfitting).',
  epochs: Object.fromEntries([
    ['same epochs', epochs],
    ...sizes.map((b, i) => [`batch ${b}, same updates`, controlEpochs[i]!]),
  ]),
  setup: `plain SGD, step ${step}, LogSoftmaxCrossEntropy, seeds ${ctx.seeds.join(', ')}; first the same ${epochs} epochs for every batch size (the report's setup), then the same number of updates (${updates}, batch 32's in ${epochs} epochs; epochs rounded to whole epochs; each row's description gives its updates)`,
  configs: [...sameEpochs, ...sameUpdates],
  checks: [
    {
      claim: `the same ${epochs} epochs (fewer updates for larger batches): each larger batch ends with a higher test loss, from batch 4 up, each step counting`,
      holds: increasing(sameEpochs.map((c) => c.final.testLoss)),
      evidence: sameEpochs.map((c) => `${c.name} ${fmt(c.final.testLoss, 4)}`).join(', '),
    },
    {
      claim: `the control, the same number of updates (${updates}): each larger batch ends with a higher test loss, from batch 4 up, each step counting`,
      holds: increasing(sameUpdates.map((c) => c.final.testLoss)),
      evidence: sameUpdates
        .map((c) => `${c.name.split(' (')[0]} ${fmt(c.final.testLoss, 4)}`)
        .join(', '),
    },
    {
      claim: `the report's explanation, overfitting: at the same epochs, batch ${sizes.at(-1)} fits the training data at least as well as batch ${sizes[0]} (a training loss not higher) while its test loss is higher`,
      holds:
        differs(large.final.trainLoss, small.final.trainLoss) !== 1 &&
        differs(large.final.testLoss, small.final.testLoss) === 1,
      evidence: `train loss ${small.name} ${fmt(small.final.trainLoss, 4)}, ${large.name} ${fmt(large.final.trainLoss, 4)}; test loss ${small.name} ${fmt(small.final.testLoss, 4)}, ${large.name} ${fmt(large.final.testLoss, 4)}`,
    },
  ],
  figures: [
    lossFigure(ctx, '3.2.3-loss.svg', sameEpochs, 'Batch size, same epochs: loss', true),
    accuracyFigure(ctx, '3.2.3-accuracy.svg', sameEpochs, 'Batch size, same epochs: test accuracy'),
    figure(
      ctx,
      '3.2.3-loss-same-updates.svg',
      controlSvg,
      `${controlTitle}: training loss (solid) and test loss (dashed) after each ${perTick} updates, mean over seeds with a shaded ±1 standard deviation band`,
      {
        epochs: sameUpdates.map((c) => c.epochs).join(', '),
        seeds: ctx.seeds.length,
      },
    ),
  ],
  wallSeconds: since(t0),
});
