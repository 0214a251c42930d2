// The README as a user reads it on npm: every ```ts / ```typescript / ```js block is a whole
// program (imports included). All of them are type-checked in one strict tsc run against the
// packed package (as a consumer importing 'torchlet' sees its .d.ts), and each one that can run in
// Node runs in its own Node process, in its own empty folder, against the packed package.
// Info-string flags after the language (docs/development.md, "The README is tested"):
//   browser  browser-only: type-checked (DOM types), not run; the test's title says why
//   cjs      CommonJS: checked as .cts/.cjs and run as CommonJS
// A fence with any other language, or no language, fails the test unless it is one that is not a
// program (sh, html, text). Links must be absolute (they work on npm's page) or anchors; file links
// into this repository must name a file or folder that exists, anchors a heading.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TSC, cleanEnv, installPacked, run } from './packed.js';

const README = readFileSync('README.md', 'utf8');
const REPO = 'https://github.com/torchlet/torchlet';

/** Languages that are programs, and how each is written to disk. */
const PROGRAMS: Record<string, 'ts' | 'js'> = { ts: 'ts', typescript: 'ts', js: 'js' };
/** Languages that are not programs: shown, not run. */
const NOT_PROGRAMS = new Set(['sh', 'html', 'text']);
/** Info-string flags, and why a flagged block is not run in Node (null: it is run). */
const FLAGS: Record<string, string | null> = {
  browser:
    'browser-only (the DOM, files fetched relative to the page); test/browser.test.ts runs init, fetchDigits and training in Chromium',
  cjs: null,
};

interface Block {
  /** 1-based line of the opening fence in README.md. */
  line: number;
  lang: string;
  flags: string[];
  code: string;
}

/** Every fenced block, indented ones (inside list items) included, dedented. */
function fencedBlocks(md: string): Block[] {
  const lines = md.split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^( *)```(.*)$/.exec(lines[i]!);
    if (!open) continue;
    const indent = open[1]!.length;
    const [lang = '', ...flags] = open[2]!.trim().split(/\s+/).filter(Boolean);
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !/^ *```\s*$/.test(lines[j]!); j++) {
      body.push(lines[j]!.slice(Math.min(indent, /^ */.exec(lines[j]!)![0].length)));
    }
    if (j === lines.length) throw new Error(`README.md:${i + 1}: a code fence that never closes`);
    blocks.push({ line: i + 1, lang, flags, code: body.join('\n') + '\n' });
    i = j;
  }
  return blocks;
}

const blocks = fencedBlocks(README);
const programs = blocks.filter((b) => b.lang in PROGRAMS);
const runnable = programs.filter((b) => b.flags.every((f) => FLAGS[f] === null));

/** The file a block is written to: .mts/.cts for TypeScript, .mjs/.cjs for JavaScript. */
function fileOf(b: Block): string {
  const cjs = b.flags.includes('cjs');
  const ext = PROGRAMS[b.lang] === 'ts' ? (cjs ? 'cts' : 'mts') : cjs ? 'cjs' : 'mjs';
  return `line-${b.line}.${ext}`;
}

/** The file Node runs: tsc's output for TypeScript, the block itself for JavaScript. */
function runFileOf(b: Block): string {
  const f = fileOf(b);
  return PROGRAMS[b.lang] === 'ts' ? join('out', f.replace(/\.([mc])ts$/, '.$1js')) : f;
}

/** Runs `node file` in `cwd`; never throws. */
function node(
  file: string,
  cwd: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [file],
      { cwd, env: cleanEnv(), encoding: 'utf8', timeout: 120_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        done({ code, stdout, stderr: stderr || (err && code === 1 && !stderr ? String(err) : '') });
      },
    );
  });
}

let tmp = '';
let dir = '';
let tscOutput = '';
const results = new Map<Block, { code: number; stdout: string; stderr: string }>();
const timing = { install: 0, tsc: 0, run: 0 };

beforeAll(async () => {
  let t = performance.now();
  let app: string;
  ({ tmp, app } = installPacked('torchlet-readme-'));
  timing.install = performance.now() - t;
  dir = join(app, 'readme');
  mkdirSync(dir);
  for (const b of programs) writeFileSync(join(dir, fileOf(b)), b.code);
  // The app has no @types/node: blocks that use node:fs get this tree's (Node 20's) types.
  const tsconfig = {
    compilerOptions: {
      strict: true,
      skipLibCheck: false,
      module: 'nodenext',
      moduleResolution: 'nodenext',
      moduleDetection: 'force',
      target: 'es2022',
      lib: ['es2022', 'dom'],
      types: ['node'],
      typeRoots: [resolve('node_modules/@types')],
      allowJs: true,
      checkJs: true,
      outDir: 'out',
      noEmitOnError: true,
    },
    files: programs.map(fileOf),
  };
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));
  t = performance.now();
  try {
    tscOutput = run('node', [TSC, '-p', '.'], dir);
  } catch (e) {
    tscOutput = (e as Error).message;
  }
  timing.tsc = performance.now() - t;
  if (tscOutput !== '') return;
  // Each block in its own process and its own empty working folder, a few at a time.
  t = performance.now();
  const queue = [...runnable];
  const worker = async (): Promise<void> => {
    for (let b = queue.shift(); b; b = queue.shift()) {
      const cwd = join(dir, `run-${b.line}`);
      mkdirSync(cwd);
      results.set(b, await node(join(dir, runFileOf(b)), cwd));
    }
  };
  await Promise.all(Array.from({ length: Math.min(4, availableParallelism()) }, worker));
  timing.run = performance.now() - t;
}, 300_000);

