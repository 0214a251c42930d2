//! torchlet's numeric core: the kernels behind every layer and loss, compiled to one
//! `wasm32-unknown-unknown` module with SIMD128, and natively for `cargo test`.
//!
//! # ABI protocol (what `ts/core/wasm.ts` relies on)
//! 1. Every export lives in [`abi`] and is `extern "C"`; names are `<op>_<pass>` in snake_case,
//!    mirroring the TS method (`linear_forward`, `conv1d_backward_delta`, ...).
//! 2. TS owns every buffer. Only `tl_alloc` / `tl_free` allocate; compute kernels never do, and
//!    scratch space is passed in, sized by the pure `*_workspace_len` export beside the kernel.
//!    The one exception is the GEMM engine's packing blocks: fixed-size (192 KiB, independent
//!    of the shapes), they live on the stack, so no GEMM caller passes or sizes them.
//! 3. Arguments come in this order: input pointers, output pointers, parameter and gradient
//!    pointers, workspace, dimensions (in the order of the doc's shape line), hyperparameters.
//! 4. `*_forward`, `*_backward_delta` and loss `*_backward` overwrite their whole output and never
//!    read it. Kernels whose result a caller may sum over calls, `gemm` and the
//!    `*_backward_update_gradient` kernels, take matrixmultiply's `beta` as their last argument,
//!    a `u32`: 0 overwrites the output without reading it (old NaNs cannot leak in), 1 adds into
//!    it; no other value is valid. Optimiser `*_update` kernels update parameters and their state
//!    in place.
//! 5. Kernels never panic across the boundary: TS validates shapes, ranges and finiteness first;
//!    Rust keeps its own invariants in `debug_assert!`. Memory safety does not rest on TS alone:
//!    every export checks, once per call and in release builds, that each pointer with the
//!    extent its dimensions imply lies inside one live `tl_alloc` block (size products checked
//!    for overflow), and that the indices steering writes are in range; a failure calls the
//!    imported `env.tl_fail`, which throws (`OUT_OF_BOUNDS`) before anything is written
//!    ([`guard`]). `tl_free` refuses a block that is not live (a double free).
//! 6. Layout is row-major, batch first, channels last. Linear weight is `[in, out]`; conv weights
//!    are `[k, inC, outC]` and `[kH, kW, inC, outC]`.
//! 7. Memory grows only inside `tl_alloc`; JS must rebuild its views after any allocation.
//! 8. `abi_version()` changes whenever a signature or contract changes. At load `ts/core/wasm.ts`
//!    checks it and each export's argument count; `test/fixtures/abi.json` records the export set
//!    of the current version, so `test/abi.test.ts` fails on a change without a bump.
//!
//! Every kernel that computes has a SIMD path written against [`simd::F32x4`] and a scalar twin
//! with the same contract; the public function picks one with `cfg(target_feature = "simd128")`.
//! Pure data movement (padding, the max-pool scatter) has one body.
#![deny(missing_docs)]

pub mod abi;
pub mod activation;
pub mod conv;
pub mod gemm;
pub mod guard;
pub mod loss;
pub mod optim;
pub mod pool;
pub mod simd;
pub mod upsample;
pub mod util;

#[cfg(test)]
pub mod testutil;
