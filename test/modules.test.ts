// Every layer through the shared table (test/modules.ts): the table covers exactly the registered
// types; each entry passes gradCheck, holds the parameters its description derives, rebuilds from
// its architecture and its file, keeps the output contract (fresh handle, OVERWRITTEN), refuses a
// stale backward without changing anything, and refuses work after dispose().
// Tolerances: gradCheck's defaults (float64 references: atol 1e-4, rtol 1e-3); everything else is
// exact (bit patterns), since it compares the same float32 kernels on the same numbers.
import { afterEach, describe, expect, it } from 'vitest';
import * as tl from '../ts/index.js';
import { expectError, expectGradOk, stateHash } from './helpers.js';
import { type ModuleEntry, expectedParams, inputFor, moduleTable } from './modules.js';

await tl.init();

const table = moduleTable(tl);

// Whatever a test builds, disposed after it.
const built: { dispose(): void }[] = [];
afterEach(() => {
  for (const b of built.splice(0)) b.dispose();
});
function keep<D extends { dispose(): void }>(d: D): D {
  built.push(d);
  return d;
}

/** A fresh instance and input of the entry (seeded: every test sees the same numbers). */
function setup(e: ModuleEntry, seed = 1): { m: tl.Module; x: tl.Tensor } {
  return { m: keep(e.make(new tl.Rng(seed))), x: keep(inputFor(tl, e, seed + 100)) };
}

function bits(t: tl.Tensor): number[] {
  return Array.from(new Uint32Array(t.toArray().buffer));
}

/** A delta for output `y` with no zeros (sin of the position). */
function deltaFor(y: tl.Tensor): tl.Tensor {
  return keep(
    tl.Tensor.from(
      Float32Array.from({ length: y.size }, (_, i) => Math.sin(i + 1)),
      [...y.shape],
    ),
  );
}

/** The module itself and every module inside it. */
function walk(m: tl.Module): tl.Module[] {
  return [m, ...m.children().flatMap(walk)];
}

/** The layer whose slot holds a container's output: the last leaf. */
function lastLeaf(m: tl.Module): tl.Module {
  const c = m.children();
  return c.length === 0 ? m : lastLeaf(c[c.length - 1]!);
}

const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('the module table', () => {
  it('has one base entry for exactly each registered type (a new layer needs an entry in test/modules.ts)', () => {
    const base = table.filter((e) => e.variant === null).map((e) => e.type);
    expect([...base].sort()).toEqual([...tl.MODULE_TYPES].sort());
    expect(new Set(base).size).toBe(base.length);
    expect(tl.registeredTypes()).toEqual([...tl.MODULE_TYPES]);
  });

  it('names entries uniquely, variants of registered types, without dots', () => {
    const names = table.map((e) => e.name);
    expect(new Set(names).size).toBe(names.length);
    for (const e of table) {
      expect(tl.MODULE_TYPES).toContain(e.type);
      expect(e.name).not.toMatch(/\./);
    }
  });

  it("builds each entry's type: the exported class of that name, with its own spec", () => {
    const exported = tl as unknown as Record<string, unknown>;
    for (const e of table) {
      const m = keep(e.make(new tl.Rng(1)));
      expect(m.type, e.name).toBe(e.type);
      expect(m.constructor, e.name).toBe(exported[e.type]);
      expect(m.spec?.type, e.name).toBe(e.type);
      expect(Object.hasOwn(m.constructor, 'spec'), e.name).toBe(true);
    }
  });
});

