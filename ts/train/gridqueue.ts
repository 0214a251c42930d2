// Grid search past one machine, on Redis + BullMQ (Node only). The coordinator (gridSearch's
// `queue` option) builds each trial's network here, ships its architecture (data, never code) as
// one job per trial (combination x fold) and the training data once, under its SHA-256; workers
// (`startGridWorker`, the `torchlet worker` command) train the jobs in child processes
// (queueworker.ts), rebuilding each network with fromArchitecture on the same seed, with the same
// runTrial as the local pool, so the rows are the local run's. bullmq and ioredis are optional
// peer dependencies, imported only here and only when a queue is used. The browser build swaps
// this file for gridqueue.browser.ts.

import { TorchletError } from '../core/errors.js';
import type { Module } from '../core/module.js';
import { MODULE_TYPES } from '../core/registry.js';
import { Rng, defaultRng, manualSeed } from '../core/rng.js';
import { type ArchitectureNode, FORMAT_VERSION, describeArchitecture } from '../core/serialize.js';
import { fromArchitecture } from '../core/serialize.js';
import { ABI_VERSION, init } from '../core/wasm.js';
import {
  type FoldCurves,
  type GridMetric,
  type GridParams,
  type GridTrainOptions,
  type LossName,
  checkKeys,
  foldOrder,
  paramsLabel,
} from './grid.js';
import {
  type BuildNet,
  type Torchlet,
  type TrialData,
  type TrialJob,
  type TrialResult,
  checkBuilt,
  runTrial,
  trialError,
} from './gridpool.js';
import type { Reduction } from '../core/loss.js';

/** Where a grid search queues its trials: `gridSearch`'s `queue` option (Node only). */
export interface GridQueueOptions {
  /**
   * The Redis server, as a URL: `redis://host:6379` (`rediss://` for TLS; user, password and
   * database number in the URL as usual).
   */
  connection: string;
  /** The BullMQ queue the workers take trials from (default `'torchlet-grid'`; no `:`). */
  name?: string;
  /**
   * Names the search, so that a stopped coordinator can be restarted and pick up the trials that
   * finished: its jobs are `<searchId>-<trial>`. Default: `grid-` and a hash of everything that
   * defines the search (the data, the grid, every trial's architecture and seed, the options and
   * the torchlet version), so running the same call again resumes (or returns at once when every
   * trial has finished). Letters, digits, `_`, `.` and `-`, at most 100.
   */
  searchId?: string;
  /**
   * Runs of a trial that throws (a non-finite loss, a bad option) before its row reports the
   * error, as the local run's `fold <k>: <message>` (default 2, at most 100). A worker that dies
   * mid-trial does not use one up: the trial is retried elsewhere once its lock expires.
   */
  attempts?: number;
  /** How long to wait for the Redis server at the start, in ms (default 10000). */
  connectTimeout?: number;
}

/** Options of `startGridWorker` (the `torchlet worker` command). */
export interface GridWorkerOptions {
  /** The Redis server, as a URL: `redis://host:6379`. */
  connection: string;
  /** The queue to take trials from (default `'torchlet-grid'`). */
  name?: string;
  /** Trials trained at once, each in its own child process with its own WASM (default 1). */
  concurrency?: number;
  /**
   * How long a trial's lock lasts without a renewal, in ms (default 30000): the worker renews it
   * every half of this while it trains, and a trial whose worker dies is retried elsewhere after
   * it expires.
   */
  lockDuration?: number;
  /** How often this worker looks for trials whose lock expired, in ms (default `lockDuration`). */
  stalledInterval?: number;
  /** How long to wait for the Redis server at the start, in ms (default 10000). */
  connectTimeout?: number;
  /** Where the worker's log lines go (default `console.log`). */
  log?: (line: string) => void;
}

/** A running grid worker (`startGridWorker`). */
export interface GridWorker {
  /**
   * Stops taking trials, lets the ones in progress finish (their rows are kept), stops the child
   * processes and closes the connections. Idempotent.
   */
  close(): Promise<void>;
}

/** The default queue name. */
export const GRID_QUEUE = 'torchlet-grid';

