// scripts/setup-tools.sh, which `npm test` runs first: on a fresh Debian machine it installs Rust,
// Chromium and redis-server with apt-get (as root) or names the exact command (not root), and
// says why. It runs
// here against stand-ins on a PATH of its own (id, apt-get, sudo, dpkg, cargo, redis-server), so every branch is
// taken whatever this machine has and nothing is installed. The real install on a bare machine is
// checked by scripts/check-fresh-machine.sh (a clean Debian chroot), which is not part of npm test.
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const script = join(process.cwd(), 'scripts', 'setup-tools.sh');
const bash = ['/bin/bash', '/usr/bin/bash'].find((p) => existsSync(p)) ?? 'bash';
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

interface Machine {
  /** What `id -u` prints. */
  uid: number;
  /** A cargo on PATH. */
  cargo?: boolean;
  /** A sudo on PATH. */
  sudo?: boolean;
  /** An apt-get on PATH; 'fail' exits 100. Its calls are logged; 'install' of cargo adds cargo. */
  apt?: 'ok' | 'fail';
  /** Chromium at $CHROMIUM_PATH (the default /usr/bin/chromium is not looked at here). */
  chromium?: boolean;
  /** A redis-server on PATH (default true). */
  redis?: boolean;
}

function machine(m: Machine) {
  const dir = mkdtempSync(join(tmpdir(), 'torchlet-setup-'));
  dirs.push(dir);
  const bin = join(dir, 'bin');
  const home = join(dir, 'home');
  const aptLog = join(dir, 'apt.log');
  mkdirSync(bin);
  mkdirSync(home);
  const stub = (name: string, body: string) => {
    writeFileSync(join(bin, name), `#!${bash}\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  };
  // The few real tools the script uses besides the stand-ins.
  for (const tool of ['chmod', 'mktemp', 'rm', 'tail']) {
    const real = spawnSync(bash, ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
    symlinkSync(real, join(bin, tool));
  }
  stub('id', `echo ${m.uid}`);
  stub('dpkg', 'exit 1'); // no Debian package is installed
  if (m.cargo) stub('cargo', 'exit 0');
  if (m.sudo) stub('sudo', 'exit 0');
  if (m.redis !== false) stub('redis-server', 'exit 0');
  if (m.apt) {
    stub(
      'apt-get',
      `echo "$*" >> ${aptLog}
${m.apt === 'fail' ? 'echo "E: Unable to locate package $3" >&2; exit 100' : ''}
case "$*" in *install*cargo*) printf '#!${bash}\\nexit 0\\n' > ${bin}/cargo; chmod +x ${bin}/cargo ;; esac
case "$*" in *install*redis-server*) printf '#!${bash}\\nexit 0\\n' > ${bin}/redis-server; chmod +x ${bin}/redis-server ;; esac`,
    );
  }
  const chromium = join(dir, 'chromium');
  if (m.chromium !== false) {
    writeFileSync(chromium, `#!${bash}\nexit 0\n`);
    chmodSync(chromium, 0o755);
  }
  const run = (...args: string[]) => {
    const r = spawnSync(bash, [script, ...args], {
      encoding: 'utf8',
      env: { PATH: bin, HOME: home, TMPDIR: dir, CHROMIUM_PATH: chromium },
    });
    return {
      status: r.status,
      stdout: r.stdout,
      stderr: r.stderr,
      apt: existsSync(aptLog) ? readFileSync(aptLog, 'utf8').trim().split('\n') : [],
    };
  };
  return { run, chromium };
}

describe('scripts/setup-tools.sh', () => {
  it('installs nothing and says so when cargo, Chromium and redis-server are there', () => {
    const r = machine({ uid: 0, cargo: true, apt: 'ok' }).run();
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(
      /^setup: found cargo \(.*\), Chromium \(.*\) and redis-server \(.*\/redis-server\); nothing to install$/m,
    );
    expect(r.apt).toEqual([]);
  });

  it('as root, installs Debian redis-server when none is on PATH, and finds it the next time', () => {
    const m = machine({ uid: 0, cargo: true, apt: 'ok', redis: false });
    const r = m.run();
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(
      'setup: the queue tests (gridSearch on Redis + BullMQ) start a redis-server',
    );
    expect(r.stdout).toMatch(/^setup: installed redis-server in \d+ s$/m);
    expect(r.apt).toEqual(['update -q', 'install -y -q --no-install-recommends redis-server']);
    expect(m.run().stdout).toContain('nothing to install');
  });

  it('not root, without redis-server: prints the command that installs it and fails', () => {
    const r = machine({ uid: 1000, cargo: true, apt: 'ok', redis: false }).run();
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('  apt-get update && apt-get install -y redis-server\n');
    expect(r.apt).toEqual([]);
  });

  it('as root, says why and installs Debian rustc and cargo, updating the lists first', () => {
    const m = machine({ uid: 0, apt: 'ok' });
    const r = m.run();
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('setup: the Rust kernel tests (cargo test) need cargo');
    expect(r.stdout).toContain('setup: apt-get install rustc cargo (Debian packages');
    expect(r.stdout).toMatch(/^setup: installed rustc cargo in \d+ s$/m);
    expect(r.apt).toEqual(['update -q', 'install -y -q --no-install-recommends rustc cargo']);
    // Idempotent: the second run finds it and installs nothing more.
    const again = m.run();
    expect(again.status).toBe(0);
    expect(again.stdout).toContain('nothing to install');
    expect(again.apt).toHaveLength(2);
  });

  it("as root, fails with apt's error when apt-get fails", () => {
    const r = machine({ uid: 0, apt: 'fail' }).run();
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('E: Unable to locate package');
    expect(r.stderr).toMatch(
      /setup: expected apt-get install rustc cargo to succeed, got the errors above \(full log: /,
    );
  });

  it('not root, with sudo: prints the exact sudo command and fails, installing nothing', () => {
    const r = machine({ uid: 1000, sudo: true, apt: 'ok' }).run();
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('setup: installing needs root');
    expect(r.stderr).toContain('  sudo apt-get update && sudo apt-get install -y rustc cargo\n');
    expect(r.apt).toEqual([]);
  });

  it('not root, no sudo: prints the command to run as root and fails', () => {
    const r = machine({ uid: 1000, apt: 'ok' }).run();
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('there is no sudo; as root, run this once');
    expect(r.stderr).toContain('  apt-get update && apt-get install -y rustc cargo\n');
  });

  it('--wasm adds the wasm toolchain, naming rustc and cargo once', () => {
    const r = machine({ uid: 1000, apt: 'ok' }).run('--wasm');
    expect(r.status).toBe(1);
    expect(r.stdout).toContain("the .wasm check rebuilds with Debian's rustc 1.63");
    expect(r.stderr).toContain(
      'apt-get install -y rustc cargo libstd-rust-dev-wasm32 lld binaryen\n',
    );
  });

  it('without apt-get, names what to install and fails', () => {
    const r = machine({ uid: 0 }).run();
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("setup: expected Debian's apt-get to install rustc cargo, got none");
  });

  it('a CHROMIUM_PATH with no file fails naming it, rather than installing Debian’s', () => {
    const m = machine({ uid: 0, cargo: true, apt: 'ok', chromium: false });
    const r = m.run();
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(
      `expected Chromium at $CHROMIUM_PATH, got no executable file at ${m.chromium}`,
    );
    expect(r.apt).toEqual([]);
  });

  it('rejects an unknown argument', () => {
    const r = machine({ uid: 0, cargo: true }).run('--wasn');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('setup-tools: expected no argument or --wasm, got --wasn');
  });
});
