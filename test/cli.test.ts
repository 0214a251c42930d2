// The torchlet CLI, run as a real process from JS compiled by tsc (beforeAll): train on the digits
// for 2 epochs writes a model that loads, a loss SVG and a JSON summary; evaluate reads it back;
// bad arguments give one error line plus usage and exit code 2. In-process: one vocabulary (the
// commands' flags are README's "CLI vocabulary" table, and every --seed defaults to 1).
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Linear, Sequential, init, loadModel, save } from '../ts/index.js';
import { program } from '../ts/tools/cli.js';

await init();

// The compiled tree mirrors the repository (ts/, wasm/, data/) so the module-relative asset URLs
// resolve, and sits inside it so node_modules (commander, cli-progress) is found.
// One folder per run, so concurrent test runs do not delete each other's build.
const root = join(process.cwd(), 'build', `cli-test-${process.pid}`);
const cli = join(root, 'ts', 'tools', 'cli.js');

function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  rmSync(root, { recursive: true, force: true });
  const tsc = spawnSync(
    process.execPath,
    [
      'node_modules/typescript/bin/tsc',
      '-p',
      'tsconfig.build.json',
      '--outDir',
      join(root, 'ts'),
      '--declaration',
      'false',
    ],
    { encoding: 'utf8' },
  );
  if (tsc.status !== 0) throw new Error(`tsc failed:\n${tsc.stdout}${tsc.stderr}`);
  mkdirSync(join(root, 'wasm'));
  mkdirSync(join(root, 'data'));
  copyFileSync('wasm/torchlet.wasm', join(root, 'wasm', 'torchlet.wasm'));
  copyFileSync('data/digits.csv.gz', join(root, 'data', 'digits.csv.gz'));
}, 120_000);

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('torchlet CLI', () => {
  it('starts with a node shebang', () => {
    expect(readFileSync(cli, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
  });

  it('train writes a loadable model, the loss SVG and a JSON summary; evaluate reads the model', () => {
    const out = mkdtempSync(join(tmpdir(), 'torchlet-cli-'));
    const r = run(
      'train',
      '--data',
      'digits',
      '--epochs',
      '2',
      '--batch-size',
      '32',
      '--lr',
      '0.05',
      '--optimizer',
      'momentum',
      '--seed',
      '3',
      '--out',
      out,
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    // Not a terminal: plain lines, one per epoch, each with the test accuracy.
    expect(
      r.stdout.match(/^epoch +\d+ +loss [\d.]+ +test loss [\d.]+ +test accuracy [\d.]+$/gm),
    ).toHaveLength(2);
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
    expect(summary.epochs).toBe(2);
    expect(summary.optimizer).toBe('momentum');
    expect(summary.inputShape).toEqual([64, 1]);
    expect(summary.testAccuracy).toHaveLength(2);
    expect(summary.testAccuracy[1]).toBeGreaterThan(0.5);
    const svg = readFileSync(join(out, 'loss.svg'), 'utf8');
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect(svg).toMatch(/class="train"/);
    expect(svg).toMatch(/class="validation"/);
    const { net, metadata } = loadModel(join(out, 'model.safetensors'));
    expect(net.type).toBe('Sequential');
    expect(metadata.inputShape).toBe('[64,1]');
    const ev = run('evaluate', join(out, 'model.safetensors'), '--json');
    expect(ev.status).toBe(0);
    const result = JSON.parse(ev.stdout);
    expect(result.accuracy).toBeCloseTo(summary.testAccuracy[1], 12);
    expect(result.confusion).toHaveLength(10);
    expect(result.confusion.flat().reduce((a: number, b: number) => a + b, 0)).toBe(359);
  });

  it('autoencode writes the reconstruction grid', () => {
    const out = mkdtempSync(join(tmpdir(), 'torchlet-ae-'));
    const r = run('autoencode', '--epochs', '1', '--out', out);
    expect(r.status).toBe(0);
    const grid = readFileSync(join(out, 'reconstructions.svg'), 'utf8');
    expect(grid.match(/class="image"/g)).toHaveLength(20);
    expect(existsSync(join(out, 'reconstructions.png'))).toBe(true);
  });

  it('grid-search prints a ranked table and writes grid.json', () => {
    const out = mkdtempSync(join(tmpdir(), 'torchlet-grid-cli-'));
    const r = run(
      'grid-search',
      '--grid',
      '{"step":[0.05],"hidden":[8,16]}',
      '--epochs',
      '1',
      '--cv',
      '2',
      '--workers',
      '2',
      '--out',
      out,
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^ +1 +[\d.]+ ± [\d.]+ +step=0\.05, hidden=\d+$/m);
    const grid = JSON.parse(readFileSync(join(out, 'grid.json'), 'utf8'));
    expect(grid.rows).toHaveLength(2);
  });

  it("takes exactly the flags of README's CLI vocabulary table, every --seed defaulting to 1", () => {
    const readme = readFileSync('README.md', 'utf8');
    const section = readme.slice(
      readme.indexOf('### CLI vocabulary'),
      readme.indexOf('## Using torchlet in Node'),
    );
    const documented = [...section.matchAll(/^\| `(--[a-z-]+)/gm)].map((m) => m[1]);
    const commands = program().commands;
    const taken = new Set(commands.flatMap((c) => c.options.map((o) => o.long)));
    expect(documented.length).toBeGreaterThan(8);
    expect(new Set(documented)).toEqual(taken);
    const seeds = commands.flatMap((c) =>
      c.options.filter((o) => o.long === '--seed').map((o) => [c.name(), o.defaultValue]),
    );
    expect(seeds).toEqual([
      ['train', 1],
      ['grid-search', 1],
      ['autoencode', 1],
    ]);
  });

  for (const [args, re] of [
    [['train', '--epochs', 'zero'], /expected --epochs to be an integer >= 1, got "zero"/],
    [['train', '--optimizer', 'rmsprop'], /argument 'rmsprop' is invalid/],
    [['train', '--preset', 'resnet'], /expected --preset to be one of conv1d/],
    [['train', '--no-such-flag'], /unknown option '--no-such-flag'/],
    [['train', '--seed', '4294967296'], /expected --seed to be an integer in \[0, 4294967295\]/],
    [['grid-search', '--grid', '{}', '--seed', '1.5'], /expected --seed to be an integer in \[0, /],
    [['evaluate'], /missing required argument 'model'/],
    [['frobnicate'], /unknown command 'frobnicate'/],
  ] as Array<[string[], RegExp]>) {
    it(`exits 2 with one error line and usage for: ${args.join(' ')}`, () => {
      const r = run(...args);
      expect(r.status).toBe(2);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(re);
      expect(lines[1]).toMatch(/^usage: torchlet /);
    });
  }

  // Issue 12, item 14: what does not fit is a usage error (exit 2, one line), found before any
  // training: a spec or model whose network does not take the data, an --out that is a file (for
  // grid-search, before the search), a --grid that is not an object.
  const bad = mkdtempSync(join(tmpdir(), 'torchlet-cli-bad-'));
  const file = join(bad, 'a-file');
  writeFileSync(file, 'not a folder');
  afterAll(() => rmSync(bad, { recursive: true, force: true }));
  const spec = (name: string, nIn: number, nOut: number): string => {
    const at = join(bad, name);
    const net = { type: 'Sequential', children: [{ type: 'Linear', args: { nIn, nOut } }] };
    writeFileSync(at, JSON.stringify({ inputShape: [64], net }));
    return at;
  };
  const model = join(bad, 'narrow.safetensors');
  save(new Sequential(new Linear(10, 10)), model, { metadata: { inputShape: '[64]' } });
  const fresh = join(bad, 'never-created');
  // A FIFO with no writer: reading it would block forever.
  const fifo = join(bad, 'fifo');
  spawnSync('mkfifo', [fifo]);
  for (const [args, re] of [
    [
      ['train', '--spec', spec('wrong-input.json', 10, 10), '--out', fresh],
      /^torchlet: expected spec wrong-input\.json's network to accept its inputShape \[64\], got Sequential\[0\] \(Linear\)\.forward: expected input \[batch, 10\], got \[1, 64\]$/,
    ],
    [
      ['train', '--spec', spec('five-classes.json', 64, 5), '--out', fresh],
      /^torchlet: expected spec five-classes\.json's network to output at least 10 class scores, got 5 \(output \[5\] per sample\)$/,
    ],
    [
      ['evaluate', model],
      /^torchlet: expected .*narrow\.safetensors's network to accept its inputShape \[64\], got /,
    ],
    [
      ['train', '--out', file],
      /^torchlet: expected --out to name a folder, got ".*a-file", a file$/,
    ],
    [
      ['autoencode', '--out', join(file, 'sub')],
      /^torchlet: expected --out to name a folder that can be created, got ".*a-file\/sub" \(ENOTDIR\)$/,
    ],
    [
      ['grid-search', '--grid', '{"step":[0.1]}', '--epochs', '1', '--cv', '2', '--out', file],
      /^torchlet: expected --out to name a folder, got ".*a-file", a file$/,
    ],
    [
      ['grid-search', '--grid', 'null'],
      /^torchlet: expected --grid to be a JSON object of value lists, e\.g\. \{"step":\[0\.01,0\.1\]\}, got null$/,
    ],
    [
      ['grid-search', '--grid', '[[1]]'],
      /^torchlet: expected --grid to be a JSON object .*, got \[\[1\]\]$/,
    ],
    [['grid-search', '--grid', '7'], /^torchlet: expected --grid to be a JSON object .*, got 7$/],
    [
      ['grid-search', '--grid', bad],
      /^torchlet: expected --grid to be a JSON file .*\(not a regular file\)$/,
    ],
    [
      ['train', '--spec', fifo, '--out', fresh],
      /^torchlet: expected --spec to be a readable JSON file, got .*\(not a regular file\)$/,
    ],
  ] as Array<[string[], RegExp]>) {
    it(`exits 2 before training, with one error line and usage, for: ${args.map((a) => a.replace(bad, '…')).join(' ')}`, () => {
      const r = run(...args);
      expect(r.status).toBe(2);
      expect(r.stdout).toBe('');
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(re);
      expect(lines[1]).toMatch(/^usage: torchlet /);
      expect(existsSync(fresh)).toBe(false);
      expect(readFileSync(file, 'utf8')).toBe('not a folder');
    });
  }

  it('trains with --batch-size 600000000 (buffers sized by the data, one batch per epoch)', () => {
    const out = mkdtempSync(join(tmpdir(), 'torchlet-cli-bs-'));
    const r = run(
      'train',
      '--preset',
      'mlp',
      '--epochs',
      '1',
      '--batch-size',
      '600000000',
      '--out',
      out,
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')).batchSize).toBe(600000000);
  });
});
