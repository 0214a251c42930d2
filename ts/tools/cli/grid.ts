// `torchlet grid-search`: gridSearch on the training split (the digits', MNIST's, or every row of
// a CSV), with progress as combinations finish, the ranked table, grid.json, and with --plots one
// loss-curve SVG per combination named by it (grid-step=0.05-hidden=16.svg).

import * as t from '../../index.js';
import type { GridParams, Module, Torchlet } from '../../index.js';
import { type Command, UsageError, int, oneOf } from './args.js';
import { dataFlags, loadData, outFolder, readSmallFile, seedFlag } from './data.js';
import { needLabels } from './net.js';
import { Progress } from './progress.js';

const fs = process.getBuiltinModule('node:fs');
const path = process.getBuiltinModule('node:path');

/** `torchlet grid-search`. */
export const GRID_SEARCH: Command = {
  name: 'grid-search',
  summary:
    'k-fold grid search; the grid is JSON, e.g. {"step":[0.01,0.1],"hidden":[50,100]} ("hidden": an MLP of that width, else --preset)',
  flags: [
    { name: 'grid', value: '<json>', help: 'grid as a JSON file or JSON text (required)' },
    {
      name: 'preset',
      value: '<name>',
      help: 'network when the grid has no "hidden"',
      default: 'mlp',
      parse: oneOf(
        '--preset',
        t.PRESETS.map((p) => p.name),
      ),
    },
    ...dataFlags(false),
    { name: 'cv', value: '<k>', help: 'folds', default: 3, parse: int('--cv', 2) },
    {
      name: 'epochs',
      value: '<n>',
      help: 'epochs per trial (a grid key "epochs" wins)',
      default: 5,
      parse: int('--epochs', 1),
    },
    {
      name: 'workers',
      value: '<n>',
      help: 'worker threads (default: cores)',
      parse: int('--workers', 0),
    },
    {
      name: 'redis',
      value: '<url>',
      help: 'queue the trials on this Redis (redis://host:6379) for `torchlet worker` processes to train',
    },
    {
      name: 'queue',
      value: '<name>',
      help: `the queue, with --redis (default ${t.GRID_QUEUE})`,
    },
    {
      name: 'search-id',
      value: '<id>',
      help: 'names the search, with --redis: the same id resumes it (default: a hash of the search)',
    },
    seedFlag('seed of the folds and the trials'),
    { name: 'out', value: '<dir>', help: 'write grid.json (and plots) here' },
    { name: 'plots', help: 'write one loss-curve SVG per combination (needs --out)' },
  ],
  run: (f) => gridSearch(f),
};

