// A grid worker (`startGridWorker`, the `torchlet worker` command): takes the trials of a Redis +
// BullMQ queue and trains each in a child process of its own (queueworker.ts, BullMQ's sandboxed
// processor, running processTrial below), with its own WASM, so that hours of synchronous training
// never block this process's lock renewals. A trial process fetches the search's data once (by
// hash, verified), rebuilds each network with fromArchitecture on the job's seed and runs the
// local pool's runTrial. Node only.

import { runningTrials } from './parallel.js';
import { TorchletError } from '../core/errors.js';
import { defaultRng } from '../core/rng.js';
import { FORMAT_VERSION, fromArchitecture } from '../core/serialize.js';
import { ABI_VERSION, init } from '../core/wasm.js';
import { checkKeys, foldOrder, paramsLabel } from './grid.js';
import { type TrialData, type TrialJob, runTrial } from './gridpool.js';
import type { GridWorker, GridWorkerOptions } from './gridqueue.js';
import {
  type QueueJobData,
  type QueueJobResult,
  type RedisClient,
  GRID_QUEUE,
  checkInt,
  checkName,
  checkUrl,
  connect,
  dataKey,
  decodeData,
  loadPackages,
  packFloats,
  redact,
  torchletVersion,
  versions,
} from './gridqueuewire.js';

/** Least time between two progress reports of a trial (ms). */
const PROGRESS_MS = 1000;

const WORKER_KEYS = [
  'connection',
  'name',
  'concurrency',
  'lockDuration',
  'stalledInterval',
  'connectTimeout',
  'log',
] as const;

/** The trial runner's file (BullMQ's sandboxed processor) beside this module. @internal */
export function queueWorkerFile(): URL {
  const ts = import.meta.url.endsWith('.ts');
  return new URL(ts ? './queueworker.ts' : './queueworker.js', import.meta.url);
}

/** Environment variable that hands the Redis URL to the trial processes. @internal */
export const REDIS_ENV = 'TORCHLET_WORKER_REDIS';

/**
 * Starts a long-running grid worker: takes the trials of `options.name`'s queue from Redis and
 * trains up to `concurrency` at once, each in a child process of its own (its own WASM, so the
 * lock renewals and progress of this process never wait for training), and logs each trial.
 * Start as many as you like, on any machines that reach the Redis server. Node only.
 * @returns The worker; `close()` finishes the trials in progress and stops it.
 * @throws TorchletError `BAD_ARGUMENT` for bad options, missing bullmq / ioredis packages, or a
 *   Redis server that does not answer within `connectTimeout` (naming the URL and the cause).
 * @example
 * const worker = await startGridWorker({ connection: 'redis://127.0.0.1:6379', concurrency: 2 });
 * process.on('SIGTERM', () => void worker.close());
 */
