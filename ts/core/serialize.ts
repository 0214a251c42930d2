// Save and load a network as one safetensors-compatible file: u64 LE header length N, N bytes of
// JSON header (tensors: dtype F32, shape, data_offsets; `__metadata__`: format version, the
// architecture as allow-listed module types + constructor arguments, a CRC-32), then the weights
// as little-endian float32 (copied byte for byte from WASM memory, which is little-endian).
// Loading validates everything before it allocates, and never runs code from the file.

import { ReLU, Sigmoid, Softmax, TanH } from './activation.js';
import { AutoEncoder, Sequential } from './container.js';
import { Conv1D, Conv2D } from './conv.js';
import { crc32 } from './crc32.js';
import { type ErrorCode, TorchletError } from './errors.js';
import { Flatten } from './flatten.js';
import { Linear } from './linear.js';
import { Module } from './module.js';
import { MaxPool1D, MaxPool2D } from './pool.js';
import { Reshape } from './reshape.js';
import { Rng } from './rng.js';
import { Upsample1D, Upsample2D } from './upsample.js';

/** The file format version this build writes and reads. */
export const FORMAT_VERSION = '1';
/** Largest JSON header accepted (bytes); safetensors allows 100 MB, torchlet headers are tiny. */
export const MAX_HEADER_BYTES = 16 * 2 ** 20;
const MAX_DEPTH = 64;
const MAX_MODULES = 100_000;
const MAX_DIM = 2 ** 31 - 1;
const LIBRARY = 'torchlet';

