// The only file that touches WebAssembly: loading the module, the typed kernel table (one line
// per export of crates/kernels/src/abi.rs, same snake_case names), allocation and heap views.
// Every other file calls `kernels()` and works on `Tensor`s.

import { TorchletError } from './errors.js';
import { GPU_FAMILIES } from './gpu/families.js';
import { type GpuBackend, createGpuBackend } from './gpu/runtime.js';
import { readBytes } from './platform.js';

/** A byte offset into WASM linear memory, branded so a plain number is not passed by mistake. */
export type Ptr = number & { readonly __ptr: unique symbol };

/** The ABI this binding was written for; must equal the module's `abi_version()`. */
export const ABI_VERSION = 3;

/**
 * Every export of the kernels crate, one to one with `crates/kernels/src/abi.rs`: same names,
 * same argument order. `beta` (gemm and every `*_backward_update_gradient`) is 0 to overwrite the
 * output without reading it, or 1 to add into it.
 */
export interface Kernels {
  abi_version(): number;
  tl_alloc(bytes: number): Ptr;
  tl_free(ptr: Ptr, bytes: number): void;
  non_finite_count(x: Ptr, n: number): number;
  count_outside(x: Ptr, n: number, lo: number, hi: number): number;
  gather_rows(src: Ptr, indices: Ptr, dst: Ptr, rows: number, cols: number): void;
  one_hot(labels: Ptr, out: Ptr, rows: number, cols: number): void;
  fill_zero(x: Ptr, n: number): void;
  gemm(
    a: Ptr,
    b: Ptr,
    c: Ptr,
    m: number,
    k: number,
    n: number,
    rsa: number,
    csa: number,
    rsb: number,
    csb: number,
    beta: number,
  ): void;
  linear_forward(x: Ptr, y: Ptr, w: Ptr, b: Ptr, batch: number, nIn: number, nOut: number): void;
  linear_backward_delta(
    delta: Ptr,
    dx: Ptr,
    w: Ptr,
    batch: number,
    nIn: number,
    nOut: number,
  ): void;
  linear_backward_update_gradient(
    x: Ptr,
    delta: Ptr,
    gw: Ptr,
    gb: Ptr,
    batch: number,
    nIn: number,
    nOut: number,
    beta: number,
  ): void;
  tanh_forward(x: Ptr, y: Ptr, n: number): void;
  tanh_backward_delta(y: Ptr, delta: Ptr, dx: Ptr, n: number): void;
  sigmoid_forward(x: Ptr, y: Ptr, n: number): void;
  sigmoid_backward_delta(y: Ptr, delta: Ptr, dx: Ptr, n: number): void;
  relu_forward(x: Ptr, y: Ptr, n: number): void;
  relu_backward_delta(x: Ptr, delta: Ptr, dx: Ptr, n: number): void;
  softmax_forward(x: Ptr, y: Ptr, rows: number, cols: number): void;
  softmax_backward_delta(y: Ptr, delta: Ptr, dx: Ptr, rows: number, cols: number): void;
  mse_loss_forward(y: Ptr, yhat: Ptr, rows: number, cols: number): number;
  mse_loss_backward(y: Ptr, yhat: Ptr, grad: Ptr, rows: number, cols: number): void;
  bce_loss_forward(y: Ptr, yhat: Ptr, rows: number, cols: number): number;
  bce_loss_backward(y: Ptr, yhat: Ptr, grad: Ptr, rows: number, cols: number): void;
  cross_entropy_loss_forward(y: Ptr, yhat: Ptr, rows: number, cols: number): number;
  cross_entropy_loss_backward(y: Ptr, yhat: Ptr, grad: Ptr, rows: number, cols: number): void;
  log_softmax_cross_entropy_forward(y: Ptr, yhat: Ptr, rows: number, cols: number): number;
  log_softmax_cross_entropy_backward(
    y: Ptr,
    yhat: Ptr,
    grad: Ptr,
    rows: number,
    cols: number,
  ): void;
  conv1d_workspace_len(
    length: number,
    cIn: number,
    cOut: number,
    k: number,
    stride: number,
  ): number;
  conv1d_forward(
    x: Ptr,
    y: Ptr,
    w: Ptr,
    b: Ptr,
    batch: number,
    length: number,
    cIn: number,
    cOut: number,
    k: number,
    stride: number,
  ): void;
  conv1d_backward_delta(
    delta: Ptr,
    dx: Ptr,
    w: Ptr,
    work: Ptr,
    batch: number,
    length: number,
    cIn: number,
    cOut: number,
    k: number,
    stride: number,
  ): void;
  conv1d_backward_update_gradient(
    x: Ptr,
    delta: Ptr,
    gw: Ptr,
    gb: Ptr,
    batch: number,
    length: number,
    cIn: number,
    cOut: number,
    k: number,
    stride: number,
    beta: number,
  ): void;
  conv2d_workspace_len(
    height: number,
    width: number,
    cIn: number,
    cOut: number,
    kh: number,
    kw: number,
    stride: number,
  ): number;
  conv2d_forward(
    x: Ptr,
    y: Ptr,
    w: Ptr,
    b: Ptr,
    batch: number,
    height: number,
    width: number,
    cIn: number,
    cOut: number,
    kh: number,
    kw: number,
    stride: number,
  ): void;
  conv2d_backward_delta(
    delta: Ptr,
    dx: Ptr,
    w: Ptr,
    work: Ptr,
    batch: number,
    height: number,
    width: number,
    cIn: number,
    cOut: number,
    kh: number,
    kw: number,
    stride: number,
  ): void;
  conv2d_backward_update_gradient(
    x: Ptr,
    delta: Ptr,
    gw: Ptr,
    gb: Ptr,
    batch: number,
    height: number,
    width: number,
    cIn: number,
    cOut: number,
    kh: number,
    kw: number,
    stride: number,
    beta: number,
  ): void;
  maxpool1d_forward(
    x: Ptr,
    y: Ptr,
    argmax: Ptr,
    batch: number,
    length: number,
    c: number,
    k: number,
    stride: number,
  ): void;
  maxpool2d_forward(
    x: Ptr,
    y: Ptr,
    argmax: Ptr,
    batch: number,
    height: number,
    width: number,
    c: number,
    kh: number,
    kw: number,
    stride: number,
  ): void;
  maxpool_backward_delta(delta: Ptr, argmax: Ptr, dx: Ptr, nOut: number, nIn: number): void;
  avgpool_forward(
    x: Ptr,
    y: Ptr,
    batch: number,
    height: number,
    width: number,
    c: number,
    kh: number,
    kw: number,
    stride: number,
  ): void;
  avgpool_backward_delta(
    delta: Ptr,
    dx: Ptr,
    batch: number,
    height: number,
    width: number,
    c: number,
    kh: number,
    kw: number,
    stride: number,
  ): void;
  pad_forward(
    x: Ptr,
    y: Ptr,
    batch: number,
    height: number,
    width: number,
    c: number,
    top: number,
    bottom: number,
    left: number,
    right: number,
  ): void;
  pad_backward_delta(
    delta: Ptr,
    dx: Ptr,
    batch: number,
    height: number,
    width: number,
    c: number,
    top: number,
    bottom: number,
    left: number,
    right: number,
  ): void;
  dropout_forward(x: Ptr, mask: Ptr, y: Ptr, n: number): void;
  dropout_backward_delta(delta: Ptr, mask: Ptr, dx: Ptr, n: number): void;
  upsample_forward(
    x: Ptr,
    y: Ptr,
    batch: number,
    height: number,
    width: number,
    c: number,
    sh: number,
    sw: number,
  ): void;
  upsample_backward_delta(
    delta: Ptr,
    dx: Ptr,
    batch: number,
    height: number,
    width: number,
    c: number,
    sh: number,
    sw: number,
  ): void;
  sgd_update(grad: Ptr, param: Ptr, n: number, step: number): void;
  sgd_decay_update(grad: Ptr, param: Ptr, n: number, step: number, weightDecay: number): void;
  momentum_update(
    grad: Ptr,
    param: Ptr,
    velocity: Ptr,
    n: number,
    step: number,
    momentum: number,
    weightDecay: number,
    nesterov: number,
  ): void;
  adam_update(
    grad: Ptr,
    param: Ptr,
    m: Ptr,
    v: Ptr,
    n: number,
    stepSize: number,
    beta1: number,
    beta2: number,
    epsilon: number,
    weightDecay: number,
    invSqrtBias2: number,
  ): void;
}

