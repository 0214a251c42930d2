#!/usr/bin/env node
// The `torchlet` command: train (a preset or a JSON architecture spec), evaluate a model file,
// grid-search, autoencode. Argument parsing by commander, a live progress bar by cli-progress
// when stdout is a terminal (plain lines otherwise). Bad arguments: one-line error + usage, exit 2,
// checked before any training (a network that does not fit the data, an --out that is a file).

import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import cliProgress from 'cli-progress';
import * as t from '../index.js';
import type { GridParams, Module, Torchlet } from '../index.js';

const fs = process.getBuiltinModule('node:fs');
const path = process.getBuiltinModule('node:path');

/** A usage error: printed as one line plus usage, exit code 2. */
class UsageError extends Error {}

/** The seed of every command unless --seed says otherwise (the one `npm start` passes). */
const DEFAULT_SEED = 1;

function int(name: string, min: number, max = Infinity): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(
        `expected ${name} to be an integer ${max === Infinity ? `>= ${min}` : `in [${min}, ${max}]`}, got ${JSON.stringify(v)}`,
      );
    return n;
  };
}

/** Seeds are integers in [0, 2^32), as `Rng` takes them. */
const seedArg = int('--seed', 0, 2 ** 32 - 1);

function positive(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0)
    throw new InvalidArgumentError(`expected a positive number, got ${JSON.stringify(v)}`);
  return n;
}

interface Data {
  train: t.Dataset;
  test: t.Dataset;
}

function loadData(name: string, inputShape: readonly number[]): Data {
  const raw = name === 'mnist' ? t.loadMnist() : t.loadDigits();
  const view = (d: t.Dataset): t.Dataset => {
    try {
      return { x: t.asSamples(d.x, inputShape), y: d.y };
    } catch (e) {
      throw new UsageError(
        `the network's input shape ${JSON.stringify(inputShape)} does not fit --data ${name} (${d.x.shape[1]} values per sample): ${(e as Error).message}`,
      );
    }
  };
  return { train: view(raw.train), test: view(raw.test) };
}

/**
 * Throws a UsageError unless `net` accepts samples of `inputShape` and its output fits the task:
 * at least one score per class of the data (classify) or the input's shape (reconstruct).
 */
function checkFits(
  net: Module,
  inputShape: readonly number[],
  task: 'classify' | 'reconstruct',
  data: Data,
  source: string,
): void {
  let out: number[];
  try {
    out = net.outputShape([1, ...inputShape]);
  } catch (e) {
    throw new UsageError(
      `expected ${source}'s network to accept its inputShape ${JSON.stringify(inputShape)}, got ${(e as Error).message}`,
    );
  }
  const sample = out.slice(1);
  if (task === 'reconstruct') {
    if (sample.join() !== inputShape.join())
      throw new UsageError(
        `expected ${source}'s network to reconstruct its input ${JSON.stringify(inputShape)}, got an output of ${JSON.stringify(sample)} per sample`,
      );
    return;
  }
  const classes = data.train.y.toArray().reduce((a, b) => Math.max(a, b + 1), 0);
  const width = sample.reduce((a, b) => a * b, 1);
  if (width < classes)
    throw new UsageError(
      `expected ${source}'s network to output at least ${classes} class scores, got ${width} (output ${JSON.stringify(sample)} per sample)`,
    );
}

/** The most bytes read from a --spec or --grid file (both are a few hundred bytes of JSON). */
const MAX_JSON_FILE = 1 << 20;

/** A small regular file's text: a FIFO would block and a huge file be read whole, so both throw. */
function readJsonFile(file: string): string {
  const stat = fs.statSync(file);
  if (!stat.isFile()) throw new Error('not a regular file');
  if (stat.size > MAX_JSON_FILE) throw new Error(`${stat.size} bytes, over ${MAX_JSON_FILE}`);
  return fs.readFileSync(file, 'utf8');
}

