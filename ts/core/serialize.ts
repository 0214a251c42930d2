// Save and load a network as one safetensors-compatible file: u64 LE header length N, N bytes of
// JSON header (tensors: dtype F32, shape, data_offsets; `__metadata__`: format version, the
// architecture as allow-listed module types + constructor arguments, a CRC-32), then the weights
// as little-endian float32 (copied byte for byte from WASM memory, which is little-endian).
// Loading validates everything before it allocates, and never runs code from the file. Saving
// runs the same checks (architecture, tensor names and shapes, metadata keys and values, header
// size), so every file `save` writes, `load` reads, and `save` refuses (BAD_ARGUMENT) exactly
// what `load` would refuse (BAD_FILE). `load` reads a regular file only, and reads the 8-byte
// length and the header first: a junk file is refused before its data is read.

import { crc32 } from './crc32.js';
import { type ErrorCode, TorchletError } from './errors.js';
import { type ArgSpec, type ArgValue, type Args, type LayerSpec, Module } from './module.js';
import { layerClass, registeredTypes } from './registry.js';
import { Rng } from './rng.js';

/** The file format version this build writes and reads. */
export const FORMAT_VERSION = '1';
/** Largest JSON header accepted (bytes); safetensors allows 100 MB, torchlet headers are tiny. */
export const MAX_HEADER_BYTES = 16 * 2 ** 20;
const MAX_DEPTH = 64;
const MAX_MODULES = 100_000;
const MAX_DIM = 2 ** 31 - 1;
const LIBRARY = 'torchlet';
/** Keys refused in metadata and as tensor names (prototype pollution when copied to an object). */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** An argument value in an architecture: a number, a string, or a list of integers. */
export type ArgValueJson = number | string | number[];

/** One module of a saved architecture: its type, constructor arguments and children. */
export interface ArchitectureNode {
  /** A registered type (`MODULE_TYPES`, or a class given to `register`). */
  type: string;
  /** Constructor arguments by name, as the type's description declares them. */
  args?: Record<string, ArgValueJson>;
  /** Child modules (Sequential: the layers; AutoEncoder: [encoder, decoder]). */
  children?: ArchitectureNode[];
}

/** A loaded network with the metadata it was saved with. */
export interface SavedModel {
  /** The rebuilt network, weights loaded. */
  net: Module;
  /** The user metadata given to `save`/`serialize` (string to string). */
  metadata: Record<string, string>;
  /** The architecture as stored. */
  architecture: ArchitectureNode;
}

/** Options for `save`/`serialize`. */
export interface SaveOptions {
  /** Extra string-to-string metadata stored in the header (keys must not start with `torchlet.`). */
  metadata?: Record<string, string>;
}

function fail(code: ErrorCode, where: string, message: string): TorchletError {
  return new TorchletError(code, `${where}: ${message}`);
}

/**
 * The architecture of a network as plain data (registered types and constructor arguments).
 * Checked by the same rules as loading, so what saves also loads.
 * @throws TorchletError `BAD_ARGUMENT` naming the first module that is not registered, or one
 *   used at two positions (files store trees: no shared modules).
 */
export function describeArchitecture(
  net: Module,
  where = 'describeArchitecture',
): ArchitectureNode {
  return describe(net, where).architecture;
}

/** describeArchitecture, also returning the tensors a file of it holds (as checkArchitecture). */
function describe(
  net: Module,
  where: string,
): { architecture: ArchitectureNode; tensors: ExpectedTensor[] } {
  if (!(net instanceof Module))
    throw fail(
      'BAD_ARGUMENT',
      where,
      `expected a Module, got ${net === null ? 'null' : typeof net}`,
    );
  const bad = (m: string): TorchletError => fail('BAD_ARGUMENT', where, m);
  const seen = new Map<Module, string>();
  let count = 0;
  const walk = (m: Module, path: string, depth: number): ArchitectureNode => {
    // The loader's limits, checked while walking: a tree nested 10^5 deep would overflow the stack.
    if (depth > MAX_DEPTH || ++count > MAX_MODULES) throw bad(tooBig(path));
    const spec = m.spec;
    if (spec === undefined || (layerClass(spec.type) as unknown) !== m.constructor) {
      throw bad(
        `expected registered module types (${registeredTypes().join(', ')}; register(YourLayer) adds one), got ${m.constructor.name} (type ${m.type}) at ${path}`,
      );
    }
    const first = seen.get(m);
    if (first !== undefined) {
      throw bad(
        `expected each module once (model files store trees), got the same ${m.type} at ${first} and ${path}`,
      );
    }
    seen.set(m, path);
    const node: ArchitectureNode = { type: spec.type };
    if (spec.args.length > 0) node.args = m.config() as Record<string, ArgValueJson>;
    if (spec.children !== undefined)
      node.children = m.children().map((c, i) => walk(c, `${path}[${i}]`, depth + 1));
    return node;
  };
  const architecture = walk(net, net.type, 0);
  const tensors = checkArchitecture(architecture, bad);
  return { architecture, tensors };
}