/**
 * The kernel table at run time: each entry's argument count. `init()` checks the loaded module
 * against it, so a stale .wasm is refused at load instead of failing at its first call; the type
 * makes each count agree with `Kernels` at compile time. It says only names and argument counts,
 * in the order of `Kernels` (pointers first, then sizes, then hyperparameters and `beta`), so a
 * second backend (WebGPU, with buffers in place of pointers) can implement and check the same
 * entries.
 */
export const KERNEL_ARITY: Readonly<Record<keyof Kernels, number>> = {
  abi_version: 0,
  tl_alloc: 1,
  tl_free: 2,
  non_finite_count: 2,
  count_outside: 4,
  gather_rows: 5,
  one_hot: 4,
  fill_zero: 2,
  gemm: 11,
  linear_forward: 7,
  linear_backward_delta: 6,
  linear_backward_update_gradient: 8,
  tanh_forward: 3,
  tanh_backward_delta: 4,
  sigmoid_forward: 3,
  sigmoid_backward_delta: 4,
  relu_forward: 3,
  relu_backward_delta: 4,
  softmax_forward: 4,
  softmax_backward_delta: 5,
  mse_loss_forward: 4,
  mse_loss_backward: 5,
  bce_loss_forward: 4,
  bce_loss_backward: 5,
  cross_entropy_loss_forward: 4,
  cross_entropy_loss_backward: 5,
  log_softmax_cross_entropy_forward: 4,
  log_softmax_cross_entropy_backward: 5,
  conv1d_workspace_len: 5,
  conv1d_forward: 10,
  conv1d_backward_delta: 10,
  conv1d_backward_update_gradient: 11,
  conv2d_workspace_len: 7,
  conv2d_forward: 12,
  conv2d_backward_delta: 12,
  conv2d_backward_update_gradient: 13,
  maxpool1d_forward: 8,
  maxpool2d_forward: 10,
  maxpool_backward_delta: 5,
  avgpool_forward: 9,
  avgpool_backward_delta: 9,
  pad_forward: 10,
  pad_backward_delta: 10,
  dropout_forward: 4,
  dropout_backward_delta: 4,
  upsample_forward: 8,
  upsample_backward_delta: 8,
  sgd_update: 4,
  sgd_decay_update: 5,
  momentum_update: 8,
  adam_update: 11,
} satisfies { readonly [K in keyof Kernels]: Parameters<Kernels[K]>['length'] };

