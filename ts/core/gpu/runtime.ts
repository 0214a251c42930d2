// The WebGPU backend: the same kernel table as the WASM core, run as WGSL compute shaders.
//
// One GPU storage buffer mirrors WASM linear memory byte for byte, so a tensor's pointer means the
// same place on both sides and every module, container, loss and optimiser runs unchanged: the
// allocator, validation and bookkeeping stay in WASM, and the table's compute entries enqueue
// dispatches instead of running. Each allocation remembers which side holds its current values:
//   HOST    written on this thread (a new tensor, `data` handed out): uploaded before a GPU read;
//   BOTH    the same on both sides;
//   DEVICE  written by a dispatch: `data` throws `ON_GPU` until `await sync()` copies it back.
// Uploads are synchronous (queue.writeBuffer); only reading back is asynchronous, so nothing is
// read back per step unless asked for. Entries that return a number (losses, the finiteness and
// range counts) run in WASM when their inputs are on this thread (the exact CPU value, at once);
// on GPU-resident inputs they run on the GPU and return NaN (a loss) or 0 (a count): the loss is
// appended to a device log (`readLog`) and a count is checked at the next `sync()`, which throws
// `NON_FINITE` if it was not 0.
// Buffer layout (32-bit words): [WASM memory | result slot | log | scratch].

import { TorchletError } from '../errors.js';
import { nodeWebGpu } from '../platform.js';
import type { GpuBackendOptions, GpuInfo, Kernels, Ptr } from '../wasm.js';
import {
  type GpuFamily,
  type PlanContext,
  PARAM_WORDS,
  PRELUDE,
  groups1d,
  words,
} from './shader.js';

const HOST = 0;
const BOTH = 1;
const DEVICE = 2;

/**
 * The pointer arguments of each GPU entry, by position: those it reads and those it writes.
 * (A written buffer that holds newer values on this thread is uploaded first: a kernel may write
 * only part of an allocation, and `beta` 1 reads it.)
 */
const IO: Readonly<
  Partial<Record<keyof Kernels, readonly [readonly number[], readonly number[]]>>
> = {
  non_finite_count: [[0], []],
  count_outside: [[0], []],
  gather_rows: [[0, 1], [2]],
  one_hot: [[0], [1]],
  fill_zero: [[], [0]],
  gemm: [[0, 1], [2]],
  linear_forward: [[0, 2, 3], [1]],
  linear_backward_delta: [[0, 2], [1]],
  linear_backward_update_gradient: [
    [0, 1],
    [2, 3],
  ],
  tanh_forward: [[0], [1]],
  tanh_backward_delta: [[0, 1], [2]],
  sigmoid_forward: [[0], [1]],
  sigmoid_backward_delta: [[0, 1], [2]],
  relu_forward: [[0], [1]],
  relu_backward_delta: [[0, 1], [2]],
  softmax_forward: [[0], [1]],
  softmax_backward_delta: [[0, 1], [2]],
  mse_loss_forward: [[0, 1], []],
  mse_loss_backward: [[0, 1], [2]],
  bce_loss_forward: [[0, 1], []],
  bce_loss_backward: [[0, 1], [2]],
  cross_entropy_loss_forward: [[0, 1], []],
  cross_entropy_loss_backward: [[0, 1], [2]],
  log_softmax_cross_entropy_forward: [[0, 1], []],
  log_softmax_cross_entropy_backward: [[0, 1], [2]],
  // The WASM side's workspace (argument 3 of the backward deltas) is not used on the GPU.
  conv1d_forward: [[0, 2, 3], [1]],
  conv1d_backward_delta: [[0, 2], [1]],
  conv1d_backward_update_gradient: [
    [0, 1],
    [2, 3],
  ],
  conv2d_forward: [[0, 2, 3], [1]],
  conv2d_backward_delta: [[0, 2], [1]],
  conv2d_backward_update_gradient: [
    [0, 1],
    [2, 3],
  ],
  maxpool1d_forward: [[0], [1, 2]],
  maxpool2d_forward: [[0], [1, 2]],
  maxpool_backward_delta: [[0, 1], [2]],
  avgpool_forward: [[0], [1]],
  avgpool_backward_delta: [[0], [1]],
  pad_forward: [[0], [1]],
  pad_backward_delta: [[0], [1]],
  dropout_forward: [[0, 1], [2]],
  dropout_backward_delta: [[0, 1], [2]],
  upsample_forward: [[0], [1]],
  upsample_backward_delta: [[0], [1]],
  sgd_update: [[0], [1]],
  sgd_decay_update: [[0], [1]],
  momentum_update: [[0], [1, 2]],
  adam_update: [[0], [1, 2, 3]],
};