/** Creates the --out folder now, before any training: an existing file or a bad path is a usage error. */
function outFolder(dir: string): void {
  if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory())
    throw new UsageError(`expected --out to name a folder, got ${JSON.stringify(dir)}, a file`);
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new UsageError(
      `expected --out to name a folder that can be created, got ${JSON.stringify(dir)} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    );
  }
}

interface NetChoice {
  net: Module;
  inputShape: number[];
  label: string;
  task: 'classify' | 'reconstruct';
}

function chooseNet(opts: { preset?: string; spec?: string; seed: number }): NetChoice {
  if (opts.spec !== undefined) {
    let spec: { inputShape?: unknown; net?: unknown; task?: unknown };
    try {
      spec = JSON.parse(readJsonFile(opts.spec)) as typeof spec;
    } catch (e) {
      throw new UsageError(
        `expected --spec to be a readable JSON file, got ${opts.spec} (${(e as Error).message})`,
      );
    }
    if (
      !Array.isArray(spec.inputShape) ||
      !spec.inputShape.every((d) => Number.isInteger(d) && d > 0)
    ) {
      throw new UsageError(
        `expected the spec's inputShape to be an array of positive integers, got ${JSON.stringify(spec.inputShape)}`,
      );
    }
    try {
      const net = t.fromArchitecture(spec.net, new t.Rng(opts.seed));
      return {
        net,
        inputShape: spec.inputShape as number[],
        label: `spec ${path.basename(opts.spec)}`,
        task: spec.task === 'reconstruct' ? 'reconstruct' : 'classify',
      };
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  const name = opts.preset ?? 'conv1d';
  if (!t.PRESETS.some((p) => p.name === name)) {
    throw new UsageError(
      `expected --preset to be one of ${t.PRESETS.map((p) => p.name).join(', ')}, got ${JSON.stringify(name)}`,
    );
  }
  const p = t.preset(name as t.PresetName, { seed: opts.seed });
  return {
    net: p.net,
    inputShape: [...p.inputShape],
    label: `${p.name}: ${p.description}`,
    task: p.task,
  };
}

