// Save/load: bit-identical outputs after a round trip (file and ArrayBuffer) for every allow-listed
// module type, the safetensors layout, and rejection of truncated, corrupted, wrong-version and
// hostile files with BAD_FILE / UNSUPPORTED_VERSION and nothing left allocated.
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  AutoEncoder,
  Conv1D,
  Conv2D,
  Flatten,
  Linear,
  MaxPool1D,
  MaxPool2D,
  type Module,
  ReLU,
  Reshape,
  Rng,
  Sequential,
  Sigmoid,
  Softmax,
  TanH,
  Upsample1D,
  Upsample2D,
  defaultRng,
  deserialize,
  deserializeModel,
  init,
  load,
  loadModel,
  memory,
  save,
  serialize,
} from '../ts/index.js';
import { expectError, randTensor } from './helpers.js';

await init();

function nets(): Array<[string, () => Module, number[]]> {
  const rng = new Rng(3);
  return [
    [
      'mlp',
      () =>
        new Sequential(
          new Linear(64, 20, { rng }),
          new ReLU(),
          new Linear(20, 10, { rng }),
          new Softmax(),
        ),
      [5, 64],
    ],
    [
      'conv1d',
      () =>
        new Sequential(
          new Conv1D(3, 1, 4, 1, { rng }),
          new MaxPool1D(2, 2),
          new Flatten(),
          new Linear(124, 10, { rng }),
          new TanH(),
        ),
      [3, 64, 1],
    ],
    [
      'conv2d',
      () =>
        new Sequential(
          new Conv2D(3, 3, 1, 2, 1, { rng }),
          new ReLU(),
          new MaxPool2D(2, 2, 2),
          new Flatten(),
          new Linear(18, 3, { rng }),
        ),
      [2, 8, 8, 1],
    ],
    [
      'autoencoder',
      () =>
        new AutoEncoder(
          new Sequential(new Linear(64, 8, { rng }), new TanH()),
          new Sequential(new Linear(8, 64, { rng }), new Sigmoid()),
        ),
      [4, 64],
    ],
    [
      'conv autoencoder',
      () =>
        new AutoEncoder(
          new Sequential(
            new Conv2D(3, 3, 1, 2, 1, { rng }),
            new ReLU(),
            new Flatten(),
            new Linear(72, 8, { rng }),
          ),
          new Sequential(
            new Linear(8, 32, { rng }),
            new Reshape(4, 4, 2),
            new Upsample2D(2, 2),
            new Conv2D(1, 1, 2, 1, 1, { rng }),
            new Reshape(8, 8),
            new Upsample1D(1),
            new Sigmoid(),
          ),
        ),
      [2, 8, 8, 1],
    ],
  ];
}

function bits(t: { toArray(): Float32Array }): number[] {
  return Array.from(new Uint32Array(t.toArray().buffer));
}