/** The first entry of `KERNEL_ARITY` that `exports` lacks or has with another argument count. */
function kernelMismatch(exports: Record<string, unknown>): string | null {
  for (const [name, arity] of Object.entries(KERNEL_ARITY)) {
    const fn = exports[name];
    if (typeof fn !== 'function') return `no export ${name} (${arity} arguments)`;
    if (fn.length !== arity) return `export ${name} with ${fn.length} arguments, expected ${arity}`;
  }
  return null;
}

/** What `init` accepts: nothing (load the bundled file), the bytes, where to fetch them, or a
 * compiled module. `{ wasm }` is the same as passing the value itself. */
export type WasmSource =
  URL | string | ArrayBuffer | ArrayBufferView | Response | WebAssembly.Module;

/** Where kernels run: the WASM SIMD128 core (default), or WebGPU compute shaders. */
export type Backend = 'wasm' | 'webgpu';

/** WebGPU adapter options of `init({ backend: 'webgpu', gpu })`. */
export interface GpuBackendOptions {
  /** The adapter's power preference (default: the browser's choice). */
  powerPreference?: 'low-power' | 'high-performance';
}

/** The GPU adapter the WebGPU backend runs on, as the browser (or Dawn) describes it; fields
 * the adapter does not report are empty strings. */
export interface GpuInfo {
  /** e.g. `'nvidia'`, `'apple'`, `'google'` (SwiftShader). */
  vendor: string;
  /** e.g. `'ampere'`, `'swiftshader'`. */
  architecture: string;
  /** The adapter's device name, where the browser reports one (often empty). */
  device: string;
  /** A human-readable description, e.g. `'SwiftShader driver 5.0.0'` (often empty in browsers). */
  description: string;
}

/** What `init` accepts besides a bare WASM source. */
export interface InitOptions {
  /** The WASM core (see `WasmSource`); the WebGPU backend loads it too, for memory and checks. */
  wasm?: WasmSource;
  /**
   * `'wasm'` (default) or `'webgpu'`: kernels run as WGSL compute shaders on the GPU, on tensors
   * kept in GPU memory; reading values on this thread then needs `await sync()` (see the README,
   * "GPU").
   */
  backend?: Backend;
  /** WebGPU adapter options (backend `'webgpu'` only). */
  gpu?: GpuBackendOptions;
}

interface Instance {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  kernels: Kernels;
  backend: Backend;
  gpu: GpuBackend | null;
}

/**
 * @internal Set while the WebGPU backend runs: called before this thread reads or writes a
 * tensor's memory through a view, so values the GPU holds are never read stale (it throws
 * `ON_GPU`) and values written here are uploaded before the GPU reads them.
 */
export let hostAccess: ((ptr: number, bytes: number, what: string) => void) | null = null;

/**
 * @internal Set while the WebGPU backend runs: copies `bytes` from `src` to `dst` on the GPU when
 * the GPU holds the newer values at `src`, returning whether it did (`Tensor.clone`).
 */