/** What one job carries: data only (the grid point, fold, seeds, architecture). @internal */
export interface QueueJobData {
  kind: 'torchlet-trial';
  /** torchlet's version, model-format version and WASM ABI version of the coordinator. */
  torchlet: string;
  format: string;
  abi: number;
  search: string;
  trial: number;
  /** SHA-256 of the data blob (`encodeData`), the key it is stored under. */
  data: string;
  /** Seed of the folds (`foldOrder(rows, foldSeed)`). */
  foldSeed: number;
  folds: number;
  fold: number;
  seed: number;
  params: GridParams;
  architecture: ArchitectureNode;
  loss: LossName;
  reduction: Reduction;
  metric: GridMetric;
  train: GridTrainOptions;
}

/** What a finished job returns: the scores as float64 bytes (exact, NaN and -0 kept). @internal */
export interface QueueJobResult {
  score: string;
  train: string;
  validation: string;
  /** The process id of the child process that trained it, and its host. */
  pid: number;
  host: string;
}

/** Redis key of a data blob. @internal */
export function dataKey(hash: string): string {
  return `torchlet:data:${hash}`;
}

/** Seconds a data blob stays in Redis after the coordinator last looked (7 days). */
const DATA_TTL_S = 7 * 24 * 3600;
/** Largest data blob (a Redis string holds 512 MiB). */
const MAX_DATA_BYTES = 512 * 2 ** 20 - 1024;
/** Least time between two progress reports of a trial (ms). */
const PROGRESS_MS = 1000;
/** How often the coordinator reads the state of its unfinished trials besides the events (ms). */
const SWEEP_MS = 5000;

const bad = (message: string): TorchletError =>
  new TorchletError('BAD_ARGUMENT', `gridSearch: ${message}`);

/** torchlet's version: the nearest package.json named torchlet above this module. @internal */
export function torchletVersion(): string {
  const fs = process.getBuiltinModule('node:fs');
  const path = process.getBuiltinModule('node:path');
  const url = process.getBuiltinModule('node:url');
  let dir = path.dirname(url.fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const file = path.join(dir, 'package.json');
    if (fs.existsSync(file)) {
      const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'torchlet' && typeof pkg.version === 'string') return pkg.version;
    }
    dir = path.dirname(dir);
  }
  return 'unknown';
}

/** The versions a job and a worker must agree on, as one line. */
function versions(v: { torchlet: string; format: string; abi: number }): string {
  return `torchlet ${v.torchlet} (model format ${v.format}, WASM ABI ${v.abi})`;
}

// ---------------------------------------------------------------------------------------------
// Checking the options

const QUEUE_KEYS = ['connection', 'name', 'searchId', 'attempts', 'connectTimeout'] as const;
const WORKER_KEYS = [
  'connection',
  'name',
  'concurrency',
  'lockDuration',
  'stalledInterval',
  'connectTimeout',
  'log',
] as const;
const ID = /^[A-Za-z0-9_.-]{1,100}$/;

function checkUrl(value: unknown, where: string): string {
  let ok = typeof value === 'string';
  if (ok) {
    try {
      ok = ['redis:', 'rediss:'].includes(new URL(value as string).protocol);
    } catch {
      ok = false;
    }
  }
  if (!ok) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${where}: expected connection to be a redis:// or rediss:// URL, got ${JSON.stringify(value)}`,
    );
  }
  return value as string;
}

