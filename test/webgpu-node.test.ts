// The WebGPU backend in Node, through the optional peer dependency `webgpu` (Dawn's Node binding).
// Machines of this project's kind have no GPU, and Debian's own Vulkan driver (lavapipe) lacks
// features Dawn requires; Debian's Chromium package ships SwiftShader's Vulkan driver and a Vulkan
// loader (/usr/lib/chromium), which Dawn accepts. With them, the same checks as the browser page
// (test/browser/gpu-modules.ts, gpu-kernels.ts, gpu-vectors.ts) run in a Node child process; without a Vulkan
// driver, init names what is missing. (Without the package: test/cli-package.test.ts.) Training
// here is the grid search's MLPs with fit: the browser test's 5-epoch conv net takes minutes on
// this driver (one epoch: 94 s, measured on a busy 2-core machine).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import * as tl from '../ts/index.js';
import type { KernelPage } from './browser/gpu-kernels.js';
import { type ModulesPage, gridCheck } from './browser/gpu-modules.js';
import type { VectorsPage } from './browser/gpu-vectors.js';
import {
  expectEveryVectorCase,
  expectSameGrid,
  expectVectorsOnGpu,
  expectVectorsWithinTolerance,
} from './gpu/expect.js';

const CHROMIUM_LIB = '/usr/lib/chromium';
const ICD = `${CHROMIUM_LIB}/vk_swiftshader_icd.json`;

/** The environment for Dawn: SwiftShader's Vulkan driver and Chromium's loader, or none. */
function vulkanEnv(driver: boolean): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.LD_LIBRARY_PATH;
  env.VK_ICD_FILENAMES = driver ? ICD : '/nonexistent/icd.json';
  if (driver) env.LD_LIBRARY_PATH = CHROMIUM_LIB;
  return env;
}

/** Runs test/gpu/node-run.ts in a child process; its last stdout line is the JSON result. */
async function nodeRun(args: string[], driver: boolean): Promise<unknown> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', 'test/gpu/node-run.ts', ...args],
    { env: vulkanEnv(driver), maxBuffer: 64 << 20, timeout: 300_000 },
  );
  return JSON.parse(stdout.trim().split('\n').pop()!);
}

let modules: ModulesPage;
let kernels: KernelPage;
let vectors: VectorsPage;

beforeAll(async () => {
  // Chromium (scripts/setup-tools.sh installs it) is where the driver comes from.
  expect(existsSync(ICD), `${ICD} (Debian's chromium package)`).toBe(true);
  // One after the other: each child takes both cores.
  modules = (await nodeRun(['modules', 'no-training'], true)) as ModulesPage;
  kernels = (await nodeRun(['kernels', process.env.GPU_CASES ?? ''], true)) as KernelPage;
  vectors = (await nodeRun(['vectors'], true)) as VectorsPage;
}, 960_000);

describe('WebGPU in Node (the webgpu package, SwiftShader Vulkan)', () => {
  it('opens the adapter and runs every kernel case as the browser does', () => {
    expect(kernels.error).toBeUndefined();
    expect(kernels.adapter).toEqual({ vendor: 'google', architecture: 'swiftshader' });
    expect(kernels.results.length).toBeGreaterThan(process.env.GPU_CASES ? 0 : 400);
    const bad = kernels.results.filter((r) => r.error !== undefined || !(r.err <= r.tol));
    expect(bad.map((r) => `${r.family}: ${r.name}: err ${r.err} (tol ${r.tol})`)).toEqual([]);
  });

  it('runs every layer and loss: forward and both backward passes as in WASM', () => {
    expect(modules.error).toBeUndefined();
    expect(modules.modules.length).toBeGreaterThan(20);
    expect(modules.modules.filter((d) => !(d.err <= 1e-5))).toEqual([]);
    expect(modules.losses.length).toBe(12);
    expect(modules.losses.filter((d) => !(d.err <= 1e-5))).toEqual([]);
    expect(modules.refusals).toEqual([
      'ON_GPU',
      'ON_GPU',
      'read',
      'clone',
      'BAD_ARGUMENT',
      'BAD_ARGUMENT',
      'BAD_ARGUMENT',
    ]);
  });

  it('runs every PyTorch vector case on the GPU, within the WASM tolerances', () => {
    expectEveryVectorCase(vectors);
    expectVectorsOnGpu(vectors);
    expectVectorsWithinTolerance(vectors, 'Node');
  });

  it('gridSearch with workers: 0 trains its trials on the GPU: the WASM scores and curves', async () => {
    await tl.init();
    const want = await gridCheck(tl);
    expectSameGrid(modules.grid!, want);
  });

  it('names the adapter: gpuInfo() (null on the WASM backend)', async () => {
    await tl.init();
    expect(tl.gpuInfo()).toBeNull();
    const r = (await nodeRun(['init'], true)) as { backend: string; info: tl.GpuInfo };
    expect(r.backend).toBe('webgpu');
    expect(r.info).toMatchObject({ vendor: 'google', architecture: 'swiftshader' });
    expect(r.info.description).toMatch(/SwiftShader/);
  });

  it('without a Vulkan driver: NO_GPU naming what Dawn needs, nothing else', async () => {
    const r = (await nodeRun(['init'], false)) as { code?: string; message?: string };
    expect(r.code).toBe('NO_GPU');
    expect(r.message).toMatch(/'webgpu' package \(Dawn\) found no usable GPU.*libvulkan\.so\.1/);
  });
});