describe('save / load', () => {
  const dir = mkdtempSync(join(tmpdir(), 'torchlet-save-'));

  for (const [name, make, shape] of nets()) {
    it(`round-trips ${name} through a file with bit-identical outputs`, () => {
      const net = make();
      const x = randTensor(shape, 11);
      const before = bits(net.forward(x));
      const path = join(dir, `${name}.safetensors`);
      save(net, path, { metadata: { inputShape: JSON.stringify(shape.slice(1)) } });
      const { net: copy, metadata } = loadModel(path);
      expect(metadata).toEqual({ inputShape: JSON.stringify(shape.slice(1)) });
      expect(copy.type).toBe(net.type);
      expect(String(copy)).toBe(String(net));
      expect(bits(copy.forward(x))).toEqual(before);
      copy
        .parameters()
        .forEach((p, i) => expect(bits(p.value)).toEqual(bits(net.parameters()[i]!.value)));
    });
  }

  it('writes atomically: no temp file is left beside the model', () => {
    const sub = mkdtempSync(join(tmpdir(), 'torchlet-atomic-'));
    save(nets()[0]![1](), join(sub, 'm.safetensors'));
    save(nets()[0]![1](), join(sub, 'm.safetensors'));
    expect(readdirSync(sub)).toEqual(['m.safetensors']);
  });

  it('uses the safetensors layout: u64 header length, JSON header with F32 tensors, then the data', () => {
    const net = new Sequential(new Linear(2, 3, { rng: new Rng(1) }));
    const bytes = new Uint8Array(serialize(net));
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    expect(header['0.weight']).toEqual({ dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] });
    expect(header['0.bias']).toEqual({ dtype: 'F32', shape: [3], data_offsets: [24, 36] });
    expect(header.__metadata__['torchlet.format']).toBe('1');
    expect(JSON.parse(header.__metadata__['torchlet.architecture'])).toEqual({
      type: 'Sequential',
      children: [{ type: 'Linear', args: { nIn: 2, nOut: 3 } }],
    });
    expect(bytes.length).toBe(8 + n + 36);
    expect(Array.from(new Float32Array(bytes.slice(8 + n, 8 + n + 24).buffer))).toEqual(
      Array.from(net.parameters()[0]!.value.data),
    );
  });

  it('does not advance the shared generator when loading', () => {
    const bytes = serialize(nets()[1]![1]());
    const state = defaultRng.state();
    deserialize(bytes);
    expect(Array.from(defaultRng.state())).toEqual(Array.from(state));
  });

  it('refuses modules that are not registered', () => {
    class Custom extends ReLU {}
    expectError(
      () => serialize(new Sequential(new Linear(2, 2), new Custom())),
      'BAD_ARGUMENT',
      /serialize: expected registered module types .*register\(YourLayer\) adds one\), got Custom \(type ReLU\) at Sequential\[1\]/,
    );
  });
});

/** Re-encodes a file with a modified header (recomputing nothing, so a checksum may break). */
function withHeader(
  bytes: ArrayBuffer,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a parsed header, edited freely by each case
  edit: (h: Record<string, any>) => void,
  fixCrc = true,
): Uint8Array {
  const b = new Uint8Array(bytes);
  const n = Number(new DataView(b.buffer).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(b.subarray(8, 8 + n)));
  edit(header);
  if (fixCrc) header.__metadata__['torchlet.crc32'] = '00000000';
  const hb = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + hb.length + (b.length - 8 - n));
  new DataView(out.buffer).setBigUint64(0, BigInt(hb.length), true);
  out.set(hb, 8);
  out.set(b.subarray(8 + n), 8 + hb.length);
  if (fixCrc) {
    // Recompute the checksum the way the writer does (over the file with the digits zeroed).
    const table = Array.from({ length: 256 }, (_, k) => {
      let c = k;
      for (let j = 0; j < 8; j++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      return c >>> 0;
    });
    let c = 0xffffffff;
    for (const byte of out) c = table[(c ^ byte) & 0xff]! ^ (c >>> 8);
    const hex = ((c ^ 0xffffffff) >>> 0).toString(16).padStart(8, '0');
    const text = new TextDecoder()
      .decode(hb)
      .replace('"torchlet.crc32":"00000000"', `"torchlet.crc32":"${hex}"`);
    out.set(new TextEncoder().encode(text), 8);
  }
  return out;
}

