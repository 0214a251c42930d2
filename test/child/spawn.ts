// Fresh Node processes for the determinism and model-file tests: child.ts bundled once with
// esbuild (tsx's own compiler) into a temp folder, then run with plain `node`.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';

const root = (p: string) => fileURLToPath(new URL(`../../${p}`, import.meta.url));
/** The .wasm and the digits, passed to the child by path (a bundle cannot find them relative to itself). */
export const CHILD_FILES = [root('wasm/torchlet.wasm'), root('data/digits.csv.gz')];

let bundled: string | null = null;

/** Path of the bundled child script (built on first use). */
export function childScript(): string {
  if (bundled === null) {
    const out = join(mkdtempSync(join(tmpdir(), 'torchlet-child-')), 'child.mjs');
    buildSync({
      entryPoints: [root('test/child/child.ts')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      outfile: out,
      logLevel: 'error',
    });
    bundled = out;
  }
  return bundled;
}

/** Runs the child to completion; resolves with its stdout, rejects on a non-zero exit. */
export function runChild(...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [
      childScript(),
      ...args.slice(0, 1),
      ...CHILD_FILES,
      ...args.slice(1),
    ]);
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    p.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    p.on('close', (code) =>
      code === 0
        ? resolve(out.trim())
        : reject(new Error(`child ${args.join(' ')} exited ${code}: ${err}`)),
    );
  });
}

/**
 * Starts the child, waits for its "ready" line, waits `delayMs` more, then SIGKILLs it; resolves
 * once it has died.
 */
export function killChildAfterReady(delayMs: number, ...args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [
      childScript(),
      ...args.slice(0, 1),
      ...CHILD_FILES,
      ...args.slice(1),
    ]);
    let err = '';
    p.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    p.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) setTimeout(() => p.kill('SIGKILL'), delayMs);
    });
    p.on('close', (_code, signal) =>
      signal === 'SIGKILL'
        ? resolve()
        : reject(new Error(`child exited without being killed: ${err}`)),
    );
  });
}
