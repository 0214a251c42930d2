// The browser and packaging tests run against dist/: fail early, with the fix, when it is missing,
// and warn when it is older than ts/ (npm test builds it first; `npm run build` does it by hand).
// Only a warning: others may be editing ts/ while a run is under way.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function newest(dir: string): number {
  return Math.max(
    0,
    ...readdirSync(dir, { withFileTypes: true }).map((e) => {
      const p = join(dir, e.name);
      return e.isDirectory() ? newest(p) : statSync(p).mtimeMs;
    }),
  );
}

/** Throws unless dist/ exists; warns when a file under ts/ or wasm/ is newer. */
export function expectFreshDist(): void {
  if (!existsSync('dist/index.js') || !existsSync('dist/index.node.js')) {
    throw new Error('expected a built dist/, got none: run `npm run build` (npm test does)');
  }
  const built = statSync('dist/index.js').mtimeMs;
  if (newest('ts') > built || newest('wasm') > built) {
    console.warn(
      'warning: dist/ is older than ts/ or wasm/, so these tests run an old build: run `npm run build` (npm test does)',
    );
  }
}
