// The worker side of gridSearch's pool (gridpool.ts): receives the compiled WASM module and the
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
    if (m.kind === 'init') {
      try {
        await torchlet.init(m.module);
        build = compileBuildNet(m.ctx.buildSource);
        ctx = m.ctx;
        ep.post({ kind: 'ready' });
      } catch (e) {
        ep.post({ kind: 'fatal', message: e instanceof Error ? e.message : String(e) });
      }
    } else if (ctx !== null && build !== null) {
      ep.post({ kind: 'result', result: runTrial(ctx, build, torchlet, m.job) });
    }
  });
});