async function gridSearch(f: Record<string, unknown>): Promise<void> {
  if (typeof f['grid'] !== 'string') throw new UsageError('expected --grid <json>, got none');
  let grid: t.ParamGrid;
  try {
    const text = fs.existsSync(f['grid']) ? readSmallFile(f['grid']) : f['grid'];
    grid = JSON.parse(text) as t.ParamGrid;
  } catch (e) {
    throw new UsageError(
      `expected --grid to be a JSON file or JSON text, got ${JSON.stringify(f['grid'])} (${(e as Error).message})`,
    );
  }
  if (typeof grid !== 'object' || grid === null || Array.isArray(grid))
    throw new UsageError(
      `expected --grid to be a JSON object of value lists, e.g. {"step":[0.01,0.1]}, got ${JSON.stringify(grid)}`,
    );
  const out = f['out'] as string | undefined;
  if (f['plots'] && out === undefined) throw new UsageError('expected --out DIR with --plots');
  if (out !== undefined) outFolder(out);
  const redis = f['redis'] as string | undefined;
  for (const flag of ['queue', 'search-id'] as const) {
    if (f[flag] !== undefined && redis === undefined)
      throw new UsageError(`expected --redis with --${flag}, got none`);
  }
  if (redis !== undefined && f['workers'] !== undefined)
    throw new UsageError(
      "expected --workers or --redis, got both (a queue's trials run on its workers)",
    );
  const queue =
    redis === undefined
      ? undefined
      : {
          connection: redis,
          name: f['queue'] as string | undefined,
          searchId: f['search-id'] as string | undefined,
        };
  const seed = f['seed'] as number;
  const data = loadData(f, false, seed);
  needLabels({ task: 'classify' }, data);
  const name = f['preset'] as t.PresetName;
  const usesHidden = typeof grid['hidden'] === 'object';
  let inputShape: number[] = [data.features];
  if (!usesHidden) {
    try {
      inputShape = [
        ...t.preset(name, { seed, inputSize: data.features, classes: data.classes }).inputShape,
      ];
    } catch (e) {
      throw new UsageError(
        `expected --preset to fit --data ${data.name}, got ${name}: ${(e as Error).message.replace(/^preset: /, '')}`,
      );
    }
  }
  // With `hidden` in the grid the network is Linear(in, hidden) -> ReLU -> Linear(hidden, classes);
  // otherwise the preset, sized to the data. Self-contained: it runs in the workers.
  const build = (p: GridParams, tl: Torchlet): Module => {
    const inputs = p['inputs'] as number;
    const classes = p['classes'] as number;
    const hidden = p['hidden'];
    if (typeof hidden === 'number')
      return new tl.Sequential(
        new tl.Linear(inputs, hidden),
        new tl.ReLU(),
        new tl.Linear(hidden, classes),
      );
    return tl.preset(p['preset'] as t.PresetName, { inputSize: inputs, classes }).net;
  };
  const full: t.ParamGrid = {
    ...grid,
    preset: [name],
    inputs: [data.features],
    classes: [data.classes],
  };
  const x = t.asSamples(data.train.x, inputShape);
  const total = t.gridCombinations(full).length;
  const bar = new Progress();
  const taken = new Set<string>();
  const plots = new Map<t.GridRow, string>();
  let done = 0;
  const started = performance.now();
  bar.update('combinations', 0, total);
  const rows = await t.gridSearch(build, full, x, data.train.y, {
    cv: f['cv'] as number,
    seed,
    workers: f['workers'] as number | undefined,
    ...(queue === undefined ? {} : { queue }),
    train: { epochs: f['epochs'] as number },
    onResult: (r) => {
      done++;
      bar.clear();
      const elapsed = (performance.now() - started) / 1000;
      const left = (elapsed / done) * (total - done);
      console.log(
        `[${done}/${total}] ${t.paramsLabel(shown(r.params))}${r.error ? `  FAILED ${r.error}` : `  ${r.mean.toFixed(4)}`}  (${elapsed.toFixed(1)} s${done < total ? `, ~${left.toFixed(0)} s left` : ''})`,
      );
      if (f['plots'] && out !== undefined && r.curves.length > 0) {
        const file = path.join(out, t.gridPlotName(shown(r.params), taken));
        const runs = r.curves.map((c, k) => ({
          name: `fold ${k + 1}`,
          train: c.train,
          validation: c.validation,
        }));
        fs.writeFileSync(file, t.lossCurvesSvg(runs, { title: t.paramsLabel(shown(r.params)) }));
        plots.set(r, file);
      }
      if (done < total) bar.update('combinations', done, total);
    },
  });
  bar.clear();
  const seconds = (performance.now() - started) / 1000;
  console.log(`\nrank  mean accuracy ± std   params (cv ${f['cv']}, ${seconds.toFixed(1)} s)`);
  for (const r of rows) {
    const score =
      r.error === undefined ? `${r.mean.toFixed(4)} ± ${r.std.toFixed(4)}` : 'failed         ';
    console.log(
      `${String(r.rank).padStart(4)}  ${score.padEnd(20)} ${t.paramsLabel(shown(r.params))}${r.error ? `  (${r.error})` : ''}`,
    );
  }
  if (out !== undefined) {
    const saved = rows.map((r) => ({ ...r, params: shown(r.params), plot: plots.get(r) }));
    fs.writeFileSync(
      path.join(out, 'grid.json'),
      JSON.stringify({ seconds, rows: saved }, null, 2) + '\n',
    );
    console.log(
      `wrote ${path.join(out, 'grid.json')}${f['plots'] ? ` and ${plots.size} loss-curve SVGs (grid-<combination>.svg)` : ''}`,
    );
  }
}

function shown(p: GridParams): GridParams {
  const { inputs: _i, preset: _p, classes: _c, ...rest } = p;
  return rest;
}