export let deviceCopy: ((src: number, dst: number, bytes: number) => boolean) | null = null;

let instance: Instance | null = null;
let loading: Promise<void> | null = null;
let liveBytes = 0;

const REBUILD_HINT = 'rebuild it with `npm run build:wasm`';

/**
 * Loads and instantiates the WASM core. Call once before anything else; later calls are no-ops.
 * @param source Optional: bytes, a URL, a `Response`, a compiled `WebAssembly.Module`, or
 *   `{ wasm: any of those }`. A string is a URL, relative to the page (browsers) or this module.
 *   Default: torchlet.wasm next to this module, read from disk by the `node` build and fetched by
 *   the default (browser) build.
 * @throws TorchletError `BAD_WASM` when the bytes are not the torchlet module (HTML from a
 *   misconfigured server, a stale build, a browser without SIMD128).
 */
export function init(source?: WasmSource | InitOptions): Promise<void> {
  const options = isWasmWrapper(source) ? source : {};
  let wanted: Backend;
  try {
    wanted = checkBackend(options.backend);
  } catch (e) {
    // An async function's error: a rejection, never a throw from the call.
    return Promise.reject(e);
  }
  if (instance) {
    if (options.backend !== undefined && wanted !== instance.backend) {
      return Promise.reject(
        new TorchletError(
          'BAD_ARGUMENT',
          `init: expected backend '${instance.backend}' (torchlet is already initialized with it; the backend is chosen by the first init), got '${wanted}'`,
        ),
      );
    }
    return Promise.resolve();
  }
  if (!loading) {
    loading = load(source, wanted, options.gpu).catch((e: unknown) => {
      loading = null;
      throw e;
    });
  }
  return loading;
}

function checkBackend(b: unknown): Backend {
  if (b === undefined || b === 'wasm') return 'wasm';
  if (b === 'webgpu') return 'webgpu';
  throw new TorchletError(
    'BAD_ARGUMENT',
    `init: expected backend 'wasm' or 'webgpu', got ${typeof b === 'string' ? `'${b}'` : String(b)}`,
  );
}

/** The compiled module, to hand to workers so each instantiates its own memory. */
export function compiledModule(): WebAssembly.Module {
  return ready().module;
}

/** What `tl_fail`'s `reason` means (crates/kernels/src/guard.rs, `Reason`). */
const FAIL_REASONS: Readonly<Record<number, string>> = {
  1: 'an extent outside every live allocation (out of bounds, freed, or never allocated)',
  2: 'dimensions whose size overflows 32 bits',
  3: 'an index (arg-max, row or label) outside its target',
  4: 'a pointer that is not a live allocation of that size (a double free)',
};

/**
 * The `env` imports of the module: `tl_fail`, called by a kernel whose once-per-call bounds
 * check failed, before it touched memory. It rewinds the shadow stack (the exception skips the
 * epilogues of the export's frames; exports are never re-entered, so the stack is empty at every
 * entry) and throws `OUT_OF_BOUNDS`, which unwinds through the WASM frames to the caller.
 */
function envImports(target: { exp: WasmExports | null; stackTop: number }): WebAssembly.Imports {
  const tl_fail = (
    name: number,
    nameLen: number,
    arg: number,
    argLen: number,
    index: number,
    reason: number,
  ): never => {
    const exp = target.exp;
    let where = 'a kernel';
    let argName = '?';
    if (exp) {
      if (exp.__stack_pointer) exp.__stack_pointer.value = target.stackTop;
      const text = (p: number, n: number): string =>
        new TextDecoder().decode(new Uint8Array(exp.memory.buffer, p >>> 0, n >>> 0));
      where = text(name, nameLen);
      argName = text(arg, argLen);
    }
    throw new TorchletError(
      'OUT_OF_BOUNDS',
      `kernels.${where}: expected argument ${index} (${argName}) inside one live allocation for its dimensions, got ${FAIL_REASONS[reason] ?? `failure ${reason}`}; nothing was written. This is a bug in torchlet (or a direct kernels() call): please report it`,
    );
  };
  return { env: { tl_fail } };
}

type WasmExports = Kernels & {
  memory: WebAssembly.Memory;
  __stack_pointer?: WebAssembly.Global;
};

/**
 * The kernel table over the raw exports: the exports returning a `usize` pointer or length come
 * back from WASM as signed i32, so they are made unsigned here, the one place pointers and sizes
 * enter TS. Memory past 2 GiB then works up to the 4 GiB wasm32 limit. (The two counts,
 * `non_finite_count` and `count_outside`, are at most 2^30, the floats in 4 GiB: they stay raw,
 * saving a call on every optimiser step.)
 */
