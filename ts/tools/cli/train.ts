// `torchlet train` and `torchlet autoencode`: a preset or spec on the digits, MNIST or a CSV; one
// line per epoch (numbered from 1) with the test loss and score; writes model.safetensors (with
// what evaluate and predict need in its metadata), loss.svg, summary.json (and the reconstructions).

import * as t from '../../index.js';
import { type Command, type Flag, UsageError, int, oneOf, positive } from './args.js';
import { DEFAULT_SEED, dataFlags, loadData, outFolder, seedFlag, view } from './data.js';
import { checkFits, chooseNet } from './net.js';
import { Progress } from './progress.js';

const fs = process.getBuiltinModule('node:fs');
const path = process.getBuiltinModule('node:path');

/** The flags `train` and `autoencode` share, with per-command defaults. */
function trainFlags(d: { epochs: number; lr: number; optimizer: string; out: string }): Flag[] {
  return [
    ...dataFlags(true),
    {
      name: 'epochs',
      value: '<n>',
      help: 'passes over the training split',
      default: d.epochs,
      parse: int('--epochs', 1),
    },
    {
      name: 'batch-size',
      value: '<n>',
      help: 'samples per batch',
      default: 32,
      parse: int('--batch-size', 1),
    },
    {
      name: 'lr',
      value: '<x>',
      help: "learning rate (sgd's step)",
      default: d.lr,
      parse: positive('--lr'),
    },
    {
      name: 'optimizer',
      value: '<name>',
      help: `update rule: ${t.OPTIMIZERS.join(', ')}`,
      default: d.optimizer,
      parse: oneOf('--optimizer', t.OPTIMIZERS),
    },
    {
      name: 'reduction',
      value: '<name>',
      help: "the loss over a batch: batchmean (summed per sample, averaged over the batch), mean (PyTorch's: per value for BCE, per sample for cross-entropy) or sum",
      default: 'batchmean',
      parse: oneOf('--reduction', t.REDUCTIONS),
    },
    seedFlag("seed of the initial weights, the shuffling and a CSV's test split"),
    { name: 'out', value: '<dir>', help: 'output folder', default: d.out },
  ];
}

/** `torchlet train`. */
export const TRAIN: Command = {
  name: 'train',
  summary:
    'train a preset of the report (default conv1d) or a JSON architecture spec on the digits, MNIST or your CSV; the first layer is sized to the data',
  flags: [
    {
      name: 'preset',
      value: '<name>',
      help: `one of ${t.PRESETS.map((p) => p.name).join(', ')} (default conv1d)`,
    },
    {
      name: 'spec',
      value: '<file>',
      help: 'JSON { "inputShape": [...], "net": { "type": "Sequential", "children": [...] } }',
    },
    ...trainFlags({ epochs: 10, lr: 0.05, optimizer: 'sgd', out: 'out/train' }),
  ],
  run: (f) => train(f, false),
};

/** `torchlet autoencode`. */
export const AUTOENCODE: Command = {
  name: 'autoencode',
  summary: "train the report's autoencoder (BCE loss); writes originals vs reconstructions",
  flags: trainFlags({ epochs: 20, lr: 3e-3, optimizer: 'adam', out: 'out/autoencode' }),
  run: (f) => train(f, true),
};

