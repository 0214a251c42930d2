// One error type for everything torchlet throws: a stable `code` for programs, and a message
// `<Class>.<method>: expected <what>, got <what>` for people. Throwing happens before any state
// (weights, gradients, buffers, RNG) is touched.

/** Stable machine-readable error codes. */
export type ErrorCode =
  | 'SHAPE_MISMATCH'
  | 'BAD_ARGUMENT'
  | 'LABEL_OUT_OF_RANGE'
  | 'NON_FINITE'
  | 'EMPTY_BATCH'
  | 'DISPOSED'
  | 'OVERWRITTEN'
  | 'STALE'
  | 'OUT_OF_MEMORY'
  | 'NOT_INITIALIZED'
  | 'BAD_WASM'
  | 'BAD_FILE'
  | 'UNSUPPORTED_VERSION'
  | 'OUT_OF_BOUNDS'
  | 'NO_GPU'
  | 'ON_GPU';

/**
 * The error every torchlet function throws.
 * @example
 * try { net.forward(x) } catch (e) { if (e instanceof TorchletError && e.code === 'SHAPE_MISMATCH') … }
 */
export class TorchletError extends Error {
  /** Stable code, safe to branch on. */
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'TorchletError';
    this.code = code;
  }
}

/** Formats a shape as `[32, 64]`. */
export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/**
 * The name in `names` closest to `key` for a "did you mean" hint: case-insensitive edit distance
 * at most 1 for keys of up to 3 characters, 2 beyond (and below the key's length), the first of
 * equally close ones; undefined when none is that close.
 */
export function nearestName(key: string, names: readonly string[]): string | undefined {
  const k = key.toLowerCase();
  let best: string | undefined;
  let bestDistance = Math.min(k.length - 1, k.length <= 3 ? 1 : 2) + 1;
  for (const name of names) {
    const d = editDistance(k, name.toLowerCase(), bestDistance);
    if (d < bestDistance) {
      best = name;
      bestDistance = d;
    }
  }
  return best;
}

/** Levenshtein distance, or `cap` as soon as the lengths alone put it at or past `cap`. */
function editDistance(a: string, b: string, cap: number): number {
  if (Math.abs(a.length - b.length) >= cap) return cap;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const same = a[i - 1] === b[j - 1] ? 0 : 1;
      row.push(Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + same));
    }
    prev = row;
  }
  return prev[b.length]!;
}
