// The page without cross-origin isolation (no SharedArrayBuffer): data-parallel training must
// fall back to one worker and say why once on the console, not fail and not stay silent.
import * as tl from 'torchlet';

async function main(): Promise<object> {
  await tl.init();
  const { train } = await tl.fetchDigits();
  const rng = new tl.Rng(7);
  const net = new tl.Sequential(
    new tl.Linear(64, 16, { rng }),
    new tl.ReLU(),
    new tl.Linear(16, 10, { rng }),
  );
  const loss = new tl.LogSoftmaxCrossEntropy();
  const optim = new tl.Optim(net, loss, 0.1, { workers: 2 });
  optim.step(train.x.rows(0, 32), train.y.rows(0, 32));
  const again = new tl.Optim(net, loss, 0.1, { workers: 4 });
  again.step(train.x.rows(0, 32), train.y.rows(0, 32));
  return {
    isolated: (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated,
    workers: [optim.workers, again.workers],
    started: await tl.startWorkers(2),
  };
}

const report = (value: object): void => {
  (window as unknown as { __result: object }).__result = value;
};
main().then(report, (e: unknown) =>
  report({ error: e instanceof Error ? `${e.message}\n${e.stack}` : String(e) }),
);
