// torchlet in the bundlers users build browser apps with (issue 15): the packed tarball installed
// into a fresh app (test/bundlers/app: init, fetchDigits, a short training, gridSearch on two Web
// Workers, and a gridSearch whose worker script is missing), built with Vite, esbuild, rollup and
// webpack 5 through their Node APIs, and run in headless Chromium from 127.0.0.1; then the same app
// on Vite's dev server, which sends digits.csv.gz with `Content-Encoding: gzip`. Vite and webpack
// need no configuration; esbuild and rollup get torchlet's three files copied next to the bundle
// (test/bundlers/build.ts, as the README says). Prints each build's file sizes.
// Needs Debian's chromium (apt-get install -y chromium).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Served, serve } from '../scripts/serve.js';
import { launchChromium } from './browser/chromium.js';
import { expectFreshDist } from './browser/dist-check.js';
import {
  BUNDLERS,
  type Bundler,
  ESBUILD_QUERY,
  buildWith,
  sizes,
  writeApp,
} from './bundlers/build.js';
import { packAndInstall } from './bundlers/pack.js';

type Target = Bundler | 'vite dev' | 'esbuild, nothing copied';

interface AppResult {
  error?: string;
  digits: number[];
  loss: number[];
  accuracy: number;
  grid: Array<{ scores: number[]; mean: number; error: string | null; workers: number[] }>;
  missingWorker: { name?: string; code?: string; message?: string; resolved?: unknown[] };
}

interface Outcome {
  buildError?: string;
  result?: AppResult;
  pageErrors: string[];
}

let tmp = '';
let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;
const servers: Array<{ close(): Promise<void> }> = [];
const outcomes = new Map<Target, Outcome>();
const built = new Map<Bundler, Record<string, { bytes: number; gzip: number }>>();

/** A free port on 127.0.0.1 (Vite's dev server takes a fixed one). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Starts Vite's dev server on the app, with no configuration. */
async function viteDev(app: string): Promise<Served> {
  const { createServer } = await import('vite');
  const port = await freePort();
  const server = await createServer({
    root: app,
    configFile: false,
    logLevel: 'error',
    cacheDir: join(tmp, 'vite-cache'),
    server: { host: '127.0.0.1', port, strictPort: true },
  });
  await server.listen();
  return {
    url: `http://127.0.0.1:${port}/`,
    server: server.httpServer!,
    close: () => server.close(),
  } as Served;
}

/** Opens `url` in a fresh page and waits for the app's window.__result. */
async function runPage(url: string): Promise<Pick<Outcome, 'result' | 'pageErrors'>> {
  const page = await browser!.context.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  try {
    await page.goto(url);
    await page.waitForFunction(() => '__result' in window, null, { timeout: 90_000 });
    const result = (await page.evaluate(
      () => (window as unknown as { __result: unknown }).__result,
    )) as AppResult;
    return { result, pageErrors };
  } catch (e) {
    return { pageErrors: [...pageErrors, `no result: ${(e as Error).message}`] };
  } finally {
    await page.close();
  }
}

beforeAll(async () => {
  expectFreshDist();
  tmp = mkdtempSync(join(tmpdir(), 'torchlet-bundlers-'));
  const app = await packAndInstall(tmp);
  writeApp(app);
  browser = await launchChromium();
  const builds = BUNDLERS.map(async (b): Promise<[Target, string]> => {
    const out = join(tmp, 'out', b);
    try {
      await buildWith(b, app, out);
    } catch (e) {
      return [b, `build failed: ${(e as Error).message}`];
    }
    built.set(b, sizes(out));
    const served = await serve(out);
    servers.push(served);
    return [b, served.url + (b === 'esbuild' ? ESBUILD_QUERY : '')];
  });
  const bare = (async (): Promise<[Target, string]> => {
    const out = join(tmp, 'out', 'esbuild-bare');
    await buildWith('esbuild', app, out, { copy: false });
    const served = await serve(out);
    servers.push(served);
    return ['esbuild, nothing copied', served.url];
  })();
  const dev = viteDev(app).then((s): [Target, string] => {
    servers.push(s);
    return ['vite dev', s.url];
  });
  const runs = [...builds, bare, dev].map(async (p) => {
    const [target, url] = await p;
    if (!url.startsWith('http')) outcomes.set(target, { buildError: url, pageErrors: [] });
    else outcomes.set(target, await runPage(url));
  });
  await Promise.all(runs);
  const table = Object.fromEntries(
    [...built].map(([b, files]) => [
      b,
      Object.entries(files)
        .filter(([f]) => !f.endsWith('.html'))
        .map(([f, s]) => `${f} ${s.bytes} B (gzip ${s.gzip} B)`)
        .join(', '),
    ]),
  );
  console.log('bundle sizes:', JSON.stringify(table, null, 1));
}, 170_000);

