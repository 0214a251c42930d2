// The worker side of gridSearch's pool (gridpool.ts), and of data-parallel training's teams
// (parallelworker.ts, on a `parallel` message). For a search it receives the compiled WASM module and the
// data once, instantiates its own WASM memory, rebuilds buildNet from its source, then runs one
// trial (combination x fold) per message. Runs as a Node worker_thread or a browser module Worker.

import * as torchlet from '../index.js';
import {
  type BuildNet,
  type FromWorker,
  type ToWorker,
  type TrialContext,
  compileBuildNet,
  runTrial,
} from './gridpool.js';
import { runningTrials } from './parallel.js';
import { serveTeam } from './parallelworker.js';

interface Endpoint {
  post(m: FromWorker): void;
  listen(f: (m: ToWorker) => void): void;
}

function endpoint(): Endpoint {
  const wt =
    typeof process === 'undefined' ? undefined : process.getBuiltinModule?.('node:worker_threads');
  const port = wt?.parentPort;
  if (port) return { post: (m) => port.postMessage(m), listen: (f) => port.on('message', f) };
  const scope = globalThis as unknown as {
    postMessage(m: FromWorker): void;
    onmessage: ((e: MessageEvent<ToWorker>) => void) | null;
  };
  return {
    post: (m) => scope.postMessage(m),
    listen: (f) => {
      scope.onmessage = (e) => f(e.data);
    },
  };
}

const ep = endpoint();
let ctx: TrialContext | null = null;
let build: BuildNet | null = null;
let queue: Promise<void> = Promise.resolve();

ep.listen((m) => {
  queue = queue.then(async () => {
    if (m.kind === 'ping') {
      ep.post({ kind: 'pong' });
    } else if (m.kind === 'parallel') {
      // A data-parallel team (parallel.ts): serves steps until released, then takes messages again.
      await serveTeam(m);
    } else if (m.kind === 'init') {
      try {
        await torchlet.init(m.module);
        runningTrials();
        build = compileBuildNet(m.ctx.buildSource);
        ctx = m.ctx;
        ep.post({ kind: 'ready' });
      } catch (e) {
        ep.post({ kind: 'fatal', message: e instanceof Error ? e.message : String(e) });
      }
    } else if (ctx !== null && build !== null) {
      const make = build;
      const result = runTrial(ctx, (p) => make(p, torchlet), m.job);
      await settle();
      ep.post({ kind: 'result', result });
    }
  });
});

/** Longest wait for the timers a trial left behind before its result is sent. */
const SETTLE_MS = 200;

/**
 * Lets what the trial scheduled for after it (a microtask, an immediate, a timer due within
 * `SETTLE_MS`; in browsers only a 0 ms timer) run before its result is sent: if that kills this
 * worker, the pool sees the trial die with it, and retries and then blames that trial, not the
 * healthy one the worker would have taken next.
 */
async function settle(): Promise<void> {
  const tick = (): Promise<unknown> => new Promise((resolve) => setTimeout(resolve, 0));
  await tick();
  if (typeof process === 'undefined' || typeof process.getActiveResourcesInfo !== 'function')
    return;
  const started = Date.now();
  const waiting = (): boolean =>
    process.getActiveResourcesInfo().some((r) => r === 'Timeout' || r === 'Immediate');
  while (waiting() && Date.now() - started < SETTLE_MS) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
