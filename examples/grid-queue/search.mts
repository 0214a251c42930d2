// The search of examples/grid-queue: every trial (combination x fold) is a job on Redis, trained by
// the `torchlet worker` processes of docker-compose.yml (or any machine that reaches the Redis).
// Run it again after a stop (Ctrl-C, a crash): it resumes, and finished trials are not run again.
//   REDIS=redis://localhost:6379 npx tsx search.mts
import { gridSearch, init, loadDigits } from 'torchlet';

await init();
const { train } = loadDigits();
const rows = await gridSearch(
  // Runs here, once per trial; the workers get each network's architecture, never this code.
  (p, t) =>
    new t.Sequential(
      new t.Linear(64, Number(p.hidden)),
      new t.ReLU(),
      new t.Linear(Number(p.hidden), 10),
    ),
  { step: [0.01, 0.05, 0.1], hidden: [32, 64, 128] },
  train.x,
  train.y,
  {
    cv: 5,
    seed: 1,
    train: { epochs: 20 },
    queue: { connection: process.env.REDIS ?? 'redis://localhost:6379' },
    onResult: (r) => console.log(`${r.params.step} ${r.params.hidden}  ${r.mean.toFixed(4)}`),
  },
);
for (const r of rows) console.log(r.rank, r.mean.toFixed(4), r.params);
