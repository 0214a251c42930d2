// The package as users get it: `npm pack`, install the tarball into a fresh project outside this
// tree, then import it from Node ESM, require() it from CommonJS (no top-level await), train two
// steps in each, run gridSearch's worker and the CLI, and type-check a consumer against the shipped
// .d.ts. Uses the built dist/
// (npm test builds it), so the pack skips the prepare script.
import { copyFileSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TSC, installPacked, run } from './packed.js';

/** Top-level exports of ts/ whose doc comment says @internal (SGD_KEYS, …). */
function internalExports(): string[] {
  const files = readdirSync('ts', { recursive: true, encoding: 'utf8' }).filter((f) =>
    f.endsWith('.ts'),
  );
  return files.flatMap((f) =>
    [
      ...readFileSync(join('ts', f), 'utf8').matchAll(
        /\/\*\*((?:(?!\*\/)[\s\S])*)\*\/\s*export (?:declare )?(?:abstract )?(?:async )?(?:const|let|function|type|interface|class|enum) (\w+)/g,
      ),
    ]
      .filter((m) => m[1]!.includes('@internal'))
      .map((m) => m[2]!),
  );
}

let tmp: string;
let app: string;
let packed: string[];

// Two SGD steps on the first 32 digits; prints what the test checks, as JSON.
const TRAIN = `
  await t.init();
  const { train } = t.loadDigits();
  const net = new t.Sequential(new t.Linear(64, 32), new t.ReLU(), new t.Linear(32, 10));
  const opt = new t.Optim(net, new t.LogSoftmaxCrossEntropy(), 0.1);
  const x = train.x.rows(0, 32);
  const y = train.y.rows(0, 32);
  const losses = [opt.step(x, y), opt.step(x, y)];
`;

const ESM = `import * as t from 'torchlet';
import { readFileSync } from 'node:fs';
${TRAIN}
const wasm = readFileSync(new URL(import.meta.resolve('torchlet/torchlet.wasm')));
// gridSearch's trials run in dist/gridworker.js, a worker_thread here.
const grid = await t.gridSearch((p, tt) => new tt.Sequential(new tt.Linear(64, 10)), { step: [0.05] },
  train.x.rows(0, 200), train.y.rows(0, 200), { cv: 2, workers: 1, train: { epochs: 1 } });
console.log(JSON.stringify({
  losses, entry: import.meta.resolve('torchlet'), wasmMagic: Array.from(wasm.subarray(0, 4)),
  grid: { scores: grid[0].scores, workers: grid[0].workers, error: grid[0].error ?? null },
}));
`;

const CJS = `const t = require('torchlet');
(async () => {
${TRAIN}
  console.log(JSON.stringify({ losses, entry: require.resolve('torchlet') }));
})().catch((e) => { console.error(e); process.exit(1); });
`;

const CONSUMER_TS = `import { init, Linear, LogSoftmaxCrossEntropy, Optim, ReLU, Sequential, Tensor, type GradCheckResult, gradCheck } from 'torchlet';
export async function twoSteps(x: Tensor, y: Tensor): Promise<[number, number]> {
  await init({ wasm: new URL('https://example.com/torchlet.wasm') });
  const net = new Sequential(new Linear(64, 10), new ReLU());
  const opt = new Optim(net, new LogSoftmaxCrossEntropy(), 0.1);
  const check: GradCheckResult = gradCheck(new Linear(2, 2), x);
  return [opt.step(x, y), check.ok ? 1 : 0];
}
`;

