// 3.3.1 The report's linear autoencoder Linear(64,200)->TanH->Linear(200,50)->TanH /
// Linear(50,200)->TanH->Linear(200,64)->Sigmoid, BCE against the pixels, plain SGD (the report's
// optimiser), over ctx.seeds. Test BCE and reconstructions at 1/2, 3/4 and all of the epochs
// (500, 750, 1000 in --full), against the mean image (the plateau the report saw until epoch
// 500); then latent size 10/30/50/70, encoder hidden 100/200 and decoder hidden 100/200, one at a
// time. Every check's verdict comes from stats.ts (the page's one rule), over the seeds.
import { BCELoss, MSELoss, Rng, evaluateLoss } from '../../ts/index.js';
import { bcePerImage, linearAE, linearAEText, meanImage, parameterCount } from './autoencoders.js';
import {
  type Config,
  context,
  digits,
  lossFigure,
  multiSeed,
  reconstructionFigure,
  since,
  train,
  writeSection,
} from './runner.js';
import { type Stat, below, decreasing, differs, fmt, stat } from './stats.js';

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
const seeds = ctx.seeds;
const bce = new BCELoss();
const shown = 10;
const snapshots = [Math.round(epochs / 2), Math.round((3 * epochs) / 4), epochs];
const images: { label: string; images: Float32Array }[] = [
  { label: 'original', images: flat.test.x.rows(0, shown).toArray() },
];
// The mean training image predicted for every test digit: where a net that ignores its input sits.
const testPixels = flat.test.x.toArray();
const plateau = stat(bcePerImage(meanImage(flat.train.x.toArray(), 64), testPixels, 64)).mean;

interface Run {
  config: Config;
  /** Per seed, the test BCE curve (epoch e at index e - 1). */
  testLoss: number[][];
  /** Per seed, the test squared error at the last epoch. */
  squaredError: number[];
  parameters: number;
}

function run(enc: number, latent: number, dec: number, n: number, snap = false): Run {
  const testLoss: number[][] = [];
  const squaredError: number[] = [];
  let parameters = 0;
  const config = multiSeed(
    `enc ${enc}, L ${latent}, dec ${dec}`,
    `${linearAEText(64, enc, latent, dec)} (${parameterCount(linearAE(64, enc, latent, dec, new Rng(0)))} parameters)`,
    seeds,
    (seed) => {
      const net = linearAE(64, enc, latent, dec, new Rng(seed));
      parameters = parameterCount(net);
      const curves = train(net, data, bce, {
        epochs: n,
        step,
        seed,
        accuracy: false,
        onEpoch: (e) => {
          // Reconstructions of the first seed only: the figure shows one run, the checks all seeds.
          if (snap && seed === seeds[0] && snapshots.includes(e + 1))
            images.push({
              label: `epoch ${e + 1}`,
              images: net.forward(flat.test.x.rows(0, shown)).toArray(),
            });
        },
      });
      testLoss.push(curves.testLoss);
      squaredError.push(evaluateLoss(net, data.test, new MSELoss()));
      return curves;
    },
  );
  return { config, testLoss, squaredError, parameters };
}