afterAll(() => {
  console.log(
    `readme.test: ${programs.length} blocks (${runnable.length} run); pack + install ${Math.round(timing.install)} ms, tsc ${Math.round(timing.tsc)} ms, running ${Math.round(timing.run)} ms`,
  );
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe("the README's code blocks", () => {
  it('are all programs the test knows how to handle (a language, known flags)', () => {
    const unknown = blocks
      .filter((b) => !(b.lang in PROGRAMS) && !NOT_PROGRAMS.has(b.lang))
      .map((b) => `line ${b.line}: \`\`\`${b.lang}`);
    expect(unknown).toEqual([]);
    const badFlags = blocks
      .filter((b) => !(b.lang in PROGRAMS) && b.flags.length > 0)
      .concat(programs.filter((b) => b.flags.some((f) => !(f in FLAGS))))
      .map((b) => `line ${b.line}: ${b.lang} ${b.flags.join(' ')}`);
    expect(badFlags).toEqual([]);
    expect(programs.length).toBeGreaterThanOrEqual(8);
  });

  it('type-check, strict, against the packed package (one tsc run over every block)', () => {
    expect(tscOutput).toBe('');
  });

  for (const b of programs) {
    const skip = b.flags.map((f) => FLAGS[f]).find((why) => why !== null);
    if (skip !== undefined) {
      it(`line ${b.line} (${b.lang} ${b.flags.join(' ')}): type-checked above, not run in Node: ${skip}`, () => {
        // The flag is for code that needs a page; a block that needs none should run.
        expect(b.code).toMatch(/\bdocument\b|\bwindow\b|\bfetchDigits\b|\bnew Worker\b/);
        expect(existsSync(join(dir, fileOf(b)))).toBe(true);
      });
      continue;
    }
    it(`line ${b.line} (${[b.lang, ...b.flags].join(' ')}) runs in Node against the packed package`, () => {
      expect(tscOutput).toBe('');
      const r = results.get(b)!;
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    });
  }

  it("the custom layer block is examples/custom-layer.mts's marked part, word for word", () => {
    const marked = /--8<-- \[start:readme\]\n([\s\S]*?)\/\/ --8<-- \[end:readme\]/.exec(
      readFileSync('examples/custom-layer.mts', 'utf8'),
    )![1]!;
    expect(programs.filter((b) => b.code === marked)).toHaveLength(1);
  });

  it('early stopping says what it watches: a block with patience sets monitor or names the validation loss', () => {
    const vague = programs.filter(
      (b) => /\bpatience:/.test(b.code) && !/\bmonitor:|validation loss/.test(b.code),
    );
    expect(vague.map((b) => b.line)).toEqual([]);
  });

  it('the memory block shows OVERWRITTEN, the CommonJS block a [1, 2] output', () => {
    const out = (re: RegExp) => results.get(runnable.find((b) => re.test(b.code))!)?.stdout;
    expect(out(/first\.clone\(\)/)).toMatch(/^OVERWRITTEN$/m);
    expect(out(/require\('torchlet'\)/)).toMatch(/\[ 1, 2 \]/);
  });
});

describe("the README's Develop section", () => {
  it('states the fresh-clone commands CI runs: `npm install && npm start` and `npm test`', () => {
    const develop = README.slice(README.indexOf('\n## Develop\n'));
    const sh = fencedBlocks(develop).find((b) => b.lang === 'sh')!;
    const commands = sh.code
      .split('\n')
      .map((l) => l.replace(/#.*/, '').trim())
      .filter(Boolean);
    expect(commands).toEqual(['npm install && npm start', 'npm test']);
  });
});

describe("the README's links", () => {
  /** GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes. */
  const anchors = new Set(
    [...README.matchAll(/^#{1,6} (.+)$/gm)].map((m) =>
      m[1]!
        .toLowerCase()
        .replace(/[^\p{L}\p{N} _-]/gu, '')
        .replace(/ /g, '-'),
    ),
  );
  const prose = README.replace(/^( *)```[\s\S]*?^ *```$/gm, '');
  const links = [...prose.matchAll(/\]\(([^)\s]+)\)|href="([^"]+)"/g)].map((m) => m[1] ?? m[2]!);

  it('are absolute or anchors (relative links break on npm), at least one of each', () => {
    const relative = links.filter((l) => !/^https?:\/\//.test(l) && !l.startsWith('#'));
    expect(relative).toEqual([]);
    expect(links.some((l) => l.startsWith(`${REPO}/blob/main/`))).toBe(true);
    expect(links.some((l) => l.startsWith('#'))).toBe(true);
  });

  it('into this repository name files and folders that exist, on the main branch', () => {
    const missing = links
      .filter((l) => l.startsWith(REPO))
      .filter((l) => {
        const m =
          /^https:\/\/github\.com\/torchlet\/torchlet(?:\/(blob|tree)\/main\/([^#?]+))?(?:#.*)?$/.exec(
            l,
          );
        if (!m) return true;
        if (!m[1]) return false; // the repository's page
        if (!existsSync(m[2]!)) return true;
        return statSync(m[2]!).isDirectory() !== (m[1] === 'tree');
      });
    expect(missing).toEqual([]);
  });

  it('to anchors name a heading of the README', () => {
    const broken = links.filter((l) => l.startsWith('#') && !anchors.has(l.slice(1)));
    expect(broken).toEqual([]);
  });
});

describe('docs/development.md', () => {
  it('links to files of this repository that exist (relative links: it is read on GitHub)', () => {
    const text = readFileSync('docs/development.md', 'utf8').replace(/^```[\s\S]*?^```$/gm, '');
    const links = [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
    expect(links.length).toBeGreaterThan(0);
    const missing = links
      .filter((l) => !/^(https?:|#)/.test(l))
      .filter((l) => !existsSync(join('docs', l.replace(/#.*/, ''))));
    expect(missing).toEqual([]);
  });
});
