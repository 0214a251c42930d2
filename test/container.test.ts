// Sequential: chaining, parameters, gradCheck through the whole chain, backward, errors that
// name the position and change nothing.
import { describe, expect, it } from 'vitest';
import {
  Linear,
  ReLU,
  Rng,
  Sequential,
  Sigmoid,
  Softmax,
  TanH,
  gradCheck,
  init,
} from '../ts/index.js';
import { expectError, expectGradOk, randTensor, stateHash } from './helpers.js';

await init();

function net(seed: number): Sequential {
  const rng = new Rng(seed);
  return new Sequential(
    new Linear(6, 5, { rng }),
    new TanH(),
    new Linear(5, 4, { rng }),
    new Sigmoid(),
    new Linear(4, 3, { rng }),
    new Softmax(),
  );
}

describe('Sequential', () => {
  it('names parameters by position', () => {
    expect(
      net(1)
        .parameters()
        .map((p) => p.name),
    ).toEqual(['0.weight', '0.bias', '2.weight', '2.bias', '4.weight', '4.bias']);
  });

  it('passes gradCheck through a mixed chain', () => {
    expectGradOk(gradCheck(net(2), randTensor([3, 6], 1)));
    const relu = new Sequential(
      new Linear(4, 7, { rng: new Rng(5) }),
      new ReLU(),
      new Linear(7, 2, { rng: new Rng(6) }),
    );
    expectGradOk(gradCheck(relu, randTensor([5, 4], 2)));
  });

  it('backward(delta) gives parameter gradients and the input delta of backwardUpdateGradient + backwardDelta', () => {
    const a = net(3);
    const b = net(3);
    const x = randTensor([4, 6], 3);
    const d = randTensor([4, 3], 4);
    a.forward(x);
    a.zeroGrad();
    const dxA = a.backward(d).toArray();
    b.forward(x);
    b.zeroGrad();
    b.backwardUpdateGradient(x, d);
    const dxB = b.backwardDelta(x, d).toArray();
    expect(Array.from(dxA)).toEqual(Array.from(dxB));
    expect(stateHash(a)).toBe(stateHash(b));
  });

  it('validates the whole chain before running, naming the position', () => {
    const bad = new Sequential(new Linear(6, 5), new ReLU(), new Linear(4, 2));
    const hash = stateHash(bad);
    expectError(
      () => bad.forward(randTensor([2, 6], 1)),
      'SHAPE_MISMATCH',
      /^Sequential\[2\] \(Linear\)\.forward: expected input \[batch, 4\], got \[2, 5\]$/,
    );
    expect(bad.modules[0]!.output).toBeNull(); // nothing ran
    expect(stateHash(bad)).toBe(hash);
  });

  it('rejects backward with another input than the last forward', () => {
    const n = net(4);
    n.forward(randTensor([2, 6], 1));
    expectError(
      () => n.backwardDelta(randTensor([2, 6], 2), randTensor([2, 3], 3)),
      'STALE',
      /expected the input of this module's last forward/,
    );
    expectError(
      () => new Sequential(new Linear(2, 2)).backward(randTensor([1, 2], 1)),
      'STALE',
      /expected a forward pass first/,
    );
  });

  it('takes its modules as arguments or as one array, of any length', () => {
    const layers = [new Linear(2, 3), new ReLU(), new Linear(3, 1)];
    const a = new Sequential(...layers);
    const b = new Sequential(layers);
    expect(b.modules).toEqual(a.modules);
    expect(String(b)).toBe('Sequential(Linear(2, 3) -> ReLU() -> Linear(3, 1))');
    expect(new Sequential(Array.from({ length: 100_000 }, () => new ReLU())).modules).toHaveLength(
      100_000,
    );
    expect(() => new Sequential([new ReLU(), 3 as never])).toThrow(
      /^Sequential: expected a Module at position 1, got number$/,
    );
  });
});
