// The WebGPU backend in headless Chromium (SwiftShader's adapter on a machine without a GPU):
// every kernel-table entry the GPU runs against the WASM core on the same inputs.
// GPU_CASES=gemm,conv restricts the kernel cases to those families.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Served, serve } from '../scripts/serve.js';
import { bundleSource } from './browser/bundle-source.js';
import { launchChromium } from './browser/chromium.js';
import type { KernelPage } from './browser/gpu-kernels.js';
import type { ModulesPage } from './browser/gpu-modules.js';
import * as tl from '../ts/index.js';

const OUT = 'build/webgpu-test';
const page = (src: string): string =>
  `<!doctype html><meta charset="utf-8"><title>torchlet webgpu</title><script type="module" src="./${src}"></script>`;

let server: Served;
let browser: Awaited<ReturnType<typeof launchChromium>>;
let kernelsPage: KernelPage;
let modulesPage: ModulesPage;
const pageErrors: string[] = [];

beforeAll(async () => {
  await bundleSource(
    { kernels: 'test/browser/gpu-kernels.ts', modules: 'test/browser/gpu-modules.ts' },
    OUT,
  );
  writeFileSync(`${OUT}/kernels.html`, page('kernels.js'));
  writeFileSync(`${OUT}/modules.html`, page('modules.js'));
  server = await serve(OUT);
  browser = await launchChromium(['--enable-unsafe-webgpu']);
  const p = await browser.context.newPage();
  p.on('pageerror', (e) => pageErrors.push(e.message));
  const only = process.env.GPU_CASES;
  await p.goto(`${server.url}kernels.html${only ? `?cases=${only}` : ''}`);
  await p.waitForFunction(() => '__result' in window, null, { timeout: 300_000 });
  kernelsPage = (await p.evaluate(
    () => (window as unknown as { __result: unknown }).__result,
  )) as KernelPage;
  const q = await browser.context.newPage();
  q.on('pageerror', (e) => pageErrors.push(e.message));
  await q.goto(`${server.url}modules.html`);
  await q.waitForFunction(() => '__result' in window, null, { timeout: 300_000 });
  modulesPage = (await q.evaluate(
    () => (window as unknown as { __result: unknown }).__result,
  )) as ModulesPage;
}, 400_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('WebGPU kernels against the WASM core', () => {
  it('opens an adapter and runs every case', () => {
    expect(pageErrors).toEqual([]);
    expect(kernelsPage.error).toBeUndefined();
    expect(kernelsPage.adapter.vendor).not.toBe('');
    expect(kernelsPage.results.length).toBeGreaterThan(0);
  });

  it('has a case for every entry the GPU runs', () => {
    if (process.env.GPU_CASES) return;
    const covered = new Set(kernelsPage.results.map((r) => r.kernel));
    expect(kernelsPage.gpuEntries.filter((e) => !covered.has(e))).toEqual([]);
  });

  it('agrees with the WASM core within each case tolerance', () => {
    const bad = kernelsPage.results.filter((r) => r.error !== undefined || !(r.err <= r.tol));
    expect(
      bad.map((r) => `${r.family}: ${r.name}: err ${r.err} (tol ${r.tol}) ${r.error ?? ''}`),
    ).toEqual([]);
  });
});

describe('WebGPU behind the Module API', () => {
  it('runs every layer of the table: forward and both backward passes as in WASM', () => {
    expect(modulesPage.error).toBeUndefined();
    expect(modulesPage.modules.length).toBeGreaterThan(20);
    const bad = modulesPage.modules.filter((d) => !(d.err <= 1e-5));
    expect(bad).toEqual([]);
  });

  it('runs every loss and reduction: forward (read back) and backward as in WASM', () => {
    expect(modulesPage.losses.length).toBe(12);
    const bad = modulesPage.losses.filter((d) => !(d.err <= 1e-5));
    expect(bad).toEqual([]);
  });

  it("trains the report's conv net 5 epochs with fit: the loss curve of the WASM backend", async () => {
    expect(modulesPage.training.error).toBeUndefined();
    await tl.init();
    const { train, test } = await tl.loadDigits();
    const { net, inputShape } = tl.preset('conv1d', { seed: 1 });
    const history = await tl.fit(
      net,
      { x: tl.asSamples(train.x, inputShape), y: train.y },
      new tl.LogSoftmaxCrossEntropy(),
      { batchSize: 32, epochs: 5, step: 0.05, seed: 1, workers: 1 },
    );
    const accuracy = tl.accuracy(net, { x: tl.asSamples(test.x, inputShape), y: test.y });
    net.dispose();
    const got = modulesPage.training.loss;
    expect(got.length).toBe(5);
    history.loss.forEach((want, i) => expect(Math.abs(got[i]! - want) / want).toBeLessThan(1e-3));
    expect(Math.abs(modulesPage.training.accuracy - accuracy)).toBeLessThanOrEqual(0.01);
  });
});

describe('what the GPU backend refuses', () => {
  it('an unsynced read (ON_GPU), sgd, nonFinite skip and worker threads', () => {
    expect(modulesPage.refusals).toEqual([
      'ON_GPU',
      'read',
      'BAD_ARGUMENT',
      'BAD_ARGUMENT',
      'BAD_ARGUMENT',
    ]);
  });
});

describe('choosing the backend', () => {
  it('refuses an unknown backend and a second init asking for another one', async () => {
    await tl.init();
    await expect(tl.init({ backend: 'cuda' as never })).rejects.toMatchObject({
      code: 'BAD_ARGUMENT',
      message: expect.stringContaining("expected backend 'wasm' or 'webgpu', got 'cuda'"),
    });
    await expect(tl.init({ backend: 'webgpu' })).rejects.toMatchObject({
      code: 'BAD_ARGUMENT',
      message: expect.stringContaining('already initialized'),
    });
    expect(tl.backend()).toBe('wasm');
    // The WASM backend: sync is a no-op and no loss is deferred.
    await tl.sync();
    expect(await tl.readLosses()).toEqual(new Float32Array(0));
  });

  it('says NO_GPU where there is no WebGPU (Node 20 has no navigator.gpu)', () => {
    const code = `import { init } from './ts/index.ts';
try { await init({ backend: 'webgpu' }); console.log('no error'); }
catch (e) { console.log(e.code + ': ' + e.message); }`;
    const out = execFileSync('npx', ['tsx', '--input-type=module', '-e', code], {
      encoding: 'utf8',
    });
    expect(out).toContain('NO_GPU: init: expected WebGPU (navigator.gpu)');
  });
});
