// The layer seam: activations belong to the call (the frame of whoever ran the forward), so a
// module used at several positions or in several networks gets PyTorch's gradients; a backward
// that does not pair with its forward, or a kept output that a later forward overwrote, throws
// and changes nothing. PyTorch vectors: test/fixtures/sharing.txt (scripts/gen-sharing-fixtures.py).
// Tolerances as test/fixtures.test.ts's dot products: rtol 1e-5, atol 2e-6 (float32 sums of up to
// 129 terms of size ~1); the 129-wide chain gets atol 2e-5 (its second layer sums 129 products of
// first-layer outputs of size ~5, and its dx goes back through both).
import { readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import {
  Conv1D,
  Flatten,
  Linear,
  LogSoftmaxCrossEntropy,
  MaxPool1D,
  MaxPool2D,
  Module,
  Optim,
  ReLU,
  Rng,
  Sequential,
  Reshape,
  TanH,
  Tensor,
  Upsample1D,
  type Call,
  TorchletError,
  init,
  memory,
  serialize,
} from '../ts/index.js';
import { assertClose } from './compare.js';
import { expectError, randTensor, stateHash } from './helpers.js';
import { type VecCase, readVectors } from './vectors.js';

await init();

const cases = new Map(
  readVectors(readFileSync(new URL('./fixtures/sharing.txt', import.meta.url), 'utf8')).map((c) => [
    c.name,
    c,
  ]),
);

function t(c: VecCase, name: string): Tensor {
  const v = c.tensors.get(name);
  if (v === undefined) throw new Error(`${c.name}: no tensor ${name}`);
  return Tensor.from(v.values, v.shape);
}

function values(c: VecCase, name: string): Float32Array {
  return c.tensors.get(name)!.values;
}

/** Loads every `param.<name>` of the case into the module's parameter of that name. */
function loadParams(net: Module, c: VecCase): void {
  const names = [...c.tensors.keys()].filter((k) => k.startsWith('param.')).map((k) => k.slice(6));
  expect(net.parameters().map((p) => p.name)).toEqual(names);
  for (const p of net.parameters()) p.value.data.set(values(c, `param.${p.name}`));
}

function checkGrads(net: Module, c: VecCase, atol = 2e-6): void {
  for (const p of net.parameters())
    assertClose(p.grad.data, values(c, `grad.${p.name}`), 1e-5, atol, `${c.name} grad.${p.name}`);
}

const fixtureNets: Record<string, () => Module> = {
  tied_linear: () => {
    const lin = new Linear(5, 5);
    return new Sequential(lin, new ReLU(), lin);
  },
  self_chain: () => {
    const lin = new Linear(129, 129);
    return new Sequential(lin, lin);
  },
  reused_relu: () => {
    const relu = new ReLU();
    return new Sequential(new Linear(6, 8), relu, new Linear(8, 8), relu, new Linear(8, 3));
  },
};

describe('a module used at several positions matches PyTorch', () => {
  for (const [name, make] of Object.entries(fixtureNets)) {
    const atol = name === 'self_chain' ? 2e-5 : 2e-6;
    it(`${name}: forward, backward (accumulating) and the delta to the input`, () => {
      const c = cases.get(name)!;
      const net = make();
      loadParams(net, c);
      const x = t(c, 'x');
      const delta = t(c, 'delta');
      assertClose(net.forward(x).data, values(c, 'y'), 1e-5, atol, `${name} y`);
      net.zeroGrad();
      const dx = net.backward(delta);
      assertClose(dx.data, values(c, 'dx'), 1e-5, atol, `${name} dx`);
      checkGrads(net, c, atol);
      net.dispose();
    });

    it(`${name}: the overwriting backward (beta 0, Optim's) gives the same gradients`, () => {
      const c = cases.get(name)!;
      const net = make();
      loadParams(net, c);
      for (const p of net.parameters()) p.grad.data.fill(NaN); // beta 0 must never read them
      const x = t(c, 'x');
      net.forward(x);
      net.backwardUpdateGradient(x, t(c, 'delta'), 0);
      checkGrads(net, c, atol);
      net.dispose();
    });
  }

  it('parameters() lists a shared tensor once, so updateParameters and Optim step it once', () => {
    const c = cases.get('tied_linear')!;
    const net = fixtureNets.tied_linear!();
    loadParams(net, c);
    expect(net.parameters().map((p) => p.name)).toEqual(['0.weight', '0.bias']);
    const x = t(c, 'x');
    net.forward(x);
    net.zeroGrad();
    net.backward(t(c, 'delta'));
    net.updateParameters(0.1);
    const w = values(c, 'param.0.weight');
    const g = values(c, 'grad.0.weight');
    assertClose(
      net.parameters()[0]!.value.data,
      w.map((v, i) => v - 0.1 * g[i]!),
      1e-5,
      2e-6,
      'stepped once',
    );
    net.dispose();
  });

  it("a shared encoder in two networks accumulates both networks' gradients", () => {
    const c = cases.get('shared_encoder')!;
    const encLinear = new Linear(6, 4);
    const enc = new Sequential(encLinear, new TanH());
    const head1 = new Linear(4, 3);
    const head2 = new Linear(4, 2);
    const net1 = new Sequential(enc, head1);
    const net2 = new Sequential(enc, head2);
    encLinear.weight.data.set(values(c, 'param.enc.weight'));
    encLinear.bias.data.set(values(c, 'param.enc.bias'));
    head1.weight.data.set(values(c, 'param.head1.weight'));
    head1.bias.data.set(values(c, 'param.head1.bias'));
    head2.weight.data.set(values(c, 'param.head2.weight'));
    head2.bias.data.set(values(c, 'param.head2.bias'));
    const [x1, x2] = [t(c, 'x1'), t(c, 'x2')];
    // Both forwards first: each network keeps its own record of what the encoder saw.
    const y1 = net1.forward(x1).clone();
    const y2 = net2.forward(x2);
    assertClose(y1.data, values(c, 'y1'), 1e-5, 2e-6, 'y1');
    assertClose(y2.data, values(c, 'y2'), 1e-5, 2e-6, 'y2');
    enc.zeroGrad();
    head1.zeroGrad();
    head2.zeroGrad();
    assertClose(net1.backward(t(c, 'delta1')).data, values(c, 'dx1'), 1e-5, 2e-6, 'dx1');
    assertClose(net2.backward(t(c, 'delta2')).data, values(c, 'dx2'), 1e-5, 2e-6, 'dx2');
    assertClose(
      encLinear.gradWeight.data,
      values(c, 'grad.enc.weight'),
      1e-5,
      2e-6,
      'grad.enc.weight',
    );
    assertClose(encLinear.gradBias.data, values(c, 'grad.enc.bias'), 1e-5, 2e-6, 'grad.enc.bias');
    assertClose(
      head1.gradWeight.data,
      values(c, 'grad.head1.weight'),
      1e-5,
      2e-6,
      'grad.head1.weight',
    );
    assertClose(
      head2.gradWeight.data,
      values(c, 'grad.head2.weight'),
      1e-5,
      2e-6,
      'grad.head2.weight',
    );
    net1.dispose();
    head2.dispose();
  });
});

describe('nothing stale is read', () => {
  it("a direct forward of a layer between a network's forward and backward changes nothing in it", () => {
    const make = (): { net: Sequential; conv: Conv1D } => {
      const conv = new Conv1D(1, 1, 1, 1, { rng: new Rng(6) });
      const lin = new Linear(32, 2, { rng: new Rng(5) });
      return { net: new Sequential(conv, new MaxPool1D(2), new Flatten(), lin), conv };
    };
    const x = randTensor([64, 64, 1], 1);
    const d = randTensor([64, 2], 2);
    const canaries = Array.from({ length: 200 }, (_, i) => randTensor([17], 100 + i));
    const before = canaries.map((c) => c.toArray());
    const a = make();
    a.net.forward(x);
    a.net.zeroGrad();
    const dxA = a.net.backward(d).toArray();
    const b = make();
    b.net.forward(x);
    b.conv.forward(randTensor([1, 64, 1], 3)); // the issue's reproduction: a smaller batch in between
    b.net.zeroGrad();
    const dxB = b.net.backward(d).toArray();
    expect(dxB).toEqual(dxA);
    expect(stateHash(b.net)).toBe(stateHash(a.net));
    canaries.forEach((c, i) => expect(c.toArray()).toEqual(before[i]));
    a.net.dispose();
    b.net.dispose();
  });

  it("a backward on another input than the last forward's throws STALE and changes nothing", () => {
    const net = new Sequential(new Linear(4, 3), new TanH());
    const x = randTensor([2, 4], 1);
    net.forward(x);
    const [other, d, small, fresh] = [
      randTensor([2, 4], 2),
      randTensor([2, 3], 3),
      randTensor([1, 2], 1),
      new Linear(2, 2),
    ];
    const relu = new ReLU();
    const hash = stateHash(net);
    const live = memory().liveBytes;
    expectError(
      () => net.backwardUpdateGradient(other, d),
      'STALE',
      /^Sequential\.backwardUpdateGradient: expected the input of this module's last forward, got another tensor/,
    );
    expectError(() => net.backwardDelta(other, d), 'STALE', /call forward\(input\) first/);
    expectError(() => fresh.backwardDelta(small, small), 'STALE', /got no forward yet/);
    expectError(
      () => relu.backward(small),
      'STALE',
      /^ReLU\.backward: expected a forward pass first/,
    );
    expect(stateHash(net)).toBe(hash);
    expect(memory().liveBytes).toBe(live);
    net.dispose();
  });

  it("a forward's output that the next forward overwrote throws OVERWRITTEN when read; clone() keeps it", () => {
    const net = new Sequential(new Linear(3, 2));
    const a = randTensor([2, 3], 1);
    const b = randTensor([2, 3], 2);
    const ya = net.forward(a);
    const kept = ya.clone();
    const yb = net.forward(b);
    expect(ya).not.toBe(yb);
    expectError(
      () => ya.data,
      'OVERWRITTEN',
      /a later Linear\.forward overwrote; copy results you keep with clone\(\) or toArray\(\)/,
    );
    expectError(() => ya.toArray(), 'OVERWRITTEN', /clone\(\)/);
    expectError(() => net.forward(ya), 'OVERWRITTEN', /^Sequential\.forward: input: /);
    expect(yb.data.length).toBe(4);
    expect(kept.toArray()).not.toEqual(yb.toArray());
    expect(Array.from(kept.data)).toEqual(Array.from(net.forward(a).data));
    kept.dispose();
    net.dispose();
  });

  it('a view of an overwritten output (Flatten, reshape) is overwritten too', () => {
    const net = new Sequential(new Conv1D(2, 1, 2), new Flatten());
    const y = net.forward(randTensor([2, 5, 1], 1));
    const r = y.reshape([2, 2, 4]);
    net.forward(randTensor([2, 5, 1], 2));
    expectError(() => y.data, 'OVERWRITTEN', /a later Flatten\.forward overwrote/);
    expectError(() => r.data, 'OVERWRITTEN', /a later Flatten\.forward overwrote/);
    net.dispose();
  });

  it('outputs and deltas leaving nested containers are fresh each call; those between layers are reused', () => {
    const inner = new Sequential(new Linear(3, 4), new ReLU());
    const net = new Sequential(inner, new Linear(4, 2), new Flatten());
    const [a, b] = [randTensor([2, 3], 1), randTensor([2, 3], 2)];
    const d = randTensor([2, 2], 3);
    const ya = net.forward(a);
    const dxa = net.backward(d);
    const yb = net.forward(b);
    const dxb = net.backward(d);
    expect([ya === yb, dxa === dxb, ya.overwritten, dxa.overwritten]).toEqual([
      false,
      false,
      true,
      true,
    ]);
    expectError(() => dxa.data, 'OVERWRITTEN', /a later Linear\.backward overwrote/);
    // The same numbers as a network that never reused anything.
    const fresh = new Sequential(
      new Sequential(new Linear(3, 4), new ReLU()),
      new Linear(4, 2),
      new Flatten(),
    );
    fresh.parameters().forEach((p, i) => p.value.data.set(net.parameters()[i]!.value.data));
    expect(fresh.forward(b).toArray()).toEqual(yb.toArray());
    expect(fresh.backward(d).toArray()).toEqual(dxb.toArray());
    net.dispose();
    fresh.dispose();
  });

  it('a disposed module inside a network makes the network throw DISPOSED before any kernel runs', () => {
    const relu = new ReLU();
    const net = new Sequential(new Linear(2, 2), relu);
    const x = randTensor([1, 2], 1);
    net.forward(x);
    relu.dispose();
    expectError(() => net.forward(x), 'DISPOSED', /^Sequential\.forward: expected a live module/);
    expectError(() => net.backward(randTensor([1, 2], 2)), 'DISPOSED', /^Sequential\.backward/);
    expectError(() => relu.forward(x), 'DISPOSED', /^ReLU\.forward/);
    net.dispose();
  });
});

describe('a layer written by a user', () => {
  /** y = x ⊙ g per feature, g learned: the README's example layer, written against the public hooks. */
  class Scale extends Module {
    readonly gain: Tensor;
    readonly gradGain: Tensor;
    constructor(readonly features: number) {
      super();
      this.gain = Tensor.from(
        Array.from({ length: features }, (_, i) => 1 + i / 10),
        [features],
      );
      this.gradGain = Tensor.zeros([features]);
    }
    override parameters() {
      return [{ name: 'gain', value: this.gain, grad: this.gradGain }];
    }
    outputShape(s: readonly number[]): number[] {
      return [...s];
    }
    protected updateOutput({ input, output }: Call): void {
      const [x, y, g] = [input.data, output.data, this.gain.data];
      for (let i = 0; i < x.length; i++) y[i] = x[i]! * g[i % this.features]!;
    }
    protected updateGradInput(_call: Call, delta: Tensor, gradInput: Tensor): void {
      const [d, dx, g] = [delta.data, gradInput.data, this.gain.data];
      for (let i = 0; i < d.length; i++) dx[i] = d[i]! * g[i % this.features]!;
    }
    protected override accGradParameters({ input }: Call, delta: Tensor, beta: 0 | 1): void {
      const [x, d, gg] = [input.data, delta.data, this.gradGain.data];
      if (beta === 0) gg.fill(0);
      for (let i = 0; i < x.length; i++) gg[i % this.features]! += x[i]! * d[i]!;
    }
  }

  it('trains in a Sequential through the same hooks as the built-in layers, used twice', () => {
    const scale = new Scale(3);
    const net = new Sequential(new Linear(3, 3), scale, new TanH(), scale);
    const x = randTensor([4, 3], 1);
    const y = Tensor.from([0, 1, 2, 1], [4]);
    const optim = new Optim(net, new LogSoftmaxCrossEntropy(), 0.1);
    const first = optim.step(x, y);
    let last = first;
    for (let i = 0; i < 50; i++) last = optim.step(x, y);
    expect(last).toBeLessThan(first);
    expect(net.parameters().map((p) => p.name)).toEqual(['0.weight', '0.bias', '1.gain']);
    net.dispose();
  });
});

// Issue 12, the layer side of "validate, then act": a throw changes nothing, ever. Each test
// allocates canary tensors before and after the module under attack and checks their values, the
// live bytes, the WASM size and a hash of every parameter and gradient after the throw.
interface Canary {
  tensor: Tensor;
  values: Float32Array;
}

function canaries(seed: number): Canary[] {
  return [0, 1].map((i) => {
    const tensor = randTensor([129], seed + i);
    return { tensor, values: tensor.toArray() };
  });
}

/** Runs `f`, expects a TorchletError `code`, and that nothing changed: state, memory, canaries. */
function expectNoChange(m: Module, cs: Canary[], f: () => unknown, code: string, re: RegExp): void {
  const hash = m.disposed ? 'disposed' : stateHash(m);
  const before = memory();
  expectError(f, code, re);
  expect(memory()).toEqual(before);
  expect(m.disposed ? 'disposed' : stateHash(m)).toBe(hash);
  for (const c of cs) expect(c.tensor.toArray()).toEqual(c.values);
}

describe('issue 12: a disposed module throws DISPOSED from every verb', () => {
  const verbs: [string, (m: Module, x: Tensor, d: Tensor) => unknown][] = [
    ['forward', (m, x) => m.forward(x)],
    ['backward', (m, _x, d) => m.backward(d)],
    ['backwardDelta', (m, x, d) => m.backwardDelta(x, d)],
    ['backwardUpdateGradient', (m, x, d) => m.backwardUpdateGradient(x, d)],
    ['zeroGrad', (m) => m.zeroGrad()],
    ['updateParameters', (m) => m.updateParameters(0.1)],
  ];
  const modules: [string, () => Module, number[]][] = [
    ['MaxPool1D', () => new MaxPool1D(2), [2, 4, 2]],
    ['MaxPool2D', () => new MaxPool2D(2, 2), [2, 4, 4, 2]],
    ['ReLU', () => new ReLU(), [2, 4, 2]],
    ['Flatten', () => new Flatten(), [2, 4, 2]],
    ['Sequential', () => new Sequential(new ReLU(), new Flatten()), [2, 4, 2]],
    ['Linear', () => new Linear(3, 2), [2, 3]],
  ];
  for (const [name, make, shape] of modules) {
    it(`${name}: after dispose(), each verb throws and the heap around it is intact`, () => {
      const before = canaries(1);
      const m = make();
      const x = randTensor(shape, 2);
      const y = m.forward(x);
      const d = randTensor([...y.shape], 3);
      m.dispose();
      const after = canaries(5);
      for (const [verb, f] of verbs) {
        expectNoChange(
          m,
          [...before, ...after],
          () => f(m, x, d),
          'DISPOSED',
          new RegExp(`^${name}\\.${verb}: expected a live module, got a disposed one`),
        );
      }
      m.dispose(); // idempotent: frees nothing twice
      expect(after[0]!.tensor.toArray()).toEqual(after[0]!.values);
    });
  }

  it("MaxPool1D's reproduction: a larger forward after dispose, with allocations between", () => {
    const p = new MaxPool1D(2);
    p.forward(Tensor.zeros([2, 4, 2]));
    p.dispose();
    const cs = canaries(11); // reuses the freed blocks
    const x = Tensor.zeros([2, 64, 2]);
    expectNoChange(
      p,
      cs,
      () => p.forward(x),
      'DISPOSED',
      /^MaxPool1D\.forward: expected a live module/,
    );
  });

  it('a Sequential whose child was disposed elsewhere throws DISPOSED too', () => {
    const relu = new ReLU();
    const net = new Sequential(new Linear(3, 3), relu);
    const x = randTensor([2, 3], 1);
    net.forward(x);
    relu.dispose();
    expectNoChange(
      net,
      canaries(3),
      () => net.forward(x),
      'DISPOSED',
      /^Sequential\.forward: expected a live module/,
    );
  });
});

describe('issue 12: a tensor the call would overwrite is refused before anything runs', () => {
  it("forward of a module's own kept output (in place) throws BAD_ARGUMENT; the pairing survives", () => {
    const relu = new ReLU();
    const x = Tensor.from([1, -2, 3, -4], [2, 2]);
    const y = relu.forward(x);
    expectNoChange(
      relu,
      canaries(1),
      () => relu.forward(y),
      'BAD_ARGUMENT',
      /^ReLU\.forward: expected an input this call does not write, got one sharing memory/,
    );
    expect(Array.from(y.toArray())).toEqual([1, 0, 3, 0]);
    const dx = relu.backward(Tensor.from([1, 1, 1, 1], [2, 2]));
    expect(Array.from(dx.toArray())).toEqual([1, 0, 1, 0]);
  });

  it('a Sequential fed its own output through a trailing Reshape (aliasing an inner buffer)', () => {
    const net = new Sequential(new Linear(4, 4, { rng: new Rng(1) }), new Reshape(4));
    const y = net.forward(randTensor([3, 4], 2));
    const kept = y.toArray();
    expectNoChange(
      net,
      canaries(2),
      () => net.forward(y),
      'BAD_ARGUMENT',
      /^Sequential\.forward: expected an input this call does not write/,
    );
    expect(y.toArray()).toEqual(kept);
  });

  it('backward with its own last dL/dx as delta throws before any gradient moves', () => {
    const fc = new Linear(2, 2, { rng: new Rng(1) });
    const x = randTensor([3, 2], 2);
    fc.forward(x);
    const dx = fc.backward(randTensor([3, 2], 3));
    expectNoChange(
      fc,
      canaries(4),
      () => fc.backward(dx),
      'BAD_ARGUMENT',
      /^Linear\.backward: expected a delta this call does not write/,
    );
  });

  it('backward with a parameter gradient as delta throws before any gradient moves', () => {
    const fc = new Linear(2, 2, { rng: new Rng(1) });
    fc.forward(randTensor([2, 2], 2));
    expectNoChange(
      fc,
      canaries(4),
      () => fc.backward(fc.gradWeight),
      'BAD_ARGUMENT',
      /^Linear\.backward: expected a delta this call does not write, got one sharing memory with a parameter gradient/,
    );
  });
});

describe('issue 12: the steady state (a repeated shape reserves nothing) still refuses shared memory', () => {
  it('after training steps, its own output as input and a gradient as delta are refused', () => {
    const fc = new Linear(4, 4, { rng: new Rng(1) });
    const net = new Sequential(fc, new ReLU());
    const x = randTensor([4, 4], 1);
    const d = randTensor([4, 4], 2);
    for (let i = 0; i < 3; i++) {
      net.forward(x);
      net.backward(d);
    }
    const y = net.forward(x);
    expectNoChange(
      net,
      canaries(5),
      () => net.forward(y),
      'BAD_ARGUMENT',
      /^Sequential\.forward: expected an input this call does not write/,
    );
    const dx = net.backward(d);
    net.forward(x);
    expectNoChange(
      net,
      canaries(6),
      () => net.backward(fc.gradWeight),
      'BAD_ARGUMENT',
      /^Sequential\.backward: expected a delta this call does not write, got one sharing memory with a parameter gradient/,
    );
    expect(dx.overwritten).toBe(false);
    expect(net.backward(d).shape).toEqual([4, 4]);
  });
});

describe('issue 12: a forward that does not fit changes nothing (reserve, then compute)', () => {
  const make = (): Sequential =>
    new Sequential(
      new Linear(16, 16, { rng: new Rng(7) }),
      new Reshape(16, 1),
      new Upsample1D(65536),
    );

  it('Sequential(Linear, Reshape, Upsample1D(65536)): OUT_OF_MEMORY before the Linear re-runs; the backward still pairs', () => {
    const net = make();
    const x1 = randTensor([1, 16], 1);
    const y1 = net.forward(x1);
    const kept = y1.toArray();
    const big = randTensor([1024, 16], 2);
    expectNoChange(
      net,
      canaries(3),
      () => net.forward(big),
      'OUT_OF_MEMORY',
      /^Sequential\.forward: expected a buffer below 2 GiB \(the most one wasm32 allocation holds\), got 1073741824 elements/,
    );
    expect(y1.toArray()).toEqual(kept);
    // The backward pairs with the first forward: the same as on a twin that never saw the throw.
    const d = randTensor([1, 16 * 65536, 1], 4);
    const dx = net.backward(d).toArray();
    const twin = make();
    twin.forward(x1);
    expect(dx).toEqual(twin.backward(d).toArray());
    expect(stateHash(net)).toBe(stateHash(twin));
  });

  it('buffers each below 2 GiB but past 4 GiB together: OUT_OF_MEMORY before any allocation', () => {
    const net = new Sequential(
      new Linear(16, 16),
      new Reshape(16, 1),
      new Upsample1D(32000), // 2.05 GB of output at batch 1024, and each ReLU as much again
      new ReLU(),
      new ReLU(),
    );
    net.forward(randTensor([1, 16], 1));
    const big = randTensor([1024, 16], 2);
    expectNoChange(
      net,
      canaries(3),
      () => net.forward(big),
      'OUT_OF_MEMORY',
      /^Sequential\.forward: expected buffers that fit in 4 GiB of WASM memory, got \d+ bytes needed/,
    );
  });

  it('an allocation failing midway frees the blocks reserved before it and changes nothing', () => {
    const net = new Sequential(new Linear(4, 8, { rng: new Rng(1) }), new ReLU(), new Linear(8, 2));
    const x1 = randTensor([2, 4], 1);
    const y1 = net.forward(x1);
    const kept = y1.toArray();
    const x2 = randTensor([64, 4], 2);
    const cs = canaries(3);
    let calls = 0;
    const real = Tensor.zeros.bind(Tensor);
    const spy = vi.spyOn(Tensor, 'zeros').mockImplementation((shape) => {
      calls += 1;
      if (calls === 2) throw new TorchletError('OUT_OF_MEMORY', 'Tensor.zeros: simulated');
      return real(shape);
    });
    try {
      expectNoChange(net, cs, () => net.forward(x2), 'OUT_OF_MEMORY', /simulated/);
    } finally {
      spy.mockRestore();
    }
    expect(calls).toBe(2);
    expect(y1.toArray()).toEqual(kept);
    net.backward(randTensor([2, 2], 4)); // pairs with the first forward
    expect(net.forward(x2).shape).toEqual([64, 2]);
  });

  it('a backward whose buffers do not fit throws before any gradient is written', () => {
    const net = new Sequential(new Linear(4, 8, { rng: new Rng(1) }), new ReLU(), new Linear(8, 2));
    const x = randTensor([2, 4], 1);
    net.forward(x);
    const d = randTensor([2, 2], 2);
    const cs = canaries(3);
    let calls = 0;
    const real = Tensor.zeros.bind(Tensor);
    const spy = vi.spyOn(Tensor, 'zeros').mockImplementation((shape) => {
      calls += 1;
      if (calls === 2) throw new TorchletError('OUT_OF_MEMORY', 'Tensor.zeros: simulated');
      return real(shape);
    });
    try {
      expectNoChange(net, cs, () => net.backward(d), 'OUT_OF_MEMORY', /simulated/);
    } finally {
      spy.mockRestore();
    }
    expect(calls).toBe(2); // the two deltas between the three layers, reserved up front
    net.backward(d);
  });

  it('a training loop allocates no WASM memory per step after the first', () => {
    const net = new Sequential(new Linear(8, 16), new ReLU(), new Linear(16, 4));
    const optim = new Optim(net, new LogSoftmaxCrossEntropy(), 0.1);
    const x = randTensor([32, 8], 1);
    const y = Tensor.from(Array.from({ length: 32 }, (_, i) => i % 4));
    optim.step(x, y);
    const after = memory();
    for (let i = 0; i < 20; i++) optim.step(x, y);
    expect(memory()).toEqual(after);
  });
});

describe('found by the fuzzer', () => {
  it('a zero-size inner dimension gives an empty output, not a TypeError (F6)', () => {
    const relu = new ReLU();
    const x = Tensor.zeros([3, 0]);
    expect(relu.forward(x).shape).toEqual([3, 0]);
    expect(relu.backwardDelta(x, Tensor.zeros([3, 0])).shape).toEqual([3, 0]);
    const up = new Upsample1D(2);
    expect(up.forward(Tensor.zeros([2, 0, 2])).shape).toEqual([2, 0, 2]);
  });

  it('serialize of a disposed module throws DISPOSED naming serialize (F1)', () => {
    for (const m of [
      new ReLU(),
      new Flatten(),
      new MaxPool1D(2),
      new Sequential(new ReLU()),
      new Linear(2, 2),
    ]) {
      m.dispose();
      expectError(
        () => serialize(m),
        'DISPOSED',
        /^serialize: expected a live module, got a disposed one/,
      );
    }
  });
});