/** Entries returning a loss (f32, logged) and a count (u32, checked at the next sync). */
const LOSSES = new Set<keyof Kernels>([
  'mse_loss_forward',
  'bce_loss_forward',
  'cross_entropy_loss_forward',
  'log_softmax_cross_entropy_forward',
]);
const COUNTS = new Set<keyof Kernels>(['non_finite_count', 'count_outside']);
/**
 * Entries that run in WASM when their inputs are on this thread: zero-filling a new buffer, and
 * gathering a batch (and its one-hot targets) from a data set held here. A training loop's batch
 * is then checked on this thread as with the WASM backend (labels named, values finite), and
 * goes up once, as the step's first GPU read.
 */
const ON_HOST_FIRST = new Set<keyof Kernels>(['fill_zero', 'gather_rows', 'one_hot']);

/** Words of the result slot, the loss log and the scratch behind WASM memory. */
const RESULT_WORDS = 64;
const LOG_WORDS = 1 << 18;
const SCRATCH_WORDS = 1 << 20;
const TAIL_BYTES = 4 * (RESULT_WORDS + LOG_WORDS + SCRATCH_WORDS);
/** Uniform slots per submission (256 bytes each: WebGPU's dynamic-offset alignment). */
const RING_SLOTS = 2048;
const SLOT_BYTES = 256;

/** The runtime's own entry: copies the result slot to a log word. */
const RUNTIME_WGSL = /* wgsl */ `
@compute @workgroup_size(1)
fn rt_log() { heap[pu(1)] = heap[pu(0)]; }
`;

interface Alloc {
  start: number;
  end: number;
  state: number;
  /** Bumped by every dispatch that writes it: a read-back copies only what no later dispatch changed. */
  gen: number;
  live: boolean;
}

/** What the runtime needs of the WASM side. */
export interface HostSide {
  kernels: Kernels;
  heap(): ArrayBuffer;
}

// The spec's flag values, fixed by WebGPU: Node's binding does not define the GPUBufferUsage,
// GPUShaderStage and GPUMapMode globals unless the program copies them onto globalThis.
const USAGE = {
  MAP_READ: 0x1,
  COPY_SRC: 0x4,
  COPY_DST: 0x8,
  UNIFORM: 0x40,
  STORAGE: 0x80,
} as const;
const STAGE_COMPUTE = 0x4;
const MAP_MODE_READ = 0x1;

const USE_WASM = "use the default backend 'wasm'";

/** `navigator.gpu` (browsers, Deno), else Node's binding; throws NO_GPU saying which is missing. */
async function gpuApi(): Promise<{ gpu: GPU; source: string }> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return { gpu: nav.gpu, source: 'navigator.gpu' };
  const node = await nodeWebGpu();
  if (node === null) {
    throw new TorchletError(
      'NO_GPU',
      `init: expected WebGPU (navigator.gpu) for backend 'webgpu', got none: use a browser with WebGPU (Chrome/Edge 113+, a secure context such as https or 127.0.0.1), or ${USE_WASM}`,
    );
  }
  if ('missing' in node) {
    throw new TorchletError(
      'NO_GPU',
      `init: expected WebGPU for backend 'webgpu', got none: Node has no navigator.gpu, and ${node.missing}; install the optional peer dependency (npm install webgpu), or ${USE_WASM}`,
    );
  }
  return { gpu: node.gpu, source: "the 'webgpu' package (Dawn)" };
}

/** Why no adapter came, by where WebGPU came from. */
function noAdapterHint(source: string): string {
  return source === 'navigator.gpu'
    ? 'the browser exposes WebGPU but found no usable GPU; Chromium without a GPU needs --enable-unsafe-webgpu for its software adapter'
    : `${source} found no usable GPU: on Linux it needs libvulkan.so.1 and a Vulkan driver (see the README, "GPU (WebGPU)")`;
}

/**
 * @internal Opens the GPU and builds the table. @throws TorchletError `NO_GPU` when WebGPU or an adapter
 * is missing, naming what was missing.
 */
