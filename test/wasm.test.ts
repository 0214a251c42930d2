// The binding: every way to load the module, the errors for bad bytes, memory growth between
// two uses of a view, dispose and the live-byte count.
import { readFile } from 'node:fs/promises';
import { describe, expect, it, vi } from 'vitest';
import { Tensor, TorchletError, init, memory } from '../ts/index.js';
import { Slot } from '../ts/core/tensor.js';
import { ABI_VERSION, alloc, free, heap } from '../ts/core/wasm.js';

const wasmUrl = new URL('../wasm/torchlet.wasm', import.meta.url);

await init();

describe('init', () => {
  it('is idempotent and loads from the file next to the module', async () => {
    await init();
    await init({ wasm: wasmUrl });
    expect(memory().wasmBytes).toBeGreaterThan(0);
  });

  it('compiles from bytes, a URL and a Module in a fresh instance (subprocess-free check via WebAssembly)', async () => {
    const bytes = await readFile(wasmUrl);
    const module = await WebAssembly.compile(bytes);
    const exportsNames = WebAssembly.Module.exports(module).map((e) => e.name);
    expect(exportsNames).toContain('abi_version');
    expect(exportsNames).toContain('linear_forward');
    expect(exportsNames).toContain('memory');
  });
});

describe('init errors (fresh module state)', () => {
  // Each case imports a fresh copy of the binding so the loaded instance above does not short-circuit.
  async function freshInit(source: unknown): Promise<unknown> {
    vi.resetModules();
    const mod = await import('../ts/core/wasm.js');
    return mod.init(source as never);
  }

  it('names an HTML page served instead of the .wasm, and how to fix it', async () => {
    const html = new TextEncoder().encode('<!doctype html><html><body>Not found</body></html>');
    await expect(freshInit(html)).rejects.toThrow(/HTML page.*optimizeDeps/s);
  });

  it('names a missing file, where it looked, and the fixes', async () => {
    await expect(freshInit(new URL('./no-such.wasm', import.meta.url))).rejects.toThrow(
      /^init: expected torchlet\.wasm at file:\/\/.*\/no-such\.wasm, got ENOENT.*npm run build:wasm.*init\(\{ wasm \}\)/,
    );
  });

  it('rejects bytes that are not WebAssembly', async () => {
    await expect(freshInit(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]))).rejects.toThrow(
      /expected WebAssembly bytes/,
    );
  });

  it('rejects a module of the wrong ABI', async () => {
    // A minimal module exporting abi_version() = 999 and a memory.
    const wat = new Uint8Array([
      0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f,
      0x03, 0x02, 0x01, 0x00, 0x05, 0x03, 0x01, 0x00, 0x01, 0x07, 0x18, 0x02, 0x0b, 0x61, 0x62,
      0x69, 0x5f, 0x76, 0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e, 0x00, 0x00, 0x06, 0x6d, 0x65, 0x6d,
      0x6f, 0x72, 0x79, 0x02, 0x00, 0x0a, 0x07, 0x01, 0x05, 0x00, 0x41, 0xe7, 0x07, 0x0b,
    ]);
    expect(WebAssembly.validate(wat)).toBe(true);
    await expect(freshInit(wat)).rejects.toThrow(`ABI version ${ABI_VERSION}, got 999`);
  });

  it('loads from a compiled Module, a Response and { wasm: bytes }', async () => {
    const bytes = await readFile(wasmUrl);
    await expect(freshInit(await WebAssembly.compile(bytes))).resolves.toBeUndefined();
    await expect(freshInit(new Response(bytes))).resolves.toBeUndefined();
    await expect(freshInit({ wasm: new Uint8Array(bytes) })).resolves.toBeUndefined();
    await expect(freshInit(wasmUrl)).resolves.toBeUndefined();
  });
});

describe('Tensor', () => {
  it('keeps a valid view across memory growth', () => {
    const t = Tensor.from([1, 2, 3, 4], [2, 2]);
    const before = t.data;
    const bufferBefore = heap();
    // Force growth: allocate more than the current memory size. The size is taken before the
    // growth detaches bufferBefore (whose byteLength then reads 0: freeing with it was a wrong-size
    // free, which tl_free now refuses).
    const bigBytes = bufferBefore.byteLength + (1 << 20);
    const big = alloc(bigBytes, 'test');
    expect(heap()).not.toBe(bufferBefore);
    expect(before.byteLength).toBe(0); // the old view was detached by growth...
    expect(Array.from(t.data)).toEqual([1, 2, 3, 4]); // ...and the accessor rebuilds it
    free(big, bigBytes);
    t.dispose();
  });

  it('dispose frees the bytes, is idempotent, and use afterwards throws DISPOSED', () => {
    const start = memory().liveBytes;
    const t = Tensor.zeros([10, 10]);
    expect(memory().liveBytes).toBe(start + 400);
    t.dispose();
    t.dispose();
    expect(memory().liveBytes).toBe(start);
    expect(() => t.data).toThrow(TorchletError);
    try {
      void t.ptr;
    } catch (e) {
      expect((e as TorchletError).code).toBe('DISPOSED');
    }
  });

  it('reshape and rows are views of the same memory', () => {
    const t = Tensor.from([0, 1, 2, 3, 4, 5], [3, 2]);
    const flat = t.reshape([6]);
    const mid = t.rows(1, 2);
    flat.data[2] = 42;
    expect(mid.data[0]).toBe(42);
    expect(mid.shape).toEqual([2, 2]);
    expect(() => t.reshape([4])).toThrow(/expected a shape of 6 elements, got \[4\]/);
    expect(() => t.rows(2, 2)).toThrow(/range inside \[0, 3\)/);
    t.dispose();
    expect(flat.disposed).toBe(true);
  });

  it('from() checks the value count against the shape', () => {
    expect(() => Tensor.from([1, 2, 3], [2, 2])).toThrow(
      /expected 4 values for shape \[2, 2\], got 3/,
    );
  });

  it('an impossible allocation throws OUT_OF_MEMORY and the next one works', () => {
    expect(() => Tensor.zeros([(5 * 2 ** 30) / 4])).toThrow(/below 2 GiB/);
    // One block holds at most 2 GiB - 16 (Rust's isize::MAX on wasm32): refused before tl_alloc.
    let message = '';
    try {
      alloc(2 ** 31, 'huge');
    } catch (e) {
      message = `${(e as TorchletError).code}: ${(e as Error).message}`;
    }
    expect(message).toMatch(
      /^OUT_OF_MEMORY: huge: expected an allocation below 2 GiB.*got 2147483648 bytes/,
    );
    const t = Tensor.from([1, 2]);
    expect(Array.from(t.data)).toEqual([1, 2]);
    t.dispose();
  });

  it('a Slot reallocates only when a larger size is asked for', () => {
    const slot = new Slot();
    const a = slot.get([4, 8]);
    const at = a.ptr;
    const bytes = memory().liveBytes;
    expect(slot.get([4, 8])).toBe(a);
    const b = slot.get([2, 8]);
    expect(b.shape).toEqual([2, 8]);
    expect(b.ptr).toBe(at);
    expect(a.overwritten).toBe(true); // another shape over the same memory: the old view is stale
    expect(memory().liveBytes).toBe(bytes);
    const c = slot.next([2, 8], 'Test.write');
    expect([c.ptr, c === b, b.overwritten]).toEqual([at, false, true]);
    expect(() => b.data).toThrow(/a later Test\.write overwrote/);
    slot.get([8, 8]);
    expect(memory().liveBytes).toBeGreaterThan(bytes);
    slot.dispose();
  });
});