function tooBig(path: string): string {
  return `expected an architecture at most ${MAX_DEPTH} deep and ${MAX_MODULES} modules, got more at ${path}`;
}

// ---------------------------------------------------------------------------------------------
// CRC-32 (IEEE), over the file with the header's checksum value written as eight zeros.

function crcHex(parts: readonly Uint8Array[]): string {
  return crc32(parts).toString(16).padStart(8, '0');
}

const CRC_KEY = 'torchlet.crc32';
const CRC_ZERO = '00000000';

/** Byte index of the checksum's 8 hex digits inside the header bytes (-1 if not exactly once). */
function crcPosition(header: Uint8Array, hex: string): number {
  const needle = new TextEncoder().encode(`"${CRC_KEY}":"${hex}"`);
  let found = -1;
  outer: for (let i = 0; i + needle.length <= header.length; i++) {
    for (let j = 0; j < needle.length; j++) if (header[i + j] !== needle[j]) continue outer;
    if (found >= 0) return -1;
    found = i;
  }
  return found < 0 ? -1 : found + needle.length - 1 - 8;
}

// ---------------------------------------------------------------------------------------------
// Writing

/**
 * The network as one file's bytes (for the browser, or to write yourself).
 * @throws TorchletError `BAD_ARGUMENT` for a module outside the allow-list or bad metadata.
 * @example const bytes = serialize(net); const copy = deserialize(bytes);
 */
export function serialize(net: Module, options: SaveOptions = {}): ArrayBuffer {
  return encode(net, options, 'serialize');
}

function encode(net: Module, options: SaveOptions | undefined, where: string): ArrayBuffer {
  const bad = (m: string): TorchletError => fail('BAD_ARGUMENT', where, m);
  if (!(net instanceof Module))
    throw bad(`expected a Module, got ${net === null ? 'null' : typeof net}`);
  if (net.disposed) {
    throw fail(
      'DISPOSED',
      where,
      'expected a live module, got a disposed one (dispose() freed it or a module inside it)',
    );
  }
  if (options !== undefined && !isRecord(options))
    throw bad(`expected options { metadata? }, got ${valueText(options)}`);
  const given: unknown = options?.metadata ?? {};
  if (!isRecord(given))
    throw bad(`expected metadata as an object of strings, got ${valueText(given)}`);
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(given)) {
    if (k.startsWith('torchlet.'))
      throw bad(`expected metadata keys outside torchlet.*, got ${JSON.stringify(k)}`);
    checkMetadataEntry(k, v, bad);
    metadata[k] = v as string;
  }
  const { architecture, tensors } = describe(net, where);
  const params = net.parameters();
  // The names and shapes the loader will expect from the architecture (a registered layer whose
  // spec.params disagrees with its parameters() would write a file that does not load).
  if (
    params.length !== tensors.length ||
    params.some(
      (p, i) => p.name !== tensors[i]!.name || !sameDims(p.value.shape, tensors[i]!.shape),
    )
  ) {
    const shown = (l: readonly { name: string; shape: readonly number[] }[]): string =>
      JSON.stringify(l.map((t) => `${t.name} ${JSON.stringify(t.shape)}`));
    throw bad(
      `expected parameters matching the modules' descriptions (spec.params) ${shown(tensors)}, got ${shown(params.map((p) => ({ name: p.name, shape: p.value.shape })))}`,
    );
  }
  const header: Record<string, unknown> = {
    __metadata__: {
      ...metadata,
      'torchlet.format': FORMAT_VERSION,
      'torchlet.library': LIBRARY,
      'torchlet.architecture': JSON.stringify(architecture),
      [CRC_KEY]: CRC_ZERO,
    },
  };
  let offset = 0;
  for (const p of params) {
    const bytes = p.value.size * 4;
    header[p.name] = {
      dtype: 'F32',
      shape: [...p.value.shape],
      data_offsets: [offset, offset + bytes],
    };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (new TextEncoder().encode(json).length % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  if (headerBytes.length > MAX_HEADER_BYTES)
    throw bad(
      `expected a header (metadata, architecture, tensor list) of at most ${MAX_HEADER_BYTES} bytes, got ${headerBytes.length}`,
    );
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const p of params) {
    const d = p.value.data;
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), at);
    at += d.byteLength;
  }
  const crc = crcHex([out]);
  out.set(new TextEncoder().encode(crc), 8 + crcPosition(headerBytes, CRC_ZERO));
  return out.buffer;
}

