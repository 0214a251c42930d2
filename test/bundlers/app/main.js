// The bundler test app: what a user writes, with no bundler-specific code. Each bundler in
// test/bundlers.test.ts builds it against the packed torchlet; the page reports window.__result.
/* global window, location, URLSearchParams */
import * as tl from 'torchlet';

async function main() {
  await tl.init();
  const { train, test } = await tl.fetchDigits();
  const x = train.x.rows(0, 400);
  const y = train.y.rows(0, 400);

  // A short training in this thread.
  const net = new tl.Sequential(new tl.Linear(64, 32), new tl.ReLU(), new tl.Linear(32, 10));
  const history = tl.sgd(net, train, new tl.LogSoftmaxCrossEntropy(), {
    epochs: 3,
    step: 0.1,
    batchSize: 32,
    seed: 1,
  });
  const accuracy = tl.accuracy(net, test);

  // gridSearch on two module Web Workers, with the worker the bundler emitted (or, for the
  // esbuild page, the copy ?workerUrl= names).
  const workerUrl = new URLSearchParams(location.search).get('workerUrl') ?? undefined;
  const build = (p, t) =>
    new t.Sequential(new t.Linear(64, p.hidden), new t.ReLU(), new t.Linear(p.hidden, 10));
  const rows = await tl.gridSearch(build, { hidden: [8, 16] }, x, y, {
    cv: 2,
    workers: 2,
    seed: 1,
    workerUrl,
    train: { epochs: 5, batchSize: 20, step: 0.2 },
  });

  // A worker script that is not there must throw, naming its URL, not give NaN rows.
  let missingWorker;
  try {
    const bad = await tl.gridSearch(build, { hidden: [8] }, x, y, {
      cv: 2,
      workers: 1,
      workerUrl: './no-such-gridworker.js',
      train: { epochs: 1 },
    });
    missingWorker = { resolved: bad.map((r) => r.error ?? r.mean) };
  } catch (e) {
    missingWorker = { name: e.name, code: e.code, message: e.message };
  }

  return {
    digits: [train.x.shape[0], test.x.shape[0]],
    loss: history.loss,
    accuracy,
    grid: rows.map((r) => ({
      scores: r.scores,
      mean: r.mean,
      error: r.error ?? null,
      workers: r.workers,
    })),
    missingWorker,
  };
}

const report = (value) => {
  window.__result = value;
};
main().then(report, (e) => report({ error: `${e.name}: ${e.message}\n${e.stack}` }));
