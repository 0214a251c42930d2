// What a grid search's coordinator (gridqueue.ts) and its workers (gridqueueworker.ts) share: the
// job format and its versions, the data blob stored once under its SHA-256, float64 packing of the
// results, the option checks, and Redis connections that give up at the start within a bound but
// reconnect for ever once up. bullmq and ioredis are imported here, dynamically, and only when a
// queue is used (they are optional peer dependencies). Node only.

import { TorchletError } from '../core/errors.js';
import type { ArchitectureNode } from '../core/serialize.js';
import type { GridMetric, GridParams, GridTrainOptions, LossName } from './grid.js';
import type { TrialData } from './gridpool.js';
import type { Reduction } from '../core/loss.js';

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

/** The versions a job and a worker must agree on, as one line. @internal */
export function versions(v: { torchlet: string; format: string; abi: number }): string {
  return `torchlet ${v.torchlet} (model format ${v.format}, WASM ABI ${v.abi})`;
}

const ID = /^[A-Za-z0-9_.-]{1,100}$/;

/** A `redis://` or `rediss://` URL, or `BAD_ARGUMENT` naming `where`. @internal */
export function checkUrl(value: unknown, where: string): string {
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

/** An integer in [lo, hi], or `BAD_ARGUMENT` naming the option. @internal */
export function checkInt(
  value: unknown,
  name: string,
  lo: number,
  hi: number,
  where: string,
): number {
  if (!Number.isInteger(value) || (value as number) < lo || (value as number) > hi) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${where}: expected ${name} to be an integer from ${lo} to ${hi}, got ${String(value)}`,
    );
  }
  return value as number;
}

/** A queue name or search id (letters, digits, `_`, `.`, `-`), or `BAD_ARGUMENT`. @internal */
export function checkName(value: unknown, what: string, where: string): string {
  if (typeof value !== 'string' || !ID.test(value)) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${where}: expected ${what} of letters, digits, _, . and - (at most 100), got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** The SHA-256 of the parts, in hex. @internal */
export function sha256(parts: readonly Uint8Array[]): string {
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

/** The bullmq module (types only: it is imported when a queue is used). @internal */
export type Bull = typeof import('bullmq');

/** ioredis's client class. @internal */
export type RedisClass = typeof import('ioredis').Redis;

/** An ioredis client. @internal */
export type RedisClient = InstanceType<RedisClass>;

/** bullmq and ioredis, imported now, or `BAD_ARGUMENT` saying how to install them. @internal */
export async function loadPackages(where: string): Promise<{ bull: Bull; Redis: RedisClass }> {
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
 * restart mid-search is waited out). `maxRetriesPerRequest: null`, as BullMQ requires. @internal
 */
export async function connect(
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

/** The URL without its password, for messages. @internal */
export function redact(url: string): string {
  const u = new URL(url);
  if (u.password !== '') u.password = '***';
  return u.href;
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

/** How a worker's refusals of a job begin (a resumed search retries those). @internal */
export const REFUSED = 'torchlet worker: ';