for (const e of table) {
  describe(e.name, () => {
    it('passes gradCheck (forward, backwardDelta, backwardUpdateGradient, accumulation, zeroGrad)', () => {
      const { m, x } = setup(e);
      expectGradOk(tl.gradCheck(m, x));
    });

    const modes = e.stochastic
      ? 'drops only in training: eval() is deterministic, train() draws again'
      : 'gives the same output in train() and eval()';
    it(modes, () => {
      const { m, x } = setup(e);
      m.eval();
      expect(walk(m).every((c) => !c.training)).toBe(true);
      const a = bits(m.forward(x));
      const b = bits(m.forward(x));
      expect(b).toEqual(a);
      m.train();
      expect(walk(m).every((c) => c.training)).toBe(true);
      const c = bits(m.forward(x));
      const d = bits(m.forward(x));
      if (e.stochastic) {
        expect(c).not.toEqual(a);
        expect(d).not.toEqual(c);
      } else {
        expect(c).toEqual(a);
        expect(d).toEqual(a);
      }
    });

    it('holds the parameters its description derives: spec.params(config()), names unique', () => {
      const { m } = setup(e);
      for (const c of walk(m)) {
        expect(Object.keys(c.config()), `${c.type}.config()`).toEqual(
          c.spec!.args.map((a) => a.name),
        );
      }
      const params = m.parameters();
      const shapes = params.map((p): [string, number[]] => [p.name, [...p.value.shape]]);
      expect(shapes).toEqual(expectedParams(m));
      expect(params.map((p) => [...p.grad.shape])).toEqual(params.map((p) => [...p.value.shape]));
      expect(new Set(params.map((p) => p.name)).size).toBe(params.length);
    });

    it('rebuilds from its architecture (same description and toString) and from its file (bit-identical outputs)', () => {
      const { m, x } = setup(e);
      const arch = tl.describeArchitecture(m);
      const rebuilt = keep(tl.fromArchitecture(JSON.parse(JSON.stringify(arch)), new tl.Rng(9)));
      expect(tl.describeArchitecture(rebuilt)).toEqual(arch);
      expect(String(rebuilt)).toBe(String(m));
      expect(rebuilt.constructor).toBe(m.constructor);

      const copy = keep(tl.deserialize(tl.serialize(m)));
      expect(tl.describeArchitecture(copy)).toEqual(arch);
      const weights = (n: tl.Module) => n.parameters().map((p) => [p.name, bits(p.value)]);
      expect(weights(copy)).toEqual(weights(m));
      m.eval();
      copy.eval();
      expect(bits(copy.forward(x))).toEqual(bits(m.forward(x)));
    });

    it('returns a fresh handle over the same memory each forward; the previous one reads as OVERWRITTEN', () => {
      const { m, x } = setup(e);
      const x2 = keep(inputFor(tl, e, 7));
      const shape = m.outputShape(x.shape);
      if (e.elementwise) expect(shape).toEqual(x.shape);
      const y1 = m.forward(x);
      expect(y1.shape).toEqual(shape);
      expect(m.output).toBe(y1);
      const ptr = y1.ptr;
      const y2 = m.forward(x2);
      expect(y2).not.toBe(y1);
      expect(m.output).toBe(y2);
      expect(y2.shape).toEqual(shape);
      // A view layer's output is its input's memory (x2's now), yet the first view reads as
      // overwritten too: inside a network that memory is a buffer the next forward reuses.
      if (e.view) expect(y2.ptr).toBe(x2.ptr);
      else expect(y2.ptr).toBe(ptr);
      {
        const writer = esc(`${lastLeaf(m).type}.forward`);
        const shapeText = `\\[${shape.join(', ')}\\]`;
        const re = `^Tensor: expected a tensor holding its values, got one of shape ${shapeText} that a later ${writer} overwrote`;
        expectError(() => y1.data, 'OVERWRITTEN', new RegExp(re));
        expect(y1.overwritten).toBe(true);
      }
    });

    it('refuses a backward on another tensor than the last forward input (STALE) and changes nothing', () => {
      const { m, x } = setup(e);
      const y = m.forward(x);
      const delta = deltaFor(y);
      m.backward(delta); // gradients non-zero, so the hash below would see a stray write
      const dx = m.backwardDelta(x, delta).toArray();
      const before = stateHash(m);
      const out = bits(y);
      const stale = (got: string) => (method: string) =>
        new RegExp(
          `^${e.type}\\.${method}: expected the input of this module's last forward, got ${got}; call forward\\(input\\) first$`,
        );
      const other = stale('another tensor \\(a later forward replaced it\\)');

      const copy = keep(x.clone());
      const update = other('backwardUpdateGradient');
      expectError(() => m.backwardUpdateGradient(copy, delta), 'STALE', update);
      expectError(() => m.backwardUpdateGradient(copy, delta, 0), 'STALE', update);
      expectError(() => m.backwardDelta(copy, delta), 'STALE', other('backwardDelta'));
      expect(stateHash(m)).toBe(before);
      expect(bits(y)).toEqual(out);
      // The pairing survived: the real input still gives the same delta.
      expect(Array.from(m.backwardDelta(x, delta).toArray())).toEqual(Array.from(dx));

      // After a forward on x2, x is stale too.
      const x2 = keep(inputFor(tl, e, 8));
      m.forward(x2);
      const after = stateHash(m);
      expectError(() => m.backwardUpdateGradient(x, delta), 'STALE', update);
      expectError(() => m.backwardDelta(x, delta), 'STALE', other('backwardDelta'));
      expect(stateHash(m)).toBe(after);

      // A module that never ran forward names that.
      const { m: cold } = setup(e, 2);
      expectError(
        () => cold.backwardDelta(x, delta),
        'STALE',
        stale('no forward yet')('backwardDelta'),
      );
    });

    it('throws DISPOSED after dispose() (idempotent), for forward and backward', () => {
      const { m, x } = setup(e);
      const y = m.forward(x);
      const delta = deltaFor(y);
      m.dispose();
      m.dispose();
      expect(m.disposed).toBe(true);
      const dead = (method: string) =>
        new RegExp(`^${e.type}\\.${method}: expected a live module, got a disposed one`);
      expectError(() => m.forward(x), 'DISPOSED', dead('forward'));
      expectError(() => m.backward(delta), 'DISPOSED', dead('backward'));
      expectError(() => m.backwardDelta(x, delta), 'DISPOSED', dead('backwardDelta'));
      for (const p of m.parameters()) expect(p.value.disposed && p.grad.disposed).toBe(true);
    });
  });
}

describe('Dropout modes', () => {
  const e = table.find((t) => t.name === 'Dropout')!;

  it('is the identity in eval(); train() restores dropping: each element 0 or x / (1 - p)', () => {
    const { m, x } = setup(e);
    const p = (m as tl.Dropout).p;
    const xs = x.toArray();
    m.eval();
    expect(bits(m.forward(x))).toEqual(bits(x));
    m.train();
    const y = m.forward(x).toArray();
    const dropped = Array.from(y).filter((v) => v === 0).length;
    expect(Array.from(y).every((v, i) => v === 0 || v === Math.fround(xs[i]! / (1 - p)))).toBe(
      true,
    );
    expect(dropped).toBeGreaterThan(0);
    expect(dropped).toBeLessThan(y.length);
  });
});
