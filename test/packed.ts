// The package as users get it, for test/package.test.ts and test/readme.test.ts: `npm pack` of the
// built dist/ (npm test builds it, so the pack skips the prepare script), installed from the
// tarball into a fresh project outside this tree.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expectFreshDist } from './browser/dist-check.js';

/** This tree's TypeScript compiler, run with `node`. */
export const TSC = resolve('node_modules/typescript/bin/tsc');

/** The environment without npm's per-run variables, which point back into this tree. */
export function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^npm_|^INIT_CWD$/i.test(k)),
  );
}

/** Runs a command in `cwd`; a failure throws with its output. */
export function run(cmd: string, args: string[], cwd: string): string {
  try {
    return execFileSync(cmd, args, {
      cwd,
      env: cleanEnv(),
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 120_000,
    });
  } catch (e) {
    const { stdout, stderr } = e as { stdout?: string; stderr?: string };
    throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd}:\n${stdout ?? ''}${stderr ?? ''}`, {
      cause: e,
    });
  }
}

/** A fresh project with the packed package installed. */
export interface PackedApp {
  /** The temporary folder holding the tarball and the app (remove it when done). */
  tmp: string;
  /** The app's folder: `node_modules/torchlet` is the installed tarball. */
  app: string;
  /** The paths the tarball holds (`dist/index.js`, `README.md`, …). */
  packed: string[];
}

/** Packs this tree's dist/ and installs the tarball into a new app under a temporary folder. */
export function installPacked(prefix: string): PackedApp {
  expectFreshDist();
  const tmp = mkdtempSync(join(tmpdir(), prefix));
  const out = JSON.parse(
    run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], process.cwd()),
  ) as Array<{ filename: string; files: Array<{ path: string }> }>;
  const app = join(tmp, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true }));
  run(
    'npm',
    ['install', '--no-audit', '--no-fund', '--prefer-offline', join(tmp, out[0]!.filename)],
    app,
  );
  return { tmp, app, packed: out[0]!.files.map((f) => f.path) };
}
