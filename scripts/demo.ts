// `npm run demo`: builds the package (npm run build), bundles web/ against it into build/demo,
// and serves that on 127.0.0.1 (port 8080, or the first argument; 0 picks a free one).
// `bundleForBrowser` is also how the browser tests build their pages.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { rollup } from 'rollup';
import { alias, assetUrls, transpileTs } from './rollup-plugins.mjs';
import { serve } from './serve.js';

/**
 * Bundles browser entries (TypeScript) into `outDir`. By default 'torchlet' is bundled in from
 * dist/index.js, the build a browser bundler picks, and the files it loads (torchlet.wasm,
 * digits.csv.gz) are copied beside the bundle; with `external` the import stays `'torchlet'`, for
 * a page that maps it to the unbundled dist/ with an import map.
 * @param inputs Output name -> entry file, e.g. `{ main: 'web/main.ts' }` writes main.js.
 */
export async function bundleForBrowser(
  inputs: Record<string, string>,
  outDir: string,
  options: { external?: boolean } = {},
): Promise<void> {
  if (!existsSync('dist/index.js'))
    throw new Error('dist/index.js is missing: run `npm run build` first');
  rmSync(outDir, { recursive: true, force: true });
  const bundle = await rollup({
    input: inputs,
    external: options.external ? ['torchlet'] : [],
    plugins: [
      transpileTs(),
      alias(options.external ? {} : { torchlet: 'dist/index.js' }),
      assetUrls(),
    ],
  });
  await bundle.write({
    dir: outDir,
    format: 'es',
    entryFileNames: '[name].js',
    chunkFileNames: '[name]-[hash].js',
  });
  await bundle.close();
}

/** Builds the demo site into `outDir` (needs dist/: run `npm run build` first). */
export async function buildDemo(outDir = 'build/demo'): Promise<string> {
  await bundleForBrowser({ main: 'web/main.ts', worker: 'web/worker.ts' }, outDir);
  mkdirSync(outDir, { recursive: true });
  copyFileSync('web/index.html', join(outDir, 'index.html'));
  // The threads of data-parallel training: worker.js (torchlet bundled in) starts them from
  // new URL('./gridworker.js', import.meta.url), which this bundler leaves as it is.
  copyFileSync('dist/gridworker.js', join(outDir, 'gridworker.js'));
  return outDir;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const built = spawnSync('npm', ['run', 'build'], { stdio: 'inherit' });
  if (built.status !== 0) process.exit(built.status ?? 1);
  const dir = await buildDemo();
  const { url } = await serve(dir, { port: Number(process.argv[2] ?? 8080) });
  console.log(`torchlet demo: ${url}  (serving ${dir}; Ctrl-C stops)`);
}
