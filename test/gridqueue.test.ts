// gridSearch with a queue (issue 17), against a real redis-server this file starts on 127.0.0.1
// (a free port, a temp folder, appendonly with fsync always) and `torchlet worker` processes of
// the built package (dist/cli.js, forking dist/queueworker.js): one search on three workers, one
// killed with SIGKILL mid-trial, the coordinator stopped and restarted, Redis restarted mid-search,
// and the rows compared bit for bit with the local run's (a net with Dropout, so the rebuilt
// networks must draw from the seeded defaultRng as buildNet did); a failing trial retried a
// bounded number of times; a version mismatch and changed data refused without retries;
// SIGTERM finishing the trial in progress; refusals before anything is queued; an unreachable
// Redis. Never skipped: without redis-server it fails with the command that installs it.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Job, Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type GridParams,
  type GridRow,
  type Torchlet,
  FORMAT_VERSION,
  GRID_QUEUE,
  ReLU,
  Tensor,
  defaultRng,
  fromArchitecture,
  gridSearch,
  init,
  loadDigits,
  manualSeed,
  startGridWorker,
} from '../ts/index.js';
import * as torchlet from '../ts/index.js';
import { foldOrder } from '../ts/train/grid.js';
import { runTrial } from '../ts/train/gridpool.js';
import { trialJobId } from '../ts/train/gridqueue.js';
import { dataKey, encodeData, torchletVersion, unpackFloats } from '../ts/train/gridqueuewire.js';
import { ABI_VERSION } from '../ts/core/wasm.js';
import { describeArchitecture } from '../ts/core/serialize.js';
import * as browserQueue from '../ts/train/gridqueue.browser.js';
import { expectFreshDist } from './browser/dist-check.js';
import { expectError } from './helpers.js';

await init();

const INSTALL = 'apt-get install -y redis-server';
const LOCK_MS = 3000;

// Linear -> ReLU -> Dropout -> Linear: Dropout draws its masks from defaultRng while training.
const build = (p: GridParams, t: Torchlet) =>
  new t.Sequential(
    new t.Linear(64, (p.hidden as number) ?? 16),
    new t.ReLU(),
    new t.Dropout(0.2),
    new t.Linear((p.hidden as number) ?? 16, 10),
  );
// Step 1e30 makes the output non-finite: those rows fail, locally and on the queue. The trials
// of 500 epochs last about half a second: the one killed is one of those, while it runs.
const GRID = { step: [0.05, 0.1, 1e30], epochs: [20, 500] };
const OPTIONS = { cv: 2, seed: 3, train: { batchSize: 16 } };
const LONG = 'epochs=500';

const digits = loadDigits().train;
const take = (rows: number) => ({
  x: Tensor.from(digits.x.toArray().slice(0, rows * 64), [rows, 64]),
  y: Tensor.from(digits.y.toArray().slice(0, rows), [rows]),
});
const { x, y } = take(digits.x.shape[0]!);

const tmp = mkdtempSync(join(tmpdir(), 'torchlet-queue-'));
let url = '';
let port = 0;
let redisProc: ChildProcess | null = null;
let client: Redis;
const workers: Worker[] = [];