function checkInt(value: unknown, name: string, lo: number, hi: number, where: string): number {
  if (!Number.isInteger(value) || (value as number) < lo || (value as number) > hi) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${where}: expected ${name} to be an integer from ${lo} to ${hi}, got ${String(value)}`,
    );
  }
  return value as number;
}

function checkName(value: unknown, what: string, where: string): string {
  if (typeof value !== 'string' || !ID.test(value)) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${where}: expected ${what} of letters, digits, _, . and - (at most 100), got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** `queue` checked and with its defaults. @internal */
export interface CheckedQueue {
  connection: string;
  name: string;
  searchId: string | undefined;
  attempts: number;
  connectTimeout: number;
}

/** Checks gridSearch's `queue` option (names, URL, ranges); nothing is connected. @internal */
export function checkQueueOptions(queue: unknown): CheckedQueue {
  checkKeys(queue, QUEUE_KEYS, 'gridSearch', { label: 'queue option' });
  const q = queue as GridQueueOptions;
  return {
    connection: checkUrl(q.connection, 'gridSearch'),
    name: q.name === undefined ? GRID_QUEUE : checkName(q.name, 'queue.name', 'gridSearch'),
    searchId:
      q.searchId === undefined ? undefined : checkName(q.searchId, 'queue.searchId', 'gridSearch'),
    attempts:
      q.attempts === undefined ? 2 : checkInt(q.attempts, 'queue.attempts', 1, 100, 'gridSearch'),
    connectTimeout:
      q.connectTimeout === undefined
        ? 10_000
        : checkInt(q.connectTimeout, 'queue.connectTimeout', 1, 600_000, 'gridSearch'),
  };
}

// ---------------------------------------------------------------------------------------------
// The data, once, under its hash

function sha256(parts: readonly Uint8Array[]): string {
  const h = process.getBuiltinModule('node:crypto').createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
}

const bytesOf = (a: Float32Array): Uint8Array =>
  new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/**
 * The data as one blob: a 4-byte little-endian header length, the JSON header (the shapes), then
 * x's and y's float32 bytes (little-endian, as WASM memory and every platform Node runs on);
 * its key is the SHA-256 of the whole blob. @internal
 */
export function encodeData(d: Pick<TrialData, 'x' | 'xShape' | 'y' | 'yShape'>): {
  blob: Uint8Array;
  hash: string;
} {
  const header = new TextEncoder().encode(JSON.stringify({ x: d.xShape, y: d.yShape }));
  const blob = new Uint8Array(4 + header.length + d.x.byteLength + d.y.byteLength);
  new DataView(blob.buffer).setUint32(0, header.length, true);
  blob.set(header, 4);
  blob.set(bytesOf(d.x), 4 + header.length);
  blob.set(bytesOf(d.y), 4 + header.length + d.x.byteLength);
  return { blob, hash: sha256([blob]) };
}

/**
 * The data of a blob fetched from Redis, after checking it hashes to `hash`.
 * @throws Error naming both hashes when it does not (the row and the worker log show it).
 * @internal
 */
export function decodeData(
  blob: Uint8Array,
  hash: string,
): Pick<TrialData, 'x' | 'xShape' | 'y' | 'yShape'> {
  const got = sha256([blob]);
  if (got !== hash) {
    throw new Error(
      `torchlet worker: expected the data under ${dataKey(hash)} to hash to ${hash}, got ${got} (${blob.length} bytes); it changed after the search stored it: remove it (redis-cli DEL ${dataKey(hash)}) and run the search again, which stores it again and retries these trials`,
    );
  }
  const len = new DataView(blob.buffer, blob.byteOffset).getUint32(0, true);
  const shapes = JSON.parse(new TextDecoder().decode(blob.subarray(4, 4 + len))) as {
    x: number[];
    y: number[];
  };
  const count = (s: number[]): number => s.reduce((a, b) => a * b, 1);
  const xEnd = 4 + len + 4 * count(shapes.x);
  // Copies: a Float32Array needs 4-byte alignment, which a slice of the blob may not have.
  const floats = (lo: number, hi: number): Float32Array =>
    new Float32Array(blob.slice(lo, hi).buffer);
  return {
    x: floats(4 + len, xEnd),
    xShape: shapes.x,
    y: floats(xEnd, xEnd + 4 * count(shapes.y)),
    yShape: shapes.y,
  };
}

// ---------------------------------------------------------------------------------------------
// Connections

type Bull = typeof import('bullmq');
type RedisClass = typeof import('ioredis').Redis;
type RedisClient = InstanceType<RedisClass>;

async function loadPackages(where: string): Promise<{ bull: Bull; Redis: RedisClass }> {
  try {
    const [bull, io] = await Promise.all([import('bullmq'), import('ioredis')]);
    return { bull, Redis: io.Redis };
  } catch (e) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${where}: expected the optional packages bullmq (6.x) and ioredis for a queue (npm install bullmq ioredis), got ${(e as Error).message}`,
    );
  }
}

/**
 * A Redis client that gives up within `timeout` ms if the server cannot be reached at the start
 * (TorchletError naming the URL and the cause), and once connected reconnects for ever (a Redis
 * restart mid-search is waited out). `maxRetriesPerRequest: null`, as BullMQ requires.
 */