export async function createGpuBackend(
  host: HostSide,
  families: readonly GpuFamily[],
  options: GpuBackendOptions = {},
): Promise<GpuBackend> {
  const { gpu, source } = await gpuApi();
  const adapter = await gpu.requestAdapter(
    options.powerPreference ? { powerPreference: options.powerPreference } : {},
  );
  if (adapter === null) {
    throw new TorchletError(
      'NO_GPU',
      `init: expected a WebGPU adapter for backend 'webgpu', got none (${noAdapterHint(source)}); ${USE_WASM}`,
    );
  }
  const limits = adapter.limits;
  const device = await adapter.requestDevice({
    requiredLimits: {
      maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
      maxBufferSize: limits.maxBufferSize,
    },
  });
  // `adapter.info` (current browsers) or the older `requestAdapterInfo()`.
  const a = adapter as GPUAdapter & { info?: GPUAdapterInfo };
  const info: Partial<GPUAdapterInfo> = a.info ?? (await a.requestAdapterInfo?.()) ?? {};
  return new GpuBackend(
    host,
    gpu,
    device,
    families,
    {
      vendor: info.vendor ?? '',
      architecture: info.architecture ?? '',
      device: info.device ?? '',
      description: info.description ?? '',
    },
    Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize),
  );
}

/** @internal The WebGPU side: the device, the mirrored heap, the table that routes calls to it. */
export class GpuBackend {
  /** The kernel table: GPU entries dispatch, the allocator and size queries stay in WASM. */
  readonly table: Kernels;
  readonly info: GpuInfo;
  private readonly host: HostSide;
  private readonly device: GPUDevice;
  /** Held, never used: Node's binding tears its instance down when this object is collected,
   * under a device still in use (native crashes a few dispatches later). */
  readonly api: GPU;
  private readonly maxBytes: number;
  private readonly layout: GPUBindGroupLayout;
  private readonly pipelineLayout: GPUPipelineLayout;
  private readonly modules = new Map<GpuFamily, GPUShaderModule>();
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly familyOf = new Map<keyof Kernels, GpuFamily>();
  private readonly runtimeFamily: GpuFamily;
  private buffer: GPUBuffer | null = null;
  private heapBytes = 0;
  private bindGroup: GPUBindGroup | null = null;
  private readonly ring: GPUBuffer;
  private readonly ringWords = new Uint32Array((RING_SLOTS * SLOT_BYTES) / 4);
  private slots = 0;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  // Live allocations sorted by start, for the pointer -> allocation lookup of every call.
  private allocs: Alloc[] = [];
  private logCount = 0;
  private readonly pendingChecks: { at: number; what: string }[] = [];
  // What each log word is: a loss (with the scaling its Loss applies to the kernel's value) or a
  // count to check.
  private entries: ({ scale: ((v: number) => number) | null } | { check: string })[] = [];
  private lastDeferred = false;
  private lost: string | null = null;
  /** Dispatches encoded since the backend started (tests read it). */
  dispatches = 0;
  /**
   * @internal Tests: run losses, counts and zero-fills on the GPU even when their data is on
   * this thread, so the GPU kernels are the ones checked.
   */
  forceDevice = false;
  /**
   * @internal Every entry runs in WASM, on values this thread holds (after `sync()`): `fit`'s
   * epoch end (validation, metrics, callbacks) runs so, and reads what it computes at once.
   */
  hostMode = false;
  /** The WASM table the GPU table falls back to (tests compare against it). */
  readonly hostKernels: Kernels;

  constructor(
    host: HostSide,
    api: GPU,
    device: GPUDevice,
    families: readonly GpuFamily[],
    info: GpuInfo,
    maxBytes: number,
  ) {
    this.host = host;
    this.api = api;
    this.device = device;
    this.info = info;
    this.maxBytes = maxBytes;
    void device.lost.then((l) => {
      this.lost = l.message || l.reason || 'lost';
    });
    this.layout = device.createBindGroupLayout({
      entries: [
        { binding: 0, visibility: STAGE_COMPUTE, buffer: { type: 'storage' } },
        {
          binding: 1,
          visibility: STAGE_COMPUTE,
          buffer: { type: 'uniform', hasDynamicOffset: true, minBindingSize: PARAM_WORDS * 4 },
        },
      ],
    });
    this.pipelineLayout = device.createPipelineLayout({ bindGroupLayouts: [this.layout] });
    this.ring = device.createBuffer({
      size: RING_SLOTS * SLOT_BYTES,
      usage: USAGE.UNIFORM | USAGE.COPY_DST,
    });
    this.runtimeFamily = { code: RUNTIME_WGSL, plans: {} };
    for (const f of families) {
      for (const name of Object.keys(f.plans) as (keyof Kernels)[]) {
        if (this.familyOf.has(name)) throw new Error(`gpu: two families plan ${name}`);
        this.familyOf.set(name, f);
      }
    }
    this.hostKernels = host.kernels;
    this.table = this.buildTable(host.kernels);
  }

