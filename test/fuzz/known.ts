// Known library bugs the fuzzer found and tolerates until they are fixed (issue 12). Each flag
// names the bug; the command that meets it skips only that check. Set a flag to false once the
// fix lands (the fuzzer then enforces the contract again); none may stay true once fixed.
export const KNOWN = {
  /**
   * F1: `serialize(m)` saves a disposed module without parameters (`ReLU`, `Flatten`,
   * `MaxPool1D`, `Sequential(ReLU)`), and for a disposed `Linear` throws DISPOSED naming
   * `Tensor`, not `serialize`. Expected: DISPOSED `serialize: expected a live module, …`.
   */
  serializeDisposed: false,
  /**
   * F6: a forward whose input has a zero-size inner dimension (`new ReLU().forward(
   * Tensor.zeros([3, 0]))`, MaxPool1D on [2, 6, 0], Upsample1D on [2, 0, 2], …) throws
   * `TypeError: Cannot read properties of null (reading 'carve')` from `BufferSlot.next`
   * (ts/core/module.ts): with capacity 0 and size 0 it installs no block and carves `base` null.
   * Expected: the empty result (as before the BufferSlot change) or a TorchletError. While true,
   * the fuzzer's `stretch` inputs keep every dimension at least 1.
   */
  zeroSizeDim: false,
} as const;