function sameDims(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** A value as an error message shows it (no JSON.stringify: it throws on cycles and BigInt). */
function valueText(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'object') return Array.isArray(v) ? 'an array' : 'an object';
  return typeof v === 'function' ? 'a function' : `${typeof v} ${String(v)}`;
}

/**
 * One metadata entry, checked alike by save and load: a string value, and a key that cannot
 * reach an object's prototype when a reader copies entries into a plain object.
 */
function checkMetadataEntry(k: string, v: unknown, bad: (m: string) => TorchletError): void {
  if (FORBIDDEN_KEYS.has(k) || typeof v !== 'string')
    throw bad(
      `expected string metadata under keys other than ${[...FORBIDDEN_KEYS].join(', ')}, got ${JSON.stringify(k)}: ${typeof v}`,
    );
}

/** The path argument of save/load: a non-empty string or a file URL. */
function checkPath(path: unknown, where: string): string | URL {
  if ((typeof path === 'string' && path !== '') || path instanceof URL) return path;
  throw fail(
    'BAD_ARGUMENT',
    where,
    `expected the path argument to be a non-empty string or a file URL, got ${valueText(path)}`,
  );
}

function nodeFs(where: string): typeof import('node:fs') {
  const fs = typeof process === 'undefined' ? undefined : process.getBuiltinModule?.('node:fs');
  if (!fs)
    throw fail(
      'BAD_ARGUMENT',
      where,
      'expected Node >= 20.16 for file access, got none; in a browser use serialize/deserialize',
    );
  return fs;
}

/**
 * Writes the network to `path` atomically: a temporary file in the same folder, flushed to disk,
 * then renamed over `path` (a crash leaves the old file or the new one, never half of one). Node.
 * @throws TorchletError as `serialize`; file-system errors propagate, and the temp file is removed.
 * @example save(net, 'model.safetensors', { metadata: { inputShape: '[64, 1]' } });
 */
export function save(net: Module, path: string | URL, options: SaveOptions = {}): void {
  const fs = nodeFs('save');
  const given = checkPath(path, 'save');
  const bytes = new Uint8Array(encode(net, options, 'save'));
  const target = typeof given === 'string' ? given : fileUrlPath(given);
  const tmp = `${target}.tmp-${process.pid}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e9).toString(36)}`;
  let fd: number | null = null;
  try {
    fd = fs.openSync(tmp, 'wx');
    let written = 0;
    while (written < bytes.length)
      written += fs.writeSync(fd, bytes, written, bytes.length - written);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = null;
    fs.renameSync(tmp, target);
  } catch (e) {
    if (fd !== null) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw fail('BAD_FILE', 'save', `expected to write ${target}, got ${(e as Error).message}`);
  }
}

function fileUrlPath(url: URL): string {
  const nodeUrl = process.getBuiltinModule?.('node:url');
  if (!nodeUrl) throw fail('BAD_ARGUMENT', 'save', 'expected Node >= 20.16, got none');
  return nodeUrl.fileURLToPath(url);
}

// ---------------------------------------------------------------------------------------------
// Reading: every check happens before the first allocation in WASM memory.

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** A tensor an architecture holds: its name in the file and its shape. */
interface ExpectedTensor {
  name: string;
  shape: number[];
}

