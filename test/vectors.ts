// Node's reader for the PyTorch vector files: the paths of test/fixtures/vectors.txt and
// loss-reductions.txt, and `readVectors`, which reads and parses them; the parser and the module
// builder themselves live in test/vectors-core.ts so that browser pages can bundle them.
import { readFileSync } from 'node:fs';
import { type VecCase, parseVectors } from './vectors-core.js';

export { type VecCase, type VecTensor, buildModule, parseVectors } from './vectors-core.js';

export const VECTORS_PATH = new URL('./fixtures/vectors.txt', import.meta.url);
/** Each loss under each reduction (the same format; vitest only). */
export const LOSS_REDUCTIONS_PATH = new URL('./fixtures/loss-reductions.txt', import.meta.url);

/** Parses a whole vector file (vectors.txt unless given another's text). */
export function readVectors(text = readFileSync(VECTORS_PATH, 'utf8')): VecCase[] {
  return parseVectors(text);
}
