// The rooms of docs/architecture.md: every import under ts/ goes to its own room or one to the left
// (core < train < tools), with the exceptions the page names. Reads the sources as text.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve('ts');
const RANK: Record<string, number> = { core: 0, train: 1, tools: 2, 'index.ts': 2 };
// Named on the page: gridSearch writes loss-curve files with tools/plot, and the grid workers (and
// a queue's coordinator) hand the whole namespace to buildNet.
const ALLOWED = new Set([
  'train/gridsearch.ts -> tools/plot.ts',
  'train/gridworker.ts -> index.ts',
  'train/gridpool.ts -> index.ts',
  'train/gridqueue.ts -> index.ts',
]);

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const room = (file: string): string => relative(ROOT, file).split('/')[0]!;

describe('rooms', () => {
  it('every import under ts/ goes to the same room or one to its left', () => {
    const broken: string[] = [];
    let count = 0;
    for (const file of files(ROOT)) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/(?:from|import\()\s*'(\.{1,2}\/[^']+)'/g)) {
        count++;
        const target = resolve(dirname(file), m[1]!.replace(/\.js$/, '.ts'));
        const edge = `${relative(ROOT, file)} -> ${relative(ROOT, target)}`;
        if (RANK[room(target)]! > RANK[room(file)]! && !ALLOWED.has(edge)) broken.push(edge);
      }
    }
    expect(count).toBeGreaterThan(100);
    expect(broken).toEqual([]);
  });

  it('only ts/core/wasm.ts calls WebAssembly (others may name its types)', () => {
    const calls =
      /\bWebAssembly\.(instantiate|instantiateStreaming|compile|compileStreaming|validate)\b|new WebAssembly\./;
    const users = files(ROOT).filter((f) => calls.test(readFileSync(f, 'utf8')));
    expect(users.map((f) => relative(ROOT, f))).toEqual(['core/wasm.ts']);
  });
});
