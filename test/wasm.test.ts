// The binding: every way to load the module, the errors for bad bytes, memory growth between
// two uses of a view, dispose and the live-byte count.
import { readFile } from 'node:fs/promises';
import { describe, expect, it, vi } from 'vitest';
import { Tensor, TorchletError, init, memory } from '../ts/index.js';
import { Slot, U32Buffer } from '../ts/core/tensor.js';
import { ABI_VERSION, alloc, checkedBytes, free, heap, kernels } from '../ts/core/wasm.js';

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

describe('copies, buffers and sizes (issue 12 items 3, 4)', () => {
  it('Tensor.from(a.data) copies a view of WASM memory even when its allocation grows memory', () => {
    // a fills the heap, so the copy's allocation grows memory and detaches a.data's buffer.
    const n = Math.ceil(heap().byteLength / 4) + (1 << 20);
    const a = Tensor.zeros([n / 4, 4]);
    a.data.set([1, 2, 3], 0);
    a.data[n - 1] = 7;
    const live = memory().liveBytes;
    const wasm = memory().wasmBytes;
    const b = Tensor.from(a.data, a.shape);
    expect(memory().wasmBytes, 'the test must grow memory').toBeGreaterThan(wasm);
    expect(Array.from(b.data.subarray(0, 4))).toEqual([1, 2, 3, 0]);
    expect(b.data[n - 1]).toBe(7);
    expect(memory().liveBytes).toBe(live + n * 4);
    for (const t of [a, b]) t.dispose();
  });

  it('Tensor.from frees its new tensor when reading the values throws', () => {
    const values = [1, 2, 3];
    Object.defineProperty(values, 1, {
      get() {
        throw new Error('boom');
      },
    });
    const live = memory().liveBytes;
    expect(() => Tensor.from(values)).toThrow('boom');
    expect(memory().liveBytes).toBe(live);
  });

  it('U32Buffer: every use after dispose throws DISPOSED, bad counts BAD_ARGUMENT, nothing freed twice', () => {
    const live = memory().liveBytes;
    const u = new U32Buffer(4);
    expect(() => u.resize(-1)).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT' }));
    expect(() => u.resize(2.5)).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT' }));
    u.dispose();
    u.dispose();
    for (const use of [() => u.resize(2), () => u.resize(100), () => u.ptr, () => u.data])
      expect(use).toThrow(expect.objectContaining({ code: 'DISPOSED' }));
    expect(memory().liveBytes).toBe(live);
  });

  it('checkedBytes refuses sizes that do not fit one allocation, naming them', () => {
    expect(checkedBytes(10, 'W')).toBe(40);
    expect(() => checkedBytes(2 ** 32 - 1, 'Conv1D.backward workspace')).toThrow(
      /^Conv1D\.backward workspace: expected a buffer below 2 GiB .*got 4294967295 elements of 4 bytes \(a size that overflows 32 bits\)/,
    );
    for (const bad of [-1, 0.5, NaN, Infinity, 2 ** 29])
      expect(() => checkedBytes(bad, 'W')).toThrow(
        expect.objectContaining({ code: 'OUT_OF_MEMORY' }),
      );
    // A workspace length that overflows usize comes back as 2^32 - 1, unsigned, not -1.
    expect(kernels().conv1d_workspace_len(92698, 46349, 1, 46349, 1)).toBe(2 ** 32 - 1);
    expect(kernels().conv2d_workspace_len(1, 70000, 70000, 70000, 1, 3, 1)).toBe(2 ** 32 - 1);
  });
});

describe('memory past 2 GiB (issue 12 item 2)', () => {
  it('a tensor at an address >= 2^31 reads, writes and computes; past 4 GiB, OUT_OF_MEMORY', () => {
    // Two 1.05 GiB blocks (never written: memory.grow only reserves pages) push the next tensor
    // past the 2 GiB mark, where a signed pointer would be negative.
    // x is as large as the whole heap before, so no hole below the blocks can hold it.
    const live = memory().liveBytes;
    const holes = heap().byteLength / 4;
    const block = 1.05 * 2 ** 30;
    const big = [alloc(block, 'test'), alloc(block, 'test')];
    const x = Tensor.zeros([holes]).rows(0, 4);
    x.data.set([-1, 2, -3, 4]);
    const y = Tensor.zeros([holes]).rows(0, 4);
    expect(x.ptr).toBeGreaterThanOrEqual(2 ** 31);
    expect(memory().wasmBytes).toBeGreaterThan(2 ** 31);
    kernels().relu_forward(x.ptr, y.ptr, 4);
    expect(Array.from(y.data)).toEqual([0, 2, 0, 4]);
    y.data[3] = 9;
    expect(y.toArray()[3]).toBe(9);
    // 2.1 GiB used; another 1.9 GiB block would pass the 4 GiB wasm32 limit.
    expect(() => alloc(1.9 * 2 ** 30, 'huge')).toThrow(
      expect.objectContaining({
        code: 'OUT_OF_MEMORY',
        message: expect.stringMatching(/^huge: could not allocate/),
      }),
    );
    for (const p of big) free(p, block);
    for (const t of [x, y]) t.viewed!.dispose();
    expect(memory().liveBytes).toBe(live);
  });
});
