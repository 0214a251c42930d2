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
  | 'OUT_OF_BOUNDS';

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