function kernelTable(exp: WasmExports): Kernels {
  return {
    ...exp,
    tl_alloc: (bytes: number) => (exp.tl_alloc(bytes) >>> 0) as Ptr,
    conv1d_workspace_len: (length: number, cIn: number, cOut: number, k: number, s: number) =>
      exp.conv1d_workspace_len(length, cIn, cOut, k, s) >>> 0,
    conv2d_workspace_len: (
      height: number,
      width: number,
      cIn: number,
      cOut: number,
      kh: number,
      kw: number,
      s: number,
    ) => exp.conv2d_workspace_len(height, width, cIn, cOut, kh, kw, s) >>> 0,
  };
}

async function load(
  arg: WasmSource | InitOptions | undefined,
  backend: Backend,
  gpuOptions: GpuBackendOptions | undefined,
): Promise<void> {
  const source = isWasmWrapper(arg) ? arg.wasm : arg;
  const module = await compile(source);
  const target: { exp: WasmExports | null; stackTop: number } = { exp: null, stackTop: 0 };
  let inst: WebAssembly.Instance;
  try {
    inst = await WebAssembly.instantiate(module, envImports(target));
  } catch (e) {
    throw new TorchletError(
      'BAD_WASM',
      `init: expected the torchlet kernels module, got one that does not link (${(e as Error).message}); ${REBUILD_HINT}`,
    );
  }
  const exp = inst.exports as unknown as WasmExports;
  if (typeof exp.abi_version !== 'function' || !(exp.memory instanceof WebAssembly.Memory)) {
    throw new TorchletError(
      'BAD_WASM',
      `init: expected the torchlet kernels module, got a module without abi_version/memory; ${REBUILD_HINT}`,
    );
  }
  if (exp.abi_version() !== ABI_VERSION) {
    throw new TorchletError(
      'BAD_WASM',
      `init: expected WASM ABI version ${ABI_VERSION}, got ${exp.abi_version()}; the .wasm is stale, ${REBUILD_HINT}`,
    );
  }
  const mismatch = kernelMismatch(inst.exports);
  if (mismatch !== null) {
    throw new TorchletError(
      'BAD_WASM',
      `init: expected the kernels of ABI version ${ABI_VERSION}, got a module with ${mismatch}; the .wasm is stale or built from other sources, ${REBUILD_HINT}`,
    );
  }
  target.exp = exp;
  target.stackTop = exp.__stack_pointer ? (exp.__stack_pointer.value as number) : 0;
  const table = kernelTable(exp);
  warmKernels(table);
  if (backend === 'wasm') {
    instance = { module, memory: exp.memory, kernels: table, backend, gpu: null };
    return;
  }
  const gpu = await createGpuBackend(
    { kernels: table, heap: () => exp.memory.buffer },
    GPU_FAMILIES,
    gpuOptions,
  );
  instance = { module, memory: exp.memory, kernels: gpu.table, backend, gpu };
  hostAccess = (ptr, bytes, what) => gpu.hostAccess(ptr, bytes, what);
  deviceCopy = (src, dst, bytes) => gpu.copyOnDevice(src, dst, bytes);
}

/** Floats in each of the five scratch blocks of `warmKernels` (64 KiB each). */
const WARM_FLOATS = 16384;
/** Rounds of the kernels that do one pass over memory per call (the rest run once). */
const WARM_REPEATS = 8;

/**
 * Runs the kernels of dense networks (Linear, activations, losses, updates, the checks) on zeros
 * in scratch memory it then frees, so that V8 has compiled them optimised before the first batch.
 * V8 compiles WASM first with its baseline compiler (Liftoff: 3-5x slower on our SIMD loops) and
 * recompiles a function optimised (TurboFan, on a background thread) once it has run about 1.8 MB
 * worth of code; with small batches (digits, batch 32) that took 6-10 epochs, and those epochs ran
 * at a third of the steady state (docs/performance.md, "Warm-up"). These calls use up that budget
 * for each of those kernels, on shapes that take the branches a step takes (the 4 x 8 and 4 x 4
 * GEMM tiles). Convolution and pooling are left out: their steps are long enough to tier up within
 * the first epoch, and compiling them here would delay the others in V8's compile queue. It adds a
 * few milliseconds to `init()` and changes nothing visible: every block is freed and no result
 * depends on it (WASM memory may have grown by a few pages). Other engines tier differently; there
 * it is a few milliseconds of harmless work.
 */