function train(f: Record<string, unknown>, autoencode: boolean): void {
  const seed = (f['seed'] as number | undefined) ?? DEFAULT_SEED;
  const epochs = f['epochs'] as number;
  const data = loadData(f, true, seed);
  const choice = chooseNet(
    {
      preset: autoencode ? 'autoencoder' : (f['preset'] as string | undefined),
      spec: f['spec'] as string | undefined,
      seed,
    },
    data,
  );
  const reconstruct = choice.task === 'reconstruct';
  checkFits(choice.net, choice.inputShape, choice.task, data.classes, choice.short);
  if (reconstruct && data.csv) {
    const outside = [data.train.x, data.test.x].some((x) =>
      x.toArray().some((v) => v < 0 || v > 1),
    );
    if (outside)
      throw new UsageError(
        `expected ${data.name}'s values in [0, 1] to reconstruct them (BCE loss), got values outside; scale the columns first`,
      );
  }
  const out = f['out'] as string;
  outFolder(out);
  const trainSet = view(data.train, choice.inputShape);
  const testSet = view(data.test, choice.inputShape);
  if (reconstruct) {
    trainSet.y = trainSet.x;
    testSet.y = testSet.x;
  }
  const reduction = f['reduction'] as t.Reduction;
  const loss = reconstruct
    ? new t.BCELoss({ reduction })
    : new t.LogSoftmaxCrossEntropy({ reduction });
  console.log(
    `torchlet: ${choice.label} on ${data.name} (${trainSet.x.shape[0]} train / ${testSet.x.shape[0]} test), ${f['optimizer']} lr ${f['lr']}, ${loss.type} (${reduction}), seed ${seed}`,
  );
  const bar = new Progress();
  let batchStart = performance.now();
  let samples = 0;
  const started = performance.now();
  const history = t.sgd(choice.net, trainSet, loss, {
    epochs,
    batchSize: f['batch-size'] as number,
    step: f['lr'] as number,
    optimizer: f['optimizer'] as t.OptimizerName,
    seed,
    validation: testSet,
    metric: reconstruct ? 'mse' : 'accuracy',
    onBatch: (b) => {
      if (b.batch === 0) {
        batchStart = performance.now();
        samples = 0;
      }
      samples += b.size;
      const speed = Math.round(samples / Math.max(1e-3, (performance.now() - batchStart) / 1000));
      bar.update(
        `epoch ${b.epoch + 1} of ${epochs}, batch`,
        b.batch + 1,
        b.batches,
        `loss ${b.loss.toFixed(4)}  ${speed} samples/s`,
      );
    },
    onEpoch: (e, value, info) => {
      bar.clear();
      const score = reconstruct
        ? `test mse ${info.valMetric!.toFixed(4)}`
        : `test accuracy ${info.valMetric!.toFixed(4)}`;
      console.log(
        `epoch ${String(e + 1).padStart(String(epochs).length)} of ${epochs}  loss ${value.toFixed(4)}  test loss ${info.valLoss!.toFixed(4)}  ${score}`,
      );
    },
  });
  bar.clear();
  const seconds = (performance.now() - started) / 1000;
  const modelPath = path.join(out, 'model.safetensors');
  const metadata: Record<string, string> = {
    inputShape: JSON.stringify(choice.inputShape),
    task: choice.task,
    data: data.csv ? 'csv' : data.name,
    classes: String(data.classes),
  };
  if (data.classNames) metadata['classNames'] = JSON.stringify(data.classNames);
  if (data.csv) {
    metadata['label'] = JSON.stringify(data.csv.label);
    if (data.csv.header) metadata['header'] = JSON.stringify(data.csv.header);
  }
  t.save(choice.net, modelPath, { metadata });
  fs.writeFileSync(
    path.join(out, 'loss.svg'),
    t.lossCurvesSvg([{ name: choice.short, train: history.loss, validation: history.valLoss }], {
      title: `${choice.short} on ${path.basename(data.name)}`,
    }),
  );
  const summary: Record<string, unknown> = {
    network: choice.label,
    data: data.name,
    inputShape: choice.inputShape,
    optimizer: f['optimizer'],
    lr: f['lr'],
    lossFunction: `${loss.type} (${reduction})`,
    epochs: history.loss.length,
    batchSize: f['batch-size'],
    seed,
    seconds,
    loss: history.loss,
    testLoss: history.valLoss,
    [reconstruct ? 'testMse' : 'testAccuracy']: history.valMetric,
    files: { model: 'model.safetensors', lossCurves: 'loss.svg' } as Record<string, string>,
  };
  if (reconstruct) writeReconstructions(choice.net, testSet.x, data.features, out);
  if (reconstruct)
    (summary['files'] as Record<string, string>)['reconstructions'] = 'reconstructions.svg';
  fs.writeFileSync(path.join(out, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  console.log(
    `wrote ${modelPath}, loss.svg, summary.json${reconstruct ? ', reconstructions.svg' : ''} to ${out} (${seconds.toFixed(2)} s)`,
  );
}

/** Ten test samples (top) and their reconstructions (bottom), as SVG and PNG. */
function writeReconstructions(net: t.Module, x: t.Tensor, features: number, out: string): void {
  const count = Math.min(10, x.shape[0]!);
  const batch = x.rows(0, count);
  const originals = batch.toArray();
  const recon = net.forward(batch).toArray();
  const both = new Float32Array(originals.length * 2);
  both.set(originals);
  both.set(recon, originals.length);
  const side = Math.round(Math.sqrt(features));
  const imageShape: [number, number] = side * side === features ? [side, side] : [1, features];
  const opts = { imageShape, columns: count, scale: 6 };
  fs.writeFileSync(
    path.join(out, 'reconstructions.svg'),
    t.imageGridSvg(both, count * 2, {
      ...opts,
      title: 'originals (top) vs reconstructions (bottom)',
    }),
  );
  fs.writeFileSync(path.join(out, 'reconstructions.png'), t.imageGridPng(both, count * 2, opts));
}