/** Every number of the rows as float64 hex, so that toEqual compares bits (NaN, -0 included). */
function bits(rows: readonly GridRow[]) {
  const hex = (v: number) => Buffer.from(new Float64Array([v]).buffer).toString('hex');
  return rows.map((r) => ({
    rank: r.rank,
    params: r.params,
    mean: hex(r.mean),
    std: hex(r.std),
    scores: r.scores.map(hex),
    curves: r.curves.map((c) => ({ train: c.train.map(hex), validation: c.validation.map(hex) })),
    error: r.error,
  }));
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

/** A process whose output lines are kept, and can be waited for. */
class Lines {
  lines: string[] = [];
  /** Set once the process has exited and its output has been read to the end. */
  closed = false;
  private waiters: Array<() => void> = [];
  constructor(readonly proc: ChildProcess) {
    let rest = '';
    const take = (chunk: Buffer) => {
      const parts = (rest + chunk.toString()).split('\n');
      rest = parts.pop()!;
      this.lines.push(...parts);
      for (const w of this.waiters.splice(0)) w();
    };
    proc.stdout!.on('data', take);
    proc.stderr!.on('data', take);
    proc.once('close', () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w();
    });
  }
  /** The first line from index `from` on that matches `re`. */
  waitFor(re: RegExp, from = 0): Promise<{ match: RegExpMatchArray; index: number }> {
    return new Promise((resolve, reject) => {
      const look = () => {
        for (let i = from; i < this.lines.length; i++) {
          const match = this.lines[i]!.match(re);
          if (match) return resolve({ match, index: i });
        }
        if (this.closed) {
          return reject(new Error(`exited before printing ${re}:\n${this.lines.join('\n')}`));
        }
        this.waiters.push(look);
      };
      look();
    });
  }
  /** The exit code, once the process has exited and its output has been read. */
  exited(): Promise<number | null> {
    return new Promise((resolve) => {
      const look = () => (this.closed ? resolve(this.proc.exitCode) : this.waiters.push(look));
      look();
    });
  }
}

class Worker extends Lines {}

