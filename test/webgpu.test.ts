// The WebGPU backend in headless Chromium (SwiftShader's adapter on a machine without a GPU):
// every kernel-table entry the GPU runs against the WASM core on the same inputs, every layer and
// loss behind the Module API against WASM, and every case of the PyTorch vector files against
// PyTorch's numbers. GPU_CASES=gemm,conv restricts the kernel cases to those families.
import { copyFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Served, serve } from '../scripts/serve.js';
import { bundleSource } from './browser/bundle-source.js';
import { launchChromium } from './browser/chromium.js';
import type { KernelPage } from './browser/gpu-kernels.js';
import { type ModulesPage, gridCheck } from './browser/gpu-modules.js';
import {
  expectEveryVectorCase,
  expectSameGrid,
  expectVectorsOnGpu,
  expectVectorsWithinTolerance,
} from './gpu/expect.js';
import type { VectorsPage } from './browser/gpu-vectors.js';
import { LOSS_REDUCTIONS_PATH, VECTORS_PATH } from './vectors.js';
import * as tl from '../ts/index.js';

const OUT = 'build/webgpu-test';
const page = (src: string): string =>
  `<!doctype html><meta charset="utf-8"><title>torchlet webgpu</title><script type="module" src="./${src}"></script>`;

let server: Served;
let browser: Awaited<ReturnType<typeof launchChromium>>;
let kernelsPage: KernelPage;
let modulesPage: ModulesPage;
let vectorsPage: VectorsPage;
/** How long a page may run; each describe loads its own page, so one slow page fails only its tests. */
const PAGE_MS = 300_000;

beforeAll(async () => {
  await bundleSource(
    {
      kernels: 'test/browser/gpu-kernels.ts',
      modules: 'test/browser/gpu-modules.ts',
      vectors: 'test/browser/gpu-vectors.ts',
    },
    OUT,
  );
  writeFileSync(`${OUT}/kernels.html`, page('kernels.js'));
  writeFileSync(`${OUT}/modules.html`, page('modules.js'));
  writeFileSync(`${OUT}/vectors.html`, page('vectors.js'));
  // The vectors page fetches the fixture files from the server.
  copyFileSync(VECTORS_PATH, `${OUT}/vectors.txt`);
  copyFileSync(LOSS_REDUCTIONS_PATH, `${OUT}/loss-reductions.txt`);
  server = await serve(OUT);
  browser = await launchChromium(['--enable-unsafe-webgpu']);
}, 120_000);

/**
 * Opens a page, waits for the `__result` it sets, and closes it (a page left running takes CPU).
 * An uncaught error in the page fails the load, so every test that reads the page fails with it.
 */
async function pageResult<T>(path: string): Promise<T> {
  const p = await browser.context.newPage();
  const errors: string[] = [];
  try {
    p.on('pageerror', (e) => errors.push(e.message));
    await p.goto(`${server.url}${path}`);
    await p.waitForFunction(() => '__result' in window, null, { timeout: PAGE_MS });
    const result = await p.evaluate(() => (window as unknown as { __result: unknown }).__result);
    if (errors.length > 0)
      throw new Error(`${path}: uncaught errors in the page: ${errors.join('; ')}`);
    return result as T;
  } finally {
    await p.close();
  }
}

let modulesLoad: Promise<ModulesPage> | undefined;
/** The modules page, loaded once for the two describes that read it. */
async function loadModulesPage(): Promise<void> {
  modulesPage = await (modulesLoad ??= pageResult<ModulesPage>('modules.html'));
}

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('WebGPU kernels against the WASM core', () => {
  beforeAll(async () => {
    const only = process.env.GPU_CASES;
    kernelsPage = await pageResult<KernelPage>(`kernels.html${only ? `?cases=${only}` : ''}`);
  }, PAGE_MS + 20_000);

  it('opens an adapter and runs every case', () => {
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
  beforeAll(loadModulesPage, PAGE_MS + 20_000);

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

  it("trains the report's conv net 5 epochs with fit: the loss curve of the WASM backend; its model file reloads", async () => {
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
    expect(modulesPage.training.reloaded).toBe(modulesPage.training.accuracy);
  });

  it('gridSearch with workers: 0 trains its trials on the GPU: the WASM scores and curves', async () => {
    await tl.init();
    expectSameGrid(modulesPage.grid!, await gridCheck(tl));
  });
});

describe('WebGPU against the PyTorch vectors', () => {
  beforeAll(async () => {
    vectorsPage = await pageResult<VectorsPage>('vectors.html');
  }, PAGE_MS + 20_000);

  it('checks every case of vectors.txt and loss-reductions.txt, none skipped', () => {
    expectEveryVectorCase(vectorsPage);
  });

  it('runs each case on the GPU: only the views (Flatten, Reshape: no kernel) dispatch nothing', () => {
    expectVectorsOnGpu(vectorsPage);
  });

  it('matches PyTorch within the WASM tolerances of test/fixtures.test.ts', () => {
    expectVectorsWithinTolerance(vectorsPage, 'Chromium');
  });
});

describe('what the GPU backend refuses', () => {
  beforeAll(loadModulesPage, PAGE_MS + 20_000);

  it('an unsynced read of an output or its clone (ON_GPU; the clone is made on the GPU), sgd, nonFinite skip and worker threads', () => {
    expect(modulesPage.refusals).toEqual([
      'ON_GPU',
      'ON_GPU',
      'read',
      'clone',
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
    expect(tl.gpuInfo()).toBeNull();
  });
});
