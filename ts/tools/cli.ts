#!/usr/bin/env node
// The `torchlet` command: train, evaluate, predict, grid-search, autoencode, worker (one file per
// command group in cli/). Arguments by node:util parseArgs (cli/args.ts), progress by cli/progress.ts: no
// dependencies. No arguments or --help: help, exit 0. Bad arguments: one error line (with a "did
// you mean") plus the usage line, exit 2, found before any training. Other failures: exit 1.

import * as t from '../index.js';
import { type Command, UsageError, commandHelp, parseCommand, usage, wrap } from './cli/args.js';
import { nearestName } from '../core/errors.js';
import { EVALUATE } from './cli/evaluate.js';
import { PREDICT } from './cli/predict.js';
import { GRID_SEARCH } from './cli/grid.js';
import { AUTOENCODE, TRAIN } from './cli/train.js';
import { WORKER } from './cli/worker.js';
import { torchletVersion } from '../train/gridqueuewire.js';

const fs = process.getBuiltinModule('node:fs');
const url = process.getBuiltinModule('node:url');

/** Every command, in the order the help lists them (exported for tests). */
export const COMMANDS: readonly Command[] = [
  TRAIN,
  EVALUATE,
  PREDICT,
  GRID_SEARCH,
  AUTOENCODE,
  WORKER,
];

/** The version of the package this file belongs to: the nearest package.json named torchlet. */
export const version = torchletVersion;

/** The top-level help. */
export function help(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return [
    'Usage: torchlet <command> [options]',
    '',
    `Torch-style neural networks on a WebAssembly core (torchlet ${version()})`,
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}${wrap(c.summary, width + 2)}`),
    '',
    'Options:',
    "  -h, --help     show this help; `torchlet <command> --help` shows a command's options",
    '  -v, --version  print the version',
    '',
    'Examples:',
    '  torchlet train --preset mlp --epochs 20 --out out/mlp',
    '  torchlet train --data iris.csv --label species --preset mlp --out out/iris',
    '  torchlet evaluate out/mlp/model.safetensors',
    '  torchlet predict --model out/mlp/model.safetensors digit.png rows.csv',
  ].join('\n');
}

/** Runs the CLI; returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '-h' || first === '--help' || first === 'help') {
    const cmd = first === 'help' ? COMMANDS.find((c) => c.name === rest[0]) : undefined;
    console.log(cmd ? commandHelp(cmd) : help());
    return 0;
  }
  if (first === '-v' || first === '--version') {
    console.log(version());
    return 0;
  }
  const cmd = COMMANDS.find((c) => c.name === first);
  try {
    if (cmd === undefined) {
      const near = nearestName(
        first,
        COMMANDS.map((c) => c.name),
      );
      throw new UsageError(
        first.startsWith('-')
          ? `unknown option '${first}' (options follow a command; run torchlet --help)`
          : `unknown command '${first}'${near ? ` (did you mean ${near}?)` : ''}; commands: ${COMMANDS.map((c) => c.name).join(', ')}`,
      );
    }
    const parsed = parseCommand(cmd, rest);
    if (parsed.help) {
      console.log(commandHelp(cmd));
      return 0;
    }
    await t.init();
    await cmd.run(parsed.flags, parsed.positionals);
    return 0;
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    // The CSV and PNG readers carry their own copy of TorchletError in the bundle: match by name.
    const torchlet = e instanceof Error && e.name === 'TorchletError';
    if (
      e instanceof UsageError ||
      (torchlet &&
        (code === 'BAD_ARGUMENT' || code === 'BAD_FILE' || code === 'UNSUPPORTED_VERSION'))
    ) {
      console.error(`torchlet: ${(e as Error).message}`);
      console.error(
        `usage: ${cmd ? `${usage(cmd)}  (torchlet ${cmd.name} --help for the options)` : 'torchlet <command> [options]  (torchlet --help)'}`,
      );
      return 2;
    }
    console.error(`torchlet: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}

const invoked =
  process.argv[1] !== undefined &&
  import.meta.url === url.pathToFileURL(fs.realpathSync(process.argv[1])).href;
if (invoked) {
  // A reader that stops early (`torchlet predict … | head`) closes the pipe: stop quietly, as
  // Unix tools do, instead of an unhandled EPIPE stack trace.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    process.exit(0);
  });
  process.exitCode = await main(process.argv.slice(2));
}
