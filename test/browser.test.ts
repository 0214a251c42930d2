// The library's core checks in headless Chromium, against dist/ as shipped: the page maps
// 'torchlet' to an unbundled copy of dist/ with an import map (the plain <script type="module">
// case; the demo test covers a bundler), so dist/index.js fetches torchlet.wasm relative to
// itself. An HTML page served for the .wasm is named with its fix, every exported module and loss
// passes gradCheck, and the seeded conv-net run gives the same loss history, bit for bit, as the
// node build in this process. The page is cross-origin isolated (scripts/serve.ts sends COOP/COEP),
// so data-parallel training runs on Web Workers, again bit for bit as in Node; a second server
// without those headers shows the fallback to one worker.
// Needs Debian's chromium (apt-get install -y chromium).
import { cpSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleForBrowser } from '../scripts/demo.js';
import { type Served, serve } from '../scripts/serve.js';
import { launchChromium } from './browser/chromium.js';
import {
  type CoreResults,
  type ParallelResults,
  dataParallel,
  runCoreChecks,
} from './browser/core-checks.js';
import { expectFreshDist } from './browser/dist-check.js';

const OUT = 'build/browser-test';
const HTML = `<!doctype html><meta charset="utf-8"><title>torchlet core</title>
<script type="importmap">{ "imports": { "torchlet": "./torchlet/index.js" } }</script>
<script type="module" src="./page.js"></script>`;

interface GridResult {
  rows?: Array<{ mean: number; error: string | null; workers: number[] }>;
  error?: string;
}
type PageResult = CoreResults & {
  htmlError: string;
  error?: string;
  grid: GridResult;
  parallel: ParallelResults & { error?: string };
};
interface FallbackResult {
  isolated: boolean;
  workers: number[];
  started: number;
  error?: string;
}

let server: Served;
let browser: Awaited<ReturnType<typeof launchChromium>>;
let result: PageResult;
const pageErrors: string[] = [];
let plain: Served;
let fallback: FallbackResult;
const fallbackWarnings: string[] = [];

beforeAll(async () => {
  expectFreshDist();
  await bundleForBrowser(
    { page: 'test/browser/page.ts', fallback: 'test/browser/fallback.ts' },
    OUT,
    { external: true },
  );
  cpSync('dist', `${OUT}/torchlet`, { recursive: true });
  writeFileSync(`${OUT}/index.html`, HTML);
  writeFileSync(`${OUT}/fallback.html`, HTML.replace('./page.js', './fallback.js'));
  // Unknown paths get index.html with status 200, like a misconfigured single-page-app host.
  server = await serve(OUT, { fallback: 'index.html' });
  browser = await launchChromium();
  const page = await browser.context.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(server.url);
  await page.waitForFunction(() => '__result' in window, null, { timeout: 120_000 });
  result = (await page.evaluate(
    () => (window as unknown as { __result: unknown }).__result,
  )) as PageResult;
  // The same files from a server without the isolation headers: no SharedArrayBuffer there.
  plain = await serve(OUT, { isolated: false });
  const other = await browser.context.newPage();
  other.on('console', (m) => {
    if (m.type() === 'warning') fallbackWarnings.push(m.text());
  });
  await other.goto(`${plain.url}fallback.html`);
  await other.waitForFunction(() => '__result' in window, null, { timeout: 60_000 });
  fallback = (await other.evaluate(
    () => (window as unknown as { __result: unknown }).__result,
  )) as FallbackResult;
}, 150_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await plain?.close();
});

describe('torchlet in headless Chromium (dist/index.js, unbundled)', () => {
  it('runs without page errors', () => {
    expect(result.error).toBeUndefined();
    expect(pageErrors).toEqual([]);
  });

  it('runs a grid search on two Web Workers, each with its own WASM instance', () => {
    expect(result.grid.error).toBeUndefined();
    const rows = result.grid.rows!;
    expect(rows).toHaveLength(2);
    for (const r of rows) {
      expect(r.error).toBeNull();
      expect(r.mean).toBeGreaterThan(0.5); // chance is 0.1
    }
    expect(new Set(rows.flatMap((r) => r.workers)).size).toBe(2);
  });

  it('names an HTML page served instead of torchlet.wasm, and how to fix it', () => {
    expect(result.htmlError).toMatch(
      /^init: expected WebAssembly bytes from http:\/\/127\.0\.0\.1:\d+\/no-such\.wasm, got an HTML page/,
    );
    expect(result.htmlError).toMatch(/optimizeDeps: \{ exclude: \['torchlet'\] \}/);
    expect(result.htmlError).toMatch(/init\(\{ wasm: url \}\)/);
  });

  it('passes gradCheck for every exported module and loss', () => {
    expect(result.uncovered).toEqual([]);
    expect(result.checks.length).toBeGreaterThanOrEqual(16);
    const failed = result.checks
      .filter((c) => !c.ok)
      .map((c) => `${c.name}: ${c.failures.join('; ')}`);
    expect(failed).toEqual([]);
  });

  it('trains the conv net to the same losses as Node, bit for bit', async () => {
    const { loss, accuracy } = result.training;
    expect(loss).toHaveLength(5);
    expect(loss.every(Number.isFinite)).toBe(true);
    expect(loss[4]!).toBeLessThan(loss[0]! / 3);
    expect(accuracy).toBeGreaterThanOrEqual(0.9);
    expect(result.wasmBytes).toBeGreaterThan(0);
    expect(result.training.weights).toMatch(/^[0-9a-f]{8}$/); // compared with Node's below, with the losses
    const node = (await import(
      '../dist/index.node.js' as string
    )) as typeof import('../ts/index.js');
    await node.init();
    expect((await runCoreChecks(node)).training).toEqual(result.training);
  });

  it('trains data-parallel on Web Workers in an isolated page, bit for bit as Node', async () => {
    const p = result.parallel;
    expect(p.error).toBeUndefined();
    expect(p.isolated).toBe(true);
    expect(p.unstarted).toMatch(/await startWorkers\(2\) first \(fit does it itself\)/);
    expect(p.started).toBe(2);
    expect(p.sgd.workers).toBe(2);
    expect(p.sgd.loss.every(Number.isFinite)).toBe(true);
    const node = (await import(
      '../dist/index.node.js' as string
    )) as typeof import('../ts/index.js');
    await node.init();
    const inNode = (await dataParallel(node)) as ParallelResults;
    expect(p.sgd).toEqual(inNode.sgd);
    expect(p.fit).toEqual(inNode.fit);
    await node.stopWorkers();
  });

  it('falls back to one worker without cross-origin isolation, and says why once', () => {
    expect(fallback.error).toBeUndefined();
    expect(fallback.isolated).toBe(false);
    expect(fallback.workers).toEqual([1, 1]);
    expect(fallback.started).toBe(1);
    expect(fallbackWarnings).toHaveLength(1);
    expect(fallbackWarnings[0]).toMatch(
      /training on 1 worker: SharedArrayBuffer needs a cross-origin isolated page.*Cross-Origin-Opener-Policy: same-origin/,
    );
  });
});
