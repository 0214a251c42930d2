// 3.3.1 The report's linear autoencoder Linear(64,200)->TanH->Linear(200,50)->TanH /
// Linear(50,200)->TanH->Linear(200,64)->Sigmoid, BCE against the pixels, plain SGD (the report's
// optimiser). Reconstructions at 1/2, 3/4 and all of the epochs (500, 750, 1000 in --full); then
// latent size 10/30/50/70, encoder hidden 50/100/200 and decoder hidden 50/100/200, one at a time.
import { BCELoss, MSELoss, Rng, evaluateLoss } from '../../ts/index.js';
import { linearAE, linearAEText } from './autoencoders.js';
import {
  type Config,
  context,
  digits,
  fmtStat,
  lossFigure,
  multiSeed,
  reconstructionFigure,
  since,
  train,
  writeSection,
} from './runner.js';

const t0 = performance.now();
const ctx = await context();
const { flat } = await digits();
const data = {
  train: { x: flat.train.x, y: flat.train.x },
  test: { x: flat.test.x, y: flat.test.x },
};
const epochs = ctx.pick(60, 1000, 2);
const sweepEpochs = ctx.pick(60, 500, 2);
const step = 0.1;
const seeds = [1];
const bce = new BCELoss();
const shown = 10;
const snapshots = [Math.round(epochs / 2), Math.round((3 * epochs) / 4), epochs];
const images: { label: string; images: Float32Array }[] = [
  { label: 'original', images: flat.test.x.rows(0, shown).toArray() },
];
const mse: Record<string, number> = {};

function run(enc: number, latent: number, dec: number, n: number, snap = false): Config {
  return multiSeed(
    `enc ${enc}, L ${latent}, dec ${dec}`,
    linearAEText(64, enc, latent, dec),
    seeds,
    (seed) => {
      const net = linearAE(64, enc, latent, dec, new Rng(seed));
      const curves = train(net, data, bce, {
        epochs: n,
        step,
        seed,
        accuracy: false,
        onEpoch: (e) => {
          if (snap && snapshots.includes(e + 1))
            images.push({
              label: `epoch ${e + 1}`,
              images: net.forward(flat.test.x.rows(0, shown)).toArray(),
            });
        },
      });
      mse[`enc ${enc}, L ${latent}, dec ${dec}`] = evaluateLoss(net, data.test, new MSELoss());
      return curves;
    },
  );
}

const base = run(200, 50, 200, epochs, true);
const latents = [10, 30, 70].map((l) => run(200, l, 200, sweepEpochs));
const encs = [50, 100].map((h) => run(h, 50, 200, sweepEpochs));
const decs = [50, 100].map((h) => run(200, 50, h, sweepEpochs));
// The sweeps compare at sweepEpochs; the base run's value there is its curve at that epoch.
const baseAt = base.curves.testLoss[sweepEpochs - 1]!;
const at = (c: Config): number => (c === base ? baseAt : c.final.testLoss.mean);
const byLatent = [latents[0]!, latents[1]!, base, latents[2]!];
const byEnc = [encs[0]!, encs[1]!, base];
const byDec = [decs[0]!, decs[1]!, base];
const testLoss = base.curves.testLoss;
const sweep = (cs: Config[]): string => cs.map((c) => `${c.name}: ${at(c).toFixed(3)}`).join(', ');
writeSection(ctx, '3.3.1-linear-autoencoder', {
  section: '3.3.1',
  title: 'Linear autoencoder',
  claim:
    'Reconstructions improve with epochs (500 -> 750 -> 1000); latent size 50 is chosen among 10/30/50/70; an encoder hidden size of 100 is enough; the decoder needs 200.',
  epochs: { base: epochs, sweeps: sweepEpochs },
  setup: `plain SGD, step ${step}, batch 32, BCELoss on pixels in [0, 1], seed ${seeds.join(', ')} (autoencoders: one seed)`,
  configs: [base, ...latents, ...encs, ...decs],
  checks: [
    {
      claim: `test loss falls from epoch ${snapshots[0]} to ${snapshots[1]} to ${snapshots[2]}`,
      holds:
        testLoss[snapshots[0]! - 1]! > testLoss[snapshots[1]! - 1]! &&
        testLoss[snapshots[1]! - 1]! > testLoss[snapshots[2]! - 1]!,
      evidence: snapshots.map((e) => `epoch ${e}: ${testLoss[e - 1]!.toFixed(3)}`).join(', '),
    },
    {
      claim: 'larger latent sizes reconstruct better, with diminishing returns past 50',
      holds:
        at(byLatent[0]!) > at(byLatent[1]!) &&
        at(byLatent[1]!) > at(byLatent[2]!) &&
        at(byLatent[2]!) - at(byLatent[3]!) < at(byLatent[1]!) - at(byLatent[2]!),
      evidence: sweep(byLatent),
    },
    {
      claim: 'an encoder hidden size of 100 is enough (within 1% of 200)',
      holds: at(byEnc[1]!) <= 1.01 * at(base),
      evidence: sweep(byEnc),
    },
    {
      claim: 'the decoder needs 200 (100 is more than 1% worse)',
      holds: at(byDec[1]!) > 1.01 * at(base),
      evidence: sweep(byDec),
    },
  ],
  figures: [
    reconstructionFigure(
      ctx,
      '3.3.1-reconstructions.svg',
      images,
      shown,
      [8, 8],
      'Linear autoencoder: test digits and reconstructions by epoch',
    ),
    lossFigure(ctx, '3.3.1-loss.svg', [base], 'Linear autoencoder (L = 50): BCE'),
    lossFigure(ctx, '3.3.1-latent.svg', byLatent, 'Latent size: BCE'),
    lossFigure(ctx, '3.3.1-encoder.svg', byEnc, 'Encoder hidden size: BCE'),
    lossFigure(ctx, '3.3.1-decoder.svg', byDec, 'Decoder hidden size: BCE'),
  ],
  extra: {
    testMse: mse,
    note: `sweeps compared at epoch ${sweepEpochs}; test BCE ${fmtStat(base.final.testLoss)} at epoch ${epochs}`,
  },
  wallSeconds: since(t0),
});