function warmKernels(k: Kernels): void {
  const n = WARM_FLOATS;
  const blocks: Ptr[] = [];
  for (let i = 0; i < 5; i++) {
    const p = k.tl_alloc(n * 4);
    if (p === 0) {
      // Only a speed-up: a module that cannot spare 320 KiB now (or a test's stub) goes without.
      for (const q of blocks) k.tl_free(q, n * 4);
      return;
    }
    blocks.push(p);
  }
  const [a, b, c, d, u] = blocks as [Ptr, Ptr, Ptr, Ptr, Ptr];
  try {
    // Zeros before each round: finite values, and row indices that stay in bounds.
    const zero = (): void => {
      for (const p of blocks) k.fill_zero(p, n);
    };
    zero();
    // Linear layers: the full 4 x 8 tiles (100 outputs: 12 strips and a 4-wide edge) and a
    // narrow layer (12).
    for (const nOut of [100, 12]) {
      k.linear_forward(a, b, c, d, 64, 96, nOut);
      k.linear_backward_delta(b, a, c, 64, 96, nOut);
      k.linear_backward_update_gradient(a, b, c, d, 64, 96, nOut, 1);
    }
    k.gather_rows(a, u, b, 256, 64);
    for (const cols of [10, 64]) {
      k.log_softmax_cross_entropy_forward(a, b, 256, cols);
      k.log_softmax_cross_entropy_backward(a, b, c, 256, cols);
      k.cross_entropy_loss_forward(a, b, 256, cols);
      k.cross_entropy_loss_backward(a, b, c, 256, cols);
      k.bce_loss_forward(a, b, 256, cols);
      k.bce_loss_backward(a, b, c, 256, cols);
      k.mse_loss_forward(a, b, 256, cols);
      k.mse_loss_backward(a, b, c, 256, cols);
    }
    k.softmax_forward(a, b, 1024, 10);
    k.softmax_backward_delta(b, a, c, 1024, 10);
    // One pass over memory per call: these run more often to use up their budget.
    for (let r = 0; r < WARM_REPEATS; r++) {
      zero();
      // The bias gradient (a sum over the batch) is a function of its own, short per call.
      for (let j = 0; j < 4; j++) k.linear_backward_update_gradient(a, b, c, d, 160, 8, 100, j & 1);
      k.relu_forward(a, b, n);
      k.relu_backward_delta(a, b, c, n);
      k.tanh_forward(a, b, n);
      k.tanh_backward_delta(b, a, c, n);
      k.sigmoid_forward(a, b, n);
      k.sigmoid_backward_delta(b, a, c, n);
      k.non_finite_count(a, n);
      k.count_outside(a, n, 0, 1);
      k.one_hot(a, b, 1024, 10);
      k.sgd_update(c, a, n, 0.5);
      k.momentum_update(c, a, b, n, 0.5, 0.5, 0, r & 1);
      k.adam_update(c, a, b, d, n, 0.5, 0.5, 0.5, 0.5, 0, 1);
    }
  } finally {
    for (const p of blocks) k.tl_free(p, n * 4);
  }
}

function isWasmWrapper(x: unknown): x is InitOptions {
  return (
    typeof x === 'object' &&
    x !== null &&
    !(x instanceof URL) &&
    !(x instanceof ArrayBuffer) &&
    !ArrayBuffer.isView(x) &&
    !(x instanceof WebAssembly.Module) &&
    !(typeof Response !== 'undefined' && x instanceof Response)
  );
}

async function compile(source: WasmSource | undefined): Promise<WebAssembly.Module> {
  if (source instanceof WebAssembly.Module) return source;
  let bytes: Uint8Array;
  let from = 'the bytes given to init';
  if (source === undefined || source instanceof URL || typeof source === 'string') {
    // The literal `new URL('…', import.meta.url)` form lets rollup (our build), Vite and webpack
    // see the file and copy it next to the bundle; the build rewrites it to './torchlet.wasm'.
    const url =
      source === undefined
        ? new URL('../../wasm/torchlet.wasm', import.meta.url)
        : new URL(source, baseUrl());
    from = url.href;
    try {
      bytes = await readBytes(url);
    } catch (e) {
      throw new TorchletError(
        'BAD_WASM',
        `init: expected torchlet.wasm at ${url.href}, got ${(e as Error).message}; serve or ship torchlet.wasm next to the module (bundlers that do not follow new URL(…, import.meta.url) to assets, such as esbuild, need torchlet/dist/torchlet.wasm copied next to the bundle; in a checkout, ${REBUILD_HINT}), or pass init({ wasm })`,
      );
    }
  } else if (source instanceof ArrayBuffer) bytes = new Uint8Array(source);
  else if (ArrayBuffer.isView(source))
    bytes = new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  else {
    from = source.url || 'the Response given to init';
    bytes = new Uint8Array(await source.arrayBuffer());
  }
  checkMagic(bytes, from);
  try {
    return await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
  } catch (e) {
    throw new TorchletError(
      'BAD_WASM',
      `init: could not compile torchlet.wasm (${(e as Error).message}); it needs WebAssembly SIMD128 (Node >= 16.4, Chrome >= 91, Firefox >= 89, Safari >= 16.4), or ${REBUILD_HINT}`,
    );
  }
}

