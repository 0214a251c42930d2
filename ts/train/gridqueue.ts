// Grid search past one machine, on Redis + BullMQ (Node only): the coordinator, gridSearch's
// `queue` option. It builds each trial's network here, checks that a worker rebuilds it the same,
// and ships its architecture (data, never code) as one job per trial (combination x fold), with
// the training data stored once under its SHA-256 (gridqueuewire.ts); workers (`startGridWorker`,
// the `torchlet worker` command: gridqueueworker.ts) train the jobs in child processes with the
// same runTrial as the local pool, so the rows are the local run's. The browser build swaps this
// file for gridqueue.browser.ts.

import { TorchletError } from '../core/errors.js';
import type { Module } from '../core/module.js';
import { MODULE_TYPES } from '../core/registry.js';
import { Rng, defaultRng, manualSeed } from '../core/rng.js';
import {
  type ArchitectureNode,
  FORMAT_VERSION,
  describeArchitecture,
  fromArchitecture,
} from '../core/serialize.js';
import { ABI_VERSION } from '../core/wasm.js';
import { type FoldCurves, checkKeys, paramsLabel } from './grid.js';
import {
  type BuildNet,
  type Torchlet,
  type TrialData,
  type TrialJob,
  type TrialResult,
  checkBuilt,
  trialError,
} from './gridpool.js';
import {
  type QueueJobData,
  type QueueJobResult,
  type RedisClient,
  GRID_QUEUE,
  REFUSED,
  checkInt,
  checkName,
  checkUrl,
  connect,
  dataKey,
  encodeData,
  loadPackages,
  sha256,
  torchletVersion,
  unpackFloats,
} from './gridqueuewire.js';

export { GRID_QUEUE } from './gridqueuewire.js';
export { startGridWorker } from './gridqueueworker.js';

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

/** Seconds a data blob stays in Redis after the coordinator last looked (7 days). */
const DATA_TTL_S = 7 * 24 * 3600;

/** Largest data blob (a Redis string holds 512 MiB). */
const MAX_DATA_BYTES = 512 * 2 ** 20 - 1024;

/** How often the coordinator reads the state of its unfinished trials besides the events (ms). */
const SWEEP_MS = 5000;

const bad = (message: string): TorchletError =>
  new TorchletError('BAD_ARGUMENT', `gridSearch: ${message}`);

const QUEUE_KEYS = ['connection', 'name', 'searchId', 'attempts', 'connectTimeout'] as const;

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
