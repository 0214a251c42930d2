// The kernel table, checked from four sides: the exports of crates/kernels/src/abi.rs (parsed), the
// `Kernels` interface and `KERNEL_ARITY` in ts/core/wasm.ts, and the built wasm/torchlet.wasm must
// name the same functions with the same argument counts. test/fixtures/abi.json records that set
// for the current ABI_VERSION, so changing the set without a version bump fails here. Last, init()
// must refuse a module whose exports differ from the table (a stale .wasm).
// Regenerate the fingerprint after a bump: UPDATE_ABI=1 npx vitest run test/abi.test.ts
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { compiledModule, init } from '../ts/index.js';
import { ABI_VERSION, KERNEL_ARITY, kernels } from '../ts/core/wasm.js';

await init();

const ABI_RS = new URL('../crates/kernels/src/abi.rs', import.meta.url);
const WASM_TS = new URL('../ts/core/wasm.ts', import.meta.url);
const FINGERPRINT = new URL('./fixtures/abi.json', import.meta.url);

/** Parameters in a comment-free list `a: T, b: U,` (none of the ABI's types hold a comma). */
function countParams(list: string, where: string): number {
  const params = list
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  for (const p of params)
    if (!/^\w+\s*:/.test(p)) throw new Error(`${where}: cannot parse parameter "${p}"`);
  return params.length;
}

/** `name/arity` strings, sorted. */
const entries = (m: ReadonlyMap<string, number> | Readonly<Record<string, number>>): string[] =>
  [...(m instanceof Map ? m : new Map(Object.entries(m)))]
    .map(([name, n]) => `${name}/${n}`)
    .sort();

/** Every `pub [unsafe] extern "C" fn` of abi.rs with its parameter count, and ABI_VERSION. */
function parseAbiRs(): { version: number; exports: Map<string, number> } {
  // `//` comments carry the shape tags, which hold commas ("[in] a [m, k]").
  const code = readFileSync(ABI_RS, 'utf8').replace(/\/\/.*$/gm, '');
  const exports = new Map<string, number>();
  for (const m of code.matchAll(/\bpub\s+(?:unsafe\s+)?extern\s+"C"\s+fn\s+(\w+)\s*\(([^)]*)\)/g)) {
    exports.set(m[1]!, countParams(m[2]!, `abi.rs ${m[1]}`));
  }
  const version = /pub const ABI_VERSION: u32 = (\d+);/.exec(code);
  if (!version) throw new Error('abi.rs: no `pub const ABI_VERSION: u32 = N;`');
  return { version: Number(version[1]), exports };
}

/** The members of `export interface Kernels { … }` in wasm.ts with their parameter counts. */
function parseKernelsInterface(): Map<string, number> {
  const src = readFileSync(WASM_TS, 'utf8');
  const start = src.indexOf('export interface Kernels {');
  const end = src.indexOf('\n}', start);
  if (start < 0 || end < 0) throw new Error('wasm.ts: no `export interface Kernels { … }`');
  const body = src
    .slice(start + 'export interface Kernels {'.length, end)
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/\/\/.*$/gm, '');
  const members = new Map<string, number>();
  for (const m of body.matchAll(/(\w+)\s*\(([^)]*)\)\s*:\s*[^;]+;/g))
    members.set(m[1]!, countParams(m[2]!, `Kernels.${m[1]}`));
  return members;
}