function baseUrl(): string {
  return typeof location !== 'undefined' ? location.href : import.meta.url;
}

function checkMagic(bytes: Uint8Array, from: string): void {
  const isWasm =
    bytes.length >= 8 &&
    bytes[0] === 0x00 &&
    bytes[1] === 0x61 &&
    bytes[2] === 0x73 &&
    bytes[3] === 0x6d;
  if (isWasm) return;
  const head = new TextDecoder().decode(bytes.subarray(0, 64)).trimStart();
  if (head.startsWith('<')) {
    throw new TorchletError(
      'BAD_WASM',
      `init: expected WebAssembly bytes from ${from}, got an HTML page: the server answered the .wasm request with HTML (a dev server's fallback or 404 page). Serve node_modules/torchlet/dist/torchlet.wasm as a static file next to the bundle (with the Vite dev server add \`optimizeDeps: { exclude: ['torchlet'] }\`), or pass init({ wasm: url }) with a URL it serves, e.g. from \`import url from 'torchlet/torchlet.wasm?url'\``,
    );
  }
  throw new TorchletError(
    'BAD_WASM',
    `init: expected WebAssembly bytes (\\0asm) from ${from}, got ${bytes.length} bytes starting ${Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ')}; ${REBUILD_HINT}`,
  );
}

function ready(): Instance {
  if (!instance) {
    throw new TorchletError(
      'NOT_INITIALIZED',
      'torchlet: expected `await init()` before use, got no loaded WASM module',
    );
  }
  return instance;
}

/** The typed kernel table. Throws `NOT_INITIALIZED` before `init()`. */
export function kernels(): Kernels {
  return ready().kernels;
}

/** The backend `init` chose (`'wasm'` before `init`). */
export function backend(): Backend {
  return instance?.backend ?? 'wasm';
}

/**
 * The adapter the WebGPU backend runs on (a copy), or null on the WASM backend and before `init`.
 * @example
 * await init({ backend: 'webgpu' });
 * console.log(gpuInfo()); // { vendor: 'google', architecture: 'swiftshader', … } without a GPU
 */
export function gpuInfo(): GpuInfo | null {
  const gpu = instance?.gpu;
  return gpu ? { ...gpu.info } : null;
}

/** @internal The WebGPU backend, or null (WASM backend, or before `init`). */
export function gpuBackend(): GpuBackend | null {
  return instance?.gpu ?? null;
}

/**
 * Makes every tensor's values readable on this thread: with the WebGPU backend, copies back what
 * the GPU computed since the last call (one transfer) and checks the finiteness counts it ran;
 * with the WASM backend, does nothing.
 * @throws TorchletError `NON_FINITE` when a check run on the GPU found a NaN or infinity.
 * @example
 * await init({ backend: 'webgpu' });
 * const y = net.forward(x);
 * await sync();
 * y.data; // readable now
 */
export async function sync(): Promise<void> {
  const gpu = instance?.gpu;
  if (gpu) await gpu.sync();
}

/**
 * @internal WebGPU: submits what is queued and resolves when the GPU has done it; null on the
 * WASM backend. `fit` awaits the previous one at each yield, to keep the GPU close behind. It
 * never rejects (a lost device is reported by the next call that uses the GPU), so one left
 * unawaited when the loop stops is harmless.
 */
export function gpuFinished(): Promise<void> | null {
  return instance?.gpu?.finish().catch(() => undefined) ?? null;
}

/**
 * The losses computed on the GPU since the last call, in order: one per `Loss.forward`,
 * `Optim.step` or training step whose prediction was on the GPU (those calls return NaN: reading
 * a value back each step would stall the GPU). Empty with the WASM backend, where every call
 * returns its loss.
 * @throws TorchletError `NON_FINITE` when a finiteness check run on the GPU since the last read
 *   found a NaN or infinity.
 * @example
 * for (const [x, y] of batches) optim.step(x, y);
 * const losses = await readLosses(); // one per step
 */
export async function readLosses(): Promise<Float32Array> {
  const gpu = instance?.gpu;
  return gpu ? gpu.readLog() : new Float32Array(0);
}

/**
 * @internal After a loss kernel returned NaN: true when it ran on the GPU (its value is logged,
 * and `scale` turns it into the loss the caller reports), false when the NaN is the loss.
 */