describe('load rejects bad files and allocates nothing', () => {
  const good = serialize(
    new Sequential(
      new Linear(4, 3, { rng: new Rng(2) }),
      new ReLU(),
      new Linear(3, 2, { rng: new Rng(3) }),
    ),
  );

  const cases: Array<[string, () => Uint8Array, string, RegExp]> = [
    [
      'empty',
      () => new Uint8Array(3),
      'BAD_FILE',
      /deserialize: expected at least 8 bytes .* truncated/,
    ],
    [
      'truncated data',
      () => new Uint8Array(good).slice(0, good.byteLength - 5),
      'BAD_FILE',
      /expected 92 data bytes after the header, got 87; the file is truncated/,
    ],
    [
      'truncated header',
      () => new Uint8Array(good).slice(0, 40),
      'BAD_FILE',
      /-byte header, got 32 bytes after the length; the file is truncated/,
    ],
    [
      'huge header length',
      () => {
        const b = new Uint8Array(good).slice();
        new DataView(b.buffer).setBigUint64(0, 2n ** 62n, true);
        return b;
      },
      'BAD_FILE',
      /expected a header of at most 16777216 bytes, got 4611686018427387904/,
    ],
    [
      'flipped data bit',
      () => {
        const b = new Uint8Array(good).slice();
        b[b.length - 3]! ^= 0x10;
        return b;
      },
      'BAD_FILE',
      /expected checksum [0-9a-f]{8}, got [0-9a-f]{8}; the file is corrupted/,
    ],
    [
      'extra bytes',
      () => {
        const b = new Uint8Array(good.byteLength + 4);
        b.set(new Uint8Array(good));
        return b;
      },
      'BAD_FILE',
      /followed by extra bytes/,
    ],
    [
      'wrong version',
      () =>
        withHeader(good, (h) => {
          h.__metadata__['torchlet.format'] = '2';
        }),
      'UNSUPPORTED_VERSION',
      /expected format version 1, got "2"/,
    ],
    [
      'not torchlet',
      () =>
        withHeader(
          good,
          (h) => {
            delete h.__metadata__;
          },
          false,
        ),
      'BAD_FILE',
      /expected __metadata__ with torchlet.format, got none; not a torchlet file/,
    ],
    [
      'unknown type',
      () =>
        withHeader(good, (h) => {
          h.__metadata__['torchlet.architecture'] = JSON.stringify({
            type: 'Sequential',
            children: [{ type: 'Eval', args: {} }],
          });
        }),
      'BAD_FILE',
      /expected a registered module type .*got "Eval" at root\[0\]/,
    ],
    [
      '__proto__ key',
      () =>
        withHeader(good, (h) => {
          Object.defineProperty(h, '__proto__', {
            value: { dtype: 'F32', shape: [0], data_offsets: [0, 0] },
            enumerable: true,
          });
        }),
      'BAD_FILE',
      /got the reserved key "__proto__"/,
    ],
    [
      'overlapping offsets',
      () =>
        withHeader(good, (h) => {
          h['0.bias'].data_offsets = [0, 12];
        }),
      'BAD_FILE',
      /"0\.weight" to start at byte 12 \(tensors contiguous, no overlap or hole\), got 0/,
    ],
    [
      'shape/offset mismatch',
      () =>
        withHeader(good, (h) => {
          h['0.weight'].shape = [4, 4];
        }),
      'BAD_FILE',
      /of shape \[4,4\] to span 64 bytes, got 48/,
    ],
    [
      'bad dtype',
      () =>
        withHeader(good, (h) => {
          h['0.weight'].dtype = 'F64';
        }),
      'BAD_FILE',
      /expected dtype F32 for "0.weight", got "F64"/,
    ],
    [
      'architecture too big for the data',
      () =>
        withHeader(good, (h) => {
          h.__metadata__['torchlet.architecture'] = JSON.stringify({
            type: 'Linear',
            args: { nIn: 100000, nOut: 100000 },
          });
        }),
      'BAD_FILE',
      /expected 10000100000 weights for the architecture, got 23 in the tensors/,
    ],
    [
      'swapped shapes',
      () =>
        withHeader(good, (h) => {
          h.__metadata__['torchlet.architecture'] = JSON.stringify({
            type: 'Sequential',
            children: [
              { type: 'Linear', args: { nIn: 3, nOut: 4 } },
              { type: 'Linear', args: { nIn: 6, nOut: 1 } },
            ],
          });
        }),
      'BAD_FILE',
      /expected 0\.weight of shape \[3,4\], got \[4,3\]/,
    ],
  ];
  for (const [name, make, code, re] of cases) {
    it(`rejects ${name}`, () => {
      const bytes = make();
      const live = memory().liveBytes;
      expectError(() => deserialize(bytes), code, re);
      expect(memory().liveBytes).toBe(live);
    });
  }

  it('load names a missing file', () => {
    expectError(
      () => load('/nonexistent/model.safetensors'),
      'BAD_FILE',
      /^load: expected a readable model file at \/nonexistent\/model\.safetensors/,
    );
  });

  it('a good file still loads (the cases above are not vacuous)', () => {
    expect(deserialize(good).parameters()).toHaveLength(4);
    const dir = mkdtempSync(join(tmpdir(), 'torchlet-good-'));
    writeFileSync(join(dir, 'g.safetensors'), new Uint8Array(good));
    expect(readFileSync(join(dir, 'g.safetensors')).length).toBe(good.byteLength);
    expect(deserializeModel(withHeader(good, () => {})).net.parameters()).toHaveLength(4);
  });
});

