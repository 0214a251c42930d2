// The few rollup plugins the package, the demo and the browser tests need, written out instead of
// pulled in: each is a handful of lines and does exactly one thing. Plain JS so rollup stays TS-free
// for the package build (tsc compiles ts/ first); `transpileTs` is only for the demo and test pages.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

const ASSET_URL = /new URL\((['"])(\.{1,2}\/[^'"]+)\1,\s*import\.meta\.url\)/g;

/**
 * Copies every file a module names with a literal `new URL('./file', import.meta.url)` next to
 * the bundle and rewrites the URL to './<name>' (what Vite and webpack do for the same pattern).
 * Script URLs (.js, .ts) are left alone: those are separate entries, such as a worker.
 * @param {{ sourceDirs?: Record<string, string> }} options `sourceDirs` maps a compiled folder to
 *   its source folder (build/lib -> ts), so that URLs resolve from where they were written.
 */
export function assetUrls({ sourceDirs = {} } = {}) {
  let emitted;
  const sourceOf = (id) => {
    for (const [built, src] of Object.entries(sourceDirs)) {
      const rel = relative(resolve(built), id);
      if (!rel.startsWith('..')) return join(resolve(src), rel);
    }
    return id;
  };
  return {
    name: 'asset-urls',
    buildStart() {
      emitted = new Map();
    },
    transform(code, id) {
      if (!code.includes('import.meta.url')) return null;
      let changed = false;
      const out = code.replace(ASSET_URL, (match, _quote, rel) => {
        if (/\.(m?js|ts)$/.test(rel)) return match;
        const file = resolve(dirname(sourceOf(id)), rel);
        if (!existsSync(file))
          this.error(`${id}: ${rel} resolves to ${file}, which does not exist`);
        const name = basename(file);
        if (emitted.has(name) && emitted.get(name) !== file)
          this.error(`two different files named ${name}`);
        if (!emitted.has(name)) {
          this.emitFile({ type: 'asset', fileName: name, source: readFileSync(file) });
          emitted.set(name, file);
        }
        changed = true;
        return `new URL('./${name}', import.meta.url)`;
      });
      return changed ? { code: out, map: null } : null;
    },
  };
}

/**
 * Replaces modules by others, by file name: `{ 'platform.js': 'platform.browser.js' }` makes every
 * import of a platform.js resolve to the platform.browser.js beside it.
 */
export function swapModules(map) {
  return {
    name: 'swap-modules',
    async resolveId(source, importer, options) {
      const resolved = await this.resolve(source, importer, { ...options, skipSelf: true });
      const swap = resolved && map[basename(resolved.id)];
      return swap ? join(dirname(resolved.id), swap) : null;
    },
  };
}

/** Emits every .d.ts under `dir` at the same relative path in the output folder. */
export function copyTypes(dir) {
  const walk = (d) =>
    readdirSync(d, { withFileTypes: true }).flatMap((e) => {
      const p = join(d, e.name);
      return e.isDirectory() ? walk(p) : e.name.endsWith('.d.ts') ? [p] : [];
    });
  return {
    name: 'copy-types',
    generateBundle() {
      for (const file of walk(dir)) {
        this.emitFile({ type: 'asset', fileName: relative(dir, file), source: readFileSync(file) });
      }
    },
  };
}

/** Resolves bare package names to files: `{ torchlet: 'dist/index.js' }` (as a consumer sees it). */
export function alias(map) {
  return {
    name: 'alias',
    resolveId(source) {
      return map[source] ? resolve(map[source]) : null;
    },
  };
}

/**
 * Type-strips .ts files (no type check: `npm run typecheck` does that) and resolves the NodeNext
 * style `./x.js` import of a `./x.ts` file. For the demo and test pages only.
 */
export function transpileTs() {
  return {
    name: 'transpile-ts',
    resolveId(source, importer) {
      if (!importer || !source.startsWith('.') || !source.endsWith('.js')) return null;
      const file = resolve(dirname(importer), source.replace(/\.js$/, '.ts'));
      return existsSync(file) ? file : null;
    },
    transform(code, id) {
      if (!id.endsWith('.ts')) return null;
      const out = ts.transpileModule(code, {
        fileName: id,
        compilerOptions: {
          target: ts.ScriptTarget.ES2022,
          module: ts.ModuleKind.ESNext,
          verbatimModuleSyntax: true,
        },
      });
      return { code: out.outputText, map: null };
    },
  };
}
