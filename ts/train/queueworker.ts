// A grid worker's trial process: BullMQ's sandboxed processor, run by `startGridWorker` (the
// `torchlet worker` command) in child processes of its own, each with its own WASM memory, so that
// hours of synchronous training never block the worker's lock renewals. The work is in
// gridqueueworker.ts's processTrial.

import { processTrial } from './gridqueueworker.js';

// A worker killed with SIGKILL leaves its trial processes behind: end with the lost channel
// (after the trial in progress, whose result could no longer be sent; another worker retries it).
if (typeof process.send === 'function') process.once('disconnect', () => process.exit(1));

export default processTrial;
