// 3.2.4 Kernel size 1, 5, 10 in Conv1D(k,1,10)->MaxPool1D(2,2)->Flatten->Linear(...,10) (presets
// conv1d-k1/k5/k10). The report shows the curves and draws no conclusion, so this section has no
// check and its verdict is 'no claim'. The report's Linear(320/310/310) do not match the conv
// outputs for k = 5 and 10; the presets use 320/300/270 (stated in the setup and the note).
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
writeSection(ctx, '3.2.4-kernel-size', {
  section: '3.2.4',
  title: 'Kernel size',
  claim: 'Kernel sizes 1, 5 and 10 compared: the report shows the curves and draws no conclusion.',
  epochs,
  setup: `plain SGD, step ${step}, batch 32, LogSoftmaxCrossEntropy, seeds ${ctx.seeds.join(', ')}; Linear(320/300/270, 10) after the pooling for k = 1/5/10 (the report writes 320/310/310, which do not match the conv outputs)`,
  configs,
  checks: [],
  noClaim: 'the report shows the curves of the three kernel sizes without drawing a conclusion',
  figures: [
    lossFigure(ctx, '3.2.4-loss.svg', configs, 'Kernel size: loss', true),
    accuracyFigure(ctx, '3.2.4-accuracy.svg', configs, 'Kernel size: test accuracy'),
  ],
  wallSeconds: since(t0),
});
