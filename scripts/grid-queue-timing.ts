// Wall time of one grid search on a Redis + BullMQ queue with 1 and with 4 `torchlet worker`
// processes (dist/cli.js, concurrency 1 each), against the same search in this thread, and the
// queue's costs: storing and fetching the data, enqueueing, and the per-trial overhead (48 trials
// of one short epoch, queue vs this thread): `npm run build && npx tsx scripts/grid-queue-timing.ts`.
// Starts its own redis-server on a free port in a temp folder. The timed grid: 4 combinations x
// cv 3 = 12 trials on the digits (1,438 training rows, 200 epochs each).
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { type GridParams, type Torchlet, gridSearch, init, loadDigits } from '../ts/index.js';
import { dataKey, decodeData, encodeData } from '../ts/train/gridqueuewire.js';

await init();
const { train } = loadDigits();
const build = (p: GridParams, t: Torchlet) =>
  new t.Sequential(
    new t.Linear(64, p.hidden as number),
    new t.ReLU(),
    new t.Linear(p.hidden as number, 10),
  );
const grid = { step: [0.01, 0.05], hidden: [100, 200] };
const options = { cv: 3, seed: 1, train: { epochs: 200, batchSize: 32 } };
// Trials that take almost no time: what is left is the queue's cost per trial.
const tiny = { hidden: [4, 5, 6, 7, 8, 9, 10, 11] };
const tinyOptions = { cv: 6, seed: 1, train: { epochs: 1, batchSize: 256 } };

const port = await new Promise<number>((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const p = (s.address() as { port: number }).port;
    s.close(() => resolve(p));
  });
});
const url = `redis://127.0.0.1:${port}`;
const dir = mkdtempSync(join(tmpdir(), 'torchlet-queue-timing-'));
const redis = spawn('redis-server', ['--port', String(port), '--dir', dir, '--save', ''], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
await new Promise<void>((resolve) => {
  redis.stdout!.on('data', (b: Buffer) => {
    if (b.toString().includes('Ready to accept connections')) resolve();
  });
});
const client = new Redis(url, { maxRetriesPerRequest: null });

/** Starts `n` workers and resolves once each is taking trials. */
async function startWorkers(n: number): Promise<ChildProcess[]> {
  return Promise.all(
    Array.from({ length: n }, () => {
      const p = spawn(process.execPath, ['dist/cli.js', 'worker', '--redis', url], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      return new Promise<ChildProcess>((resolve) => {
        p.stdout!.on('data', (b: Buffer) => {
          if (b.toString().includes('taking trials')) resolve(p);
        });
      });
    }),
  );
}

const stopAll = async (ps: ChildProcess[]) => {
  await Promise.all(
    ps.map((p) => new Promise((resolve) => p.once('exit', resolve).kill('SIGTERM'))),
  );
};

let started = performance.now();
await gridSearch(build, grid, train.x, train.y, { ...options, workers: 0 });
const local = (performance.now() - started) / 1000;
console.log(`this thread: ${local.toFixed(2)} s (12 trials, ${(local / 12).toFixed(3)} s each)`);

// The data once: stored by the coordinator, fetched and checked once per trial process.
const ctx = {
  x: train.x.toArray(),
  xShape: [...train.x.shape],
  y: train.y.toArray(),
  yShape: [...train.y.shape],
};
started = performance.now();
const { blob, hash } = encodeData(ctx);
await client.set(dataKey(hash), Buffer.from(blob));
const store = performance.now() - started;
started = performance.now();
decodeData(new Uint8Array((await client.getBuffer(dataKey(hash)))!), hash);
const fetch = performance.now() - started;
console.log(
  `data (${blob.length} bytes): hashed and stored in ${store.toFixed(1)} ms, fetched and checked in ${fetch.toFixed(1)} ms`,
);

// Enqueueing: the coordinator's own work (build and check every trial's network, 12 jobs).
await client.flushall();
started = performance.now();
const pending = gridSearch(build, grid, train.x, train.y, {
  ...options,
  seed: 2,
  queue: { connection: url },
});
while ((await client.llen('bull:torchlet-grid:wait')) < 12) {
  await new Promise((resolve) => setTimeout(resolve, 2));
}
const enqueue = performance.now() - started;
console.log(`enqueue: 12 trials queued ${enqueue.toFixed(0)} ms after the call`);
const one = await startWorkers(1);
await pending;
// The per-trial overhead: 48 trials of one short epoch, on the queue (one warm worker) and here.
started = performance.now();
await gridSearch(build, tiny, train.x, train.y, { ...tinyOptions, workers: 0 });
const tinyLocal = performance.now() - started;
started = performance.now();
await gridSearch(build, tiny, train.x, train.y, { ...tinyOptions, queue: { connection: url } });
const tinyQueue = performance.now() - started;
console.log(
  `48 short trials: ${tinyLocal.toFixed(0)} ms in this thread, ${tinyQueue.toFixed(0)} ms on the queue with 1 worker: ${((tinyQueue - tinyLocal) / 48).toFixed(1)} ms per trial of overhead`,
);
await stopAll(one);

const times: Record<number, number[]> = { 1: [], 4: [] };
for (const n of [1, 4, 1, 4]) {
  await client.flushall();
  const ps = await startWorkers(n);
  // A first search starts each worker's trial process (fork, WASM, the data): 8 trials of 20
  // epochs, so that every worker takes one.
  await gridSearch(build, { hidden: [8, 9] }, train.x, train.y, {
    cv: 4,
    train: { epochs: 20 },
    queue: { connection: url },
  });
  started = performance.now();
  const rows = await gridSearch(build, grid, train.x, train.y, {
    ...options,
    queue: { connection: url },
  });
  const seconds = (performance.now() - started) / 1000;
  const pids = new Set(rows.flatMap((r) => r.workers)).size;
  times[n]!.push(seconds);
  console.log(
    `${n} worker process${n > 1 ? 'es' : ''}: ${seconds.toFixed(2)} s (${pids} trial processes ran the 12 trials)`,
  );
  await stopAll(ps);
}
const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
const [t1, t4] = [mean(times[1]!), mean(times[4]!)];
console.log(
  `speed-up of 4 worker processes over 1: ${(t1 / t4).toFixed(2)}x; queue overhead with 1 worker: ${(((t1 - local) / 12) * 1000).toFixed(0)} ms per trial over this thread`,
);
client.disconnect();
redis.kill('SIGTERM');
rmSync(dir, { recursive: true, force: true });
