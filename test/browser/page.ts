// The browser test page's entry. browser.test.ts bundles it with 'torchlet' left as an import,
// which the page's import map points at a copy of dist/, and reads window.__result.
import * as tl from 'torchlet';
import { runCoreChecks, dataParallel } from './core-checks.js';

async function main(): Promise<object> {
  // The test server answers unknown paths with index.html, as a misconfigured SPA host does.
  let htmlError = '';
  try {
    await tl.init({ wasm: './no-such.wasm' });
  } catch (e) {
    htmlError = (e as Error).message;
  }
  await tl.init();
  return {
    htmlError,
    ...(await runCoreChecks(tl)),
    grid: await gridInWorkers(),
    parallel: await dataParallel(tl),
  };
}

/** A 2-combination, 2-fold grid search on Web Workers, each with its own WASM instance. */
async function gridInWorkers(): Promise<object> {
  const { train } = await tl.fetchDigits();
  const build = (p: tl.GridParams, t: tl.Torchlet) =>
    new t.Sequential(
      new t.Linear(64, p.hidden as number),
      new t.ReLU(),
      new t.Linear(p.hidden as number, 10),
    );
  try {
    const rows = await tl.gridSearch(build, { step: [0.1], hidden: [20, 40] }, train.x, train.y, {
      cv: 2,
      workers: 2,
      seed: 1,
      train: { epochs: 4, batchSize: 32 },
    });
    return {
      rows: rows.map((r) => ({ mean: r.mean, error: r.error ?? null, workers: r.workers })),
    };
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
}

const report = (value: object): void => {
  (window as unknown as { __result: object }).__result = value;
};
main().then(report, (e: unknown) =>
  report({ error: e instanceof Error ? `${e.message}\n${e.stack}` : String(e) }),
);
