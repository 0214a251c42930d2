// 3.2.1 Loss: the same network trained with MSE, BCE, CrossEntropy and LogSoftmaxCrossEntropy.
// MSE, BCE and CrossEntropy need probabilities, so their network ends in Softmax; MSE and BCE
// compare it with one-hot targets [n, 10] (they take dense targets only), the class losses take
// the class indices. LogSoftmaxCrossEntropy takes the logits. Scored by test accuracy (losses are
// not comparable; accuracy reads one-hot rows by arg-max).
import {
  BCELoss,
  CrossEntropyLoss,
  LogSoftmaxCrossEntropy,
  Linear,
  MSELoss,
  ReLU,
  Rng,
  Sequential,
  Softmax,
  Tensor,
  type Dataset,
  type Loss,
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
import { differs, fmt } from './stats.js';

const t0 = performance.now();
const ctx = await context();
const data = await digits();
const epochs = ctx.pick(60, 200, 2);
const step = 0.05;
const body = (rng: Rng): Module[] => [
  new Linear(64, 100, { rng }),
  new ReLU(),
  new Linear(100, 10, { rng }),
];
/** Class indices [n] as one-hot rows [n, 10]. */
function oneHot(y: Tensor): Tensor {
  const labels = y.toArray();
  const out = new Float32Array(labels.length * 10);
  labels.forEach((l, i) => (out[i * 10 + l] = 1));
  return Tensor.from(out, [labels.length, 10]);
}
const dense: { train: Dataset; test: Dataset } = {
  train: { x: data.flat.train.x, y: oneHot(data.flat.train.y) },
  test: { x: data.flat.test.x, y: oneHot(data.flat.test.y) },
};
// [name, loss, Softmax head, one-hot targets]
const losses: [string, () => Loss, boolean, boolean][] = [
  ['MSE', () => new MSELoss(), true, true],
  ['BCE', () => new BCELoss(), true, true],
  ['CrossEntropy', () => new CrossEntropyLoss(), true, false],
  ['LogSoftmaxCE', () => new LogSoftmaxCrossEntropy(), false, false],
];
const configs = losses.map(([name, loss, softmax, oneHotTargets]) =>
  multiSeed(
    name,
    `Linear(64,100) -> ReLU -> Linear(100,10)${softmax ? ' -> Softmax' : ''}, ${name}${oneHotTargets ? ' on one-hot targets' : ''}`,
    ctx.seeds,
    (seed) => {
      const rng = new Rng(seed);
      return train(
        new Sequential(...body(rng), ...(softmax ? [new Softmax()] : [])),
        oneHotTargets ? dense : data.flat,
        loss(),
        { epochs, step, seed },
      );
    },
  ),
);
const bce = configs.find((c) => c.name === 'BCE')!;
const others = configs.filter((c) => c !== bce);
writeSection(ctx, '3.2.1-loss', {
  section: '3.2.1',
  title: 'Loss functions',
  claim: 'BCE is not suited to this task.',
  epochs,
  setup: `plain SGD, step ${step}, batch 32, seeds ${ctx.seeds.join(', ')}; Softmax head for MSE, BCE and CrossEntropy; one-hot targets for MSE and BCE`,
  configs,
  checks: [
    {
      claim: 'BCE gives the worst test accuracy of the four (below each other loss, counting)',
      holds: others.every((c) => differs(bce.final.testAcc!, c.final.testAcc!) === -1),
      evidence: configs.map((c) => `${c.name} ${fmt(c.final.testAcc!, 3)}`).join(', '),
    },
  ],
  figures: [
    lossFigure(ctx, '3.2.1-loss.svg', configs, 'Loss functions: each its own loss', true),
    accuracyFigure(ctx, '3.2.1-accuracy.svg', configs, 'Loss functions: test accuracy'),
  ],
  wallSeconds: since(t0),
});
