// Bundles test pages that import torchlet from its TypeScript sources (no `npm run build`), with
// the browser build's module swaps, for the WebGPU tests.
import { rmSync } from 'node:fs';
import { rollup } from 'rollup';
import { assetUrls, swapModules, transpileTs } from '../../scripts/rollup-plugins.mjs';

export async function bundleSource(inputs: Record<string, string>, outDir: string): Promise<void> {
  rmSync(outDir, { recursive: true, force: true });
  const bundle = await rollup({
    input: inputs,
    plugins: [
      swapModules({
        // transpileTs resolves './platform.js' to the .ts file: swap by that name.
        'platform.ts': 'platform.browser.ts',
        'gridspawn.ts': 'gridspawn.browser.ts',
        'gridqueue.ts': 'gridqueue.browser.ts',
      }),
      transpileTs(),
      assetUrls(),
    ],
  });
  await bundle.write({ dir: outDir, format: 'es', entryFileNames: '[name].js' });
  await bundle.close();
}
