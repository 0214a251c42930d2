// 3.2.4 Kernel size 1, 5, 10 in Conv1D(k,1,10)->MaxPool1D(2,2)->Flatten->Linear(...,10) (presets
// conv1d-k1/k5/k10). The report draws curves without a stated conclusion; we state what we see.
import { LogSoftmaxCrossEntropy, preset } from '../../ts/index.js';
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
const epochs = ctx.pick(40, 200, 2);
const step = 0.05;
const loss = new LogSoftmaxCrossEntropy();
const names = ['conv1d-k1', 'conv1d-k5', 'conv1d-k10'] as const;
const configs = names.map((name) =>
  multiSeed(`k = ${name.slice(8)}`, preset(name, { seed: 0 }).description, ctx.seeds, (seed) =>
    train(preset(name, { seed }).net, data.seq, loss, { epochs, step, seed }),
  ),
);
const [k1, k5, k10] = configs as [(typeof configs)[0], (typeof configs)[0], (typeof configs)[0]];
writeSection(ctx, '3.2.4-kernel-size', {
  section: '3.2.4',
  title: 'Kernel size',
  claim:
    'Kernel sizes 1, 5 and 10 compared (the report shows the curves; a window larger than 1 should use the neighbouring pixels).',
  epochs,
  setup: `plain SGD, step ${step}, batch 32, LogSoftmaxCrossEntropy, seeds ${ctx.seeds.join(', ')}`,
  configs,
  checks: [
    {
      claim: 'k = 5 and k = 10 beat k = 1 on test loss',
      holds:
        k5.final.testLoss.mean < k1.final.testLoss.mean &&
        k10.final.testLoss.mean < k1.final.testLoss.mean,
      evidence: configs
        .map((c) => `${c.name} ${fmtStat(c.final.testLoss)} (acc ${fmtStat(c.final.testAcc!, 3)})`)
        .join(', '),
    },
  ],
  figures: [
    lossFigure(ctx, '3.2.4-loss.svg', configs, 'Kernel size: loss', true),
    accuracyFigure(ctx, '3.2.4-accuracy.svg', configs, 'Kernel size: test accuracy'),
  ],
  wallSeconds: since(t0),
});
