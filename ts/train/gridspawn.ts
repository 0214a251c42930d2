// Where gridSearch's workers come from, in the node build and from the sources (vitest, tsx):
// worker_threads running gridworker.js (or gridworker.ts through tsx's loader). The default
// (browser) build swaps this file for gridspawn.browser.ts (rollup.config.mjs), whose literal
// `new Worker(new URL('./gridworker.js', import.meta.url), …)` bundlers follow. dist/gridworker.js
// itself keeps this file, so that no bundle of the worker names itself as a worker.

import type { FromWorker, ToWorker } from './gridpool.js';

/** A started worker, as the pool sees it. */
export interface WorkerPort {
  post(msg: ToWorker): void;
  /** Stops the worker; resolves once it is gone. */
  terminate(): Promise<unknown>;
  /** Node: lets the process exit while this worker lives (data-parallel threads kept for reuse). */
  unref?(): void;
}

/** Where the pool's workers come from: the script's URL and how to start one. */
export interface WorkerSource {
  /** The worker script, for messages. */
  readonly url: string;
  /** Starts a worker; throws when it cannot even be created. */
  spawn(onMessage: (m: FromWorker) => void, onExit: (message: string) => void): WorkerPort;
  /** Why the script at `url` may not have started ('' when nothing more is known). */
  explain(): Promise<string>;
}

/**
 * `gridSearch`'s `workerUrl` as a URL: a URL, or a string that is a URL or, in Node, a file path
 * (absolute or relative to the working directory); relative to the page where there is one.
 */
export function resolveWorkerUrl(value: URL | string): URL {
  if (value instanceof URL) return value;
  if (typeof location !== 'undefined') return new URL(value, location.href);
  if (/^[a-z][a-z0-9+.-]+:/i.test(value)) return new URL(value);
  const url = process.getBuiltinModule('node:url');
  const path = process.getBuiltinModule('node:path');
  return url.pathToFileURL(path.resolve(value));
}

/** The workers of one search: `workerUrl` when given, else gridworker.js beside this module. */
export function workerSource(workerUrl?: URL): WorkerSource {
  // From the sources (vitest, tsx) the entry is the .ts sibling; from build/lib or dist, the .js.
  // `base`, not `new URL(…, import.meta.url)`: a bundler that meets this file (in a bundle of
  // dist/gridworker.js) would take a computed name for a folder of files (webpack's empty context).
  const base = import.meta.url;
  const ts = workerUrl === undefined && base.endsWith('.ts');
  const url = workerUrl ?? new URL(ts ? './gridworker.ts' : './gridworker.js', base);
  return {
    url: url.href,
    spawn: (onMessage, onExit) => spawn(url, ts, onMessage, onExit),
    explain: () => Promise.resolve(explain(url)),
  };
}

function spawn(
  url: URL,
  ts: boolean,
  onMessage: (m: FromWorker) => void,
  onExit: (message: string) => void,
): WorkerPort {
  const wt =
    typeof process === 'undefined' ? undefined : process.getBuiltinModule?.('node:worker_threads');
  if (wt) {
    const w = ts ? new wt.Worker(tsxBootstrap(url), { eval: true }) : new wt.Worker(url);
    w.on('message', (m: FromWorker) => onMessage(m));
    w.on('error', (e: Error) => onExit(e.message));
    w.on('exit', (code: number) => onExit(`worker exited with code ${code}`));
    return {
      post: (m) => w.postMessage(m),
      terminate: () => w.terminate(),
      unref: () => w.unref(),
    };
  }
  if (typeof Worker === 'undefined') {
    throw new Error('expected worker_threads or Web Workers, got neither; pass workers: 0');
  }
  const w = new Worker(url, { type: 'module' });
  w.onmessage = (e: MessageEvent<FromWorker>) => onMessage(e.data);
  w.onerror = (e: ErrorEvent) => onExit(e.message || 'the worker script failed to load or run');
  return { post: (m) => w.postMessage(m), terminate: () => Promise.resolve(w.terminate()) };
}

/** For a `file:` URL with no file: says so. */
function explain(url: URL): string {
  const fs = typeof process === 'undefined' ? undefined : process.getBuiltinModule?.('node:fs');
  if (url.protocol !== 'file:' || !fs) return '';
  return fs.existsSync(url) ? '' : 'no such file';
}

/**
 * Worker source that registers tsx's loader, then imports the .ts entry: used when torchlet runs
 * from its TypeScript sources (vitest, tsx), where `--import tsx` is not applied to workers.
 */
function tsxBootstrap(entry: URL): string {
  const mod = process.getBuiltinModule('node:module');
  const url = process.getBuiltinModule('node:url');
  const fs = process.getBuiltinModule('node:fs');
  // The ESM build of tsx's API, found through its package.json exports (require.resolve would
  // give the CJS build, which cannot register the ESM loader from an eval'd worker).
  const pkgPath = mod.createRequire(import.meta.url).resolve('tsx/package.json');
  type Exports = Record<string, { import: { default: string } }>;
  const pkg = JSON.parse(fs.readFileSync(pkgPath, 'utf8')) as { exports: Exports };
  const api = new URL(pkg.exports['./esm/api']!.import.default, url.pathToFileURL(pkgPath)).href;
  const [apiText, entryText] = [JSON.stringify(api), JSON.stringify(entry.href)];
  return `import(${apiText}).then((m) => { m.register(); return import(${entryText}); });`;
}