const base = run(200, 50, 200, epochs, true);
const latents = [10, 30, 70].map((l) => run(200, l, 200, sweepEpochs));
const enc100 = run(100, 50, 200, sweepEpochs);
const dec100 = run(200, 50, 100, sweepEpochs);
// Test BCE over the seeds at epoch e (1-based); the sweeps compare at sweepEpochs, where the base
// run's value is its curve at that epoch.
const at = (r: Run, e = sweepEpochs): Stat => stat(r.testLoss.map((c) => c[e - 1]!));
const snap = snapshots.map((e) => at(base, e));
const byLatent = [latents[0]!, latents[1]!, base, latents[2]!];
const sweep = (rs: Run[]): string => rs.map((r) => `${r.config.name}: ${fmt(at(r))}`).join('; ');
const fmtSnap = (i: number): string => `epoch ${snapshots[i]}: ${fmt(snap[i]!)}`;
const [l10, l30, l50, l70] = byLatent.map((r) => at(r));
writeSection(ctx, '3.3.1-linear-autoencoder', {
  section: '3.3.1',
  title: 'Linear autoencoder',
  claim:
    'All reconstructions are the same image at 500 epochs, better from 750, and 1000 epochs are a good compromise; latent size 50 is chosen among 10/30/50/70 (10 and 30 too small, 70 no better); an encoder hidden size of 100 is enough; the decoder needs 200.',
  epochs: { base: epochs, sweeps: sweepEpochs },
  setup: `plain SGD, step ${step}, batch 32, BCELoss on pixels in [0, 1] (our choice: the report does not name the autoencoder's loss), seeds ${seeds.join(', ')}; the base autoencoder has ${base.parameters} parameters`,
  configs: [base, ...latents, enc100, dec100].map((r) => r.config),
  checks: [
    {
      claim: `at epoch ${snapshots[0]} every reconstruction is still the mean image (test BCE not below the mean image's)`,
      holds: !below(snap[0]!, plateau),
      evidence: `${fmtSnap(0)}; the mean training image, predicted for every test digit: ${plateau.toFixed(3)}`,
    },
    {
      claim: `reconstructions improve from epoch ${snapshots[0]} to ${snapshots[1]} (test BCE falls)`,
      holds: differs(snap[1]!, snap[0]!) === -1,
      evidence: `${fmtSnap(0)}; ${fmtSnap(1)}`,
    },
    {
      claim: `${snapshots[2]} epochs are a good compromise (test BCE no higher than at epoch ${snapshots[1]})`,
      holds: differs(snap[2]!, snap[1]!) !== 1,
      evidence: `${fmtSnap(1)}; ${fmtSnap(2)}`,
    },
    {
      claim:
        'latent sizes 10 and 30 are too small (test BCE falls from 10 to 30 to 50) and 70 is no better than 50',
      holds: decreasing([l10!, l30!, l50!]) && differs(l70!, l50!) !== -1,
      evidence: sweep(byLatent),
    },
    {
      claim: 'an encoder hidden size of 100 is enough (test BCE no higher than with 200)',
      holds: differs(at(enc100), at(base)) !== 1,
      evidence: sweep([enc100, base]),
    },
    {
      claim: 'the decoder needs 200 (test BCE higher with 100)',
      holds: differs(at(dec100), at(base)) === 1,
      evidence: sweep([dec100, base]),
    },
  ],
  figures: [
    reconstructionFigure(
      ctx,
      '3.3.1-reconstructions.svg',
      images,
      shown,
      [8, 8],
      `Linear autoencoder: test digits and reconstructions by epoch (seed ${seeds[0]})`,
      { epochs, seeds: 1 },
    ),
    lossFigure(ctx, '3.3.1-loss.svg', [base.config], 'Linear autoencoder (L = 50): BCE'),
    lossFigure(
      ctx,
      '3.3.1-latent.svg',
      byLatent.map((r) => r.config),
      'Latent size: BCE',
    ),
    lossFigure(ctx, '3.3.1-encoder.svg', [enc100.config, base.config], 'Encoder hidden size: BCE'),
    lossFigure(ctx, '3.3.1-decoder.svg', [dec100.config, base.config], 'Decoder hidden size: BCE'),
  ],
  extra: {
    testSquaredErrorBySeed: Object.fromEntries(
      [base, ...latents, enc100, dec100].map((r) => [r.config.name, r.squaredError]),
    ),
    meanImageTestBce: plateau,
    snapshots: Object.fromEntries(snapshots.map((e, i) => [`epoch ${e}`, snap[i]])),
    parameters: Object.fromEntries(
      [base, ...latents, enc100, dec100].map((r) => [r.config.name, r.parameters]),
    ),
    note: `sweeps compared at epoch ${sweepEpochs}; the base run (L 50) at epochs ${snapshots.join(', ')}`,
  },
  wallSeconds: since(t0),
});