async function connect(
  Redis: RedisClass,
  url: string,
  timeout: number,
  where: string,
): Promise<RedisClient> {
  const started = Date.now();
  let connected = false;
  let last = 'no answer';
  const client = new Redis(url, {
    maxRetriesPerRequest: null,
    connectTimeout: Math.min(timeout, 10_000),
    retryStrategy: (times: number) => {
      if (connected) return Math.min(times * 100, 2000);
      return Date.now() - started + 200 > timeout ? null : 200;
    },
  });
  client.on('error', (e: Error) => {
    last = e.message || (e as { code?: string }).code || String(e);
  });
  // Ready, or 'end' once retryStrategy gives up (a refused connection is tried every 200 ms).
  const ready = new Promise<void>((resolve, reject) => {
    client.once('ready', () => resolve());
    client.once('end', () => reject(new Error(last)));
  });
  try {
    await withTimeout(
      ready.then(() => client.ping()),
      timeout,
    );
    connected = true;
    return client;
  } catch (e) {
    client.disconnect();
    const why = e instanceof TimeoutError ? last : (e as Error).message || last;
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${where}: expected a Redis server at ${redact(url)} within ${timeout} ms, got ${why}`,
    );
  }
}

class TimeoutError extends Error {}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError('timeout')), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** The URL without its password, for messages. */
function redact(url: string): string {
  const u = new URL(url);
  if (u.password !== '') u.password = '***';
  return u.href;
}

// ---------------------------------------------------------------------------------------------
// The coordinator

/** One trial's job, before it is sent. */
interface Planned {
  job: TrialJob;
  /** Index into the search's distinct architectures, or the error buildNet threw. */
  arch: number | { error: string };
}

/**
 * Builds every trial's network as the local run would (`manualSeed(job.seed)`, then buildNet)
 * and checks that a worker's `manualSeed(job.seed); fromArchitecture(arch, defaultRng)` gives the
 * same weights and leaves `defaultRng` where buildNet left it, so the rows match the local run's.
 * A buildNet that throws makes that trial's error, as locally; anything a worker cannot rebuild
 * the same refuses the search. `defaultRng` is put back as it was.
 */
function planTrials(
  buildNet: BuildNet,
  t: Torchlet,
  jobs: readonly TrialJob[],
): { planned: Planned[]; archs: ArchitectureNode[] } {
  const archs: ArchitectureNode[] = [];
  const byText = new Map<string, number>();
  const planned: Planned[] = [];
  const saved = defaultRng.state();
  try {
    for (const job of jobs) {
      manualSeed(job.seed);
      let net: Module;
      try {
        net = checkBuilt(buildNet(job.params, t));
      } catch (e) {
        planned.push({ job, arch: { error: trialError(e) } });
        continue;
      }
      let arch: ArchitectureNode;
      try {
        arch = checkRebuild(net, job);
      } finally {
        net.dispose();
      }
      const text = JSON.stringify(arch);
      let index = byText.get(text);
      if (index === undefined) {
        index = archs.push(arch) - 1;
        byText.set(text, index);
      }
      planned.push({ job, arch: index });
    }
  } finally {
    defaultRng.setState(saved);
  }
  return { planned, archs };
}

/** The architecture of `net` (just built from `job.seed`), checked to rebuild the same. */
function checkRebuild(net: Module, job: TrialJob): ArchitectureNode {
  const after = defaultRng.state();
  const weights = net.parameters().map((p) => p.value.toArray());
  const arch = describeArchitecture(net, 'gridSearch');
  const label = paramsLabel(job.params);
  const walk = (m: Module, path: string): void => {
    if (!MODULE_TYPES.includes(m.type)) {
      throw bad(
        `expected built-in module types with a queue (workers rebuild each network from its architecture and know torchlet's own layers only), got ${m.type} at ${path} for ${label}`,
      );
    }
    // NOTE: a layer's own generator (Dropout's options.rng) is not part of its architecture; a
    // worker's rebuild draws from defaultRng instead, so its masks would differ.
    const own = (m as unknown as { rng?: unknown }).rng;
    if (own instanceof Rng && own !== defaultRng) {
      throw bad(
        `expected layers that draw from the shared defaultRng with a queue (a worker rebuilds the network with fromArchitecture, which cannot carry a layer's own Rng), got ${m.type} at ${path} with its own rng, for ${label}`,
      );
    }
    m.children().forEach((c, i) => walk(c, `${path}[${i}]`));
  };
  walk(net, net.type);
  manualSeed(job.seed);
  const copy = fromArchitecture(arch, defaultRng);
  try {
    const same =
      sameWords(defaultRng.state(), after) &&
      copy.parameters().length === weights.length &&
      copy.parameters().every((p, i) => sameFloats(p.value.toArray(), weights[i]!));
    if (!same) {
      throw bad(
        `expected buildNet to draw its initial weights as fromArchitecture does, for a worker to rebuild them from the seed (construct the layers in the order the network holds them and draw nothing else from defaultRng), got other weights for ${label}`,
      );
    }
  } finally {
    copy.dispose();
  }
  return arch;
}

