// The package as users install it: `npm pack` of this tree (dist/ as built; the pack skips the
// prepare script) installed into a fresh app folder outside the tree. The same steps as
// test/package.test.ts, for the bundler apps.
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

/** The environment without npm's per-run variables, which point back into this tree. */
export function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^npm_|^INIT_CWD$/i.test(k)),
  );
}

/** Runs a command in `cwd`; a failure rejects with its output. */
export async function run(cmd: string, args: string[], cwd: string): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)(cmd, args, {
      cwd,
      env: cleanEnv(),
      encoding: 'utf8',
      timeout: 120_000,
      maxBuffer: 16 << 20,
    });
    return stdout;
  } catch (e) {
    const { stdout, stderr } = e as { stdout?: string; stderr?: string };
    throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd}:\n${stdout ?? ''}${stderr ?? ''}`, {
      cause: e,
    });
  }
}

/** Packs this tree into `tmp` and installs the tarball into `tmp/app`; returns the app folder. */
export async function packAndInstall(tmp: string): Promise<string> {
  const out = JSON.parse(
    await run(
      'npm',
      ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp],
      process.cwd(),
    ),
  ) as Array<{ filename: string }>;
  const app = join(tmp, 'app');
  mkdirSync(app);
  const pkg = { name: 'app', private: true, type: 'module' };
  writeFileSync(join(app, 'package.json'), JSON.stringify(pkg));
  await run(
    'npm',
    ['install', '--no-audit', '--no-fund', '--prefer-offline', join(tmp, out[0]!.filename)],
    app,
  );
  return app;
}
