// Tensor: a row-major float32 array living in WASM linear memory, with a shape. `data` is a
// Float32Array view rebuilt whenever memory has grown (growth detaches old views, which would
// silently read 0). Memory is freed by `dispose()`; a FinalizationRegistry is only a safety net.
// Slot: a grow-only buffer that layers write their outputs into. Each write hands out a new
// Tensor and marks the previous one overwritten, so a kept output throws instead of silently
// holding the next batch's values.

import { TorchletError, fmtShape } from './errors.js';
import { type Ptr, alloc, deviceCopy, free, heap, hostAccess, kernels, sync } from './wasm.js';

interface Storage {
  ptr: Ptr;
  bytes: number;
  freed: boolean;
}

/**
 * @internal The seam's version: counts the events after which a call validated before must be
 * validated again before it is replayed (a tensor freed or disposed, a layer's buffer grown or
 * freed, a module or frame disposed). The fast paths of `Module.forward`, the backward verbs and
 * `Loss` replay a call only while it is the same call on the same tensors at the same version.
 */
export let seamVersion = 0;

/** @internal Marks a change that invalidates every validated call (see `seamVersion`). */
export function seamChanged(): void {
  seamVersion += 1;
}

const registry = new FinalizationRegistry<Storage>((s) => {
  if (!s.freed) {
    s.freed = true;
    seamChanged();
    free(s.ptr, s.bytes);
  }
});

function product(shape: readonly number[]): number {
  // An index loop: every new tensor runs this, and for-of costs an iterator while V8 interprets.
  let n = 1;
  for (let i = 0; i < shape.length; i++) n *= shape[i]!;
  return n;
}