  /** The entries the GPU runs (the rest stay in WASM). */
  gpuEntries(): (keyof Kernels)[] {
    return [...this.familyOf.keys()];
  }

  private buildTable(wasm: Kernels): Kernels {
    const table: Kernels = { ...wasm };
    const t = table as unknown as Record<string, (...a: number[]) => number | void>;
    const w = wasm as unknown as Record<string, (...a: number[]) => number | void>;
    t.tl_alloc = (bytes: number) => {
      const ptr = wasm.tl_alloc(bytes);
      if (ptr !== 0) this.track(ptr, bytes);
      return ptr;
    };
    t.tl_free = (ptr: number, bytes: number) => {
      wasm.tl_free(ptr as Ptr, bytes);
      this.untrack(ptr);
    };
    for (const name of this.familyOf.keys()) {
      const io = IO[name];
      if (io === undefined) throw new Error(`gpu: no IO entry for ${name}`);
      const hostFn = w[name]!;
      const where = LOSSES.has(name) || COUNTS.has(name) || ON_HOST_FIRST.has(name);
      t[name] = (...args: number[]) => {
        // Values on this thread: a loss or a count is computed here, exactly and at once, and
        // ON_HOST_FIRST needs no dispatch.
        if (this.hostMode) {
          for (const i of io[0]) {
            if (this.stateAt(args[i]!) === DEVICE) this.hostAccess(args[i]!, 4, `kernels.${name}`);
          }
          for (const i of io[1]) this.hostAccess(args[i]!, 4, `kernels.${name}`);
          this.lastDeferred = false;
          return hostFn(...args);
        }
        if (where && !this.forceDevice && this.allOnHost(args, io)) {
          const r = hostFn(...args);
          for (const i of io[1]) this.markHost(args[i]!);
          this.lastDeferred = false;
          return r;
        }
        this.lastDeferred = this.run(name, args, io);
        if (LOSSES.has(name)) return NaN;
        if (COUNTS.has(name)) return 0;
        return undefined;
      };
    }
    return table;
  }

  // ---- allocations and their state ----

