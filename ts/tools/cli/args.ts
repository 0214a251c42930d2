// The CLI's argument handling on node:util parseArgs: each command declares its flags once (name,
// placeholder, help, default, parser), and from that come the parse, the checks (an
// unknown flag or command is a usage error with a "did you mean"), and the --help text.

import { nearestName } from '../../core/errors.js';

/** A usage error: printed as one line plus the command's usage line, exit code 2. */
export class UsageError extends Error {}

/** One flag of a command. */
export interface Flag {
  /** The long name without dashes: `batch-size`. */
  name: string;
  /** The value's placeholder (`<n>`); absent for a boolean flag. */
  value?: string;
  /** One line of help. */
  help: string;
  /** The value when the flag is absent (shown in the help). */
  default?: string | number | boolean;
  /** Parses and checks the text (throws a UsageError); default: the text as it is. */
  parse?: (text: string) => unknown;
}

/** One command: its flags, positional arguments, and what it does. */
export interface Command {
  name: string;
  /** One line for the command list. */
  summary: string;
  /** Positional arguments as shown in the usage line (`<model>`, `<file...>`); default none. */
  positionals?: { usage: string; min: number; max: number };
  flags: readonly Flag[];
  /** Runs the command with the parsed flags (by long name) and the positional arguments. */
  run: (flags: Record<string, unknown>, positionals: string[]) => void | Promise<void>;
}

/** The usage line of a command, without the leading "usage: ". */
export function usage(cmd: Command): string {
  return `torchlet ${cmd.name}${cmd.positionals ? ` ${cmd.positionals.usage}` : ''} [options]`;
}

/** Wraps `text` at `width` columns, continuation lines indented by `indent` spaces. */
export function wrap(text: string, indent: number, width = 100): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && indent + line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  lines.push(line);
  return lines.join(`\n${' '.repeat(indent)}`);
}

/** The command's --help text. */
export function commandHelp(cmd: Command): string {
  const rows: Array<[string, string]> = cmd.flags.map((f) => {
    const shown = f.default === undefined || f.default === false ? '' : ` (default ${f.default})`;
    return [`--${f.name}${f.value ? ` ${f.value}` : ''}`, `${f.help}${shown}`];
  });
  rows.push(['-h, --help', 'show this help']);
  const width = Math.max(...rows.map(([l]) => l.length)) + 2;
  return [
    `Usage: ${usage(cmd)}`,
    '',
    wrap(cmd.summary, 0),
    '',
    'Options:',
    ...rows.map(([l, r]) => `  ${l.padEnd(width)}${wrap(r, width + 2)}`),
  ].join('\n');
}

/** Parses one command's arguments: flags by long name (defaults filled in) and positionals. */
export function parseCommand(
  cmd: Command,
  args: readonly string[],
): { flags: Record<string, unknown>; positionals: string[]; help: boolean } {
  const byName = new Map<string, Flag>();
  for (const f of cmd.flags) byName.set(f.name, f);
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const [n, f] of byName) options[n] = { type: f.value ? 'string' : 'boolean' };
  const { tokens } = process.getBuiltinModule('node:util').parseArgs({
    args: [...args],
    options,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const flags: Record<string, unknown> = {};
  const positionals: string[] = [];
  let help = false;
  for (const token of tokens) {
    if (token.kind === 'positional') positionals.push(token.value);
    if (token.kind !== 'option') continue;
    if (token.name === 'help') {
      help = true;
      continue;
    }
    const f = byName.get(token.name);
    if (f === undefined) {
      const near = nearestName(token.name, [...byName.keys()]);
      throw new UsageError(
        `unknown option '${token.rawName}' for ${cmd.name}${near ? ` (did you mean --${near}?)` : ''}`,
      );
    }
    if (f.value === undefined) {
      if (token.value !== undefined)
        throw new UsageError(
          `expected --${f.name} to take no value, got ${JSON.stringify(token.value)}`,
        );
      flags[f.name] = true;
    } else {
      if (token.value === undefined)
        throw new UsageError(`expected a value after --${f.name} (${f.value}), got none`);
      // `--out --epochs 3` is a forgotten value, not a folder named --epochs (`--out=--x` is one).
      if (!token.inlineValue && token.value.startsWith('--'))
        throw new UsageError(
          `expected a value after --${f.name} (${f.value}), got the option ${token.value}`,
        );
      flags[f.name] = f.parse ? f.parse(token.value) : token.value;
    }
  }
  if (help) return { flags, positionals, help };
  for (const f of cmd.flags)
    if (!(f.name in flags) && f.default !== undefined) flags[f.name] = f.default;
  const p = cmd.positionals ?? { usage: '', min: 0, max: 0 };
  if (positionals.length < p.min)
    throw new UsageError(
      `expected ${p.usage} after ${cmd.name}, got ${positionals.length === 0 ? 'none' : positionals.join(' ')}`,
    );
  if (positionals.length > p.max)
    throw new UsageError(
      `expected ${p.max === 0 ? 'no arguments' : `at most ${p.max} argument${p.max > 1 ? 's' : ''}`} after ${cmd.name} besides options, got ${JSON.stringify(positionals.slice(p.max)[0])}`,
    );
  return { flags, positionals, help };
}

/** A parser for integer flags in [min, max]. */
export function int(flag: string, min: number, max = Infinity): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (text.trim() === '' || !Number.isInteger(n) || n < min || n > max)
      throw new UsageError(
        `expected ${flag} to be an integer ${max === Infinity ? `>= ${min}` : `in [${min}, ${max}]`}, got ${JSON.stringify(text)}`,
      );
    return n;
  };
}

/** A parser for positive finite numbers. */
export function positive(flag: string): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (text.trim() === '' || !Number.isFinite(n) || n <= 0)
      throw new UsageError(`expected ${flag} to be a positive number, got ${JSON.stringify(text)}`);
    return n;
  };
}

/** A parser for one of `choices`, with a "did you mean" for near misses. */
export function oneOf(flag: string, choices: readonly string[]): (text: string) => string {
  return (text) => {
    if (choices.includes(text)) return text;
    const near = nearestName(text, choices);
    throw new UsageError(
      `expected ${flag} to be one of ${choices.join(', ')}, got ${JSON.stringify(text)}${near ? ` (did you mean ${near}?)` : ''}`,
    );
  };
}
