// Wall time of a 4-combination, cv=3 grid search on the digits (1,438 training rows, 10 epochs per
// trial) with 1 and with 2 worker threads: `npx tsx scripts/grid-timing.ts`.
import { type GridParams, type Torchlet, gridSearch, init, loadDigits } from '../ts/index.js';

await init();
const { train } = loadDigits();
const build = (p: GridParams, t: Torchlet) =>
  new t.Sequential(
    new t.Linear(64, p.hidden as number),
    new t.ReLU(),
    new t.Linear(p.hidden as number, 10),
  );
for (const workers of [1, 2, 1, 2]) {
  const started = performance.now();
  const rows = await gridSearch(
    build,
    { step: [0.01, 0.05], hidden: [50, 100] },
    train.x,
    train.y,
    {
      cv: 3,
      workers,
      seed: 1,
      train: { epochs: 10, batchSize: 32 },
    },
  );
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `workers=${workers}: ${seconds.toFixed(2)} s; best ${JSON.stringify(rows[0]!.params)} ${rows[0]!.mean.toFixed(4)}`,
  );
}