/** One module of a saved architecture: its type, integer constructor arguments and children. */
export interface ArchitectureNode {
  /** A type of the allow-list (`MODULE_TYPES`). */
  type: string;
  /** Constructor arguments by name (positive integers; Reshape's `shape` is a list of them). */
  args?: Record<string, number | number[]>;
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

type Args = Record<string, number> & { shape?: number[] };  // only Reshape's `shape` is a list
interface Codec {
  /** The exact class (subclasses are not the same architecture). */
  cls: abstract new (...a: never[]) => Module;
  /** Constructor argument names, in constructor order. */
  args: readonly string[];
  /** Which of `args` are lists of positive integers (1 to 8 of them) rather than one. */
  lists?: readonly string[];
  /** Number of children: a fixed count, or 'any'. */
  children: number | 'any';
  /** Float parameters the module holds for these arguments (before building anything). */
  params(a: Args): number;
  build(a: Args, children: Module[], rng: Rng): Module;
}

const none = (): number => 0;
const CODECS: Readonly<Record<string, Codec>> = Object.freeze({
  Linear: {
    cls: Linear, args: ['nIn', 'nOut'], children: 0,
    params: (a) => a.nIn! * a.nOut! + a.nOut!,
    build: (a, _c, rng) => new Linear(a.nIn!, a.nOut!, { rng }),
  },
  Conv1D: {
    cls: Conv1D, args: ['kSize', 'chanIn', 'chanOut', 'stride'], children: 0,
    params: (a) => a.kSize! * a.chanIn! * a.chanOut! + a.chanOut!,
    build: (a, _c, rng) => new Conv1D(a.kSize!, a.chanIn!, a.chanOut!, a.stride!, { rng }),
  },
  Conv2D: {
    cls: Conv2D, args: ['kH', 'kW', 'chanIn', 'chanOut', 'stride'], children: 0,
    params: (a) => a.kH! * a.kW! * a.chanIn! * a.chanOut! + a.chanOut!,
    build: (a, _c, rng) => new Conv2D(a.kH!, a.kW!, a.chanIn!, a.chanOut!, a.stride!, { rng }),
  },
  MaxPool1D: { cls: MaxPool1D, args: ['kSize', 'stride'], children: 0, params: none, build: (a) => new MaxPool1D(a.kSize!, a.stride!) },
  MaxPool2D: { cls: MaxPool2D, args: ['kH', 'kW', 'stride'], children: 0, params: none, build: (a) => new MaxPool2D(a.kH!, a.kW!, a.stride!) },
  Flatten: { cls: Flatten, args: [], children: 0, params: none, build: () => new Flatten() },
  Reshape: { cls: Reshape, args: ['shape'], lists: ['shape'], children: 0, params: none, build: (a) => new Reshape(...a.shape!) },
  Upsample1D: { cls: Upsample1D, args: ['scale'], children: 0, params: none, build: (a) => new Upsample1D(a.scale!) },
  Upsample2D: { cls: Upsample2D, args: ['sH', 'sW'], children: 0, params: none, build: (a) => new Upsample2D(a.sH!, a.sW!) },
  TanH: { cls: TanH, args: [], children: 0, params: none, build: () => new TanH() },
  Sigmoid: { cls: Sigmoid, args: [], children: 0, params: none, build: () => new Sigmoid() },
  ReLU: { cls: ReLU, args: [], children: 0, params: none, build: () => new ReLU() },
  Softmax: { cls: Softmax, args: [], children: 0, params: none, build: () => new Softmax() },
  Sequential: { cls: Sequential, args: [], children: 'any', params: none, build: (_a, c) => new Sequential(...c) },
  AutoEncoder: { cls: AutoEncoder, args: [], children: 2, params: none, build: (_a, c) => new AutoEncoder(c[0]!, c[1]!) },
} satisfies Record<string, Codec>);

/** The module types a file may name (the allow-list). */
export const MODULE_TYPES: readonly string[] = Object.freeze(Object.keys(CODECS));

function fail(code: ErrorCode, where: string, message: string): TorchletError {
  return new TorchletError(code, `${where}: ${message}`);
}

/**
 * The architecture of a network as plain data (allow-listed types and constructor arguments).
 * @throws TorchletError `BAD_ARGUMENT` naming the first module outside the allow-list.
 */
export function describeArchitecture(net: Module, where = 'describeArchitecture'): ArchitectureNode {
  if (!(net instanceof Module)) throw fail('BAD_ARGUMENT', where, `expected a Module, got ${net === null ? 'null' : typeof net}`);
  const walk = (m: Module, path: string): ArchitectureNode => {
    const codec = Object.hasOwn(CODECS, m.type) ? CODECS[m.type] : undefined;
    if (codec === undefined || Object.getPrototypeOf(m) !== codec.cls.prototype) {
      throw fail('BAD_ARGUMENT', where, `expected modules of the allow-list (${MODULE_TYPES.join(', ')}), got ${m.constructor.name} (type ${m.type}) at ${path}`);
    }
    const node: ArchitectureNode = { type: m.type };
    if (codec.args.length > 0) {
      const fields = m as unknown as Record<string, number | readonly number[]>;
      node.args = Object.fromEntries(codec.args.map((a) => {
        const v = fields[a]!;
        return [a, typeof v === 'number' ? v : [...v]];
      }));
    }
    if (m instanceof AutoEncoder) node.children = [walk(m.encoder, `${path}.encoder`), walk(m.decoder, `${path}.decoder`)];
    else if (m instanceof Sequential) node.children = m.modules.map((c, i) => walk(c, `${path}[${i}]`));
    return node;
  };
  return walk(net, net.type);
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
  const where = 'serialize';
  if (!(net instanceof Module)) throw fail('BAD_ARGUMENT', where, `expected a Module, got ${typeof net}`);
  const architecture = describeArchitecture(net, where);
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(options.metadata ?? {})) {
    if (typeof v !== 'string' || k.startsWith('torchlet.') || k === '__proto__') {
      throw fail('BAD_ARGUMENT', where, `expected metadata of string values with keys outside torchlet.*, got ${JSON.stringify(k)}: ${typeof v}`);
    }
    metadata[k] = v;
  }
  const params = net.parameters();
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
    header[p.name] = { dtype: 'F32', shape: [...p.value.shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (new TextEncoder().encode(json).length % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
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

function nodeFs(where: string): typeof import('node:fs') {
  const fs = typeof process === 'undefined' ? undefined : process.getBuiltinModule?.('node:fs');
  if (!fs) throw fail('BAD_ARGUMENT', where, 'expected Node >= 20.16 for file access, got none; in a browser use serialize/deserialize');
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
  const bytes = new Uint8Array(serialize(net, options));
  const target = typeof path === 'string' ? path : fileUrlPath(path);
  const tmp = `${target}.tmp-${process.pid}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e9).toString(36)}`;
  let fd: number | null = null;
  try {
    fd = fs.openSync(tmp, 'wx');
    let written = 0;
    while (written < bytes.length) written += fs.writeSync(fd, bytes, written, bytes.length - written);
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

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
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
export function deserializeModel(bytes: ArrayBuffer | ArrayBufferView, where = 'deserialize'): SavedModel {
  try {
    return readModel(bytes, where);
  } catch (e) {
    if (e instanceof TorchletError) throw e;
    // A hostile header can break even an error message: JSON.stringify of a value nested 10^5
    // deep (which JSON.parse accepts) overflows the stack. Nothing is allocated by then.
    throw fail('BAD_FILE', where, `expected a well-formed header, got one that could not be read (${(e as Error).message})`);
  }
}

function readModel(bytes: ArrayBuffer | ArrayBufferView, where: string): SavedModel {
  let buf: Uint8Array;
  if (bytes instanceof ArrayBuffer) buf = new Uint8Array(bytes);
  else if (ArrayBuffer.isView(bytes)) buf = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  else throw fail('BAD_ARGUMENT', where, `expected an ArrayBuffer or a typed array, got ${typeof bytes}`);
  const bad = (message: string): TorchletError => fail('BAD_FILE', where, message);
  if (buf.length < 8) throw bad(`expected at least 8 bytes (the header length), got ${buf.length}; the file is truncated`);
  const n = new DataView(buf.buffer, buf.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) throw bad(`expected a header of at most ${MAX_HEADER_BYTES} bytes, got ${n}; not a torchlet file, or corrupted`);
  const headerLen = Number(n);
  if (8 + headerLen > buf.length) throw bad(`expected a ${headerLen}-byte header, got ${buf.length - 8} bytes after the length; the file is truncated`);
  const headerBytes = buf.subarray(8, 8 + headerLen);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (e) {
    throw bad(`expected a UTF-8 JSON header, got one that does not parse (${(e as Error).message})`);
  }
  if (!isRecord(header)) throw bad('expected a JSON object header, got another JSON value');
  const meta = header['__metadata__'];
  if (!isRecord(meta)) throw bad('expected __metadata__ with torchlet.format, got none; not a torchlet file');
  const metadata = new Map<string, string>();
  for (const [k, v] of Object.entries(meta)) {
    if (FORBIDDEN_KEYS.has(k) || typeof v !== 'string') throw bad(`expected string metadata, got ${JSON.stringify(k)}: ${typeof v}`);
    metadata.set(k, v);
  }
  const format = metadata.get('torchlet.format');
  if (format === undefined) throw bad('expected torchlet.format in __metadata__, got none; not a torchlet file');
  if (format !== FORMAT_VERSION) {
    throw fail('UNSUPPORTED_VERSION', where, `expected format version ${FORMAT_VERSION}, got ${JSON.stringify(format)}; this file needs another torchlet version`);
  }
  const crc = metadata.get(CRC_KEY) ?? '';
  const crcAt = /^[0-9a-f]{8}$/.test(crc) ? crcPosition(headerBytes, crc) : -1;
  if (crcAt < 0) throw bad(`expected a ${CRC_KEY} checksum of 8 hex digits in the header, got ${JSON.stringify(crc)}`);
  const entries = tensorEntries(header, bad);
  const dataLen = buf.length - 8 - headerLen;
  const end = entries.length === 0 ? 0 : entries[entries.length - 1]!.end;
  if (end !== dataLen) {
    throw bad(`expected ${end} data bytes after the header, got ${dataLen}; the file is ${end > dataLen ? 'truncated' : 'followed by extra bytes'}`);
  }
  const zeroed = headerBytes.slice();
  zeroed.set(new TextEncoder().encode(CRC_ZERO), crcAt);
  const actual = crcHex([buf.subarray(0, 8), zeroed, buf.subarray(8 + headerLen)]);
  if (actual !== crc) throw bad(`expected checksum ${crc}, got ${actual}; the file is corrupted`);
  let architecture: unknown;
  try {
    architecture = JSON.parse(metadata.get('torchlet.architecture') ?? '');
  } catch {
    throw bad('expected torchlet.architecture to hold the architecture JSON, got something else');
  }
  const floats = checkArchitecture(architecture, bad);
  const total = entries.reduce((s, e) => s + (e.end - e.begin) / 4, 0);
  if (floats !== total) throw bad(`expected ${floats} weights for the architecture, got ${total} in the tensors`);
  const net = build(architecture as ArchitectureNode, bad);
  try {
    fill(net, entries, buf.subarray(8 + headerLen), bad);
  } catch (e) {
    net.dispose();
    throw e;
  }
  const user: Record<string, string> = {};
  for (const [k, v] of metadata) if (!k.startsWith('torchlet.')) user[k] = v;
  return { net, metadata: user, architecture: architecture as ArchitectureNode };
}

/** The tensor entries, sorted by offset, checked contiguous from 0 with sizes matching shapes. */
function tensorEntries(header: Record<string, unknown>, bad: (m: string) => TorchletError): TensorEntry[] {
  const entries: TensorEntry[] = [];
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (FORBIDDEN_KEYS.has(name)) throw bad(`expected tensor names, got the reserved key ${JSON.stringify(name)}`);
    if (!isRecord(v)) throw bad(`expected tensor ${JSON.stringify(name)} to be { dtype, shape, data_offsets }, got ${JSON.stringify(v)}`);
    if (v['dtype'] !== 'F32') throw bad(`expected dtype F32 for ${JSON.stringify(name)}, got ${JSON.stringify(v['dtype'])}`);
    const shape = v['shape'];
    const offsets = v['data_offsets'];
    const isInt = (d: unknown): d is number => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0;
    if (!Array.isArray(shape) || shape.length > 8 || !shape.every((d) => isInt(d) && d <= MAX_DIM)) {
      throw bad(`expected the shape of ${JSON.stringify(name)} to be at most 8 non-negative integers, got ${JSON.stringify(shape)}`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isInt) || offsets[0] > offsets[1]) {
      throw bad(`expected data_offsets [begin, end] with 0 <= begin <= end for ${JSON.stringify(name)}, got ${JSON.stringify(offsets)}`);
    }
    const size = (shape as number[]).reduce((a, b) => a * b, 1);
    if (!Number.isSafeInteger(size * 4) || size * 4 !== offsets[1] - offsets[0]) {
      throw bad(`expected ${JSON.stringify(name)} of shape ${JSON.stringify(shape)} to span ${size * 4} bytes, got ${offsets[1] - offsets[0]}`);
    }
    entries.push({ name, shape: shape as number[], begin: offsets[0], end: offsets[1] });
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (const e of entries) {
    if (e.begin !== at) throw bad(`expected ${JSON.stringify(e.name)} to start at byte ${at} (tensors contiguous, no overlap or hole), got ${e.begin}`);
    at = e.end;
  }
  return entries;
}

/** Validates the architecture tree without building it; returns its number of weights. */
function checkArchitecture(root: unknown, bad: (m: string) => TorchletError): number {
  let count = 0;
  const walk = (node: unknown, path: string, depth: number): number => {
    if (depth > MAX_DEPTH || ++count > MAX_MODULES) throw bad(`expected an architecture at most ${MAX_DEPTH} deep and ${MAX_MODULES} modules, got more at ${path}`);
    if (!isRecord(node) || typeof node['type'] !== 'string') throw bad(`expected a module { type, args?, children? } at ${path}, got ${JSON.stringify(node)}`);
    for (const k of Object.keys(node)) {
      if (k !== 'type' && k !== 'args' && k !== 'children') throw bad(`expected only type, args and children at ${path}, got ${JSON.stringify(k)}`);
    }
    const type = node['type'];
    const codec = Object.hasOwn(CODECS, type) ? CODECS[type] : undefined;
    if (codec === undefined) throw bad(`expected a module type of the allow-list (${MODULE_TYPES.join(', ')}), got ${JSON.stringify(type)} at ${path}`);
    const args = node['args'] ?? {};
    if (!isRecord(args)) throw bad(`expected args of ${type} at ${path} to be an object, got ${JSON.stringify(args)}`);
    const names = Object.keys(args);
    if (names.length !== codec.args.length || !codec.args.every((a) => Object.hasOwn(args, a))) {
      throw bad(`expected args ${JSON.stringify(codec.args)} for ${type} at ${path}, got ${JSON.stringify(names)}`);
    }
    const positive = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= MAX_DIM;
    for (const a of codec.args) {
      const v = args[a];
      if (codec.lists?.includes(a)) {
        if (!Array.isArray(v) || v.length < 1 || v.length > 8 || !v.every(positive)) {
          throw bad(`expected ${type}.${a} at ${path} to be a list of 1 to 8 positive integers, got ${JSON.stringify(v)}`);
        }
      } else if (!positive(v)) throw bad(`expected ${type}.${a} at ${path} to be a positive integer, got ${JSON.stringify(v)}`);
    }
    const children = node['children'] ?? [];
    if (!Array.isArray(children)) throw bad(`expected children of ${type} at ${path} to be an array, got ${JSON.stringify(children)}`);
    if (codec.children !== 'any' && children.length !== codec.children) {
      throw bad(`expected ${codec.children} children for ${type} at ${path}, got ${children.length}`);
    }
    let floats = codec.params(args as Args);
    children.forEach((c, i) => {
      floats += walk(c, `${path}[${i}]`, depth + 1);
    });
    return floats;
  };
  return walk(root, 'root', 0);
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
function fill(net: Module, entries: TensorEntry[], data: Uint8Array, bad: (m: string) => TorchletError): void {
  const byName = new Map(entries.map((e) => [e.name, e]));
  const params = net.parameters();
  if (params.length !== entries.length) throw bad(`expected ${params.length} tensors for the architecture, got ${entries.length}`);
  for (const p of params) {
    const e = byName.get(p.name);
    if (e === undefined) throw bad(`expected a tensor named ${JSON.stringify(p.name)}, got none`);
    if (e.shape.length !== p.value.shape.length || e.shape.some((d, i) => d !== p.value.shape[i])) {
      throw bad(`expected ${p.name} of shape ${JSON.stringify(p.value.shape)}, got ${JSON.stringify(e.shape)}`);
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
  let bytes: Uint8Array;
  try {
    bytes = fs.readFileSync(path);
  } catch (e) {
    throw fail('BAD_FILE', 'load', `expected a readable model file at ${String(path)}, got ${(e as Error).message}`);
  }
  return deserializeModel(bytes, 'load');
}

/**
 * Builds a network from an architecture description (the JSON form `describeArchitecture`
 * returns and model files store), with fresh weights: only allow-listed types, never code.
 * @param rng Generator for the initial weights (default `new Rng(0)`).
 * @throws TorchletError `BAD_ARGUMENT` naming the first invalid node; nothing stays allocated.
 * @example fromArchitecture({ type: 'Sequential', children: [{ type: 'Linear', args: { nIn: 64, nOut: 10 } }] })
 */
export function fromArchitecture(spec: unknown, rng: Rng = new Rng(0)): Module {
  const bad = (m: string): TorchletError => fail('BAD_ARGUMENT', 'fromArchitecture', m);
  checkArchitecture(spec, bad);
  const built: Module[] = [];
  const make = (node: ArchitectureNode): Module => {
    // checkArchitecture has validated every argument against the codec (lists only where declared).
    const m = CODECS[node.type]!.build((node.args ?? {}) as Args, (node.children ?? []).map(make), rng);
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
