// gridSearch under misuse and failure (issue 12): a documented limit on trials checked before
// anything is allocated; unknown option names refused with a "did you mean"; a buildNet whose
// source is not a function expression, an unclonable train option and an outDir under a file all
// refused before any trial; the caller's defaultRng left as it was; and with workers, a throwing
// onResult rejects the search, workers that die (during a trial or just after it) are replaced,
// the dying trial is retried a bounded number of times and blamed, healthy rows are not, nothing
// hangs (each scenario races a timer) and no worker is left (a child process must exit by itself).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  type GridParams,
  type GridRow,
  type Torchlet,
  TorchletError,
  defaultRng,
  gridCombinations,
  gridSearch,
  init,
  kFold,
  loadDigits,
  manualSeed,
} from '../ts/index.js';
import { MAX_GRID_TRIALS, checkKeys } from '../ts/train/grid.js';
import { MAX_GRID_WORKERS, MAX_TRIAL_ATTEMPTS } from '../ts/train/gridpool.js';
import { expectError } from './helpers.js';

await init();

const { train } = loadDigits();
const x = train.x.rows(0, 240);
const y = train.y.rows(0, 240);

// Self-contained (rebuilt in each worker). `die` makes the trial kill its worker: 'now' during
// the trial, a number of ms after it returns.
const build = (p: GridParams, t: Torchlet) => {
  if (p.die === 'now') process.exit(3);
  if (typeof p.die === 'number') setTimeout(() => process.exit(4), p.die);
  return new t.Sequential(new t.Linear(64, 8), new t.ReLU(), new t.Linear(8, 10));
};
const quick = { cv: 2, train: { epochs: 1, batchSize: 40 } };

/** Rejects if `p` has not settled within `ms`: a hang fails the test with a clear message. */
function within<T>(ms: number, p: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`hung: not settled within ${ms} ms`)), ms);
  });
  return Promise.race([p, guard]).finally(() => clearTimeout(timer));
}

