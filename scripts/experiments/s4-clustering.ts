// 4 Clustering in the latent space (the report's future work): k-means (k = 10, k-means++,
// seeded) on the codes of a linear and a convolutional autoencoder (latent 10, Adam) against
// k-means on the raw pixels, scored against the true labels by purity and adjusted Rand index,
// on the training and the test digits; plus 2-D PCA maps coloured by label.
import {
  BCELoss,
  MSELoss,
  Rng,
  adjustedRandIndex,
  asSamples,
  evaluateLoss,
  kMeans,
  pca,
  purity,
  type AutoEncoder,
  type Tensor,
} from '../../ts/index.js';
import { convAEDigits, linearAE } from './autoencoders.js';
import {
  type Check,
  context,
  digits,
  figure,
  fmtStat,
  scatterSvg,
  since,
  stat,
  type Stat,
  train,
  writeSection,
} from './runner.js';

const t0 = performance.now();
const ctx = await context();
const { flat } = await digits();
const L = 10;
const epochs = ctx.pick(25, 200, 2);
const step = 1e-3;
const kSeeds = [1, 2, 3, 4, 5];
const labels = {
  train: Int32Array.from(flat.train.y.data),
  test: Int32Array.from(flat.test.y.data),
};
const bce = new BCELoss();

function codes(net: AutoEncoder, x: Tensor): Float32Array {
  const n = x.shape[0]!;
  const out = new Float32Array(n * L);
  for (let s = 0; s < n; s += 256) out.set(net.latent(x.rows(s, Math.min(256, n - s))).data, s * L);
  return out;
}

const spaces: Record<string, { train: ArrayLike<number>; test: ArrayLike<number>; d: number }> = {
  'raw pixels (64)': { train: flat.train.x.toArray(), test: flat.test.x.toArray(), d: 64 },
};
const recon: Record<string, { bce: number; squaredError: number }> = {};
for (const [name, build, image] of [
  ['linear AE latent (10)', (rng: Rng) => linearAE(64, 200, L, 200, rng), false],
  ['conv AE latent (10)', (rng: Rng) => convAEDigits(L, rng), true],
] as const) {
  const view = (x: Tensor): Tensor => (image ? asSamples(x, [8, 8, 1]) : x);
  const data = {
    train: { x: view(flat.train.x), y: flat.train.x },
    test: { x: view(flat.test.x), y: flat.test.x },
  };
  const net = build(new Rng(1));
  const curves = train(net, data, bce, {
    epochs,
    step,
    seed: 1,
    optimizer: 'adam',
    accuracy: false,
  });
  recon[name] = {
    bce: curves.testLoss.at(-1)!,
    squaredError: evaluateLoss(net, data.test, new MSELoss()),
  };
  spaces[name] = { train: codes(net, data.train.x), test: codes(net, data.test.x), d: L };
  console.log(
    `  ${name}: test BCE ${recon[name]!.bce.toFixed(3)} (${curves.seconds.toFixed(1)} s)`,
  );
}

const scores: Record<string, Record<'train' | 'test', { purity: Stat; ari: Stat }>> = {};
for (const [name, s] of Object.entries(spaces)) {
  scores[name] = {
    train: score(s.train, labels.train, s.d),
    test: score(s.test, labels.test, s.d),
  };
  console.log(
    `  ${name}: train purity ${fmtStat(scores[name]!.train.purity, 3)}, ARI ${fmtStat(scores[name]!.train.ari, 3)}`,
  );
}
function score(points: ArrayLike<number>, y: Int32Array, d: number): { purity: Stat; ari: Stat } {
  const runs = kSeeds.map((seed) => kMeans(points, y.length, d, 10, { seed }).labels);
  return {
    purity: stat(runs.map((c) => purity(c, y))),
    ari: stat(runs.map((c) => adjustedRandIndex(c, y))),
  };
}

const figures = Object.entries(spaces).map(([name, s], i) => {
  const p = pca(s.test, labels.test.length, s.d, 2);
  const file = `4-pca-${['raw', 'linear', 'conv'][i]}.svg`;
  const title = `${name}: PCA of the test digits (${(100 * (p.explained[0]! + p.explained[1]!)).toFixed(0)}% of the variance)`;
  return figure(ctx, file, scatterSvg(p.projected, labels.test, title), title);
});

const raw = scores['raw pixels (64)']!;
const checks: Check[] = Object.keys(spaces)
  .slice(1)
  .map((name) => ({
    claim: `k-means on the ${name} beats k-means on the raw pixels (ARI, training digits)`,
    holds: scores[name]!.train.ari.mean > raw.train.ari.mean,
    evidence: `ARI ${fmtStat(scores[name]!.train.ari, 3)} vs ${fmtStat(raw.train.ari, 3)}; purity ${fmtStat(scores[name]!.train.purity, 3)} vs ${fmtStat(raw.train.purity, 3)}`,
  }));
writeSection(ctx, '4-clustering', {
  section: '4',
  title: 'Clustering in the latent space',
  claim: "The report names clustering in the autoencoder's latent space as future work.",
  epochs,
  setup: `autoencoders: Adam step ${step}, batch 32, BCE, latent ${L}, seed 1; k-means k = 10, k-means++ with 4 restarts, seeds ${kSeeds.join(', ')} (mean ± std)`,
  configs: [],
  checks,
  figures,
  extra: { scores, reconstruction: recon },
  wallSeconds: since(t0),
});
