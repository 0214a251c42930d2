// The WebGPU pages' checks in Node, through the optional `webgpu` package (Dawn's Node binding):
// `tsx test/gpu/node-run.ts kernels [families] | modules [no-training] | vectors | init` prints the page's result as JSON
// on stdout. test/webgpu-node.test.ts runs it in a child process, because where Dawn finds its
// Vulkan loader and driver (LD_LIBRARY_PATH, VK_ICD_FILENAMES) is read when the process starts.
import { readFileSync } from 'node:fs';
import { backend, gpuInfo, init } from '../../ts/index.js';
import { runKernelCases } from '../browser/gpu-kernels.js';
import { runModuleChecks } from '../browser/gpu-modules.js';
import { VECTOR_FILES, runVectorChecks } from '../browser/gpu-vectors.js';
import { LOSS_REDUCTIONS_PATH, VECTORS_PATH } from '../vectors.js';

const [what, only] = process.argv.slice(2);

async function main(): Promise<unknown> {
  if (what === 'kernels') return runKernelCases(only ?? null);
  if (what === 'modules') return runModuleChecks({ training: only !== 'no-training' });
  if (what === 'vectors') {
    const paths: Record<(typeof VECTOR_FILES)[number], URL> = {
      'vectors.txt': VECTORS_PATH,
      'loss-reductions.txt': LOSS_REDUCTIONS_PATH,
    };
    return runVectorChecks(
      Object.fromEntries(VECTOR_FILES.map((f) => [f, readFileSync(paths[f], 'utf8')])),
    );
  }
  if (what === 'init') {
    try {
      await init({ backend: 'webgpu' });
      return { backend: backend(), info: gpuInfo() };
    } catch (e) {
      const err = e as { code?: string; message?: string };
      return { code: err.code, message: err.message };
    }
  }
  throw new Error(`node-run: expected kernels, modules, vectors or init, got ${String(what)}`);
}

process.stdout.write(`${JSON.stringify(await main())}\n`);
