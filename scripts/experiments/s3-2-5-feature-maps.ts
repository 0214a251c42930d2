// 3.2.5 Feature maps 3, 10, 32 in Conv1D(3,1,c)->MaxPool1D(2,2)->Flatten->Linear(31c,10) (presets
// conv1d-c3/c10/c32), 400 epochs in --full.
import { LogSoftmaxCrossEntropy, preset } from '../../ts/index.js';
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
const epochs = ctx.pick(60, 400, 2);
const step = 0.05;
const loss = new LogSoftmaxCrossEntropy();
const names = ['conv1d-c3', 'conv1d-c10', 'conv1d-c32'] as const;
const configs = names.map((name) =>
  multiSeed(`c = ${name.slice(8)}`, preset(name, { seed: 0 }).description, ctx.seeds, (seed) =>
    train(preset(name, { seed }).net, data.seq, loss, { epochs, step, seed }),
  ),
);
const [c3, c10, c32] = configs as [(typeof configs)[0], (typeof configs)[0], (typeof configs)[0]];
writeSection(ctx, '3.2.5-feature-maps', {
  section: '3.2.5',
  title: 'Feature maps',
  claim: '3 feature maps are not viable; 32 give the lowest test loss after 400 epochs.',
  epochs,
  setup: `plain SGD, step ${step}, batch 32, LogSoftmaxCrossEntropy, seeds ${ctx.seeds.join(', ')}`,
  configs,
  checks: [
    {
      claim: '3 maps are clearly worse (final test accuracy below 32 maps, counting)',
      holds: differs(c3.final.testAcc!, c32.final.testAcc!) === -1,
      evidence: configs.map((c) => `${c.name} acc ${fmt(c.final.testAcc!, 3)}`).join(', '),
    },
    {
      claim: '32 maps give the lowest final test loss (below both others, counting)',
      holds:
        differs(c32.final.testLoss, c10.final.testLoss) === -1 &&
        differs(c32.final.testLoss, c3.final.testLoss) === -1,
      evidence: configs.map((c) => `${c.name} ${fmt(c.final.testLoss, 4)}`).join(', '),
    },
  ],
  figures: [
    lossFigure(ctx, '3.2.5-loss.svg', configs, 'Feature maps: loss', true),
    accuracyFigure(ctx, '3.2.5-accuracy.svg', configs, 'Feature maps: test accuracy'),
  ],
  wallSeconds: since(t0),
});