afterAll(async () => {
  await browser?.close();
  await Promise.all(servers.map((s) => s.close()));
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe.each([...BUNDLERS, 'vite dev'] as Target[])('the app built with %s', (target) => {
  const outcome = (): Outcome => outcomes.get(target)!;

  it('builds and runs without page errors', () => {
    expect(outcome().buildError).toBeUndefined();
    expect(outcome().pageErrors).toEqual([]);
    expect(outcome().result?.error).toBeUndefined();
  });

  it('loads the wasm, fetches the digits and trains', () => {
    const r = outcome().result!;
    expect(r.digits).toEqual([1438, 359]);
    expect(r.loss).toHaveLength(3);
    expect(r.loss.every(Number.isFinite)).toBe(true);
    expect(r.loss[2]!).toBeLessThan(r.loss[0]!);
    expect(r.accuracy).toBeGreaterThan(0.5); // chance is 0.1
  });

  it('runs gridSearch on two Web Workers: finite scores, no error', () => {
    const rows = outcome().result!.grid;
    expect(rows).toHaveLength(2);
    for (const row of rows) {
      expect(row.error).toBeNull();
      expect(row.scores).toHaveLength(2);
      expect(row.scores.every(Number.isFinite)).toBe(true);
      expect(row.mean).toBeGreaterThan(0.3);
    }
    expect(new Set(rows.flatMap((r) => r.workers))).toEqual(new Set([1, 2]));
  });

  it('throws a BAD_FILE TorchletError naming a missing worker script, not NaN rows', () => {
    const e = outcome().result!.missingWorker;
    expect(e.resolved).toBeUndefined();
    expect(e.name).toBe('TorchletError');
    expect(e.code).toBe('BAD_FILE');
    expect(e.message).toMatch(
      /^gridSearch: expected the worker script at http:\/\/127\.0\.0\.1:\d+\/no-such-gridworker\.js to start, got /,
    );
    // A static server says 404; Vite's dev server answers with its index.html.
    expect(e.message).toMatch(target === 'vite dev' ? /got an HTML page/ : /got HTTP 404/);
    expect(e.message).toMatch(/gridSearch\(\.\.\., \{ workerUrl \}\)/);
  });
});

describe('dist/ as bundlers meet it', () => {
  it("index.js starts workers with the literal form bundlers follow; gridworker.js doesn't", () => {
    const literal = "new Worker(new URL('./gridworker.js', import.meta.url), { type: 'module' })";
    const code = (f: string): string =>
      readFileSync(`dist/${f}`, 'utf8').replace(/^\s*\/\/.*$/gm, ''); // comments aside
    expect(code('index.js')).toContain(literal);
    // A worker that names itself as a worker is a circular worker import (Vite refuses it).
    expect(code('gridworker.js')).not.toContain(literal);
    expect(code('gridworker.js')).not.toMatch(/^import\s/m); // one self-contained file
  });
});

describe('the app built with esbuild, torchlet.wasm not copied next to the bundle', () => {
  it('fails at init, naming the URL and both fixes', () => {
    const { result, pageErrors } = outcomes.get('esbuild, nothing copied')!;
    expect(pageErrors).toEqual([]);
    expect(result!.error).toMatch(
      /^TorchletError: init: expected torchlet\.wasm at http:\/\/127\.0\.0\.1:\d+\/torchlet\.wasm, got HTTP 404/,
    );
    expect(result!.error).toContain('need torchlet/dist/torchlet.wasm copied next to the bundle');
    expect(result!.error).toContain('or pass init({ wasm })');
  });
});
