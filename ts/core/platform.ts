// How torchlet reads its own files (torchlet.wasm, the bundled digits) in Node: `file:` URLs from
// disk, anything else with fetch. The default (browser) build swaps this file for
// platform.browser.ts (rollup.config.mjs); the two are all that differs between dist/index.node.js
// and dist/index.js, so no browser bundle ever sees a Node builtin.

/** Node's builtins, reached without an `import` so that bundlers never try to resolve them. */
function nodeFs(): typeof import('node:fs') {
  const fs = process.getBuiltinModule?.('node:fs');
  if (!fs) throw new Error('reading files needs Node >= 20.16 (process.getBuiltinModule)');
  return fs;
}

/** The bytes at `url`: read from disk for `file:` URLs, fetched otherwise. Throws a plain Error. */
export async function readBytes(url: URL): Promise<Uint8Array> {
  if (url.protocol === 'file:') return new Uint8Array(await nodeFs().promises.readFile(url));
  const response = await fetch(url);
  if (!response.ok) throw new Error(`HTTP ${response.status} ${response.statusText}`.trim());
  return new Uint8Array(await response.arrayBuffer());
}

/** A text file read synchronously, gunzipped when its name ends in .gz; null where there is no file system. */
export function readTextSync(path: URL | string): string | null {
  const bytes = nodeFs().readFileSync(path);
  if (!String(path).endsWith('.gz')) return bytes.toString('utf8');
  const zlib = process.getBuiltinModule?.('node:zlib');
  if (!zlib) throw new Error('gunzip needs Node >= 20.16 (process.getBuiltinModule)');
  return zlib.gunzipSync(bytes).toString('utf8');
}

/**
 * @internal WebGPU in Node: the optional peer dependency `webgpu` (Dawn's Node binding), imported
 * on first use so that a program on the WASM backend never loads it. `missing` says why there is
 * none: not installed, or installed but its native binding failed to load.
 */
export async function nodeWebGpu(): Promise<{ gpu: GPU } | { missing: string } | null> {
  let binding: typeof import('webgpu');
  try {
    binding = await import('webgpu');
  } catch (e) {
    const err = e as { code?: string; message?: string };
    const notInstalled =
      (err.code === 'ERR_MODULE_NOT_FOUND' || err.code === 'MODULE_NOT_FOUND') &&
      /'webgpu'/.test(err.message ?? '');
    return {
      missing: notInstalled
        ? "the optional peer dependency 'webgpu' (Dawn's Node binding) is not installed"
        : `the 'webgpu' package failed to load (${err.message ?? String(e)})`,
    };
  }
  return { gpu: binding.create([]) };
}