interface TensorEntry {
  name: string;
  shape: number[];
  begin: number;
  end: number;
}

/**
 * Rebuilds a network from `serialize`'s bytes.
 * @throws TorchletError `BAD_FILE` (truncated, corrupted, not a torchlet file, unknown module
 *   type, shapes that do not match) or `UNSUPPORTED_VERSION`; nothing stays allocated.
 */
export function deserialize(bytes: ArrayBuffer | ArrayBufferView): Module {
  return deserializeModel(bytes).net;
}

/** As `deserialize`, also returning the metadata and the architecture. */
export function deserializeModel(
  bytes: ArrayBuffer | ArrayBufferView,
  where = 'deserialize',
): SavedModel {
  try {
    return readModel(bytes, where);
  } catch (e) {
    if (e instanceof TorchletError) throw e;
    // A hostile header can break even an error message: JSON.stringify of a value nested 10^5
    // deep (which JSON.parse accepts) overflows the stack. Nothing is allocated by then.
    throw fail(
      'BAD_FILE',
      where,
      `expected a well-formed header, got one that could not be read (${(e as Error).message})`,
    );
  }
}

function readModel(bytes: ArrayBuffer | ArrayBufferView, where: string): SavedModel {
  let buf: Uint8Array;
  if (bytes instanceof ArrayBuffer) buf = new Uint8Array(bytes);
  else if (ArrayBuffer.isView(bytes))
    buf = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  else
    throw fail(
      'BAD_ARGUMENT',
      where,
      `expected an ArrayBuffer or a typed array, got ${typeof bytes}`,
    );
  const bad = (message: string): TorchletError => fail('BAD_FILE', where, message);
  const headerLen = headerLength(buf.subarray(0, 8), buf.length, bad);
  const parsed = parseHeader(buf.subarray(8, 8 + headerLen), where);
  checkDataLength(parsed, buf.length - 8 - headerLen, bad);
  return finish(parsed, buf, bad);
}

/** The header length from the first 8 bytes of a file of `fileSize` bytes, checked. */
function headerLength(
  first8: Uint8Array,
  fileSize: number,
  bad: (m: string) => TorchletError,
): number {
  if (first8.length < 8)
    throw bad(
      `expected at least 8 bytes (the header length), got ${first8.length}; the file is truncated`,
    );
  const n = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES))
    throw bad(
      `expected a header of at most ${MAX_HEADER_BYTES} bytes, got ${n}; not a torchlet file, or corrupted`,
    );
  const headerLen = Number(n);
  if (8 + headerLen > fileSize)
    throw bad(
      `expected a ${headerLen}-byte header, got ${fileSize - 8} bytes after the length; the file is truncated`,
    );
  return headerLen;
}

/** What the header says, checked against itself and the architecture (nothing read past it). */
interface ParsedHeader {
  headerBytes: Uint8Array;
  metadata: Map<string, string>;
  crc: string;
  crcAt: number;
  entries: TensorEntry[];
  architecture: ArchitectureNode;
}

