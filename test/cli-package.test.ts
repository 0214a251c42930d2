// Issue 15 item 4: the package as npm installs it has no runtime dependencies. `npm pack` the
// built dist/, install the tarball (offline) into an empty project, and find torchlet alone in
// node_modules; the bundled CLI imports only Node built-ins and the library bundle, and the
// installed `torchlet` command starts: help with no arguments (exit 0), --version; without the
// optional `webgpu` package, the WebGPU backend says to install it.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectFreshDist } from './browser/dist-check.js';

let tmp: string;
let app: string;

/** The environment without npm's per-run variables, which point back into this tree. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^npm_|^INIT_CWD$/i.test(k)),
  );
}

/** Runs a command in `cwd`; a failure throws with its output. */
function run(cmd: string, args: string[], cwd: string): string {
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

beforeAll(() => {
  expectFreshDist();
  tmp = mkdtempSync(join(tmpdir(), 'torchlet-cli-pack-'));
  const out = JSON.parse(
    run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], process.cwd()),
  ) as Array<{ filename: string }>;
  app = join(tmp, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true }));
  // --offline: a package with no dependencies needs nothing from a registry.
  run('npm', ['install', '--offline', '--no-audit', '--no-fund', join(tmp, out[0]!.filename)], app);
}, 180_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('the installed package', () => {
  it('adds torchlet and nothing else to node_modules', () => {
    const installed = readdirSync(join(app, 'node_modules')).filter((n) => !n.startsWith('.'));
    expect(installed).toEqual(['torchlet']);
    const lock = JSON.parse(readFileSync(join(app, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, unknown>;
    };
    expect(Object.keys(lock.packages).sort()).toEqual(['', 'node_modules/torchlet']);
    const pkg = JSON.parse(
      readFileSync(join(app, 'node_modules/torchlet/package.json'), 'utf8'),
    ) as Record<string, unknown>;
    expect(pkg['dependencies']).toBeUndefined();
  });

  it('ships a CLI that imports only Node built-ins and the library bundle', () => {
    const cli = readFileSync(join(app, 'node_modules/torchlet/dist/cli.js'), 'utf8');
    const specifiers = [
      ...cli.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s*['"]([^'"]+)['"]/gm),
      ...cli.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g),
      ...cli.matchAll(/^\s*import\s*['"]([^'"]+)['"]/gm),
    ].map((m) => m[1]!);
    expect(specifiers.length).toBeGreaterThan(0);
    expect(specifiers.filter((s) => s !== './index.node.js' && !s.startsWith('node:'))).toEqual([]);
  });

  it('runs the torchlet command: help with no arguments (exit 0), --version', () => {
    const bin = join(app, 'node_modules/.bin/torchlet');
    const help = spawnSync(bin, [], { cwd: app, env: cleanEnv(), encoding: 'utf8' });
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^Usage: torchlet <command> \[options\]\n/);
    const version = JSON.parse(readFileSync('package.json', 'utf8')).version as string;
    expect(run(bin, ['--version'], app)).toBe(`${version}\n`);
  });

  it("names the optional peer dependency when init({ backend: 'webgpu' }) finds no WebGPU in Node", () => {
    const script =
      "import { init } from 'torchlet'; init({ backend: 'webgpu' }).then(() => console.log('opened'), (e) => console.log(`${e.code}: ${e.message}`));";
    expect(run('node', ['--input-type=module', '-e', script], app)).toMatch(
      /^NO_GPU: .*the optional peer dependency 'webgpu' .* is not installed; .*npm install webgpu/,
    );
  });
});
