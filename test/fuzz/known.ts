// Known library bugs the fuzzer found and tolerates until they are fixed (issue 12). Each flag
// names the bug; the command that meets it skips only that check. Set a flag to false once the
// fix lands (the fuzzer then enforces the contract again); none may stay true once fixed.
export const KNOWN = {
  /**
   * F1: `serialize(m)` saves a disposed module without parameters (`ReLU`, `Flatten`,
   * `MaxPool1D`, `Sequential(ReLU)`), and for a disposed `Linear` throws DISPOSED naming
   * `Tensor`, not `serialize`. Expected: DISPOSED `serialize: expected a live module, …`.
   */
  serializeDisposed: true,
} as const;