// ---- issue 12.10: save and load accept exactly the same set ---------------------------------------
describe('save refuses exactly what load refuses', () => {
  const nest = (depth: number): object =>
    depth === 0 ? { type: 'ReLU' } : { type: 'Sequential', children: [nest(depth - 1)] };
  const nested = (depth: number): Module => {
    let m: Module = new ReLU();
    for (let i = 0; i < depth; i++) m = new Sequential(m);
    return m;
  };
  const setArch =
    (arch: unknown) =>
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a parsed header
    (h: Record<string, any>) => {
      h.__metadata__['torchlet.architecture'] = JSON.stringify(arch);
    };
  // [case, what save is given (or null: the module cannot be built), the file an unchecked writer
  // would have written (a valid file edited, checksum fixed)]
  const cases: Array<[string, (() => ArrayBuffer) | null, () => Uint8Array]> = [
    [
      'nesting 70 deep',
      () => serialize(nested(70)),
      () => withHeader(serialize(new ReLU()), setArch(nest(70))),
    ],
    [
      'a 9-dimensional Reshape',
      null,
      () =>
        withHeader(
          serialize(new Reshape(1, 1, 1, 1, 1, 1, 1, 1)),
          setArch({ type: 'Reshape', args: { shape: [1, 1, 1, 1, 1, 1, 1, 1, 1] } }),
        ),
    ],
    [
      'Upsample1D(2^31)',
      () => serialize(new Upsample1D(2 ** 31)),
      () =>
        withHeader(
          serialize(new Upsample1D(2)),
          setArch({ type: 'Upsample1D', args: { scale: 2 ** 31 } }),
        ),
    ],
    ...['constructor', '__proto__', 'prototype'].map(
      (key): [string, () => ArrayBuffer, () => Uint8Array] => [
        `metadata key ${key}`,
        () => serialize(new ReLU(), { metadata: JSON.parse(`{"${key}":"x"}`) }),
        () =>
          withHeader(serialize(new ReLU()), (h) => {
            Object.defineProperty(h.__metadata__, key, { value: 'x', enumerable: true });
          }),
      ],
    ),
    [
      '17 MB of metadata',
      () => serialize(new ReLU(), { metadata: { big: 'x'.repeat(17e6) } }),
      () =>
        withHeader(serialize(new ReLU()), (h) => {
          h.__metadata__.big = 'x'.repeat(17e6);
        }),
    ],
    [
      '100,001 modules',
      () => serialize(wide(100_001)),
      () => withHeader(serialize(new ReLU()), setArch(wideArch(100_001))),
    ],
  ];
  for (const [name, saveIt, written] of cases) {
    it(`${name}: save throws BAD_ARGUMENT, load of such a file BAD_FILE`, () => {
      if (saveIt !== null) expectError(saveIt, 'BAD_ARGUMENT', /^serialize: expected .+, got /);
      const live = memory().liveBytes;
      expectError(() => deserialize(written()), 'BAD_FILE', /^deserialize: expected .+, got /);
      expect(memory().liveBytes).toBe(live);
    });
  }
  it('save also refuses them through save(), naming save, and writes no file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'torchlet-same-set-'));
    const net = nested(70);
    expectError(
      () => save(net, join(dir, 'm.safetensors')),
      'BAD_ARGUMENT',
      /^save: expected an architecture at most 64 deep/,
    );
    expectError(
      () =>
        save(new ReLU(), join(dir, 'm.safetensors'), {
          metadata: JSON.parse('{"constructor":"x"}'),
        }),
      'BAD_ARGUMENT',
      /^save: expected string metadata under keys other than __proto__, constructor, prototype, got "constructor": string$/,
    );
    expect(readdirSync(dir)).toEqual([]);
    net.dispose();
  });

  it('at the limits both succeed: 64 deep, 16 MiB of header, a Reshape of 8 dimensions', () => {
    const room = 16 * 2 ** 20 - 400;
    for (const [net, metadata] of [
      [nested(64), {}],
      [new ReLU(), { big: 'x'.repeat(room) }],
      [new Reshape(1, 1, 1, 1, 1, 1, 1, 1), {}],
    ] as const) {
      const model = deserializeModel(serialize(net, { metadata }));
      expect(model.metadata).toEqual(metadata);
      model.net.dispose();
      net.dispose();
    }
  });
});