/** `torchlet worker` from dist, in a process group of its own (its trial processes included). */
async function startWorker(): Promise<Worker> {
  const proc = spawn(
    process.execPath,
    ['dist/cli.js', 'worker', '--redis', url, '--lock-duration', String(LOCK_MS)],
    { detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const w = new Worker(proc);
  workers.push(w);
  await w.waitFor(/^worker: taking trials of queue torchlet-grid/);
  return w;
}

/** The id of the trial `w` is training now (its last trial line says started), if `params` match. */
function runningTrial(w: Worker, params: string): string | undefined {
  for (let i = w.lines.length - 1; i >= 0; i--) {
    const m = w.lines[i]!.match(/^worker: trial (\S+) \((.*)\) (started|done in|failed)/);
    if (m) return m[3] === 'started' && m[2]!.includes(params) ? m[1] : undefined;
  }
  return undefined;
}

/** Kills a worker and its trial processes at once, as a machine that dies. */
function killGroup(w: Worker): void {
  try {
    process.kill(-w.proc.pid!, 'SIGKILL');
  } catch {
    // already gone
  }
}

async function startRedis(): Promise<void> {
  const proc = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      tmp,
      '--appendonly',
      'yes',
      '--appendfsync',
      'always',
      '--save',
      '',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  redisProc = proc;
  await new Lines(proc).waitFor(/Ready to accept connections/);
}

async function stopRedis(): Promise<void> {
  const proc = redisProc!;
  redisProc = null;
  const gone = new Promise((resolve) => proc.once('exit', resolve));
  proc.kill('SIGTERM');
  await gone;
}

beforeAll(async () => {
  const found = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  if (found.status !== 0) {
    throw new Error(
      `expected Debian's redis-server for the queue tests, got none on PATH: ${INSTALL} (as root; npm test runs scripts/setup-tools.sh, which installs it)`,
    );
  }
  expectFreshDist();
  if (!existsSync('dist/queueworker.js'))
    throw new Error('expected dist/queueworker.js, got none: run `npm run build`');
  port = await freePort();
  url = `redis://127.0.0.1:${port}`;
  await startRedis();
  client = new Redis(url, { maxRetriesPerRequest: null });
});

afterAll(async () => {
  for (const w of workers) killGroup(w);
  client?.disconnect();
  if (redisProc) await stopRedis();
  rmSync(tmp, { recursive: true, force: true });
});

describe('the optional packages', () => {
  it('are imported by the node bundles only, dynamically; the browser bundles name neither', () => {
    const imports = (file: string) =>
      [
        ...readFileSync(file, 'utf8').matchAll(
          /\bimport\(\s*['"]([^'"]+)['"]\s*\)|from\s*['"]([^'"]+)['"]/g,
        ),
      ]
        .map((m) => m[1] ?? m[2])
        .filter((s) => s === 'bullmq' || s === 'ioredis');
    expect(imports('dist/index.node.js')).toEqual(['bullmq', 'ioredis']);
    expect(imports('dist/index.js')).toEqual([]);
    expect(imports('dist/gridworker.js')).toEqual([]);
    const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
    expect(pkg.dependencies?.bullmq ?? pkg.dependencies?.ioredis).toBeUndefined();
    expect(
      pkg.peerDependenciesMeta.bullmq.optional && pkg.peerDependenciesMeta.ioredis.optional,
    ).toBe(true);
  });

  it('the browser build refuses a queue and a worker, saying they need Node', async () => {
    const nodeOnly = /expected Node\.js for a queue \(Redis and BullMQ\), got the browser build/;
    expectError(
      () => browserQueue.checkQueueOptions({ connection: url }),
      'BAD_ARGUMENT',
      nodeOnly,
    );
    await expect(browserQueue.startGridWorker({ connection: url })).rejects.toMatchObject({
      code: 'BAD_ARGUMENT',
      message: expect.stringMatching(/^startGridWorker: expected Node\.js/),
    });
  });
});

describe('seeded rebuild', () => {
  it('gives a trial the same result from fromArchitecture on defaultRng as from buildNet', () => {
    const data = {
      x: x.toArray(),
      xShape: [...x.shape],
      y: y.toArray(),
      yShape: [...y.shape],
      order: foldOrder(x.shape[0]!, 3),
      folds: 2,
      loss: 'LogSoftmaxCrossEntropy' as const,
      reduction: 'batchmean' as const,
      metric: 'accuracy' as const,
      train: { epochs: 3 },
    };
    const job = { id: 0, params: { hidden: 12 }, fold: 1, seed: 1001 };
    manualSeed(job.seed);
    const net = build(job.params, torchlet);
    const arch = describeArchitecture(net);
    net.dispose();
    const local = runTrial(data, (p) => build(p, torchlet), job);
    const rebuilt = runTrial(data, () => fromArchitecture(arch, defaultRng), job);
    expect(local.error).toBeUndefined();
    expect(rebuilt).toEqual(local);
    // A rebuild on another generator (fromArchitecture's default) differs: the check can fail.
    const other = runTrial(data, () => fromArchitecture(arch), job);
    expect(other).not.toEqual(local);
  });
});

describe('gridSearch with a queue', () => {
  it('refuses networks a worker cannot rebuild the same, before anything is queued', async () => {
    class Custom extends ReLU {}
    const cases: Array<[(p: GridParams, t: Torchlet) => unknown, RegExp]> = [
      [
        (_p, t) => new t.Sequential(new t.Linear(64, 10), new Custom()),
        /gridSearch: expected registered module types .*got Custom/,
      ],
      [
        (_p, t) =>
          new t.Sequential(new t.Linear(64, 10), new t.Dropout(0.5, { rng: new t.Rng(1) })),
        /expected layers that draw from the shared defaultRng with a queue .*got Dropout at Sequential\[1\] with its own rng/,
      ],
      [
        // Built out of order: the second layer's weights are drawn first.
        (_p, t) => {
          const last = new t.Linear(8, 10);
          return new t.Sequential(new t.Linear(64, 8), last);
        },
        /expected buildNet to draw its initial weights as fromArchitecture does/,
      ],
    ];
    for (const [buildNet, re] of cases) {
      const run = gridSearch(buildNet as never, { step: [0.1] }, x, y, {
        ...OPTIONS,
        queue: { connection: url },
      });
      await expect(run).rejects.toMatchObject({
        code: 'BAD_ARGUMENT',
        message: expect.stringMatching(re),
      });
    }
    expect(await client.dbsize()).toBe(0);
  });

  it('refuses bad queue and worker options, naming them', async () => {
    const bad: Array<[object, RegExp]> = [
      [
        { connection: 'http://x' },
        /expected connection to be a redis:\/\/ or rediss:\/\/ URL, got "http:\/\/x"/,
      ],
      [
        { connection: url, attempt: 2 },
        /expected queue option names among .*got `attempt` \(did you mean `attempts`\?\)/,
      ],
      [
        { connection: url, attempts: 0 },
        /expected queue.attempts to be an integer from 1 to 100, got 0/,
      ],
      [{ connection: url, searchId: 'a:b' }, /expected queue.searchId of letters, digits/],
      [{ connection: url, name: '' }, /expected queue.name of letters, digits/],
    ];
    for (const [queue, re] of bad) {
      const run = gridSearch(build, { hidden: [8] }, x, y, { ...OPTIONS, queue: queue as never });
      await expect(run).rejects.toMatchObject({
        code: 'BAD_ARGUMENT',
        message: expect.stringMatching(re),
      });
    }
    const both = gridSearch(build, { hidden: [8] }, x, y, {
      workers: 2,
      queue: { connection: url },
    });
    await expect(both).rejects.toThrow(/gridSearch: expected workers or queue, got both/);
    const workerBad: Array<[object, RegExp]> = [
      [{ connection: 'localhost:6379' }, /startGridWorker: expected connection to be a redis:\/\//],
      [
        { connection: url, concurrency: 0 },
        /expected concurrency to be an integer from 1 to 256, got 0/,
      ],
      [{ connection: url, lockDuration: 5 }, /expected lockDuration to be an integer from 100/],
      [{ connection: url, concurency: 2 }, /got `concurency` \(did you mean `concurrency`\?\)/],
    ];
    for (const [options, re] of workerBad) {
      await expect(startGridWorker(options as never)).rejects.toMatchObject({
        code: 'BAD_ARGUMENT',
        message: expect.stringMatching(re),
      });
    }
    expect(await client.dbsize()).toBe(0);
  });

  it('fails within connectTimeout, naming the URL and the cause, when Redis is unreachable', async () => {
    const closed = `redis://127.0.0.1:${await freePort()}`;
    const run = gridSearch(build, { hidden: [8] }, x, y, {
      ...OPTIONS,
      queue: { connection: closed, connectTimeout: 1500 },
    });
    await expect(run).rejects.toMatchObject({
      code: 'BAD_ARGUMENT',
      message: expect.stringMatching(
        new RegExp(
          `gridSearch: expected a Redis server at ${closed}/? within 1500 ms, got .*ECONNREFUSED`,
        ),
      ),
    });
    await expect(startGridWorker({ connection: closed, connectTimeout: 1500 })).rejects.toThrow(
      /startGridWorker: expected a Redis server at .* within 1500 ms, got .*ECONNREFUSED/,
    );
  });

  it('gives the local rows on three workers, one killed mid-trial, through a coordinator restart and a Redis restart', async () => {
    const local = await gridSearch(build, GRID, x, y, { ...OPTIONS, workers: 0 });
    const failing = local.filter((r) => r.error !== undefined);
    expect(failing.map((r) => r.params.step)).toEqual([1e30, 1e30]);
    expect(failing[0]!.error).toMatch(
      /^fold 0: sgd \(epoch 1 of 20, .*expected a finite network output/,
    );
    expect(failing[1]!.error).toMatch(/^fold 0: sgd \(epoch 1 of 500, /);

    const ws = await Promise.all([startWorker(), startWorker(), startWorker()]);
    const queue = { connection: url, attempts: 2 };
    // The coordinator stops at its first row (onResult throws); the queued trials go on.
    const stop = new Error('coordinator stopped');
    const first = gridSearch(build, GRID, x, y, {
      ...OPTIONS,
      queue,
      onResult: () => {
        throw stop;
      },
    });
    await expect(first).rejects.toBe(stop);
    // Kill a worker, with its trial process, while it trains a long trial.
    let running: { w: Worker; id: string | undefined } | undefined;
    for (;;) {
      running = ws.map((w) => ({ w, id: runningTrial(w, LONG) })).find((r) => r.id);
      if (running !== undefined) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    killGroup(running.w);
    const killed = running.id!;

    // The restarted coordinator picks up the finished trials; at its first row Redis restarts.
    let restarted: Promise<void> | null = null;
    const rows = await gridSearch(build, GRID, x, y, {
      ...OPTIONS,
      queue,
      onResult: () => {
        restarted ??= stopRedis().then(startRedis);
      },
    });
    await restarted;
    expect(bits(rows)).toEqual(bits(local));

    // No trial lost or run twice: one job per trial, each finished once.
    const searchId = killed.replace(/-\d+$/, '');
    const conn = client.duplicate();
    const q = new Queue(GRID_QUEUE, { connection: conn });
    const jobs = await Promise.all(
      Array.from({ length: 12 }, (_, i) => Job.fromId(q, trialJobId(searchId, i))),
    );
    const states = await Promise.all(jobs.map((j) => j!.getState()));
    expect(states.filter((s) => s === 'completed')).toHaveLength(8);
    // The killed trial stalled once (its lock expired) and was finished by another process.
    const victim = jobs.find((j) => j!.id === killed)!;
    expect(victim.stalledCounter).toBe(1);
    expect(await victim.getState()).toBe('completed');
    // The failing trials ran `attempts` times, then their rows reported the error.
    const failed = jobs.filter((_, i) => states[i] === 'failed');
    expect(failed).toHaveLength(4);
    for (const j of failed) expect(j!.attemptsMade).toBe(2);
    // workers: the trial processes' ids (0 for a failed fold).
    const pids = rows.flatMap((r) => r.workers);
    expect(pids.filter((p) => p > 0)).toHaveLength(8);
    const returned = jobs.filter((_, i) => states[i] === 'completed').map((j) => j!.returnvalue);
    expect(new Set(pids.filter((p) => p > 0))).toEqual(new Set(returned.map((r) => r.pid)));
    expect(unpackFloats(returned[0].score)).toHaveLength(1);
    // Progress: each trial process reports its epoch (from 1) as it trains, at most once a second.
    for (const i of [0, 2]) {
      const { epoch } = jobs[i]!.progress as { epoch: number };
      expect(epoch).toBeGreaterThanOrEqual(1);
      expect(epoch).toBeLessThanOrEqual(i === 0 ? 20 : 500);
    }
    await q.close();
    conn.disconnect();
  }, 120_000);

  it('fails a job from another torchlet version at once, naming both versions', async () => {
    const conn = client.duplicate();
    const q = new Queue(GRID_QUEUE, { connection: conn });
    const blocking = client.duplicate();
    const events = new QueueEvents(GRID_QUEUE, { connection: blocking });
    await events.waitUntilReady();
    const job = await q.add(
      'trial',
      { kind: 'torchlet-trial', torchlet: '0.0.1', format: FORMAT_VERSION, abi: ABI_VERSION },
      { jobId: 'version-check-0', attempts: 3 },
    );
    await expect(job.waitUntilFinished(events)).rejects.toThrow(
      `torchlet worker: expected a job from torchlet ${torchletVersion()} (model format ${FORMAT_VERSION}, WASM ABI ${ABI_VERSION}) (this worker), got one from torchlet 0.0.1`,
    );
    const after = await Job.fromId(q, job.id!);
    expect(after!.attemptsMade).toBe(1);
    await Promise.all([q.close(), events.close()]);
    conn.disconnect();
    blocking.disconnect();
  });

  it('reports data that does not match its hash in every row, without retries; a rerun retries', async () => {
    const small = take(200);
    const { blob, hash } = encodeData({
      x: small.x.toArray(),
      xShape: [...small.x.shape],
      y: small.y.toArray(),
      yShape: [...small.y.shape],
    });
    const changed = Buffer.from(blob);
    changed[changed.length - 1]! ^= 1;
    await client.set(dataKey(hash), changed); // the search finds it there and does not replace it
    const rows = await gridSearch(build, { hidden: [8] }, small.x, small.y, {
      ...OPTIONS,
      queue: { connection: url, attempts: 3 },
    });
    expect(rows).toHaveLength(1);
    expect(rows[0]!.error).toMatch(
      new RegExp(
        `^fold 0: torchlet worker: expected the data under ${dataKey(hash)} to hash to ${hash}, got [0-9a-f]{64}`,
      ),
    );
    // The worker that refused it says so in its log (its line may follow the row by a moment).
    const alive = workers.filter((w) => w.proc.exitCode === null && w.proc.signalCode === null);
    await Promise.any(alive.map((w) => w.waitFor(new RegExp(`failed .*to hash to ${hash}`))));
    // As the message says: remove the changed data and run the search again; it stores the data
    // again and retries the refused trials (not the ones that failed by themselves).
    await client.del(dataKey(hash));
    const again = await gridSearch(build, { hidden: [8] }, small.x, small.y, {
      ...OPTIONS,
      queue: { connection: url, attempts: 3 },
    });
    expect(again[0]!.error).toBeUndefined();
    expect(again[0]!.scores).toHaveLength(2);
  });

  it('runs torchlet grid-search --redis on the workers; refuses queue flags without --redis', async () => {
    // Asynchronous, so that this process keeps reading the workers' logs meanwhile.
    const cli = (...args: string[]) =>
      new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        const p = new Lines(
          spawn(process.execPath, ['dist/cli.js', ...args], { stdio: ['ignore', 'pipe', 'pipe'] }),
        );
        let stdout = '';
        let stderr = '';
        p.proc.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
        p.proc.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
        void p.exited().then((status) => resolve({ status, stdout, stderr }));
      });
    const grid = '{"hidden":[8,12]}';
    const r = await cli(
      'grid-search',
      '--grid',
      grid,
      '--cv',
      '2',
      '--epochs',
      '2',
      '--redis',
      url,
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ +1 +[\d.]+ ± [\d.]+ +hidden=(8|12)$/m);
    const args = ['grid-search', '--grid', grid, '--cv', '2', '--epochs', '2', '--workers', '0'];
    const same = await cli(...args);
    const table = (out: string) => out.split('\n').filter((l) => /^ +\d +[\d.]+ ± /.test(l));
    expect(table(r.stdout)).toEqual(table(same.stdout));
    const noRedis = await cli('grid-search', '--grid', grid, '--queue', 'q');
    expect(noRedis.status).toBe(2);
    expect(noRedis.stderr).toContain('torchlet: expected --redis with --queue, got none');
    const noUrl = await cli('worker');
    expect(noUrl.status).toBe(2);
    expect(noUrl.stderr).toContain('torchlet: expected --redis <url>, got none');
  });

  it('finishes the trial in progress on SIGTERM, then exits 0', async () => {
    const alive = workers.filter((w) => w.proc.exitCode === null && w.proc.signalCode === null);
    expect(alive).toHaveLength(2);
    const [a, b] = alive as [Worker, Worker];
    const mark = a.lines.length;
    const search = gridSearch(build, { hidden: [16] }, x, y, {
      ...OPTIONS,
      seed: 9,
      train: { epochs: 500, batchSize: 16 },
      queue: { connection: url },
    });
    const { match, index } = await a.waitFor(
      /^worker: trial (\S+) \(hidden=16, .*\) started$/,
      mark,
    );
    a.proc.kill('SIGTERM');
    expect(await a.exited()).toBe(0);
    const done = a.lines.findIndex(
      (l, i) => i > index && l.includes(`trial ${match[1]} (`) && l.includes(') done in'),
    );
    expect(done).toBeGreaterThan(index);
    expect(a.lines.at(-1)).toBe('worker: stopped');
    const rows = await search;
    expect(rows[0]!.error).toBeUndefined();
    expect(rows[0]!.scores).toHaveLength(2);
    b.proc.kill('SIGTERM');
    expect(await b.exited()).toBe(0);
  });
});