describe('the kernel table', () => {
  const rust = parseAbiRs();

  it('abi.rs parses to a plausible table (the parser itself can fail)', () => {
    expect(rust.exports.size).toBeGreaterThan(40);
    expect(rust.exports.get('abi_version')).toBe(0);
    expect(rust.exports.get('gemm')).toBe(11);
    expect(parseKernelsInterface().get('conv2d_backward_update_gradient')).toBe(13);
  });

  it('abi.rs, the Kernels interface and KERNEL_ARITY name the same exports with the same argument counts', () => {
    const want = entries(rust.exports);
    expect(
      entries(parseKernelsInterface()),
      'interface Kernels in ts/core/wasm.ts vs crates/kernels/src/abi.rs',
    ).toEqual(want);
    expect(
      entries(KERNEL_ARITY),
      'KERNEL_ARITY in ts/core/wasm.ts vs crates/kernels/src/abi.rs',
    ).toEqual(want);
  });

  it('the built .wasm exports exactly that table (else run npm run build:wasm)', () => {
    const exps = WebAssembly.Module.exports(compiledModule());
    const fns = exps.filter((e) => e.kind === 'function').map((e) => e.name);
    const table = kernels() as unknown as Record<string, (...args: number[]) => unknown>;
    const built = new Map(fns.map((name) => [name, table[name]!.length]));
    expect(
      entries(built),
      'exports of wasm/torchlet.wasm vs crates/kernels/src/abi.rs; rebuild with npm run build:wasm',
    ).toEqual(entries(rust.exports));
    // Besides the functions: the memory, the linker's two layout globals, and the shadow-stack
    // pointer (rewound by env.tl_fail when a bounds check throws through an export).
    expect(
      exps
        .filter((e) => e.kind !== 'function')
        .map((e) => e.name)
        .sort(),
    ).toEqual(['__data_end', '__heap_base', '__stack_pointer', 'memory']);
    // The one import: the bounds checks' failure report.
    expect(WebAssembly.Module.imports(compiledModule())).toEqual([
      { module: 'env', name: 'tl_fail', kind: 'function' },
    ]);
  });

  it('ABI_VERSION agrees in abi.rs, wasm.ts and the built module', () => {
    expect(ABI_VERSION, 'ts/core/wasm.ts vs crates/kernels/src/abi.rs').toBe(rust.version);
    expect(kernels().abi_version(), 'abi_version() of wasm/torchlet.wasm').toBe(rust.version);
  });

  it('the export set changes only together with an ABI_VERSION bump (test/fixtures/abi.json)', () => {
    const recorded = JSON.parse(readFileSync(FINGERPRINT, 'utf8')) as {
      version: number;
      exports: string[];
    };
    const current = { version: rust.version, exports: entries(rust.exports) };
    const added = current.exports.filter((e) => !recorded.exports.includes(e));
    const removed = recorded.exports.filter((e) => !current.exports.includes(e));
    if (current.version === recorded.version) {
      const msg =
        `the exports of crates/kernels/src/abi.rs changed (added ${JSON.stringify(added)}, removed ${JSON.stringify(removed)}) ` +
        `but ABI_VERSION is still ${current.version}: bump ABI_VERSION in crates/kernels/src/abi.rs and ts/core/wasm.ts, ` +
        'run npm run build:wasm, then UPDATE_ABI=1 npx vitest run test/abi.test.ts to record the new set';
      expect(current.exports, msg).toEqual(recorded.exports);
      return;
    }
    expect(current.version, `ABI_VERSION went back from ${recorded.version}`).toBeGreaterThan(
      recorded.version,
    );
    if (process.env.UPDATE_ABI === '1') {
      writeFileSync(FINGERPRINT, `${JSON.stringify(current, null, 2)}\n`);
      return;
    }
    expect.fail(
      `ABI_VERSION is ${current.version} but test/fixtures/abi.json records version ${recorded.version}: ` +
        'run UPDATE_ABI=1 npx vitest run test/abi.test.ts to record the new export set, and commit it',
    );
  });
});

// A minimal module exporting `memory`, `abi_version()` and one function per entry of `arity`, each
// taking that many i32 parameters: just enough for init()'s checks, built byte by byte.
function fakeKernels(
  arity: Readonly<Record<string, number>>,
  version: number,
): Uint8Array<ArrayBuffer> {
  const uleb = (n: number): number[] => {
    const out: number[] = [];
    do {
      const b = n & 0x7f;
      n >>>= 7;
      out.push(n ? b | 0x80 : b);
    } while (n);
    return out;
  };
  const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
  const name = (s: string): number[] => vec([...new TextEncoder().encode(s)].map((b) => [b]));
  const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
  const I32 = 0x7f;
  const fns = Object.entries(arity);
  const counts = [...new Set(fns.map(([, n]) => n))];
  // Every function returns i32: `i32.const` (the version for abi_version, else 0), `end`.
  const types = counts.map((n) => [
    0x60,
    ...vec(Array.from({ length: n }, () => [I32])),
    ...vec([[I32]]),
  ]);
  const bodies = fns.map(([f]) => {
    const code = [0x00, 0x41, f === 'abi_version' ? version : 0, 0x0b];
    return [...uleb(code.length), ...code];
  });
  if (version > 63) throw new Error('fakeKernels: the version must fit one sleb128 byte');
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, vec(types)),
    ...section(3, vec(fns.map(([, n]) => uleb(counts.indexOf(n))))),
    ...section(5, vec([[0x00, 0x01]])),
    ...section(
      7,
      vec([
        ...fns.map(([f], i) => [...name(f), 0x00, ...uleb(i)]),
        [...name('memory'), 0x02, 0x00],
      ]),
    ),
    ...section(10, vec(bodies)),
  ]);
}

describe('init refuses a module whose exports differ from the table', () => {
  async function freshInit(bytes: Uint8Array<ArrayBuffer>): Promise<unknown> {
    vi.resetModules();
    const mod = await import('../ts/core/wasm.js');
    return mod.init(bytes);
  }

  it('accepts a module with every entry at its arity (so the cases below fail for their one change)', async () => {
    const bytes = fakeKernels(KERNEL_ARITY, ABI_VERSION);
    expect(WebAssembly.validate(bytes)).toBe(true);
    await expect(freshInit(bytes)).resolves.toBeUndefined();
  });

  it('names an export whose argument count differs, and how to rebuild', async () => {
    const bytes = fakeKernels({ ...KERNEL_ARITY, gemm: 6 }, ABI_VERSION);
    await expect(freshInit(bytes)).rejects.toThrow(
      /^init: expected the kernels of ABI version \d+, got a module with export gemm with 6 arguments, expected 11;.*npm run build:wasm/,
    );
  });

  it('names a missing export', async () => {
    const { dropout_forward: _, ...rest } = KERNEL_ARITY;
    await expect(freshInit(fakeKernels(rest, ABI_VERSION))).rejects.toThrow(
      /module with no export dropout_forward \(4 arguments\).*npm run build:wasm/,
    );
  });

  it('the ABI version is checked first', async () => {
    await expect(freshInit(fakeKernels(KERNEL_ARITY, ABI_VERSION + 1))).rejects.toThrow(
      `expected WASM ABI version ${ABI_VERSION}, got ${ABI_VERSION + 1}`,
    );
  });
});
