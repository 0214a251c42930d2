// `npm run build`: tsc compiles ts/ to build/lib (JS and .d.ts), then rollup bundles that into dist/:
//   dist/index.node.js   the `node` export condition: reads torchlet.wasm and the digits from disk
//   dist/index.js        the `default` condition (browsers, workers, Deno, Bun, bundlers): fetches them
//   dist/gridworker.js   gridSearch's worker (Node worker_threads and Web Workers; it is handed the
//                        compiled WASM module, so it never loads files)
//   dist/queueworker.js  a grid worker's trial process (`torchlet worker` forks it; Node only)
//   dist/cli.js          the `torchlet` command (bin), on top of index.node.js
//   dist/torchlet.wasm, dist/digits.csv.gz   the files the bundles load with new URL('./…', import.meta.url)
//   dist/**/*.d.ts       the types, copied from build/lib
// The node and default bundles differ only in ts/core/platform.ts, ts/train/gridspawn.ts and
// ts/train/gridqueue.ts, which the default build swaps for their .browser.ts twins (so no browser
// bundle names bullmq or ioredis, the optional peer dependencies a queue imports in Node). gridspawn.browser.ts holds the literal
// `new Worker(new URL('./gridworker.js', import.meta.url), { type: 'module' })` that Vite and
// webpack follow; it points at dist/gridworker.js from dist/index.js as from
// build/lib/train/gridspawn.browser.js. The worker bundle keeps gridspawn.ts, so no bundler meets
// a worker that names itself as a worker (Vite refuses that as a circular worker import).
import { resolve } from 'node:path';
import { assetUrls, copyTypes, swapModules } from './scripts/rollup-plugins.mjs';

const assets = () => assetUrls({ sourceDirs: { 'build/lib': 'ts' } });
const browser = () =>
  swapModules({
    'platform.js': 'platform.browser.js',
    'gridspawn.js': 'gridspawn.browser.js',
    'gridqueue.js': 'gridqueue.browser.js',
  });
const browserWorker = () =>
  swapModules({ 'platform.js': 'platform.browser.js', 'gridqueue.js': 'gridqueue.browser.js' });
const library = resolve('build/lib/index.js');
// Imported dynamically, and only by a search or worker with a queue, or by init({ backend:
// 'webgpu' }) in Node.
const optional = ['bullmq', 'ioredis', 'webgpu'];

export default [
  {
    input: 'build/lib/index.js',
    external: optional,
    output: { file: 'dist/index.node.js', format: 'es' },
    plugins: [assets(), copyTypes('build/lib')],
  },
  {
    input: 'build/lib/index.js',
    output: { file: 'dist/index.js', format: 'es' },
    plugins: [browser(), assets()],
  },
  {
    input: 'build/lib/train/gridworker.js',
    output: { file: 'dist/gridworker.js', format: 'es' },
    plugins: [browserWorker(), assets()],
  },
  {
    input: 'build/lib/train/queueworker.js',
    external: optional,
    output: { file: 'dist/queueworker.js', format: 'es', inlineDynamicImports: true },
    plugins: [assets()],
  },
  {
    // The CLI shares the node bundle instead of carrying a second copy of the library.
    input: 'build/lib/tools/cli.js',
    external: (id) => id === library || optional.includes(id),
    output: { file: 'dist/cli.js', format: 'es', paths: { [library]: './index.node.js' } },
    plugins: [assets()],
  },
];