/** The BAD_ARGUMENT a promise rejects with. */
async function rejection(p: Promise<unknown>): Promise<TorchletError> {
  const e = await within(30_000, p).then(
    () => new Error('resolved'),
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(TorchletError);
  expect((e as TorchletError).code).toBe('BAD_ARGUMENT');
  return e as TorchletError;
}

describe('gridSearch limits', () => {
  const eightByTen = Object.fromEntries(
    Array.from({ length: 8 }, (_, k) => [`k${k}`, Array.from({ length: 10 }, (_, v) => v)]),
  );

  it('refuses 10^8 combinations by count, before enumerating anything', async () => {
    const started = performance.now();
    const e = await rejection(gridSearch(build, eightByTen, x, y, { workers: 0 }));
    expect(e.message).toBe(
      `gridSearch: expected at most ${MAX_GRID_TRIALS} trials (MAX_GRID_TRIALS), ` +
        'got 100000000 combinations x 3 folds = 300000000',
    );
    expectError(
      () => gridCombinations(eightByTen),
      'BAD_ARGUMENT',
      /expected at most 100000 combinations \(MAX_GRID_TRIALS\), got 100000000/,
    );
    // Counting is instant; enumerating would take seconds and gigabytes (and abort V8).
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('counts folds too: combinations x folds, and accepts the limit itself', async () => {
    const values = Array.from({ length: MAX_GRID_TRIALS / 2 + 1 }, (_, i) => i);
    const e = await rejection(gridSearch(build, { a: values }, x, y, { cv: 2, workers: 0 }));
    expect(e.message).toMatch(/got 50001 combinations x 2 folds = 100002$/);
    expect(gridCombinations({ a: values.slice(1) })).toHaveLength(MAX_GRID_TRIALS / 2);
  });

  it('bounds kFold indices and the worker count', async () => {
    expectError(
      () => kFold(2 ** 20, 200),
      'BAD_ARGUMENT',
      /kFold: expected k x n <= 134217728 \(MAX_FOLD_INDICES\), got k 200 x n 1048576/,
    );
    const e = await rejection(gridSearch(build, { a: [1] }, x, y, { workers: 100_000 }));
    expect(e.message).toContain(`expected workers to be an integer from 0 to ${MAX_GRID_WORKERS}`);
  });
});

describe('gridSearch options, checked before any trial', () => {
  const never = (): void => {
    throw new Error('onResult must not run');
  };

  it('refuses misspelt option names with a suggestion', async () => {
    const bad = async (options: object): Promise<string> =>
      (await rejection(gridSearch(build, { a: [1] }, x, y, options as never))).message;
    expect(await bad({ cv: 3, worker: 2 })).toBe(
      'gridSearch: expected option names among metric, cv, loss, reduction, train, saveLossGraphs, ' +
        'outDir, workers, workerUrl, seed, onResult, queue, got `worker` (did you mean `workers`?)',
    );
    expect(await bad({ Seed: 1 })).toMatch(/got `Seed` \(did you mean `seed`\?\)$/);
    expect(await bad({ epochs: 3 })).toMatch(
      /got `epochs` \(did you mean `train: \{ epochs \}`\?\)$/,
    );
    expect(await bad({ banana: 1 })).toMatch(/got `banana`$/);
    expect(await bad({ train: { lr: 0.5 } })).toMatch(
      /expected train option names among batchSize, .*, got `lr` \(did you mean `step`\?\)$/,
    );
    expect(await bad({ seed: NaN })).toMatch(/expected seed to be an integer from 0 to 2\^32 - 1/);
    expect(await bad({ cv: 1 })).toMatch(/expected cv to be an integer from 2 to the 240 rows/);
    expect(await bad({ onResult: 5 })).toMatch(/expected onResult to be a function, got number/);
  });

  it('checkKeys, the shared helper, names the key and the nearest allowed one', () => {
    const allowed = ['step', 'epochs', 'batchSize'];
    expect(() => checkKeys({ step: 1, epochs: undefined }, allowed, 'sgd')).not.toThrow();
    expectError(
      () => checkKeys({ epoch: 1 }, allowed, 'sgd'),
      'BAD_ARGUMENT',
      /^sgd: expected option names among step, epochs, batchSize, got `epoch` \(did you mean `epochs`\?\)$/,
    );
    expectError(
      () => checkKeys({ batchsize: 1 }, allowed, 'sgd'),
      'BAD_ARGUMENT',
      /did you mean `batchSize`/,
    );
    expectError(
      () => checkKeys({ lr: 1 }, allowed, 'sgd', { aliases: { lr: 'step' } }),
      'BAD_ARGUMENT',
      /got `lr` \(did you mean `step`\?\)$/,
    );
    expectError(() => checkKeys({ x: 1 }, allowed, 'sgd'), 'BAD_ARGUMENT', /got `x`$/);
    expectError(
      () => checkKeys(null, allowed, 'sgd'),
      'BAD_ARGUMENT',
      /^sgd: expected options to be an object, got null$/,
    );
  });

  it('refuses a method-shorthand, bound or class buildNet, explaining why', async () => {
    const holder = {
      build(p: GridParams, t: Torchlet) {
        return new t.Linear(64, p.a as number);
      },
    };
    class Net {}
    for (const [f, what] of [
      [holder.build, /got a method shorthand/],
      [build.bind(null), /got a bound or native function/],
      [Net, /got a class/],
    ] as const) {
      for (const workers of [0, 2]) {
        const e = await rejection(
          gridSearch(f as never, { a: [1] }, x, y, { ...quick, workers, onResult: never }),
        );
        expect(e.message).toMatch(/^gridSearch: expected buildNet to be a self-contained function/);
        expect(e.message).toMatch(what);
      }
    }
  });

  it('refuses an unclonable train option by name, before any worker starts', async () => {
    const withHook = { epochs: 1, onEpoch() {} } as never;
    const e = await rejection(gridSearch(build, { a: [1] }, x, y, { workers: 2, train: withHook }));
    expect(e.message).toMatch(/expected train option names among .*, got `onEpoch`$/);
    const fn = { step: () => 0.1 } as never;
    const f = await rejection(gridSearch(build, { a: [1] }, x, y, { workers: 2, train: fn }));
    expect(f.message).toMatch(/expected train\.step to be a number, .*, got a function$/);
  });

  it('checks outDir before the first trial (a folder under a regular file)', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'torchlet-grid-')), 'plain');
    writeFileSync(file, 'not a folder');
    const options = { ...quick, workers: 0, saveLossGraphs: true, onResult: never };
    const e = await rejection(
      gridSearch(build, { a: [1] }, x, y, { ...options, outDir: join(file, 'out') }),
    );
    expect(e.message).toMatch(
      /expected outDir to be a writable folder .*got ".*plain\/out" \(ENOTDIR/,
    );
    const g = await rejection(gridSearch(build, { a: [1] }, x, y, { ...options, outDir: file }));
    expect(g.message).toMatch(/got ".*plain" \((EEXIST|not a folder)/);
  });
});

describe('gridSearch workers that never start (issue 15: a bundle without gridworker.js)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'torchlet-grid-worker-'));

  /** The TorchletError a search rejects with (within 30 s). */
  async function thrown(p: Promise<unknown>): Promise<TorchletError> {
    const e = await within(30_000, p).then(
      () => new Error('resolved'),
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(TorchletError);
    return e as TorchletError;
  }

  it('rejects with BAD_FILE naming a missing worker script, instead of rows of NaN', async () => {
    const missing = pathToFileURL(join(dir, 'no-such-gridworker.js'));
    const e = await thrown(
      gridSearch(build, { a: [1, 2] }, x, y, { ...quick, workers: 2, workerUrl: missing }),
    );
    expect(e.code).toBe('BAD_FILE');
    expect(e.message).toMatch(
      new RegExp(
        `^gridSearch: expected the worker script at ${missing.href} to start, got no such file; `,
      ),
    );
    expect(e.message).toMatch(/torchlet\/dist\/gridworker\.js copied next to the bundle/);
    expect(e.message).toMatch(/gridSearch\(\.\.\., \{ workerUrl \}\); workers: 0 runs the trials/);
  });

  it('names what a worker script that throws as it loads said (a path, relative to the cwd)', async () => {
    const script = join(dir, 'throws.mjs');
    writeFileSync(script, "throw new Error('not the torchlet worker');\n");
    const e = await thrown(
      gridSearch(build, { a: [1] }, x, y, { ...quick, workers: 1, workerUrl: script }),
    );
    expect(e.code).toBe('BAD_FILE');
    expect(e.message).toContain(
      `expected the worker script at ${pathToFileURL(script).href} to start, got not the torchlet worker.`,
    );
  });

  it('checks workerUrl before any worker starts', async () => {
    const bad = async (options: object): Promise<string> =>
      (await rejection(gridSearch(build, { a: [1] }, x, y, { ...quick, ...options }))).message;
    expect(await bad({ workerUrl: 5 })).toBe(
      'gridSearch: expected workerUrl to be a URL or a non-empty string, got 5',
    );
    expect(await bad({ workerUrl: '' })).toMatch(/got ""$/);
    expect(await bad({ workers: 0, workerUrl: 'gridworker.js' })).toBe(
      'gridSearch: expected workers > 0 with workerUrl (workers: 0 runs no worker), got workers: 0',
    );
  });
});

describe("gridSearch leaves the caller's defaultRng as it was", () => {
  it('draws the same numbers afterwards with workers 0 and 2 as without a search', async () => {
    const after = async (workers: number | null): Promise<number[]> => {
      manualSeed(5);
      defaultRng.next();
      if (workers !== null) await gridSearch(build, { a: [1, 2] }, x, y, { ...quick, workers });
      return [defaultRng.next(), defaultRng.next()];
    };
    const none = await after(null);
    expect(await after(0)).toEqual(none);
    expect(await after(2)).toEqual(none);
  });
});

describe('gridSearch workers fail safely', () => {
  it('rejects with the error a throwing onResult throws (workers: 2)', async () => {
    const boom = new Error('boom from onResult');
    let calls = 0;
    const onResult = (): void => {
      calls += 1;
      throw boom;
    };
    const grid = { a: [1, 2, 3, 4] };
    const e = await within(
      30_000,
      gridSearch(build, grid, x, y, { ...quick, workers: 2, onResult }),
    ).then(
      () => null,
      (err: unknown) => err,
    );
    expect(e).toBe(boom);
    expect(calls).toBe(1);
    // In this thread too.
    await expect(
      within(30_000, gridSearch(build, grid, x, y, { ...quick, workers: 0, onResult })),
    ).rejects.toBe(boom);
  });

  it('replaces dead workers, retries then blames the dying trial, never a healthy row', async () => {
    const die = ['no', 0, 'no', 'now', 'no', 30, 'no', 'no', 'no'];
    const rows = await within(60_000, gridSearch(build, { die }, x, y, { ...quick, workers: 2 }));
    const byDie = (d: unknown): GridRow[] => rows.filter((r) => r.params.die === d);
    for (const r of byDie('no')) {
      expect(r.error).toBeUndefined();
      expect(r.scores).toHaveLength(2);
    }
    expect(byDie('no')).toHaveLength(6);
    const attempts = `\\(attempt ${MAX_TRIAL_ATTEMPTS} of ${MAX_TRIAL_ATTEMPTS}\\)`;
    expect(byDie('now')[0]!.error).toMatch(
      new RegExp(`^fold 0: worker [12] failed: worker exited with code 3 ${attempts}$`),
    );
    for (const d of [0, 30]) {
      expect(byDie(d)[0]!.error).toMatch(
        new RegExp(`^fold 0: worker [12] failed: worker exited with code 4 ${attempts}$`),
      );
    }
    expect(rows.slice(0, 6).every((r) => r.error === undefined)).toBe(true);
    expect(rows.flatMap((r) => r.workers).every((w) => w === 1 || w === 2)).toBe(true);
  });

  it('finishes when every trial kills its worker (retries are bounded)', async () => {
    const rows = await within(
      60_000,
      gridSearch(build, { die: ['now'], a: [1, 2] }, x, y, { ...quick, workers: 2 }),
    );
    for (const r of rows) expect(r.error).toMatch(/worker exited with code 3 \(attempt 2 of 2\)$/);
  });

  it('leaves no worker running: a process running each scenario exits by itself', () => {
    const dir = mkdtempSync(join(tmpdir(), 'torchlet-grid-exit-'));
    const script = join(dir, 'scenarios.mts');
    const index = JSON.stringify(pathToFileURL(join(process.cwd(), 'ts', 'index.ts')).href);
    writeFileSync(
      script,
      `import { gridSearch, init, loadDigits } from ${index};
await init();
const { train } = loadDigits();
const x = train.x.rows(0, 120);
const y = train.y.rows(0, 120);
const build = ${build.toString()};
const o = { cv: 2, workers: 2, train: { epochs: 1 } };
const report = (what, p) => p.then(
  (rows) => console.log(what, 'resolved', rows.filter((r) => r.error).length),
  (e) => console.log(what, 'rejected', e.message),
);
await report('onResult', gridSearch(build, { a: [1, 2, 3] }, x, y, { ...o, onResult() { throw new Error('boom'); } }));
await report('unclonable', gridSearch(build, { a: [1] }, x, y, { ...o, train: { onEpoch() {} } }));
await report('deaths', gridSearch(build, { die: ['no', 0, 'now', 'no'] }, x, y, o));
`,
    );
    // No process.exit in the script: it ends only once no worker keeps it alive.
    const r = spawnSync(process.execPath, ['--import', 'tsx', script], {
      encoding: 'utf8',
      timeout: 50_000,
      cwd: process.cwd(),
    });
    expect(r.signal, `still running after 50 s:\n${r.stdout}${r.stderr}`).toBeNull();
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual([
      'onResult rejected boom',
      expect.stringMatching(
        /^unclonable rejected gridSearch: expected train option names .*`onEpoch`$/,
      ),
      'deaths resolved 2',
    ]);
  }, 60_000);
});
