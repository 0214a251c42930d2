// Builds test/bundlers/app with each bundler, through their Node APIs, as a user would with the
// documented setup (README, "Bundlers"): Vite and webpack 5 with no configuration; esbuild and
// rollup with torchlet's files copied, since neither follows `new URL('./file', import.meta.url)`:
// rollup's build has all three next to the bundle, esbuild's puts gridworker.js in workers/, which
// its page passes as gridSearch's `workerUrl` (ESBUILD_QUERY). Each writes `<out>/index.html`.
import { copyFileSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';

/** The bundlers under test. */
export const BUNDLERS = ['vite', 'esbuild', 'rollup', 'webpack'] as const;
export type Bundler = (typeof BUNDLERS)[number];

/** What esbuild and rollup users copy next to their bundle (README, "Bundlers"). */
export const COPIED = ['torchlet.wasm', 'gridworker.js', 'digits.csv.gz'];

/** The esbuild page's query: its gridworker.js is not next to the bundle. */
export const ESBUILD_QUERY = '?workerUrl=./workers/gridworker.js';

const APP_FILES = new URL('./app/', import.meta.url);

/** Copies the app's sources (main.js, index.html) into the installed app folder. */
export function writeApp(app: string): void {
  for (const f of ['main.js', 'index.html']) copyFileSync(new URL(f, APP_FILES), join(app, f));
}

/**
 * Builds the app in `app` with `bundler` into `out`; `copy: false` skips the copying step of
 * esbuild and rollup (what a user who missed it gets).
 */
export async function buildWith(
  bundler: Bundler,
  app: string,
  out: string,
  { copy = true }: { copy?: boolean } = {},
): Promise<void> {
  mkdirSync(out, { recursive: true });
  if (bundler === 'vite') {
    const { build } = await import('vite');
    await build({
      root: app,
      configFile: false,
      logLevel: 'error',
      build: { outDir: out, emptyOutDir: true },
    });
    return;
  }
  copyFileSync(join(app, 'index.html'), join(out, 'index.html'));
  if (bundler === 'esbuild') {
    const esbuild = await import('esbuild');
    await esbuild.build({
      absWorkingDir: app,
      entryPoints: ['main.js'],
      bundle: true,
      format: 'esm',
      minify: true,
      outdir: out,
      logLevel: 'error',
    });
    if (copy) copyTorchletFiles(app, out, { 'gridworker.js': 'workers/gridworker.js' });
  } else if (bundler === 'rollup') {
    const { rollup } = await import('rollup');
    const { nodeResolve } = await import('@rollup/plugin-node-resolve');
    const bundle = await rollup({
      input: join(app, 'main.js'),
      plugins: [nodeResolve({ browser: true, rootDir: app })],
    });
    await bundle.write({ dir: out, format: 'es' });
    await bundle.close();
    if (copy) copyTorchletFiles(app, out);
  } else {
    const webpack = (await import('webpack')).default;
    const compiler = webpack({
      mode: 'production',
      context: app,
      entry: './main.js',
      output: { path: out, filename: 'main.js' },
      performance: { hints: false },
    });
    await new Promise<void>((resolve, reject) => {
      compiler.run((err, stats) => {
        compiler.close(() => undefined);
        if (err) reject(err);
        else if (stats?.hasErrors()) reject(new Error(stats.toString('errors-only')));
        else resolve();
      });
    });
  }
}

/** The README's step for esbuild and rollup: torchlet's files next to the bundle, or at `moved`. */
function copyTorchletFiles(app: string, out: string, moved: Record<string, string> = {}): void {
  for (const f of COPIED) {
    const to = join(out, moved[f] ?? f);
    mkdirSync(dirname(to), { recursive: true });
    copyFileSync(join(app, 'node_modules/torchlet/dist', f), to);
  }
}

/** Bytes of each file the build wrote (raw and gzipped), by path under `out`. */
export function sizes(out: string): Record<string, { bytes: number; gzip: number }> {
  const walk = (d: string): string[] =>
    readdirSync(d).flatMap((f) =>
      statSync(join(d, f)).isDirectory() ? walk(join(d, f)) : [join(d, f)],
    );
  return Object.fromEntries(
    walk(out).map((f) => {
      const data = readFileSync(f);
      return [relative(out, f), { bytes: data.length, gzip: gzipSync(data).length }];
    }),
  );
}