/** A Sequential of `n` modules in all (itself included): 1,000 Sequentials of ReLUs, then ReLUs. */
function wide(n: number): Sequential {
  const groups = Array.from({ length: 1000 }, () => new Sequential(...relus(98)));
  return new Sequential(...groups, ...relus(n - 1 - 1000 * 99));
}
function relus(n: number): ReLU[] {
  return Array.from({ length: n }, () => new ReLU());
}
function wideArch(n: number): object {
  const group = {
    type: 'Sequential',
    children: Array.from({ length: 98 }, () => ({ type: 'ReLU' })),
  };
  return {
    type: 'Sequential',
    children: [
      ...Array.from({ length: 1000 }, () => group),
      ...Array.from({ length: n - 1 - 1000 * 99 }, () => ({ type: 'ReLU' })),
    ],
  };
}

describe('a model of 99,999 modules (inside the 100,000 limit)', () => {
  it('saves and loads, through a file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'torchlet-wide-'));
    const net = new Sequential(new Linear(3, 2, { rng: new Rng(1) }), wide(99_997));
    const path = join(dir, 'wide.safetensors');
    save(net, path);
    const copy = load(path);
    let count = 0;
    const walk = (m: Module): void => {
      count++;
      m.children().forEach(walk);
    };
    walk(copy);
    expect(count).toBe(99_999);
    const x = randTensor([2, 3], 4);
    expect(Array.from(copy.forward(x).data)).toEqual(Array.from(net.forward(x).data));
    copy.dispose();
    net.dispose();
  });

  // A flat Sequential of 99,998 modules: spreading the children into the constructor's arguments
  // overflowed the stack past ~60,000; Sequential takes the array itself.
  it('a flat Sequential of 99,998 modules loads', () => {
    const flat = {
      type: 'Sequential',
      children: Array.from({ length: 99_998 }, () => ({ type: 'ReLU' })),
    };
    const bytes = withHeader(serialize(new Sequential()), setArchOf(flat));
    const net = deserialize(bytes);
    expect(net.children()).toHaveLength(99_998);
    net.dispose();
  });
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a parsed header
const setArchOf = (arch: unknown) => (h: Record<string, any>) => {
  h.__metadata__['torchlet.architecture'] = JSON.stringify(arch);
};

// ---- issue 12.14: the path argument ---------------------------------------------------------------
describe('save and load name a bad path argument', () => {
  for (const [what, path] of [
    ['undefined', undefined],
    ['42', 42],
    ['{}', {}],
    ['an empty string', ''],
    ['null', null],
  ] as const) {
    it(`save(net, ${what}) and load(${what}) throw BAD_ARGUMENT`, () => {
      const net = new ReLU();
      expectError(
        () => save(net, path as never),
        'BAD_ARGUMENT',
        /^save: expected the path argument to be a non-empty string or a file URL, got .+$/,
      );
      for (const [name, f] of [
        ['load', load],
        ['load', loadModel],
      ] as const) {
        expectError(
          () => f(path as never),
          'BAD_ARGUMENT',
          new RegExp(
            `^${name}: expected the path argument to be a non-empty string or a file URL, got .+$`,
          ),
        );
      }
    });
  }
  it('save refuses options and metadata that are not objects', () => {
    expectError(
      () => serialize(new ReLU(), 5 as never),
      'BAD_ARGUMENT',
      /^serialize: expected options/,
    );
    expectError(
      () => serialize(new ReLU(), { metadata: 'x' as never }),
      'BAD_ARGUMENT',
      /^serialize: expected metadata as an object of strings, got "x"$/,
    );
  });
});