/** Parses and checks everything the header alone decides: before the data is read or any byte allocated in WASM. */
function parseHeader(headerBytes: Uint8Array, where: string): ParsedHeader {
  const bad = (message: string): TorchletError => fail('BAD_FILE', where, message);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (e) {
    throw bad(
      `expected a UTF-8 JSON header, got one that does not parse (${(e as Error).message})`,
    );
  }
  if (!isRecord(header)) throw bad('expected a JSON object header, got another JSON value');
  const meta = header['__metadata__'];
  if (!isRecord(meta))
    throw bad('expected __metadata__ with torchlet.format, got none; not a torchlet file');
  const metadata = new Map<string, string>();
  for (const [k, v] of Object.entries(meta)) {
    checkMetadataEntry(k, v, bad);
    metadata.set(k, v as string);
  }
  const format = metadata.get('torchlet.format');
  if (format === undefined)
    throw bad('expected torchlet.format in __metadata__, got none; not a torchlet file');
  if (format !== FORMAT_VERSION) {
    throw fail(
      'UNSUPPORTED_VERSION',
      where,
      `expected format version ${FORMAT_VERSION}, got ${JSON.stringify(format)}; this file needs another torchlet version`,
    );
  }
  const crc = metadata.get(CRC_KEY) ?? '';
  const crcAt = /^[0-9a-f]{8}$/.test(crc) ? crcPosition(headerBytes, crc) : -1;
  if (crcAt < 0)
    throw bad(
      `expected a ${CRC_KEY} checksum of 8 hex digits in the header, got ${JSON.stringify(crc)}`,
    );
  const entries = tensorEntries(header, bad);
  let architecture: unknown;
  try {
    architecture = JSON.parse(metadata.get('torchlet.architecture') ?? '');
  } catch {
    throw bad('expected torchlet.architecture to hold the architecture JSON, got something else');
  }
  const expected = checkArchitecture(architecture, bad);
  const floats = expected.reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1), 0);
  const total = entries.reduce((s, e) => s + (e.end - e.begin) / 4, 0);
  if (floats !== total)
    throw bad(`expected ${floats} weights for the architecture, got ${total} in the tensors`);
  // Names and shapes before building anything, so a mismatch allocates nothing.
  const byName = new Map(entries.map((e) => [e.name, e]));
  if (expected.length !== entries.length)
    throw bad(`expected ${expected.length} tensors for the architecture, got ${entries.length}`);
  for (const t of expected) {
    const e = byName.get(t.name);
    if (e === undefined) throw bad(`expected a tensor named ${JSON.stringify(t.name)}, got none`);
    if (!sameDims(e.shape, t.shape)) {
      throw bad(
        `expected ${t.name} of shape ${JSON.stringify(t.shape)}, got ${JSON.stringify(e.shape)}`,
      );
    }
  }
  return {
    headerBytes,
    metadata,
    crc,
    crcAt,
    entries,
    architecture: architecture as ArchitectureNode,
  };
}

/** The data after the header must be exactly the tensors' bytes. */
function checkDataLength(
  parsed: ParsedHeader,
  dataLen: number,
  bad: (m: string) => TorchletError,
): void {
  const entries = parsed.entries;
  const end = entries.length === 0 ? 0 : entries[entries.length - 1]!.end;
  if (end !== dataLen) {
    throw bad(
      `expected ${end} data bytes after the header, got ${dataLen}; the file is ${end > dataLen ? 'truncated' : 'followed by extra bytes'}`,
    );
  }
}

/** Checks the CRC over the whole file `buf`, then builds the network and copies the weights. */
function finish(
  parsed: ParsedHeader,
  buf: Uint8Array,
  bad: (m: string) => TorchletError,
): SavedModel {
  const { headerBytes, crc, crcAt, metadata, architecture } = parsed;
  const dataAt = 8 + headerBytes.length;
  const zeroed = headerBytes.slice();
  zeroed.set(new TextEncoder().encode(CRC_ZERO), crcAt);
  const actual = crcHex([buf.subarray(0, 8), zeroed, buf.subarray(dataAt)]);
  if (actual !== crc) throw bad(`expected checksum ${crc}, got ${actual}; the file is corrupted`);
  const net = build(architecture, bad);
  try {
    fill(net, parsed.entries, buf.subarray(dataAt), bad);
  } catch (e) {
    net.dispose();
    throw e;
  }
  const user: Record<string, string> = {};
  for (const [k, v] of metadata) if (!k.startsWith('torchlet.')) user[k] = v;
  return { net, metadata: user, architecture };
}