  private index(ptr: number): number {
    // The last allocation starting at or before ptr.
    const a = this.allocs;
    let lo = 0;
    let hi = a.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (a[mid]!.start <= ptr) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  private find(ptr: number, what: string): Alloc {
    const i = this.index(ptr);
    const a = i < 0 ? undefined : this.allocs[i];
    if (a === undefined || ptr >= a.end) {
      throw new TorchletError(
        'OUT_OF_BOUNDS',
        `kernels.${what}: expected a pointer inside a live allocation, got ${ptr}; nothing was run. This is a bug in torchlet (or a direct kernels() call): please report it`,
      );
    }
    return a;
  }

  private track(ptr: number, bytes: number): void {
    const i = this.index(ptr);
    this.allocs.splice(i + 1, 0, { start: ptr, end: ptr + bytes, state: HOST, gen: 0, live: true });
  }

  private untrack(ptr: number): void {
    const i = this.index(ptr);
    const a = this.allocs[i];
    if (a !== undefined && a.start === ptr) {
      a.live = false;
      this.allocs.splice(i, 1);
    }
  }

  private allOnHost(args: readonly number[], io: readonly [readonly number[], readonly number[]]) {
    for (const i of io[0]) if (this.stateAt(args[i]!) === DEVICE) return false;
    for (const i of io[1]) if (this.stateAt(args[i]!) === DEVICE) return false;
    return true;
  }

  private stateAt(ptr: number): number {
    const i = this.index(ptr);
    const a = i < 0 ? undefined : this.allocs[i];
    return a !== undefined && ptr < a.end ? a.state : HOST;
  }

  private markHost(ptr: number): void {
    const i = this.index(ptr);
    const a = this.allocs[i];
    if (a !== undefined && ptr < a.end) a.state = HOST;
  }

  /**
   * This thread is about to read (and may write) `bytes` at `ptr` through a view of WASM memory.
   * @throws TorchletError `ON_GPU` when a dispatch wrote newer values there that are not read back.
   */
  hostAccess(ptr: number, bytes: number, what: string): void {
    if (bytes === 0) return;
    const i = this.index(ptr);
    const a = i < 0 ? undefined : this.allocs[i];
    if (a === undefined || ptr >= a.end) return;
    if (a.state === DEVICE) {
      throw new TorchletError(
        'ON_GPU',
        `${what}: expected values readable on this thread, got values the GPU computed and has not copied back; \`await sync()\` (or \`await tensor.read()\`) first`,
      );
    }
    // The caller holds a view it may write through: the GPU copy is stale from now on.
    a.state = HOST;
  }

  /**
   * Copies `bytes` from `src` to `dst` on the GPU when the GPU holds the newer values at `src`
   * (a clone of a tensor a dispatch wrote); returns false, doing nothing, when this thread does.
   */
  copyOnDevice(src: number, dst: number, bytes: number): boolean {
    if (bytes === 0 || this.hostMode || this.stateAt(src) !== DEVICE) return false;
    this.ensureHeap();
    const to = this.find(dst, 'Tensor.clone');
    // The rest of the destination's allocation (alignment) must be current on the GPU too.
    if (to.state === HOST) this.upload(to);
    this.flush();
    const e = this.device.createCommandEncoder();
    e.copyBufferToBuffer(this.buffer!, src, this.buffer!, dst, bytes);
    this.device.queue.submit([e.finish()]);
    to.state = DEVICE;
    to.gen += 1;
    return true;
  }

  // ---- the heap buffer ----

  private ensureHeap(): void {
    const bytes = this.host.heap().byteLength;
    if (bytes === this.heapBytes && this.buffer !== null) return;
    if (bytes + TAIL_BYTES > this.maxBytes) {
      throw new TorchletError(
        'OUT_OF_MEMORY',
        `webgpu: expected WASM memory to fit one GPU storage buffer (${this.maxBytes} bytes on this adapter, less ${TAIL_BYTES} of scratch), got ${bytes} bytes`,
      );
    }
    this.flush();
    const next = this.device.createBuffer({
      size: bytes + TAIL_BYTES,
      usage: USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST,
    });
    const old = this.buffer;
    if (old !== null) {
      // Memory only grows: keep what the GPU holds, the heap where it was and the tail behind it.
      const e = this.device.createCommandEncoder();
      e.copyBufferToBuffer(old, 0, next, 0, this.heapBytes);
      e.copyBufferToBuffer(old, this.heapBytes, next, bytes, TAIL_BYTES);
      this.device.queue.submit([e.finish()]);
      old.destroy();
    }
    this.buffer = next;
    this.heapBytes = bytes;
    this.bindGroup = this.device.createBindGroup({
      layout: this.layout,
      entries: [
        { binding: 0, resource: { buffer: next } },
        { binding: 1, resource: { buffer: this.ring, size: PARAM_WORDS * 4 } },
      ],
    });
  }

  private context(): PlanContext {
    const result = this.heapBytes / 4;
    return {
      result,
      scratch: result + RESULT_WORDS + LOG_WORDS,
      scratchWords: SCRATCH_WORDS,
    };
  }

  private upload(a: Alloc): void {
    // Dispatches already encoded must read the old values: they go first.
    this.flush();
    this.device.queue.writeBuffer(
      this.buffer!,
      a.start,
      this.host.heap(),
      a.start,
      a.end - a.start,
    );
    a.state = BOTH;
  }

  // ---- dispatching ----

  /** Runs one call on the GPU; true when it logged a result (a loss or a count). */
  private run(
    name: keyof Kernels,
    args: readonly number[],
    io: readonly [readonly number[], readonly number[]],
  ): boolean {
    if (this.lost !== null) {
      throw new TorchletError('NO_GPU', `kernels.${name}: the GPU device was lost (${this.lost})`);
    }
    this.ensureHeap();
    const reads = io[0];
    const writes = io[1];
    const written: Alloc[] = [];
    for (let j = 0; j < reads.length; j++) {
      const a = this.find(args[reads[j]!]!, name);
      if (a.state === HOST) this.upload(a);
    }
    for (let j = 0; j < writes.length; j++) {
      const a = this.find(args[writes[j]!]!, name);
      if (a.state === HOST) this.upload(a);
      written.push(a);
    }
    const family = this.familyOf.get(name)!;
    const ctx = this.context();
    const plan = family.plans[name]!(args, ctx);
    for (const d of plan) this.dispatch(family, d.entry, d.params, d.groups);
    for (const a of written) {
      a.state = DEVICE;
      a.gen += 1;
    }
    if (plan.length === 0) return false;
    if (LOSSES.has(name)) {
      this.log(ctx.result);
      this.entries.push({ scale: null });
      return true;
    }
    if (COUNTS.has(name)) {
      this.pendingChecks.push({ at: this.logCount, what: name });
      this.log(ctx.result);
      this.entries.push({ check: name });
      return true;
    }
    return false;
  }

  /**
   * After a loss kernel: true when it ran on the GPU (it returned NaN and its value is in the
   * log), and then `scale` turns the kernel's value into the loss its caller reports.
   */
  deferLoss(scale: (v: number) => number): boolean {
    if (!this.lastDeferred) return false;
    const e = this.entries[this.entries.length - 1];
    if (e !== undefined && 'scale' in e) e.scale = scale;
    return true;
  }

  private log(result: number): void {
    if (this.logCount >= LOG_WORDS) {
      throw new TorchletError(
        'OUT_OF_MEMORY',
        `webgpu: expected the loss log read (readLog, or fit's per-epoch read) at least every ${LOG_WORDS} losses, got more`,
      );
    }
    const at = result + RESULT_WORDS + this.logCount;
    this.dispatch(this.runtimeFamily, 'rt_log', words([result, at]), [1, 1, 1]);
    this.logCount += 1;
  }

  /** The log index the next logged loss gets (the count since the last `readLog`). */
  logLength(): number {
    return this.logCount;
  }

  private pipeline(family: GpuFamily, entry: string): GPUComputePipeline {
    const key = `${this.moduleId(family)}:${entry}`;
    let p = this.pipelines.get(key);
    if (p === undefined) {
      let module = this.modules.get(family);
      if (module === undefined) {
        module = this.device.createShaderModule({ code: PRELUDE + family.code });
        this.modules.set(family, module);
      }
      p = this.device.createComputePipeline({
        layout: this.pipelineLayout,
        compute: { module, entryPoint: entry },
      });
      this.pipelines.set(key, p);
    }
    return p;
  }

  private readonly ids = new Map<GpuFamily, number>();
  private moduleId(f: GpuFamily): number {
    let id = this.ids.get(f);
    if (id === undefined) {
      id = this.ids.size;
      this.ids.set(f, id);
    }
    return id;
  }

  private dispatch(
    family: GpuFamily,
    entry: string,
    params: Uint32Array,
    groups: readonly [number, number, number],
  ): void {
    if (this.slots === RING_SLOTS) this.flush();
    if (this.pass === null) {
      this.encoder = this.device.createCommandEncoder();
      this.pass = this.encoder.beginComputePass();
    }
    const slot = this.slots++;
    this.ringWords.set(params, (slot * SLOT_BYTES) / 4);
    this.pass.setPipeline(this.pipeline(family, entry));
    this.pass.setBindGroup(0, this.bindGroup!, [slot * SLOT_BYTES]);
    this.pass.dispatchWorkgroups(groups[0], groups[1], groups[2]);
    this.dispatches += 1;
  }

  /** Submits what is encoded. */
  flush(): void {
    if (this.pass === null) return;
    this.pass.end();
    this.device.queue.writeBuffer(this.ring, 0, this.ringWords, 0, (this.slots * SLOT_BYTES) / 4);
    this.device.queue.submit([this.encoder!.finish()]);
    this.pass = null;
    this.encoder = null;
    this.slots = 0;
  }

  // ---- reading back ----

  /**
   * Copies every allocation the GPU holds newer values of back into WASM memory, then checks the
   * counts run on the GPU since the last sync.
   * @throws TorchletError `NON_FINITE` when one of those checks counted a value (a NaN or an
   *   infinity in GPU-resident data, or a value out of range).
   */
  async sync(): Promise<void> {
    this.ensureHeap();
    this.flush();
    const todo = this.allocs.filter((a) => a.state === DEVICE);
    const checks = this.pendingChecks.splice(0);
    const logWords = checks.length > 0 ? this.logCount : 0;
    let total = 0;
    for (const a of todo) total += a.end - a.start;
    const logBytes = logWords * 4;
    if (total + logBytes === 0) return;
    const staging = this.device.createBuffer({
      size: total + logBytes,
      usage: USAGE.MAP_READ | USAGE.COPY_DST,
    });
    const e = this.device.createCommandEncoder();
    const copied: { a: Alloc; gen: number; at: number }[] = [];
    let at = 0;
    for (const a of todo) {
      e.copyBufferToBuffer(this.buffer!, a.start, staging, at, a.end - a.start);
      copied.push({ a, gen: a.gen, at });
      at += a.end - a.start;
    }
    if (logBytes > 0) {
      e.copyBufferToBuffer(this.buffer!, this.heapBytes + 4 * RESULT_WORDS, staging, at, logBytes);
    }
    this.device.queue.submit([e.finish()]);
    try {
      await staging.mapAsync(MAP_MODE_READ);
      const bytes = new Uint8Array(staging.getMappedRange());
      const heap = new Uint8Array(this.host.heap());
      for (const c of copied) {
        // Freed, or written by a dispatch encoded while this copy was under way: leave it be.
        if (!c.a.live || c.a.gen !== c.gen || c.a.state !== DEVICE) continue;
        heap.set(bytes.subarray(c.at, c.at + c.a.end - c.a.start), c.a.start);
        c.a.state = BOTH;
      }
      if (logBytes > 0) {
        this.failedCheck(
          new Uint32Array(bytes.buffer, bytes.byteOffset + at, logWords),
          checks,
          'sync',
        );
      }
    } finally {
      staging.unmap();
      staging.destroy();
    }
  }

  private failedCheck(
    counts: Uint32Array,
    checks: readonly { at: number; what: string }[],
    where: string,
  ): void {
    for (const c of checks) {
      const n = counts[c.at]!;
      if (n > 0) {
        throw new TorchletError(
          'NON_FINITE',
          `${where}: a check run on the GPU (${c.what}) counted ${n} non-finite or out-of-range values in GPU-resident data`,
        );
      }
    }
  }

  /**
   * The losses computed on the GPU since the last call, in order (each scaled as its Loss
   * reports it), and empties the log.
   * @throws TorchletError `NON_FINITE` when a finiteness or range check run on the GPU since the
   *   last read counted a value.
   */
  async readLog(): Promise<Float32Array> {
    const { words: raw, entries, checks } = await this.takeLog();
    this.failedCheck(new Uint32Array(raw.buffer), checks, 'readLosses');
    const out: number[] = [];
    entries.forEach((e, i) => {
      if ('scale' in e) out.push(e.scale === null ? raw[i]! : e.scale(raw[i]!));
    });
    return Float32Array.from(out);
  }

  /** @internal Tests: the log's words as written (losses as f32, counts as u32), emptied. */
  async readLogRaw(): Promise<Float32Array> {
    return (await this.takeLog()).words;
  }

  private async takeLog(): Promise<{
    words: Float32Array;
    entries: ({ scale: ((v: number) => number) | null } | { check: string })[];
    checks: { at: number; what: string }[];
  }> {
    this.ensureHeap();
    this.flush();
    const n = this.logCount;
    const entries = this.entries;
    const checks = this.pendingChecks.splice(0);
    this.entries = [];
    this.logCount = 0;
    if (n === 0) return { words: new Float32Array(0), entries, checks };
    const staging = this.device.createBuffer({
      size: n * 4,
      usage: USAGE.MAP_READ | USAGE.COPY_DST,
    });
    const e = this.device.createCommandEncoder();
    e.copyBufferToBuffer(this.buffer!, this.heapBytes + 4 * RESULT_WORDS, staging, 0, n * 4);
    this.device.queue.submit([e.finish()]);
    try {
      await staging.mapAsync(MAP_MODE_READ);
      return { words: new Float32Array(staging.getMappedRange().slice(0)), entries, checks };
    } finally {
      staging.unmap();
      staging.destroy();
    }
  }

  /** Waits until the GPU has finished everything submitted (timing). */
  async finish(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
  }

  /** Releases the device. */
  destroy(): void {
    this.flush();
    this.buffer?.destroy();
    this.ring.destroy();
    this.device.destroy();
  }
}

/** @internal For families' tests: a one-dimensional grid's helper, re-exported. */
export { groups1d };