export async function startGridWorker(options: GridWorkerOptions): Promise<GridWorker> {
  const where = 'startGridWorker';
  checkKeys(options, WORKER_KEYS, where);
  const url = checkUrl(options.connection, where);
  const name = options.name === undefined ? GRID_QUEUE : checkName(options.name, 'name', where);
  const opt = (v: number | undefined, key: string, dflt: number, lo: number, hi: number) =>
    v === undefined ? dflt : checkInt(v, key, lo, hi, where);
  const concurrency = opt(options.concurrency, 'concurrency', 1, 1, 256);
  const lockDuration = opt(options.lockDuration, 'lockDuration', 30_000, 100, 3_600_000);
  const stalledInterval = opt(
    options.stalledInterval,
    'stalledInterval',
    lockDuration,
    100,
    3_600_000,
  );
  const connectTimeout = opt(options.connectTimeout, 'connectTimeout', 10_000, 1, 600_000);
  if (options.log !== undefined && typeof options.log !== 'function') {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${where}: expected log to be a function, got ${typeof options.log}`,
    );
  }
  const log = options.log ?? ((line: string) => console.log(line));
  const { bull, Redis } = await loadPackages(where);
  const client = await connect(Redis, url, connectTimeout, where);
  const worker = new bull.Worker(name, queueWorkerFile(), {
    connection: client,
    concurrency,
    lockDuration,
    stalledInterval,
    maxStalledCount: 1,
    // After a lost connection, try again each second (BullMQ's default waits 15 s).
    runRetryDelay: 1000,
    workerForkOptions: { env: { ...process.env, [REDIS_ENV]: url } },
  });
  const label = (job: { id?: string; data: QueueJobData }): string => {
    const d = job.data;
    // A job that is not a trial (or from another version) is logged by its id alone.
    if (typeof d?.params !== 'object' || d.params === null) return `job ${job.id}`;
    return `trial ${job.id} (${paramsLabel(d.params)}, fold ${d.fold + 1} of ${d.folds})`;
  };
  const started = new Map<string, number>();
  worker.on('active', (job) => {
    started.set(job.id!, Date.now());
    log(`worker: ${label(job)} started`);
  });
  worker.on('completed', (job) => {
    const s = ((Date.now() - (started.get(job.id!) ?? Date.now())) / 1000).toFixed(2);
    started.delete(job.id!);
    log(`worker: ${label(job)} done in ${s} s`);
  });
  worker.on('failed', (job, e) => {
    if (job === undefined) return log(`worker: a trial failed: ${e.message}`);
    started.delete(job.id!);
    const tries = `attempt ${job.attemptsMade} of ${job.opts.attempts ?? 1}`;
    log(`worker: ${label(job)} failed (${tries}): ${e.message}`);
  });
  worker.on('stalled', (id) => log(`worker: trial ${id} stalled (its worker died); retrying it`));
  worker.on('error', (e) => log(`worker: ${e.message}`));
  await worker.waitUntilReady();
  log(
    `worker: taking trials of queue ${name} at ${redact(url)}, ${concurrency} at a time (torchlet ${torchletVersion()})`,
  );
  let closing: Promise<void> | null = null;
  return {
    close: () => {
      closing ??= (async () => {
        await worker.close();
        client.disconnect();
      })();
      return closing;
    },
  };
}

/** A job as a trial process sees it (BullMQ's SandboxedJob, the part used). @internal */
export interface TrialJobView {
  id?: string;
  data: QueueJobData;
  updateProgress(progress: object): Promise<void>;
}

let dataCache: { hash: string; data: Pick<TrialData, 'x' | 'xShape' | 'y' | 'yShape'> } | null =
  null;

let orderCache: { hash: string; seed: number; order: Uint32Array } | null = null;

let redis: Promise<RedisClient> | null = null;

/** An error BullMQ does not retry (it matches by name); `message` starts with `REFUSED`. */
function unrecoverable(message: string): Error {
  const e = new Error(message);
  e.name = 'UnrecoverableError';
  return e;
}

/**
 * Trains one job in a trial process: checks the versions, fetches the data once per process (by
 * hash, verified), rebuilds the network with `fromArchitecture` on the job's seed and runs
 * `runTrial`. A trial error is thrown (BullMQ retries it up to `attempts`); a version mismatch
 * or bad data is thrown as unrecoverable (no retry). @internal
 */
export async function processTrial(job: TrialJobView): Promise<QueueJobResult> {
  runningTrials();
  const d = job.data;
  if (d?.kind !== 'torchlet-trial') {
    throw unrecoverable(`torchlet worker: expected a torchlet trial job, got ${JSON.stringify(d)}`);
  }
  const mine = { torchlet: torchletVersion(), format: FORMAT_VERSION, abi: ABI_VERSION };
  if (d.torchlet !== mine.torchlet || d.format !== mine.format || d.abi !== mine.abi) {
    throw unrecoverable(
      `torchlet worker: expected a job from ${versions(mine)} (this worker), got one from ${versions(d)}; start workers of the search's version, then run the search again to retry these trials`,
    );
  }
  await init();
  if (dataCache?.hash !== d.data) {
    redis ??= (async () => {
      const { Redis } = await loadPackages('torchlet worker');
      const url = process.env[REDIS_ENV];
      if (url === undefined) throw new Error(`torchlet worker: expected ${REDIS_ENV}, got none`);
      return connect(Redis, url, 10_000, 'torchlet worker');
    })();
    const blob = await (await redis).getBuffer(dataKey(d.data));
    if (blob === null) {
      throw unrecoverable(
        `torchlet worker: expected the search's data under ${dataKey(d.data)}, got none (expired or removed): run the search again, which stores it again and retries these trials`,
      );
    }
    dataCache = null;
    try {
      dataCache = { hash: d.data, data: decodeData(new Uint8Array(blob), d.data) };
    } catch (e) {
      throw unrecoverable((e as Error).message);
    }
  }
  const rows = dataCache.data.xShape[0]!;
  if (orderCache?.hash !== d.data || orderCache.seed !== d.foldSeed) {
    orderCache = { hash: d.data, seed: d.foldSeed, order: foldOrder(rows, d.foldSeed) };
  }
  const ctx: TrialData = {
    ...dataCache.data,
    order: orderCache.order,
    folds: d.folds,
    loss: d.loss,
    reduction: d.reduction,
    metric: d.metric,
    train: d.train,
  };
  const trial: TrialJob = { id: d.trial, params: d.params, fold: d.fold, seed: d.seed };
  // The epoch (from 1) as BullMQ job progress: the first, then at most one a second.
  let reported = -Infinity;
  const progress = (epoch: number): void => {
    if (epoch > 0 && Date.now() - reported < PROGRESS_MS) return;
    reported = Date.now();
    job.updateProgress({ epoch: epoch + 1 }).catch(() => {}); // progress is best effort
  };
  const r = runTrial(ctx, () => fromArchitecture(d.architecture, defaultRng), trial, progress);
  if (r.error !== undefined) throw new Error(r.error);
  const os = process.getBuiltinModule('node:os');
  return {
    score: packFloats([r.score]),
    train: packFloats(r.curves.train),
    validation: packFloats(r.curves.validation),
    pid: process.pid,
    host: os.hostname(),
  };
}