function checkShape(shape: readonly number[], where: string): void {
  if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${where}: expected a shape of non-negative integers, got ${JSON.stringify(shape)}`,
    );
  }
}

/**
 * A float32 tensor in WASM memory, row-major, batch first.
 * @example
 * const x = Tensor.from([1, 2, 3, 4, 5, 6], [2, 3]);
 * x.data[0]; // 1
 * x.dispose();
 */
export class Tensor {
  /** Dimensions, outermost first. */
  readonly shape: readonly number[];
  /** Number of elements (product of `shape`). */
  readonly size: number;
  private readonly storage: Storage;
  private readonly offset: number;
  private view: Float32Array | null = null;
  private ownDisposed = false;

  private readonly owner: boolean;
  // Views keep their owner reachable, so the safety-net finalizer never frees memory under them.
  private readonly base: Tensor | null;
  // The tensor this one views (reshape, rows): overwriting it overwrites this one too.
  private readonly parent: Tensor | null;
  private overwrittenBy: string | null = null;

  private constructor(
    storage: Storage,
    offset: number,
    shape: readonly number[],
    owner: boolean,
    base: Tensor | null,
    parent: Tensor | null = null,
  ) {
    this.storage = storage;
    this.owner = owner;
    this.base = base;
    this.parent = parent;
    this.offset = offset;
    // Slots pass shapes they already froze; copying them would cost an array per forward.
    this.shape = Object.isFrozen(shape) ? shape : Object.freeze([...shape]);
    this.size = product(shape);
  }

  /** A tensor of zeros. */
  static zeros(shape: readonly number[]): Tensor {
    checkShape(shape, 'Tensor.zeros');
    const size = product(shape);
    const storage: Storage = {
      ptr: alloc(size * 4, `Tensor.zeros(${fmtShape(shape)})`),
      bytes: size * 4,
      freed: false,
    };
    const t = new Tensor(storage, 0, shape, true, null);
    registry.register(t, storage, storage);
    kernels().fill_zero(storage.ptr, size);
    return t;
  }

  /**
   * A tensor holding a copy of `values`.
   * @param shape Defaults to `[values.length]`; its product must equal `values.length`.
   */
  static from(values: ArrayLike<number>, shape: readonly number[] = [values.length]): Tensor {
    if (!Array.isArray(values) && !(ArrayBuffer.isView(values) && !(values instanceof DataView))) {
      throw new TorchletError(
        'BAD_ARGUMENT',
        `Tensor.from: expected values as an Array or a typed array, got ${values === null ? 'null' : typeof values}`,
      );
    }
    checkShape(shape, 'Tensor.from');
    if (product(shape) !== values.length) {
      throw new TorchletError(
        'SHAPE_MISMATCH',
        `Tensor.from: expected ${product(shape)} values for shape ${fmtShape(shape)}, got ${values.length}`,
      );
    }
    // A view of WASM memory (another tensor's `data`) is detached when the allocation below grows
    // memory: note where it points first, and read it again from the new heap.
    const wasmView = ArrayBuffer.isView(values) && values.buffer === heap() ? values : null;
    const at = wasmView
      ? {
          ctor: wasmView.constructor as new (
            b: ArrayBuffer,
            o: number,
            n: number,
          ) => ArrayLike<number>,
          offset: wasmView.byteOffset,
        }
      : null;
    const n = values.length;
    const t = Tensor.zeros(shape);
    try {
      t.data.set(at ? new at.ctor(heap(), at.offset, n) : values);
    } catch (e) {
      t.dispose();
      throw e;
    }
    return t;
  }

  /** True once this tensor (or the tensor it views) was disposed. */
  get disposed(): boolean {
    return this.ownDisposed || this.storage.freed;
  }

  /**
   * @internal Whether `ptr` returns without throwing: live, and neither it nor a tensor it views
   * overwritten (the fast paths' check of a tensor they validated before).
   */
  get intact(): boolean {
    return (
      this.overwrittenBy === null &&
      !this.ownDisposed &&
      !this.storage.freed &&
      (this.parent === null || this.parent.overwriter() === null)
    );
  }

  /**
   * True once a later call wrote other values into this tensor's memory: a module's output is
   * overwritten by the module's next `forward` (copy it with `clone()` or `toArray()` to keep it).
   */
  get overwritten(): boolean {
    return this.overwriter() !== null;
  }

  /** Who overwrote this tensor (e.g. `Linear.forward`), or null while it holds its values. */
  private overwriter(): string | null {
    return this.overwrittenBy ?? (this.parent === null ? null : this.parent.overwriter());
  }

  /**
   * @internal Byte address in WASM memory, for kernels.
   * @throws TorchletError `DISPOSED` after `dispose()`, `OVERWRITTEN` once a later call reused
   *   its memory.
   */
  get ptr(): Ptr {
    // The common case in one test (every kernel call of every step reads a few of these).
    if (
      this.overwrittenBy === null &&
      this.parent === null &&
      !this.ownDisposed &&
      !this.storage.freed
    )
      return (this.storage.ptr + this.offset * 4) as Ptr;
    // Overwritten first: a slot that grew also freed the memory its old outputs pointed to.
    const by = this.overwriter();
    if (by !== null) {
      throw new TorchletError(
        'OVERWRITTEN',
        `Tensor: expected a tensor holding its values, got one of shape ${fmtShape(this.shape)} that a later ${by} overwrote; copy results you keep with clone() or toArray()`,
      );
    }
    if (this.disposed) {
      throw new TorchletError(
        'DISPOSED',
        `Tensor: expected a live tensor, got a disposed one of shape ${fmtShape(this.shape)}`,
      );
    }
    return (this.storage.ptr + this.offset * 4) as Ptr;
  }

  /** A Float32Array over this tensor's memory (no copy). Re-read it after any allocation. */
  get data(): Float32Array {
    const ptr = this.ptr;
    if (hostAccess !== null) hostAccess(ptr, this.size * 4, 'Tensor.data');
    const buffer = heap();
    if (this.view === null || this.view.buffer !== buffer) {
      this.view = new Float32Array(buffer, ptr, this.size);
    }
    return this.view;
  }

  /** A copy of the values, outside WASM memory. */
  toArray(): Float32Array {
    return this.data.slice();
  }

  /**
   * A copy of the values, once they are readable: with the WebGPU backend it first copies back
   * what the GPU computed (`sync()`); with the WASM backend it is `toArray()`.
   * @example const out = await net.forward(x).read();
   */
  async read(): Promise<Float32Array> {
    await sync();
    return this.toArray();
  }

  /**
   * A new tensor holding a copy of the values (it owns its memory: `dispose()` it when done).
   * @example const kept = net.forward(x).clone(); // survives the next forward
   */
  clone(): Tensor {
    const ptr = this.ptr;
    const t = Tensor.zeros(this.shape);
    try {
      // WebGPU: values the GPU computed are copied there, without a read back.
      if (deviceCopy !== null && deviceCopy(ptr, t.ptr, this.size * 4)) return t;
      if (hostAccess !== null) hostAccess(ptr, this.size * 4, 'Tensor.clone');
    } catch (e) {
      t.dispose();
      throw e;
    }
    // zeros() may have grown memory: copy through views taken after it.
    t.data.set(new Float32Array(heap(), ptr, this.size));
    return t;
  }

  /**
   * The same memory seen with another shape (no copy). The view lives as long as this tensor.
   * @throws `SHAPE_MISMATCH` when the sizes differ.
   */
  reshape(shape: readonly number[]): Tensor {
    checkShape(shape, 'Tensor.reshape');
    if (product(shape) !== this.size) {
      throw new TorchletError(
        'SHAPE_MISMATCH',
        `Tensor.reshape: expected a shape of ${this.size} elements, got ${fmtShape(shape)}`,
      );
    }
    return this.viewOf(this.offset, shape);
  }

  /** Rows `[start, start + count)` along the first dimension, as a view (no copy). */
  rows(start: number, count: number): Tensor {
    const rows = this.shape[0] ?? 0;
    if (
      !Number.isInteger(start) ||
      !Number.isInteger(count) ||
      start < 0 ||
      count < 0 ||
      start + count > rows
    ) {
      throw new TorchletError(
        'BAD_ARGUMENT',
        `Tensor.rows: expected a range inside [0, ${rows}), got start ${start}, count ${count}`,
      );
    }
    const rowSize = rows === 0 ? 0 : this.size / rows;
    return this.viewOf(this.offset + start * rowSize, [count, ...this.shape.slice(1)]);
  }

  private viewOf(offset: number, shape: readonly number[]): Tensor {
    void this.ptr;
    return new Tensor(this.storage, offset, shape, false, this.base ?? this, this);
  }

  /** @internal The first elements seen as `shape`: a view whose only parent is the owner. */
  carve(shape: readonly number[]): Tensor {
    return new Tensor(this.storage, this.offset, shape, false, this.base ?? this, null);
  }

  /** @internal The tensor this one is a view of (reshape, rows), or null. */
  get viewed(): Tensor | null {
    return this.parent;
  }

  /** @internal Marks this tensor overwritten by `by` (a Slot handing out its memory again). */
  markOverwritten(by: string): void {
    this.overwrittenBy = by;
    this.view = null;
  }

  /** Frees the memory (for a view: marks only the view disposed). Idempotent. */
  dispose(): void {
    this.ownDisposed = true;
    this.view = null;
    seamChanged();
    if (this.owner && !this.storage.freed) {
      this.storage.freed = true;
      registry.unregister(this.storage);
      free(this.storage.ptr, this.storage.bytes);
    }
  }
}

/**
 * A grow-only buffer a layer keeps for its output or scratch. `get(shape)` returns a tensor of
 * that shape over the same memory (the same tensor while the shape stays), for scratch that
 * never leaves the layer. `next(shape, writer)` returns a new tensor each time and marks the
 * previous one overwritten, for results handed to callers. Both allocate only when a larger size
 * is asked for.
 */
export class Slot {
  private base: Tensor | null = null;
  private current: Tensor | null = null;

  /** A tensor of `shape` over this slot's memory (contents unspecified). */
  get(shape: readonly number[]): Tensor {
    const cur = this.current;
    if (cur !== null && cur.intact && sameShape(cur.shape, shape)) return cur;
    return this.next(shape, 'write');
  }

  /**
   * A new tensor of `shape` over this slot's memory (contents unspecified); the tensor handed out
   * before is marked overwritten by `writer` (e.g. `Linear.forward`).
   */
  next(shape: readonly number[], writer: string): Tensor {
    const size = product(shape);
    if (this.base === null || this.base.disposed || this.base.size < size) {
      const fresh = Tensor.zeros([Math.max(size, 1)]);
      this.base?.dispose();
      this.base = fresh;
    }
    this.current?.markOverwritten(writer);
    this.current = this.base.carve(shape);
    return this.current;
  }

  /** Frees the memory. */
  dispose(): void {
    this.base?.dispose();
    this.base = null;
    this.current = null;
  }
}

/** Element-wise equality of two shapes. */
export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function checkCount(n: number, where: string): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `${where}: expected a non-negative integer element count, got ${n}`,
    );
  }
}

/** A u32 buffer in WASM memory (pooling arg-max indices, batch row indices). */
export class U32Buffer {
  private ptrValue: Ptr;
  private capacity: number;
  private view: Uint32Array | null = null;
  /** Number of valid elements. */
  length = 0;

  constructor(capacity = 1) {
    checkCount(capacity, 'U32Buffer');
    this.capacity = Math.max(1, capacity);
    this.ptrValue = alloc(this.capacity * 4, 'U32Buffer');
  }

  /**
   * Ensures room for `n` elements and sets `length`; contents unspecified after growth.
   * @throws `DISPOSED` after `dispose()`, `BAD_ARGUMENT` for a count that is not a non-negative
   *   integer, `OUT_OF_MEMORY`; the buffer is unchanged after any of them.
   */
  resize(n: number): void {
    this.checkLive();
    checkCount(n, 'U32Buffer.resize');
    if (n > this.capacity) {
      const ptr = alloc(n * 4, 'U32Buffer');
      free(this.ptrValue, this.capacity * 4);
      this.ptrValue = ptr;
      this.capacity = n;
      this.view = null;
    }
    this.length = n;
  }

  /** Byte address for kernels. @throws `DISPOSED` after `dispose()`. */
  get ptr(): Ptr {
    this.checkLive();
    return this.ptrValue;
  }

  private checkLive(): void {
    if (this.capacity === 0)
      throw new TorchletError('DISPOSED', 'U32Buffer: expected a live buffer, got a disposed one');
  }

  /** A Uint32Array over the `length` valid elements. */
  get data(): Uint32Array {
    this.checkLive();
    if (hostAccess !== null) hostAccess(this.ptrValue, this.length * 4, 'U32Buffer.data');
    const buffer = heap();
    if (this.view === null || this.view.buffer !== buffer || this.view.length !== this.length) {
      this.view = new Uint32Array(buffer, this.ptrValue, this.length);
    }
    return this.view;
  }

  /** Frees the memory. Idempotent: a second call frees nothing. */
  dispose(): void {
    if (this.capacity > 0) free(this.ptrValue, this.capacity * 4);
    this.capacity = 0;
    this.length = 0;
    this.view = null;
  }
}