/** The tensor entries, sorted by offset, checked contiguous from 0 with sizes matching shapes. */
function tensorEntries(
  header: Record<string, unknown>,
  bad: (m: string) => TorchletError,
): TensorEntry[] {
  const entries: TensorEntry[] = [];
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (FORBIDDEN_KEYS.has(name))
      throw bad(`expected tensor names, got the reserved key ${JSON.stringify(name)}`);
    if (!isRecord(v))
      throw bad(
        `expected tensor ${JSON.stringify(name)} to be { dtype, shape, data_offsets }, got ${JSON.stringify(v)}`,
      );
    if (v['dtype'] !== 'F32')
      throw bad(
        `expected dtype F32 for ${JSON.stringify(name)}, got ${JSON.stringify(v['dtype'])}`,
      );
    const shape = v['shape'];
    const offsets = v['data_offsets'];
    const isInt = (d: unknown): d is number =>
      typeof d === 'number' && Number.isSafeInteger(d) && d >= 0;
    if (
      !Array.isArray(shape) ||
      shape.length > 8 ||
      !shape.every((d) => isInt(d) && d <= MAX_DIM)
    ) {
      throw bad(
        `expected the shape of ${JSON.stringify(name)} to be at most 8 non-negative integers, got ${JSON.stringify(shape)}`,
      );
    }
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every(isInt) ||
      offsets[0] > offsets[1]
    ) {
      throw bad(
        `expected data_offsets [begin, end] with 0 <= begin <= end for ${JSON.stringify(name)}, got ${JSON.stringify(offsets)}`,
      );
    }
    const size = (shape as number[]).reduce((a, b) => a * b, 1);
    if (!Number.isSafeInteger(size * 4) || size * 4 !== offsets[1] - offsets[0]) {
      throw bad(
        `expected ${JSON.stringify(name)} of shape ${JSON.stringify(shape)} to span ${size * 4} bytes, got ${offsets[1] - offsets[0]}`,
      );
    }
    entries.push({ name, shape: shape as number[], begin: offsets[0], end: offsets[1] });
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (const e of entries) {
    if (e.begin !== at)
      throw bad(
        `expected ${JSON.stringify(e.name)} to start at byte ${at} (tensors contiguous, no overlap or hole), got ${e.begin}`,
      );
    at = e.end;
  }
  return entries;
}

/** A node's (validated) arguments with the absent ones set to their defaults. */
function withDefaults(spec: LayerSpec, args: Readonly<Record<string, unknown>>): Args {
  return Object.fromEntries(
    spec.args.map((a) => [
      a.name,
      (Object.hasOwn(args, a.name) ? args[a.name] : a.default) as ArgValue,
    ]),
  );
}

/** Whether `v` is a valid value of argument `a` (kinds: see ArgSpec). */
function argOk(a: ArgSpec, v: unknown): boolean {
  const positive = (d: unknown): boolean =>
    typeof d === 'number' && Number.isInteger(d) && d >= 1 && d <= MAX_DIM;
  if (a.kind === 'int') return positive(v);
  if (a.kind === 'ints')
    return Array.isArray(v) && v.length >= 1 && v.length <= 8 && v.every(positive);
  if (a.kind === 'fraction') return typeof v === 'number' && v >= 0 && v < 1;
  return typeof v === 'string' && a.kind.includes(v);
}

function kindText(a: ArgSpec): string {
  if (a.kind === 'int') return 'a positive integer';
  if (a.kind === 'ints') return 'a list of 1 to 8 positive integers';
  if (a.kind === 'fraction') return 'a number in [0, 1)';
  return `one of ${a.kind.map((k) => JSON.stringify(k)).join(', ')}`;
}

/** The spec of a registered type named by a node, or a BAD_FILE-style error. */
function specOf(type: unknown, path: string, bad: (m: string) => TorchletError): LayerSpec {
  const cls = typeof type === 'string' ? layerClass(type) : undefined;
  if (cls === undefined)
    throw bad(
      `expected a registered module type (${registeredTypes().join(', ')}), got ${JSON.stringify(type)} at ${path}`,
    );
  return cls.spec;
}

/**
 * Validates the architecture tree without building it; returns the tensors it holds (name and
 * shape, in `parameters()` order), so a file's tensors can be checked before anything is built.
 */
