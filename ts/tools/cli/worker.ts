// `torchlet worker`: a long-running grid worker (startGridWorker) that trains the trials of a
// Redis + BullMQ queue, started on any number of machines. One log line per trial; SIGTERM or
// SIGINT lets the trials in progress finish, closes the connections and exits 0.

import * as t from '../../index.js';
import { type Command, UsageError, int } from './args.js';

/** `torchlet worker`. */
export const WORKER: Command = {
  name: 'worker',
  summary:
    'train the trials of grid searches queued on Redis (gridSearch with a queue, grid-search --redis) until SIGTERM',
  flags: [
    { name: 'redis', value: '<url>', help: 'the Redis server, e.g. redis://host:6379 (required)' },
    {
      name: 'concurrency',
      value: '<n>',
      help: 'trials at once, one child process each',
      default: 1,
      parse: int('--concurrency', 1, 256),
    },
    {
      name: 'lock-duration',
      value: '<ms>',
      help: "how long a trial stays locked without a heartbeat; a dead worker's trial is retried elsewhere after it",
      default: 30000,
      parse: int('--lock-duration', 100, 3_600_000),
    },
    {
      name: 'queue',
      value: '<name>',
      help: 'the queue to take trials from',
      default: t.GRID_QUEUE,
    },
  ],
  run: (f) => work(f),
};

async function work(f: Record<string, unknown>): Promise<void> {
  if (typeof f['redis'] !== 'string') throw new UsageError('expected --redis <url>, got none');
  const worker = await t.startGridWorker({
    connection: f['redis'] as string,
    name: f['queue'] as string,
    concurrency: f['concurrency'] as number,
    lockDuration: f['lock-duration'] as number,
  });
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      console.log(`worker: ${signal}: finishing the trials in progress, then exiting`);
      worker.close().then(resolve, (e: unknown) => {
        console.error(`worker: ${(e as Error).message}`);
        resolve();
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  console.log('worker: stopped');
}