export function deferLoss(scale: (v: number) => number): boolean {
  const gpu = instance?.gpu;
  return gpu ? gpu.deferLoss(scale) : false;
}

/**
 * @internal Runs `fn` with every kernel in WASM, on values this thread holds: the WebGPU
 * backend's path for what must return at once (metrics, predictions). Values the GPU holds newer
 * throw `ON_GPU` (naming `await sync()`); with the WASM backend it just calls `fn`.
 */
export function onHost<T>(fn: () => T): T {
  const gpu = instance?.gpu;
  if (!gpu || gpu.hostMode) return fn();
  gpu.hostMode = true;
  try {
    return fn();
  } finally {
    gpu.hostMode = false;
  }
}

/** True once `init()` has finished. */
export function isInitialized(): boolean {
  return instance !== null;
}

/** The current `ArrayBuffer` of WASM memory; it changes whenever memory grows. */
export function heap(): ArrayBuffer {
  return ready().memory.buffer;
}

/**
 * Largest single allocation: Rust's allocator takes at most `isize::MAX` bytes (2 GiB - 1 on
 * wasm32) in one block; all blocks together may reach the 4 GiB of wasm32 memory.
 */
export const MAX_ALLOC = 2 ** 31 - 16;

/** The most WASM memory there can be: wasm32's 4 GiB less the 64 KiB page the module's data and stack start in. */
export const MEMORY_LIMIT = 2 ** 32 - 2 ** 16;

/**
 * `count` elements of `elementBytes` each, as a byte count, checked before anything is allocated
 * or changed: a size a kernel returned (`*_workspace_len` saturates at 2^32 - 1 on overflow) or
 * computed in TS must be a finite non-negative integer and fit one allocation.
 * @param where The caller, for the message (e.g. `Conv1D.backward workspace`).
 * @throws TorchletError `OUT_OF_MEMORY` naming the size when it cannot be allocated.
 */
export function checkedBytes(count: number, where: string, elementBytes = 4): number {
  const bytes = count * elementBytes;
  if (!Number.isSafeInteger(count) || count < 0 || !(bytes <= MAX_ALLOC)) {
    throw new TorchletError(
      'OUT_OF_MEMORY',
      `${where}: expected a buffer below 2 GiB (the most one wasm32 allocation holds), got ${count} elements of ${elementBytes} bytes${count >= 2 ** 32 - 1 ? ' (a size that overflows 32 bits)' : ''}`,
    );
  }
  return bytes;
}

/**
 * Allocates `bytes` in WASM memory (16-byte aligned). May grow memory, which detaches every
 * existing view: callers rebuild views through `heap()`.
 * @throws TorchletError `OUT_OF_MEMORY` when the request cannot fit; nothing is allocated.
 */
export function alloc(bytes: number, what: string): Ptr {
  const size = Math.max(16, Math.ceil(bytes / 16) * 16);
  if (!Number.isFinite(bytes) || bytes < 0 || size > MAX_ALLOC) {
    throw new TorchletError(
      'OUT_OF_MEMORY',
      `${what}: expected an allocation below 2 GiB (the most one wasm32 allocation holds), got ${bytes} bytes`,
    );
  }
  // Unsigned: tl_alloc's table entry applies `>>> 0`, so addresses past 2 GiB stay positive.
  const ptr = ready().kernels.tl_alloc(size);
  if (ptr === 0) {
    throw new TorchletError(
      'OUT_OF_MEMORY',
      `${what}: could not allocate ${size} bytes (WASM memory is ${ready().memory.buffer.byteLength} bytes and cannot grow further)`,
    );
  }
  liveBytes += size;
  return ptr;
}

/**
 * Frees a block from `alloc` with the same `bytes`.
 * @throws TorchletError `OUT_OF_BOUNDS` when it is not a live block of that size (a double free);
 *   nothing is freed.
 */
export function free(ptr: Ptr, bytes: number): void {
  const size = Math.max(16, Math.ceil(bytes / 16) * 16);
  ready().kernels.tl_free(ptr, size);
  liveBytes -= size;
}

/** Memory statistics: bytes held by live tensors and buffers, and the WASM memory size. */
export interface MemoryInfo {
  /** Bytes currently allocated through torchlet (tensors, layer buffers, scratch). */
  liveBytes: number;
  /** Size of WASM linear memory in bytes (it only grows). */
  wasmBytes: number;
}

/** Live bytes and WASM memory size. */
export function memory(): MemoryInfo {
  return { liveBytes, wasmBytes: instance ? instance.memory.buffer.byteLength : 0 };
}