function checkArchitecture(root: unknown, bad: (m: string) => TorchletError): ExpectedTensor[] {
  let count = 0;
  const tensors: ExpectedTensor[] = [];
  const walk = (node: unknown, path: string, prefix: string, depth: number): void => {
    if (depth > MAX_DEPTH || ++count > MAX_MODULES) throw bad(tooBig(path));
    if (!isRecord(node) || typeof node['type'] !== 'string')
      throw bad(
        `expected a module { type, args?, children? } at ${path}, got ${JSON.stringify(node)}`,
      );
    for (const k of Object.keys(node)) {
      if (k !== 'type' && k !== 'args' && k !== 'children')
        throw bad(`expected only type, args and children at ${path}, got ${JSON.stringify(k)}`);
    }
    const type = node['type'];
    const spec = specOf(type, path, bad);
    const args = node['args'] ?? {};
    if (!isRecord(args))
      throw bad(`expected args of ${type} at ${path} to be an object, got ${JSON.stringify(args)}`);
    const names = Object.keys(args);
    const wanted: string[] = spec.args.map((a) => a.name);
    // Arguments with a default may be absent: files written before the argument existed still load.
    const missing = spec.args.filter(
      (a) => a.default === undefined && !Object.hasOwn(args, a.name),
    );
    if (missing.length > 0 || names.some((n) => !wanted.includes(n))) {
      throw bad(
        `expected args ${JSON.stringify(wanted)} for ${type} at ${path}, got ${JSON.stringify(names)}`,
      );
    }
    for (const a of spec.args) {
      if (Object.hasOwn(args, a.name) && !argOk(a, args[a.name])) {
        throw bad(
          `expected ${type}.${a.name} at ${path} to be ${kindText(a)}, got ${JSON.stringify(args[a.name])}`,
        );
      }
    }
    const children = node['children'] ?? [];
    if (!Array.isArray(children))
      throw bad(
        `expected children of ${type} at ${path} to be an array, got ${JSON.stringify(children)}`,
      );
    const childNames =
      spec.children === undefined
        ? []
        : spec.children === 'index'
          ? children.map((_, i) => String(i))
          : spec.children;
    if (children.length !== childNames.length) {
      throw bad(
        `expected ${spec.children === undefined ? 'no' : childNames.length} children for ${type} at ${path}, got ${children.length}`,
      );
    }
    for (const [name, shape] of Object.entries(spec.params?.(withDefaults(spec, args)) ?? {})) {
      // The rules tensorEntries applies to a file's tensors, so a saved file's tensors pass them.
      if (
        shape.length > 8 ||
        !shape.every((d) => Number.isSafeInteger(d) && d >= 0 && d <= MAX_DIM) ||
        !Number.isSafeInteger(shape.reduce((x, y) => x * y, 4))
      ) {
        throw bad(
          `expected ${type} at ${path} to hold tensors of at most 8 dimensions below 2^31 and a safe size, got ${name} of shape ${JSON.stringify(shape)}`,
        );
      }
      const full = `${prefix}${name}`;
      if (FORBIDDEN_KEYS.has(full) || full === '__metadata__')
        throw bad(`expected tensor names, got the reserved key ${JSON.stringify(full)} at ${path}`);
      tensors.push({ name: full, shape: [...shape] });
    }
    children.forEach((c, i) => walk(c, `${path}[${i}]`, `${prefix}${childNames[i]}.`, depth + 1));
  };
  walk(root, 'root', '', 0);
  return tensors;
}

/** Builds the (validated) architecture with a private generator (loading must not advance the
 * shared defaultRng); on a constructor error, frees what was built. */
function build(root: ArchitectureNode, bad: (m: string) => TorchletError): Module {
  try {
    return fromArchitecture(root, new Rng(0));
  } catch (e) {
    throw bad((e as Error).message.replace(/^fromArchitecture: /, ''));
  }
}

/** Copies each tensor into the parameter of the same name, after checking names and shapes. */
function fill(
  net: Module,
  entries: TensorEntry[],
  data: Uint8Array,
  bad: (m: string) => TorchletError,
): void {
  const byName = new Map(entries.map((e) => [e.name, e]));
  const params = net.parameters();
  if (params.length !== entries.length)
    throw bad(`expected ${params.length} tensors for the architecture, got ${entries.length}`);
  for (const p of params) {
    const e = byName.get(p.name);
    if (e === undefined) throw bad(`expected a tensor named ${JSON.stringify(p.name)}, got none`);
    if (e.shape.length !== p.value.shape.length || e.shape.some((d, i) => d !== p.value.shape[i])) {
      throw bad(
        `expected ${p.name} of shape ${JSON.stringify(p.value.shape)}, got ${JSON.stringify(e.shape)}`,
      );
    }
  }
  for (const p of params) {
    const e = byName.get(p.name)!;
    const d = p.value.data;
    new Uint8Array(d.buffer, d.byteOffset, d.byteLength).set(data.subarray(e.begin, e.end));
  }
}

/**
 * Reads a network saved with `save`. Node.
 * @throws TorchletError as `deserialize`; a missing file gives `BAD_FILE`.
 * @example const net = load('model.safetensors');
 */
