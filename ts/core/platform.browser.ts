// platform.ts for the default build (browsers, workers, Deno, Bun, bundlers): everything is
// fetched, relative to the module, and nothing touches Node. rollup.config.mjs swaps it in.

/** The bytes at `url`, fetched. Throws a plain Error. */
export async function readBytes(url: URL): Promise<Uint8Array> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`HTTP ${response.status} ${response.statusText}`.trim());
  return new Uint8Array(await response.arrayBuffer());
}

/** No synchronous file system here: always null. */
export function readTextSync(_path: URL | string): string | null {
  return null;
}

/** @internal Browsers have `navigator.gpu` or no WebGPU: null (Node's binding is never imported). */
export async function nodeWebGpu(): Promise<{ gpu: GPU } | { missing: string } | null> {
  return null;
}