beforeAll(() => {
  ({ tmp, app, packed } = installPacked('torchlet-pack-'));
  writeFileSync(join(app, 'esm.mjs'), ESM);
  writeFileSync(join(app, 'cjs.cjs'), CJS);
  writeFileSync(join(app, 'consumer.ts'), CONSUMER_TS);
  copyFileSync('examples/custom-layer.mts', join(app, 'custom-layer.mts'));
}, 180_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('the npm package', () => {
  it('ships dist (bundles, types, torchlet.wasm, digits) and no tests, sources or Rust', () => {
    const expected = [
      'package.json',
      'README.md',
      'LICENSE',
      'data/README.md',
      'dist/index.js',
      'dist/index.node.js',
      'dist/index.d.ts',
      'dist/gridworker.js',
      'dist/cli.js',
      'dist/torchlet.wasm',
      'dist/digits.csv.gz',
    ];
    for (const f of expected) {
      expect(packed).toContain(f);
    }
    const unwanted = packed.filter((f) =>
      /^(test|ts|crates|web|scripts|build|wasm)\/|\.rs$|(?<!\.d)\.ts$|\.test\./.test(f),
    );
    expect(unwanted).toEqual([]);
  });

  it('imports from Node ESM (the node build), trains two finite steps, runs gridSearch workers', () => {
    type Out = {
      losses: number[];
      entry: string;
      wasmMagic: number[];
      grid: { scores: number[]; workers: number[]; error: string | null };
    };
    const r = JSON.parse(run('node', ['esm.mjs'], app)) as Out;
    expect(r.entry).toMatch(/\/node_modules\/torchlet\/dist\/index\.node\.js$/);
    expect(r.losses.every(Number.isFinite)).toBe(true);
    expect(r.losses[1]!).toBeLessThan(r.losses[0]!);
    expect(r.wasmMagic).toEqual([0x00, 0x61, 0x73, 0x6d]);
    expect(r.grid.error).toBeNull();
    expect(r.grid.scores).toHaveLength(2);
    expect(r.grid.workers.every((w) => w >= 1)).toBe(true);
  });

  it('installs the torchlet command', () => {
    expect(run(join(app, 'node_modules/.bin/torchlet'), ['--help'], app)).toMatch(
      /^Usage: torchlet/,
    );
  });

  it('require()s from CommonJS and trains two finite steps', () => {
    const r = JSON.parse(run('node', ['cjs.cjs'], app)) as { losses: number[]; entry: string };
    expect(r.entry).toMatch(/\/node_modules\/torchlet\/dist\/index\.node\.js$/);
    expect(r.losses.every(Number.isFinite)).toBe(true);
    expect(r.losses[1]!).toBeLessThan(r.losses[0]!);
  });

  it("runs the README's own layer (examples/custom-layer.mts), compiled strict against the package: Sequential, sgd with Adam, gradCheck, save/load", () => {
    const args = [
      '--strict',
      '--skipLibCheck',
      'false',
      '--module',
      'nodenext',
      '--moduleResolution',
      'nodenext',
      '--target',
      'es2022',
      '--lib',
      'es2022,dom',
      'custom-layer.mts',
    ];
    expect(run('node', [TSC, ...args], app)).toBe('');
    const lines = run('node', ['custom-layer.mjs'], app).trim().split('\n');
    const r = JSON.parse(lines.at(-1)!) as {
      loss: number[];
      accuracy: number;
      gradCheck: boolean;
      architecture: string;
      sameAfterLoad: boolean;
    };
    expect(r.loss[1]!).toBeLessThan(r.loss[0]! / 5);
    expect(r.accuracy).toBeGreaterThan(0.9);
    expect(r.gradCheck).toBe(true);
    expect(r.architecture).toBe(
      'Sequential(Linear(64, 32) -> Scale(32) -> ReLU() -> Linear(32, 10))',
    );
    expect(r.sameAfterLoad).toBe(true);
    // The README shows the same program, word for word (test/readme.test.ts runs that block too).
    const layer = /--8<-- \[start:readme\]\n([\s\S]*?)\/\/ --8<-- \[end:readme\]/.exec(
      readFileSync('examples/custom-layer.mts', 'utf8'),
    )![1]!;
    expect(readFileSync('README.md', 'utf8')).toContain(layer.trim());
  });

  it('ships .d.ts without @internal members (tsconfig.build.json stripInternal): no SGD_KEYS', () => {
    const dts = packed.filter((f) => f.endsWith('.d.ts'));
    expect(dts).toContain('dist/index.d.ts');
    const text = dts
      .map((f) => readFileSync(join(app, 'node_modules/torchlet', f), 'utf8'))
      .join('\n');
    // stripInternal drops a declaration with its doc comment, so no "@internal" survives.
    expect(text).not.toContain('@internal');
    const names = internalExports();
    expect(names).toContain('SGD_KEYS');
    const declared = names.filter((n) =>
      new RegExp(`\\b(?:const|function|type|interface|class|enum) ${n}\\b`).test(text),
    );
    expect(declared).toEqual([]);
  });

  it('type-checks a strict consumer against the shipped .d.ts (the app has no @types/node)', () => {
    const args = [
      '--noEmit',
      '--strict',
      '--skipLibCheck',
      'false',
      '--module',
      'nodenext',
      '--moduleResolution',
      'nodenext',
      '--target',
      'es2022',
      '--lib',
      'es2022,dom',
      'consumer.ts',
    ];
    expect(run('node', [TSC, ...args], app)).toBe('');
  });
});