export function load(path: string | URL): Module {
  return loadModel(path).net;
}

/** As `load`, also returning the metadata and the architecture. */
export function loadModel(path: string | URL): SavedModel {
  const fs = nodeFs('load');
  const given = checkPath(path, 'load');
  const bad = (m: string): TorchletError => fail('BAD_FILE', 'load', m);
  const unreadable = (e: unknown): TorchletError =>
    bad(`expected a readable model file at ${String(given)}, got ${(e as Error).message}`);
  const notRegular = (st: import('node:fs').Stats): TorchletError =>
    bad(`expected a regular file at ${String(given)}, got ${fileKind(st)}`);
  // stat before open: opening a FIFO for reading blocks until a writer comes.
  let st: import('node:fs').Stats;
  try {
    st = fs.statSync(given);
  } catch (e) {
    throw unreadable(e);
  }
  if (!st.isFile()) throw notRegular(st);
  let fd: number;
  try {
    // O_NONBLOCK: if the path was swapped for a FIFO since the stat, open returns at once.
    fd = fs.openSync(given, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
  } catch (e) {
    throw unreadable(e);
  }
  let parsed: ParsedHeader;
  let buf: Uint8Array;
  try {
    st = fs.fstatSync(fd);
    if (!st.isFile()) throw notRegular(st);
    const size = st.size;
    // The length and the header first: a junk or misnamed file is refused before its data is read.
    const first8 = readExactly(fs, fd, 0, Math.min(8, size), bad);
    const headerLen = headerLength(first8, size, bad);
    const headerBytes = readExactly(fs, fd, 8, headerLen, bad);
    parsed = parseHeader(headerBytes, 'load');
    checkDataLength(parsed, size - 8 - headerLen, bad);
    buf = new Uint8Array(size);
    buf.set(first8, 0);
    buf.set(headerBytes, 8);
    buf.set(readExactly(fs, fd, 8 + headerLen, size - 8 - headerLen, bad), 8 + headerLen);
  } catch (e) {
    if (e instanceof TorchletError) throw e;
    throw fail(
      'BAD_FILE',
      'load',
      `expected a well-formed model file at ${String(given)}, got one that could not be read (${(e as Error).message})`,
    );
  } finally {
    fs.closeSync(fd);
  }
  return finish(parsed, buf, bad);
}

/** `length` bytes from position `at` (a file that shrank since its stat is truncated). */
function readExactly(
  fs: typeof import('node:fs'),
  fd: number,
  at: number,
  length: number,
  bad: (m: string) => TorchletError,
): Uint8Array {
  const out = new Uint8Array(length);
  let got = 0;
  while (got < length) {
    const n = fs.readSync(fd, out, got, Math.min(length - got, 2 ** 30), at + got);
    if (n === 0)
      throw bad(`expected ${length} bytes at byte ${at}, got ${got}; the file is truncated`);
    got += n;
  }
  return out;
}

function fileKind(st: import('node:fs').Stats): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'another kind of file';
}

/**
 * Builds a network from an architecture description (the JSON form `describeArchitecture`
 * returns and model files store), with fresh weights: only registered types, never code.
 * @param rng Generator for the initial weights and the layers' own draws (Dropout's masks);
 *   default `new Rng(0)`.
 * @throws TorchletError `BAD_ARGUMENT` naming the first invalid node; nothing stays allocated.
 * @example fromArchitecture({ type: 'Sequential', children: [{ type: 'Linear', args: { nIn: 64, nOut: 10 } }] })
 */
export function fromArchitecture(spec: unknown, rng: Rng = new Rng(0)): Module {
  const bad = (m: string): TorchletError => fail('BAD_ARGUMENT', 'fromArchitecture', m);
  checkArchitecture(spec, bad);
  const built: Module[] = [];
  const make = (node: ArchitectureNode): Module => {
    // checkArchitecture has validated every argument against the type's description.
    const spec = layerClass(node.type)!.spec;
    const m = spec.build(withDefaults(spec, node.args ?? {}), (node.children ?? []).map(make), rng);
    built.push(m);
    return m;
  };
  try {
    return make(spec as ArchitectureNode);
  } catch (e) {
    for (const m of built) m.dispose();
    throw bad(`expected an architecture whose modules can be built, got ${(e as Error).message}`);
  }
}
