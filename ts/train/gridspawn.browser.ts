// gridspawn.ts for the default build (browsers, and every bundler, which picks that build): module
// Web Workers. The default worker is created with the literal
// `new Worker(new URL('./gridworker.js', import.meta.url), { type: 'module' })`, the one form Vite
// and webpack 5 follow: they bundle dist/gridworker.js as a worker and rewrite the URL.
// Bundlers that do not (esbuild, plain rollup) leave it pointing next to the bundle, where the app
// copies gridworker.js, or the app passes gridSearch's `workerUrl`.

import type { FromWorker } from './gridpool.js';
import type { WorkerPort, WorkerSource } from './gridspawn.js';

export type { WorkerPort, WorkerSource } from './gridspawn.js';

/** `gridSearch`'s `workerUrl` as a URL: a string is relative to the page (or worker). */
export function resolveWorkerUrl(value: URL | string): URL {
  if (value instanceof URL) return value;
  return typeof location !== 'undefined' ? new URL(value, location.href) : new URL(value);
}

/** The workers of one search: `workerUrl` when given, else the bundled gridworker.js. */
export function workerSource(workerUrl?: URL): WorkerSource {
  // Where the literal below points when no bundler rewrote it, for messages (a bundler that
  // rewrote it put the file elsewhere). Not in the `new URL('…', import.meta.url)` form, which
  // bundlers would take for a second reference to the file (webpack, as an empty context).
  const base = import.meta.url;
  const url = workerUrl?.href ?? new URL('./gridworker.js', base).href;
  return {
    url,
    spawn: (onMessage, onExit) => {
      const w = workerUrl
        ? new Worker(workerUrl, { type: 'module' })
        : new Worker(new URL('./gridworker.js', import.meta.url), { type: 'module' });
      w.onmessage = (e: MessageEvent<FromWorker>) => onMessage(e.data);
      w.onerror = (e: Event) => {
        const message = e instanceof ErrorEvent ? e.message : '';
        onExit(message || 'the worker script failed to load or run');
      };
      return {
        post: (m) => w.postMessage(m),
        terminate: () => Promise.resolve(w.terminate()),
      } satisfies WorkerPort;
    },
    explain: () => probe(url),
  };
}

/** What the server answers for the worker script: a missing file or an HTML page names the cause. */
async function probe(url: string): Promise<string> {
  if (!/^https?:/.test(url)) return '';
  try {
    const r = await fetch(url, { cache: 'no-store' });
    if (!r.ok) return `HTTP ${r.status} ${r.statusText}`.trim();
    const type = r.headers.get('content-type') ?? '';
    if (/text\/html/i.test(type)) return `an HTML page (content-type ${type}), not a script`;
    return '';
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}
