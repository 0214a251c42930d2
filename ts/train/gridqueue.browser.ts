// gridqueue.ts for the default build (browsers and bundlers): a queue needs Node (Redis
// connections, child processes), so the browser build refuses it and carries no bullmq import.

import { TorchletError } from '../core/errors.js';
import type { CheckedQueue, GridWorker, GridWorkerOptions } from './gridqueue.js';

export type { CheckedQueue, GridQueueOptions, GridWorker, GridWorkerOptions } from './gridqueue.js';

/** The default queue name. */
export const GRID_QUEUE = 'torchlet-grid';

const nodeOnly = (where: string): TorchletError =>
  new TorchletError(
    'BAD_ARGUMENT',
    `${where}: expected Node.js for a queue (Redis and BullMQ), got the browser build; run the search and its workers in Node`,
  );

/** Refuses a queue: Node only. @internal */
export function checkQueueOptions(_queue: unknown): CheckedQueue {
  throw nodeOnly('gridSearch');
}

/** Never called: `checkQueueOptions` refuses first. @internal */
export function queueTrials(): Promise<void> {
  return Promise.reject(nodeOnly('gridSearch'));
}

/** Refuses: grid workers run in Node only. */
export function startGridWorker(_options: GridWorkerOptions): Promise<GridWorker> {
  return Promise.reject(nodeOnly('startGridWorker'));
}
