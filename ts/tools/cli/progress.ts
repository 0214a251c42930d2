// Progress for long CLI runs, with no dependency: on a terminal one line redrawn in place
// (`label |█████░░░░░| 12/45  info`); otherwise (a pipe, a file, CI logs) a plain line at most every
// `intervalMs`, so logs get a heartbeat without a line per batch.

/** Where progress goes: a writable stream, a terminal when `isTTY` (then `columns` is its width). */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** Options for `Progress`. */
export interface ProgressOptions {
  /** Default: process.stderr, so stdout keeps only results. */
  stream?: ProgressStream;
  /** Milliseconds between plain lines when the stream is not a terminal (default 10,000). */
  intervalMs?: number;
  /** Milliseconds between redraws on a terminal (default 100). */
  redrawMs?: number;
  /** The clock (default performance.now); tests pass their own. */
  now?: () => number;
}

/** A progress bar on a terminal, periodic plain lines otherwise. */
export class Progress {
  private readonly stream: ProgressStream;
  private readonly interval: number;
  private readonly now: () => number;
  private last = -Infinity;
  private drawn = false;

  constructor(options: ProgressOptions = {}) {
    this.stream = options.stream ?? process.stderr;
    const tty = this.stream.isTTY === true;
    this.interval = tty ? (options.redrawMs ?? 100) : (options.intervalMs ?? 10_000);
    this.now = options.now ?? (() => performance.now());
    // Plain lines wait one interval first: a short run prints none.
    if (!tty) this.last = this.now();
  }

  /**
   * Shows `done` of `total` with a label before and info after. Throttled; on a terminal the last
   * step always draws.
   */
  update(label: string, done: number, total: number, info = ''): void {
    const t = this.now();
    const tty = this.stream.isTTY === true;
    if (t - this.last < this.interval && !(tty && done >= total)) return;
    this.last = t;
    const count = `${done}/${total}`;
    if (!tty) {
      this.stream.write(`${label} ${count}${info ? `  ${info}` : ''}\n`);
      return;
    }
    const columns = this.stream.columns ?? 80;
    // Everything but the bar: `label |`, `| count`, `  info`, and one column left free.
    const room = columns - 1 - label.length - 4 - count.length - (info ? info.length + 2 : 0);
    const width = Math.max(10, Math.min(30, room));
    const full = total > 0 ? Math.round((width * Math.min(done, total)) / total) : width;
    const bar = '█'.repeat(full) + '░'.repeat(width - full);
    const line = `${label} |${bar}| ${count}${info ? `  ${info}` : ''}`;
    this.stream.write(`\r${line.slice(0, columns - 1)}\x1b[K`);
    this.drawn = true;
  }

  /** Clears the bar (on a terminal), so the next line starts clean; plain output is left as it is. */
  clear(): void {
    if (this.drawn) this.stream.write('\r\x1b[K');
    this.drawn = false;
  }
}
