// The network of a training command: --preset (sized to the data) or --spec (checked layer by layer
// when it loads, so a spec whose layers do not chain fails before any batch), and the check that a
// network's output fits the task.

import * as t from '../../index.js';
import type { Module } from '../../index.js';
import { UsageError, oneOf } from './args.js';
import { type Data, readSmallFile } from './data.js';

const path = process.getBuiltinModule('node:path');

/** A network chosen by --preset or --spec, and what it needs. */
export interface NetChoice {
  net: Module;
  /** Shape of one sample. */
  inputShape: number[];
  /** `conv1d: Conv1D(3, 1, 32) -> …` or `spec net.json`. */
  label: string;
  /** The short name: the preset's or the spec file's. */
  short: string;
  task: 'classify' | 'reconstruct';
}

/** The spec or preset, built with the seed and sized (presets) or checked (specs) against the data. */
export function chooseNet(
  flags: { preset?: string; spec?: string; seed: number },
  data: Data,
): NetChoice {
  if (flags.spec !== undefined) {
    if (flags.preset !== undefined) throw new UsageError('expected --preset or --spec, got both');
    return needLabels(loadSpec(flags.spec, flags.seed, data), data);
  }
  const name = flags.preset ?? 'conv1d';
  oneOf(
    '--preset',
    t.PRESETS.map((p) => p.name),
  )(name);
  needLabels({ task: t.PRESETS.find((q) => q.name === name)!.task }, data);
  // No labels (--label none): only the autoencoder, which takes no class count.
  const classes = data.classes > 0 ? data.classes : undefined;
  let p: t.Preset;
  try {
    p = t.preset(name as t.PresetName, {
      seed: flags.seed,
      inputSize: data.features,
      classes,
    });
  } catch (e) {
    const fits = t.PRESETS.filter((q) => {
      try {
        t.preset(q.name, {
          seed: 0,
          inputSize: data.features,
          classes,
        }).net.dispose();
        return true;
      } catch {
        return false;
      }
    }).map((q) => q.name);
    throw new UsageError(
      `expected --preset to fit --data ${data.name} (${data.features} values per sample), got ${name}: ${(e as Error).message.replace(/^preset: /, '')}; presets that fit: ${fits.join(', ')}`,
    );
  }
  return {
    net: p.net,
    inputShape: [...p.inputShape],
    label: `${p.name}: ${p.description}`,
    short: p.name,
    task: p.task,
  };
}

/** Throws unless the data has labels or the network reconstructs; returns `choice`. */
export function needLabels<T extends { task: 'classify' | 'reconstruct' }>(
  choice: T,
  data: Data,
): T {
  if (choice.task === 'classify' && data.classes === 0)
    throw new UsageError(
      `expected a label column in ${data.name} to train or test a classifier, got --label none`,
    );
  return choice;
}

function loadSpec(file: string, seed: number, data: Data): NetChoice {
  let spec: { inputShape?: unknown; net?: unknown; task?: unknown };
  try {
    spec = JSON.parse(readSmallFile(file)) as typeof spec;
  } catch (e) {
    throw new UsageError(
      `expected --spec to be a readable JSON file, got ${file} (${(e as Error).message})`,
    );
  }
  const shape = spec.inputShape;
  if (
    !Array.isArray(shape) ||
    shape.length === 0 ||
    !shape.every((d) => Number.isInteger(d) && d > 0)
  ) {
    throw new UsageError(
      `expected the spec's inputShape to be an array of positive integers, got ${JSON.stringify(shape)}`,
    );
  }
  if (spec.task !== undefined && spec.task !== 'classify' && spec.task !== 'reconstruct')
    throw new UsageError(
      `expected the spec's task to be "classify" or "reconstruct", got ${JSON.stringify(spec.task)}`,
    );
  const inputShape = shape as number[];
  const short = `spec ${path.basename(file)}`;
  let net: Module;
  try {
    net = t.fromArchitecture(spec.net, new t.Rng(seed));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  checkChain(net, inputShape, short);
  const size = inputShape.reduce((a, b) => a * b, 1);
  if (size !== data.features)
    throw new UsageError(
      `expected ${short}'s inputShape ${JSON.stringify(inputShape)} to hold ${data.features} values per sample as --data ${data.name} has, got ${size}`,
    );
  return {
    net,
    inputShape,
    label: short,
    short,
    task: spec.task === 'reconstruct' ? 'reconstruct' : 'classify',
  };
}

/** Shapes as `[batch, 32]` for people, whatever batch probed them. */
function batchShape(shape: readonly number[]): string {
  return `[batch${shape
    .slice(1)
    .map((d) => `, ${d}`)
    .join('')}]`;
}

/**
 * Walks a top-level Sequential's layers with the sample shape, so a spec whose layers do not chain
 * is refused when it loads, naming the layer (from 0, as `Sequential[i]`) and both shapes.
 */
export function checkChain(net: Module, inputShape: readonly number[], source: string): void {
  const layers = net.type === 'Sequential' ? net.children() : [net];
  let shape = [1, ...inputShape];
  layers.forEach((layer, i) => {
    try {
      shape = layer.outputShape(shape);
    } catch (e) {
      const why = (e as Error).message.replace(/, got \[[^\]]*\]$/, '');
      const from = i === 0 ? 'the input' : `layer ${i - 1} (${layers[i - 1]!.toString()})`;
      throw new UsageError(
        `expected ${source}'s layers to chain, got layer ${i} (${layer.toString()}) given ${batchShape(shape)} by ${from}; ${why}`,
      );
    }
  });
}

/**
 * Throws a UsageError unless `net` takes samples of `inputShape` and its output fits the task:
 * at least one score per class (classify) or the input's shape (reconstruct).
 */
export function checkFits(
  net: Module,
  inputShape: readonly number[],
  task: 'classify' | 'reconstruct',
  classes: number,
  source: string,
): void {
  let out: number[];
  try {
    out = net.outputShape([1, ...inputShape]);
  } catch (e) {
    throw new UsageError(
      `expected ${source}'s network to accept its inputShape ${JSON.stringify(inputShape)}, got ${(e as Error).message.replace(/\[1, /g, '[batch, ')}`,
    );
  }
  const sample = out.slice(1);
  if (task === 'reconstruct') {
    if (sample.reduce((a, b) => a * b, 1) !== inputShape.reduce((a, b) => a * b, 1))
      throw new UsageError(
        `expected ${source}'s network to reconstruct its input ${JSON.stringify(inputShape)}, got an output of ${JSON.stringify(sample)} per sample`,
      );
    return;
  }
  const width = sample.reduce((a, b) => a * b, 1);
  if (width < classes)
    throw new UsageError(
      `expected ${source}'s network to output at least ${classes} class scores, got ${width} (output ${JSON.stringify(sample)} per sample)`,
    );
}
