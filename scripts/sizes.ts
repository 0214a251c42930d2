// `npm run sizes`: measures the built package (run `npm run build` first) and rewrites the table
// between the sizes markers in README.md. Raw bytes and gzip -9 bytes; the JS is not minified.
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

const FILES: Array<[string, string]> = [
  ['dist/index.js', 'JS bundle, default (browsers, workers, bundlers)'],
  ['dist/index.node.js', 'JS bundle, node'],
  ['dist/torchlet.wasm', 'WASM core (SIMD128)'],
  ['dist/gridworker.js', 'the worker threads of `gridSearch` and data-parallel training'],
  ['dist/digits.csv.gz', 'digits data (loaded only by `loadDigits`/`fetchDigits`)'],
];
const BEGIN = '<!-- sizes:begin (npm run sizes rewrites this table) -->';
const END = '<!-- sizes:end -->';

const kb = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KiB`;
const rows = FILES.map(([file, what]) => {
  const bytes = readFileSync(file);
  return `| \`${file}\` | ${what} | ${kb(statSync(file).size)} | ${kb(gzipSync(bytes, { level: 9 }).length)} |`;
});
const table = ['| file | what | raw | gzip |', '|---|---|---:|---:|', ...rows].join('\n');

const readme = readFileSync('README.md', 'utf8');
const start = readme.indexOf(BEGIN);
const end = readme.indexOf(END);
if (start < 0 || end < start)
  throw new Error(`README.md: expected the markers ${BEGIN} and ${END}`);
writeFileSync(
  'README.md',
  `${readme.slice(0, start + BEGIN.length)}\n${table}\n${readme.slice(end)}`,
);
console.log(table);