/** Per-batch progress: a live bar on a terminal, nothing per batch otherwise. */
function progress(epochs: number): {
  batch: (b: t.BatchInfo) => void;
  epochDone: (line: string) => void;
} {
  if (!process.stdout.isTTY) return { batch: () => {}, epochDone: (line) => console.log(line) };
  const bar = new cliProgress.SingleBar(
    {
      format:
        'epoch {epoch}/{epochs} |{bar}| batch {value}/{total}  loss {loss}  {speed} samples/s',
      hideCursor: true,
      clearOnComplete: true,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = 0;
  let samples = 0;
  let running = false;
  return {
    batch: (b) => {
      if (!running) {
        bar.start(b.batches, 0, { epoch: b.epoch + 1, epochs, loss: '-', speed: '-' });
        started = performance.now();
        samples = 0;
        running = true;
      }
      samples += b.size;
      const speed = Math.round(samples / Math.max(1e-3, (performance.now() - started) / 1000));
      bar.update(b.batch + 1, { loss: b.loss.toFixed(4), speed });
    },
    epochDone: (line) => {
      if (running) bar.stop();
      running = false;
      console.log(line);
    },
  };
}

interface TrainOpts {
  preset?: string;
  spec?: string;
  data: string;
  epochs: number;
  batchSize: number;
  lr: number;
  optimizer: t.OptimizerName;
  seed: number;
  out: string;
}

function train(opts: TrainOpts, autoencode = false): void {
  const choice = chooseNet({ ...opts, preset: autoencode ? 'autoencoder' : opts.preset });
  const data = loadData(opts.data, choice.inputShape);
  const reconstruct = choice.task === 'reconstruct';
  const trainSet = reconstruct ? { x: data.train.x, y: data.train.x } : data.train;
  const testSet = reconstruct ? { x: data.test.x, y: data.test.x } : data.test;
  const loss = reconstruct ? new t.BCELoss() : new t.LogSoftmaxCrossEntropy();
  checkFits(choice.net, choice.inputShape, choice.task, data, choice.label.split(':')[0]!);
  outFolder(opts.out);
  console.log(
    `torchlet: ${choice.label} on ${opts.data} (${trainSet.x.shape[0]} train / ${testSet.x.shape[0]} test), ${opts.optimizer} lr ${opts.lr}`,
  );
  const bar = progress(opts.epochs);
  const started = performance.now();
  const history = t.sgd(choice.net, trainSet, loss, {
    epochs: opts.epochs,
    batchSize: opts.batchSize,
    step: opts.lr,
    optimizer: opts.optimizer,
    seed: opts.seed,
    validation: testSet,
    metric: reconstruct ? 'mse' : 'accuracy',
    onBatch: bar.batch,
    onEpoch: (e, value, info) => {
      const score = reconstruct
        ? `test mse ${info.valMetric!.toFixed(4)}`
        : `test accuracy ${info.valMetric!.toFixed(4)}`;
      bar.epochDone(
        `epoch ${String(e + 1).padStart(3)}  loss ${value.toFixed(4)}  test loss ${info.valLoss!.toFixed(4)}  ${score}`,
      );
    },
  });
  const seconds = (performance.now() - started) / 1000;
  const modelPath = path.join(opts.out, 'model.safetensors');
  t.save(choice.net, modelPath, {
    metadata: { inputShape: JSON.stringify(choice.inputShape), task: choice.task, data: opts.data },
  });
  fs.writeFileSync(
    path.join(opts.out, 'loss.svg'),
    t.lossCurvesSvg(
      [{ name: choice.label.split(':')[0]!, train: history.loss, validation: history.valLoss }],
      { title: `${choice.label.split(':')[0]} on ${opts.data}` },
    ),
  );
  const summary: Record<string, unknown> = {
    network: choice.label,
    data: opts.data,
    inputShape: choice.inputShape,
    optimizer: opts.optimizer,
    lr: opts.lr,
    epochs: history.loss.length,
    batchSize: opts.batchSize,
    seed: opts.seed,
    seconds,
    loss: history.loss,
    testLoss: history.valLoss,
    [reconstruct ? 'testMse' : 'testAccuracy']: history.valMetric,
    files: { model: 'model.safetensors', lossCurves: 'loss.svg' },
  };
  if (reconstruct) {
    const count = 10;
    const x = testSet.x.rows(0, count);
    const originals = x.toArray();
    const recon = choice.net.forward(x).toArray();
    const both = new Float32Array(originals.length * 2);
    both.set(originals);
    both.set(recon, originals.length);
    const side = Math.round(Math.sqrt(choice.inputShape.reduce((a, b) => a * b, 1)));
    fs.writeFileSync(
      path.join(opts.out, 'reconstructions.svg'),
      t.imageGridSvg(both, count * 2, {
        imageShape: [side, side],
        columns: count,
        scale: 6,
        title: 'originals (top) vs reconstructions (bottom)',
      }),
    );
    fs.writeFileSync(
      path.join(opts.out, 'reconstructions.png'),
      t.imageGridPng(both, count * 2, { imageShape: [side, side], columns: count, scale: 6 }),
    );
    (summary['files'] as Record<string, string>)['reconstructions'] = 'reconstructions.svg';
  }
  fs.writeFileSync(path.join(opts.out, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  console.log(
    `wrote ${modelPath}, loss.svg, summary.json${reconstruct ? ', reconstructions.svg' : ''} to ${opts.out} (${seconds.toFixed(2)} s)`,
  );
}

function evaluate(model: string, opts: { data: string; json?: boolean }): void {
  const { net, metadata } = t.loadModel(model);
  let inputShape: number[];
  try {
    inputShape = JSON.parse(metadata['inputShape'] ?? 'null') as number[];
    if (!Array.isArray(inputShape)) throw new Error('missing');
  } catch {
    throw new UsageError(
      `expected ${model} to record its inputShape (saved by torchlet train), got none`,
    );
  }
  const data = loadData(opts.data, inputShape);
  checkFits(net, inputShape, 'classify', data, model);
  const { test } = data;
  const acc = t.accuracy(net, test);
  const cm = t.confusionMatrix(net, test);
  if (opts.json) {
    console.log(JSON.stringify({ accuracy: acc, confusion: cm.matrix }));
    return;
  }
  console.log(`test accuracy ${acc.toFixed(4)} on ${test.x.shape[0]} ${opts.data} samples`);
  console.log('confusion matrix (rows: label, columns: predicted)');
  console.log(
    '     ' + Array.from({ length: cm.classes }, (_, j) => String(j).padStart(5)).join(''),
  );
  cm.matrix.forEach((row, i) =>
    console.log(String(i).padStart(5) + row.map((v) => String(v).padStart(5)).join('')),
  );
}

async function gridSearchCmd(opts: {
  grid: string;
  preset: string;
  data: string;
  cv: number;
  workers?: number;
  seed: number;
  epochs: number;
  out?: string;
  plots?: boolean;
}): Promise<void> {
  let grid: t.ParamGrid;
  try {
    const text = fs.existsSync(opts.grid) ? readJsonFile(opts.grid) : opts.grid;
    grid = JSON.parse(text) as t.ParamGrid;
  } catch (e) {
    throw new UsageError(
      `expected --grid to be a JSON file or JSON text, got ${JSON.stringify(opts.grid)} (${(e as Error).message})`,
    );
  }
  if (typeof grid !== 'object' || grid === null || Array.isArray(grid))
    throw new UsageError(
      `expected --grid to be a JSON object of value lists, e.g. {"step":[0.01,0.1]}, got ${JSON.stringify(grid)}`,
    );
  if (opts.plots && opts.out === undefined) throw new UsageError('expected --out DIR with --plots');
  if (opts.out !== undefined) outFolder(opts.out);
  const info = t.PRESETS.find((p) => p.name === opts.preset);
  if (info === undefined)
    throw new UsageError(
      `expected --preset to be one of ${t.PRESETS.map((p) => p.name).join(', ')}, got ${JSON.stringify(opts.preset)}`,
    );
  const data = loadData(opts.data, info.inputShape);
  // With `hidden` in the grid the network is Linear(in, hidden) -> ReLU -> Linear(hidden, 10);
  // otherwise the preset. Self-contained: it runs in the workers.
  const build = (p: GridParams, tl: Torchlet): Module => {
    const inputs = p['inputs'] as number;
    const hidden = p['hidden'];
    if (typeof hidden === 'number')
      return new tl.Sequential(
        new tl.Linear(inputs, hidden),
        new tl.ReLU(),
        new tl.Linear(hidden, 10),
      );
    return tl.preset(p['preset'] as t.PresetName).net;
  };
  const inputs = info.inputShape.reduce((a, b) => a * b, 1);
  const full: t.ParamGrid = { ...grid, preset: [opts.preset], inputs: [inputs] };
  const x =
    typeof grid['hidden'] === 'object'
      ? data.train.x.reshape([data.train.x.shape[0]!, inputs])
      : data.train.x;
  const started = performance.now();
  const rows = await t.gridSearch(build, full, x, data.train.y, {
    cv: opts.cv,
    seed: opts.seed,
    workers: opts.workers,
    train: { epochs: opts.epochs },
    saveLossGraphs: opts.plots ?? false,
    outDir: opts.out,
    onResult: (r) =>
      console.log(
        `done: ${t.paramsLabel(shown(r.params))}${r.error ? `  FAILED ${r.error}` : `  ${r.mean.toFixed(4)}`}`,
      ),
  });
  const seconds = (performance.now() - started) / 1000;
  console.log(`\nrank  mean accuracy ± std   params (cv ${opts.cv}, ${seconds.toFixed(1)} s)`);
  for (const r of rows) {
    const score =
      r.error === undefined ? `${r.mean.toFixed(4)} ± ${r.std.toFixed(4)}` : 'failed         ';
    console.log(
      `${String(r.rank).padStart(4)}  ${score.padEnd(20)} ${t.paramsLabel(shown(r.params))}${r.error ? `  (${r.error})` : ''}`,
    );
  }
  if (opts.out !== undefined) {
    fs.writeFileSync(
      path.join(opts.out, 'grid.json'),
      JSON.stringify({ seconds, rows }, null, 2) + '\n',
    );
    console.log(
      `wrote ${path.join(opts.out, 'grid.json')}${opts.plots ? ' and one loss-curve SVG per combination' : ''}`,
    );
  }
}

function shown(p: GridParams): GridParams {
  const { inputs: _i, preset: _p, ...rest } = p;
  return rest;
}

// The flags below are the CLI vocabulary of README.md (its table maps each to an API option);
// scripts/train-preset.ts uses the same names.

function dataOption(): Option {
  return new Option('--data <name>', 'data set').choices(['digits', 'mnist']).default('digits');
}

function trainOptions(
  cmd: Command,
  defaults: { epochs: number; lr: number; optimizer: string; out: string },
): Command {
  return cmd
    .addOption(dataOption())
    .option('--epochs <n>', 'epochs', int('--epochs', 1), defaults.epochs)
    .option('--batch-size <n>', 'samples per batch', int('--batch-size', 1), 32)
    .option('--lr <x>', "learning rate (sgd's step)", positive, defaults.lr)
    .addOption(
      new Option('--optimizer <name>', 'update rule')
        .choices([...t.OPTIMIZERS])
        .default(defaults.optimizer),
    )
    .option('--seed <n>', 'seed of the weights and the shuffling', seedArg, DEFAULT_SEED)
    .option('--out <dir>', 'output folder', defaults.out);
}

/** Builds the command tree (exported for tests). */
export function program(): Command {
  const cli = new Command('torchlet')
    .description('Torch-style neural networks on a WebAssembly core')
    .exitOverride()
    .configureOutput({ outputError: () => {} })
    .showHelpAfterError(false);
  trainOptions(
    cli
      .command('train')
      .description('train a preset of the report (default conv1d) or a JSON architecture spec')
      .option('--preset <name>', `one of ${t.PRESETS.map((p) => p.name).join(', ')}`)
      .option(
        '--spec <file>',
        'JSON { "inputShape": [...], "net": { "type": "Sequential", "children": [...] } }',
      ),
    { epochs: 10, lr: 0.05, optimizer: 'sgd', out: 'out/train' },
  ).action((o: TrainOpts) => train(o));
  cli
    .command('evaluate')
    .description('accuracy and confusion matrix of a model file on the test split')
    .argument('<model>', 'model file written by train')
    .addOption(dataOption())
    .option('--json', 'print JSON')
    .action((model: string, o: { data: string; json?: boolean }) => evaluate(model, o));
  cli
    .command('grid-search')
    .description('k-fold grid search; the grid is JSON, e.g. {"step":[0.01,0.1],"hidden":[50,100]}')
    .requiredOption('--grid <json>', 'grid as a JSON file or JSON text')
    .option('--preset <name>', 'network when the grid has no "hidden"', 'mlp')
    .addOption(dataOption())
    .option('--cv <k>', 'folds', int('--cv', 2), 3)
    .option('--epochs <n>', 'epochs per trial (a grid key "epochs" wins)', int('--epochs', 1), 5)
    .option('--workers <n>', 'worker threads (default: cores)', int('--workers', 0))
    .option('--seed <n>', 'seed of folds and trials', seedArg, DEFAULT_SEED)
    .option('--out <dir>', 'write grid.json (and plots) here')
    .option('--plots', 'write one loss-curve SVG per combination (needs --out)')
    .action((o: Parameters<typeof gridSearchCmd>[0]) => gridSearchCmd(o));
  trainOptions(
    cli
      .command('autoencode')
      .description("train the report's autoencoder; writes originals vs reconstructions"),
    { epochs: 20, lr: 3e-3, optimizer: 'adam', out: 'out/autoencode' },
  ).action((o: TrainOpts) => train(o, true));
  return cli;
}

/** Runs the CLI; returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const cli = program();
  try {
    await t.init();
    await cli.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (
        e.code === 'commander.helpDisplayed' ||
        e.code === 'commander.version' ||
        e.exitCode === 0
      )
        return 0;
      const sub = cli.commands.find((c) => c.name() === argv[0]);
      console.error(`torchlet: ${e.message.replace(/^error: /, '')}`);
      console.error(`usage: torchlet ${sub ? `${sub.name()} ${sub.usage()}` : cli.usage()}`);
      return 2;
    }
    if (
      e instanceof UsageError ||
      (e instanceof t.TorchletError &&
        (e.code === 'BAD_ARGUMENT' || e.code === 'BAD_FILE' || e.code === 'UNSUPPORTED_VERSION'))
    ) {
      const sub = cli.commands.find((c) => c.name() === argv[0]);
      console.error(`torchlet: ${e.message}`);
      console.error(`usage: torchlet ${sub ? `${sub.name()} ${sub.usage()}` : cli.usage()}`);
      return 2;
    }
    console.error(`torchlet: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}

const invoked =
  process.argv[1] !== undefined &&
  import.meta.url ===
    process.getBuiltinModule('node:url').pathToFileURL(fs.realpathSync(process.argv[1])).href;
if (invoked) process.exitCode = await main(process.argv.slice(2));