function sameWords(a: Uint32Array, b: Uint32Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function sameFloats(a: Float32Array, b: Float32Array): boolean {
  return sameWords(new Uint32Array(a.buffer, a.byteOffset, a.length), new Uint32Array(b.buffer));
}

/** A trial's job id: `<searchId>-<trial>` (BullMQ refuses `:` in custom ids). @internal */
export function trialJobId(searchId: string, trial: number): string {
  return `${searchId}-${trial}`;
}

/** Float64 values as base64 (exact: NaN, infinities and -0 survive, unlike JSON). @internal */
export function packFloats(values: readonly number[]): string {
  return Buffer.from(new Float64Array(values).buffer).toString('base64');
}

/** The inverse of `packFloats`. @internal */
export function unpackFloats(text: string): number[] {
  const b = Buffer.from(text, 'base64');
  return Array.from(new Float64Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length)));
}

/**
 * Runs the jobs on the queue and reports each result (with the process id of the child that ran
 * it, 0 for a failed one) through `onResult`; resolves when every trial has finished. Rejects
 * with what `onResult` throws, after closing its connections (the jobs stay queued: running the
 * same search again resumes it). @internal
 */
export async function queueTrials(
  q: CheckedQueue,
  buildNet: BuildNet,
  ctx: TrialData,
  foldSeed: number,
  jobs: readonly TrialJob[],
  onResult: (r: TrialResult, worker: number) => void,
): Promise<void> {
  // Checked, then act: every architecture (a refusal enqueues nothing), then the connection.
  const t = (await import('../index.js')) as Torchlet;
  const { planned, archs } = planTrials(buildNet, t, jobs);
  const { blob, hash } = encodeData(ctx);
  if (blob.length > MAX_DATA_BYTES) {
    throw bad(`expected data of at most ${MAX_DATA_BYTES} bytes for a queue, got ${blob.length}`);
  }
  const v = { torchlet: torchletVersion(), format: FORMAT_VERSION, abi: ABI_VERSION };
  const defined = {
    ...v,
    data: hash,
    foldSeed,
    folds: ctx.folds,
    loss: ctx.loss,
    reduction: ctx.reduction,
    metric: ctx.metric,
    train: ctx.train,
    archs,
    trials: planned.map((p) => [p.job.params, p.job.fold, p.job.seed, p.arch]),
  };
  const definition = sha256([new TextEncoder().encode(JSON.stringify(defined))]);
  const searchId = q.searchId ?? `grid-${definition.slice(0, 16)}`;
  const { bull, Redis } = await loadPackages('gridSearch');
  const client = await connect(Redis, q.connection, q.connectTimeout, 'gridSearch');
  const opened: Array<{ close(): Promise<unknown> }> = [];
  const clients: RedisClient[] = [client];
  try {
    const manifest = `torchlet:search:${q.name}:${searchId}`;
    await client.set(manifest, definition, 'NX');
    const stored = await client.get(manifest);
    if (stored !== definition) {
      throw bad(
        `expected queue.searchId ${searchId} to name this search or none in queue ${q.name}, got one that names another search (its jobs would be taken for this one's); choose another searchId`,
      );
    }
    if ((await client.set(dataKey(hash), Buffer.from(blob), 'EX', DATA_TTL_S, 'NX')) === null)
      await client.expire(dataKey(hash), DATA_TTL_S);
    // Connections of their own (QueueEvents blocks on its one), closed with the client.
    const duplicate = (): RedisClient => {
      const c = client.duplicate({ lazyConnect: false });
      c.on('error', () => {}); // while Redis is away: the client reconnects by itself
      clients.push(c);
      return c;
    };
    const queue = new bull.Queue(q.name, { connection: duplicate() });
    const events = new bull.QueueEvents(q.name, { connection: duplicate() });
    // An EventEmitter's 'error' without a listener throws; a lost connection is waited out.
    queue.on('error', () => {});
    events.on('error', () => {});
    opened.push(queue, events);
    await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);

    const outstanding = new Map<string, Planned>();
    // What onResult threw, set from the event handlers (an object, so TS sees it change).
    const stop: { failure?: { e: unknown } } = {};
    let wake: () => void = () => {};
    const report = (r: TrialResult, worker: number): void => {
      try {
        onResult(r, worker);
      } catch (e) {
        stop.failure ??= { e };
      }
    };
    const toAdd: Planned[] = [];
    for (const p of planned) {
      if (typeof p.arch === 'object') report({ id: p.job.id, error: p.arch.error }, 0);
      else {
        outstanding.set(trialJobId(searchId, p.job.id), p);
        toAdd.push(p);
      }
    }
    if (stop.failure !== undefined) throw stop.failure.e;
    const jobOf = (p: Planned): { name: string; data: QueueJobData; opts: object } => ({
      name: 'trial',
      data: {
        kind: 'torchlet-trial',
        ...v,
        search: searchId,
        trial: p.job.id,
        data: hash,
        foldSeed,
        folds: ctx.folds,
        fold: p.job.fold,
        seed: p.job.seed,
        params: p.job.params,
        architecture: archs[p.arch as number]!,
        loss: ctx.loss,
        reduction: ctx.reduction,
        metric: ctx.metric,
        train: ctx.train,
      },
      opts: {
        jobId: trialJobId(searchId, p.job.id),
        attempts: q.attempts,
        removeOnComplete: false,
        removeOnFail: false,
      },
    });
    // Deterministic ids: adding a job that exists (a resumed search) changes nothing.
    const add = async (list: Planned[]): Promise<void> => {
      for (let i = 0; i < list.length; i += 500) {
        await queue.addBulk(list.slice(i, i + 500).map(jobOf));
      }
    };
    const settle = async (id: string, resuming = false): Promise<void> => {
      const p = outstanding.get(id);
      if (p === undefined) return;
      // The state first, then the job: a job read before it finished has no result yet.
      const state = await queue.getJobState(id);
      if (state === 'unknown') {
        // Gone (removed by hand, or a Redis without persistence restarted): queue it again.
        await add([p]);
        return;
      }
      if ((state !== 'completed' && state !== 'failed') || !outstanding.has(id)) return;
      const job = await bull.Job.fromId(queue, id);
      if (job === undefined || !outstanding.has(id)) return;
      // A trial a worker refused (another version, missing or changed data) failed for want of
      // a worker that could run it, not by itself: a resumed search gives it another run.
      if (state === 'failed' && resuming && job.failedReason?.startsWith(REFUSED)) {
        await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
        return;
      }
      outstanding.delete(id);
      if (state === 'failed') report({ id: p.job.id, error: job.failedReason }, 0);
      else {
        const r = job.returnvalue as QueueJobResult;
        const curves: FoldCurves = {
          train: unpackFloats(r.train),
          validation: unpackFloats(r.validation),
        };
        report({ id: p.job.id, score: unpackFloats(r.score)[0]!, curves }, r.pid);
      }
      wake();
    };
    const sweep = async (resuming = false): Promise<void> => {
      const ids = [...outstanding.keys()];
      for (let i = 0; i < ids.length && stop.failure === undefined; i += 200) {
        await Promise.all(ids.slice(i, i + 200).map((id) => settle(id, resuming)));
      }
      await client.expire(dataKey(hash), DATA_TTL_S);
    };
    const onEvent = ({ jobId }: { jobId: string }): void => {
      if (outstanding.has(jobId)) settle(jobId).catch(() => {}); // the sweep retries
    };
    events.on('completed', onEvent);
    events.on('failed', onEvent);
    await add(toAdd);
    let resuming = true;
    while (outstanding.size > 0 && stop.failure === undefined) {
      await sweep(resuming);
      resuming = false;
      if (outstanding.size === 0 || stop.failure !== undefined) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, SWEEP_MS);
        wake = () => {
          if (outstanding.size === 0 || stop.failure !== undefined) {
            clearTimeout(timer);
            resolve();
          }
        };
      });
    }
    const failed = stop.failure as { e: unknown } | undefined;
    if (failed !== undefined) throw failed.e;
  } finally {
    await Promise.allSettled(opened.map((o) => o.close()));
    for (const c of clients) c.disconnect();
  }
}

// ---------------------------------------------------------------------------------------------
// The worker

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

// ---------------------------------------------------------------------------------------------
// The trial processes (queueworker.ts)

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

/** How a worker's refusals of a job begin (a resumed search retries those). */
const REFUSED = 'torchlet worker: ';

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
