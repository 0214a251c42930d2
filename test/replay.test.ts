// The seam's replays (issue 13, "fast from the first epoch"): a public forward, backward or loss
// call that repeats the call validated last time (the same input tensor, a delta at the same
// address, the same target tensor, nothing freed or grown since) skips its validation and
// reservation. Each test here changes one thing a replay depends on and checks that the call is
// validated again: it throws what the full check throws and changes nothing, or it computes what
// a network that never replays computes (the reference gets a fresh tensor every call, so it
// always takes the full path).
import { describe, expect, it } from 'vitest';
import {
  BCELoss,
  Linear,
  LogSoftmaxCrossEntropy,
  MSELoss,
  type Module,
  ReLU,
  Rng,
  Sequential,
  Tensor,
  init,
} from '../ts/index.js';
import { expectError, randTensor, stateHash } from './helpers.js';

await init();

function mlp(seed: number): Sequential {
  const rng = new Rng(seed);
  return new Sequential(new Linear(4, 6, { rng }), new ReLU(), new Linear(6, 3, { rng }));
}

const LABELS = [0, 2, 1, 2, 0];

/** One Optim-style step (forward, loss and its gradient, backward with beta 0, SGD update). */
function step(net: Module, loss: LogSoftmaxCrossEntropy, x: Tensor, y: Tensor): number {
  const yhat = net.forward(x);
  const { loss: value, gradient } = loss.forwardBackward(y, yhat);
  net.backwardUpdateGradient(x, gradient!, 0);
  net.updateParameters(0.1);
  return value;
}

/** The same step on copies of x and y: every call sees new tensors, so nothing is replayed. */
function freshStep(net: Module, loss: LogSoftmaxCrossEntropy, x: Tensor, y: Tensor): number {
  const [xc, yc] = [x.clone(), y.clone()];
  const value = step(net, loss, xc, yc);
  xc.dispose();
  yc.dispose();
  return value;
}

describe('replayed steps compute what validated steps compute', () => {
  it('a training loop on one batch tensor: bit-identical losses, weights and gradients', () => {
    const [a, b] = [mlp(1), mlp(1)];
    const [la, lb] = [new LogSoftmaxCrossEntropy(), new LogSoftmaxCrossEntropy()];
    const x = randTensor([5, 4], 2);
    const y = Tensor.from(LABELS);
    for (let i = 0; i < 6; i++) {
      // New values in the same tensors each step, as a loop that gathers its batches does.
      x.data.set(randTensor([5, 4], 10 + i).toArray());
      expect(step(a, la, x, y)).toBe(freshStep(b, lb, x, y));
    }
    expect(stateHash(a)).toBe(stateHash(b));
  });

  it('batches as new tensors over one buffer, with a last partial batch (as sgd hands them out)', () => {
    const [a, b] = [mlp(21), mlp(21)];
    const [la, lb] = [new LogSoftmaxCrossEntropy(), new LogSoftmaxCrossEntropy()];
    const xs = Tensor.zeros([5, 4]);
    const ys = Tensor.zeros([5]);
    for (let epoch = 0; epoch < 3; epoch++) {
      for (const rows of [5, 5, 3]) {
        const x = xs.rows(0, rows);
        const y = ys.rows(0, rows);
        x.data.set(randTensor([rows, 4], 40 + epoch * 7 + rows).toArray());
        y.data.set(LABELS.slice(0, rows).map((l) => (l + epoch) % 3));
        expect(step(a, la, x, y)).toBe(freshStep(b, lb, x, y));
      }
    }
    expect(stateHash(a)).toBe(stateHash(b));
    // A tensor at a validated address and shape still answers for itself.
    const x = xs.rows(0, 5);
    x.data[0] = NaN;
    expectError(() => a.forward(xs.rows(0, 5)), 'NON_FINITE', /NaN at flat index 0/);
    x.data[0] = 1;
    const view = xs.rows(0, 5);
    xs.markOverwritten('Test.write');
    expectError(() => a.forward(view), 'OVERWRITTEN', /Sequential\.forward: input: .*Test\.write/);
  });

  it('a module used elsewhere between steps (directly, and in another network) changes nothing', () => {
    const [a, b] = [mlp(3), mlp(3)];
    const [la, lb] = [new LogSoftmaxCrossEntropy(), new LogSoftmaxCrossEntropy()];
    const x = randTensor([5, 4], 4);
    const y = Tensor.from(LABELS);
    const other = new Sequential(a.modules[0]!, new ReLU());
    const otherB = new Sequential(b.modules[0]!, new ReLU());
    for (let i = 0; i < 4; i++) {
      expect(step(a, la, x, y)).toBe(freshStep(b, lb, x, y));
      const z = randTensor([2, 4], 20 + i);
      for (const [m, o] of [
        [a, other],
        [b, otherB],
      ] as const) {
        m.modules[0]!.forward(z);
        o.forward(z);
        o.backwardUpdateGradient(z, randTensor([2, 6], 30 + i));
      }
    }
    expect(stateHash(a)).toBe(stateHash(b));
  });

  it('switching backward verbs on the same call validates what the new verb writes', () => {
    const [a, b] = [mlp(5), mlp(5)];
    const x = randTensor([5, 4], 6);
    const delta = randTensor([5, 3], 7);
    const xb = x.clone();
    a.forward(x);
    b.forward(xb);
    a.backwardUpdateGradient(x, delta, 0);
    a.backwardUpdateGradient(x, delta);
    const dxA = a.backwardDelta(x, delta).toArray();
    const dxA2 = a.backward(delta).toArray();
    b.backwardUpdateGradient(xb, delta.clone(), 0);
    b.backwardUpdateGradient(xb, delta.clone());
    expect(dxA).toEqual(b.backwardDelta(xb, delta.clone()).toArray());
    expect(dxA2).toEqual(b.backward(delta.clone()).toArray());
    expect(stateHash(a)).toBe(stateHash(b));
  });
});

describe('a replayed forward is validated again when its input changes', () => {
  function replaying(): { net: Sequential; x: Tensor } {
    const net = mlp(8);
    const x = randTensor([5, 4], 9);
    net.forward(x);
    net.forward(x);
    return { net, x };
  }

  it('non-finite values written into the same tensor: NON_FINITE, nothing changed', () => {
    const { net, x } = replaying();
    const out = net.forward(x);
    const kept = out.toArray();
    const before = stateHash(net);
    x.data[6] = NaN;
    expectError(() => net.forward(x), 'NON_FINITE', /Sequential\.forward: .*NaN at flat index 6/);
    expect(out.toArray()).toEqual(kept);
    expect(stateHash(net)).toBe(before);
  });

  it('the same tensor disposed, or overwritten by the module that made it', () => {
    const { net, x } = replaying();
    x.dispose();
    expectError(() => net.forward(x), 'DISPOSED', /Sequential\.forward: .*disposed/);
    const maker = new Linear(3, 4, { rng: new Rng(1) });
    const made = maker.forward(randTensor([5, 3], 1));
    net.forward(made);
    net.forward(made);
    const view = made.rows(1, 3);
    net.forward(view);
    net.forward(view);
    maker.forward(randTensor([5, 3], 2));
    expectError(() => net.forward(made), 'OVERWRITTEN', /Linear\.forward overwrote/);
    expectError(() => net.forward(view), 'OVERWRITTEN', /Linear\.forward overwrote/);
  });

  it('a new tensor: another batch size runs, a bad shape throws, its own output is refused', () => {
    const { net, x } = replaying();
    expect(net.forward(randTensor([2, 4], 1)).shape).toEqual([2, 3]);
    expectError(() => net.forward(randTensor([2, 5], 1)), 'SHAPE_MISMATCH', /Sequential\[0\]/);
    const sq = new Sequential(new Linear(4, 4, { rng: new Rng(2) }), new ReLU());
    const y = sq.forward(x);
    sq.forward(x);
    expectError(() => sq.forward(sq.forward(x)), 'BAD_ARGUMENT', /sharing memory/);
    expect(y.overwritten).toBe(true);
    expect(net.forward(x).shape).toEqual([5, 3]);
  });

  it('a module disposed, or a module inside it: DISPOSED', () => {
    const { net, x } = replaying();
    net.modules[1]!.dispose();
    expectError(() => net.forward(x), 'DISPOSED', /Sequential\.forward: expected a live module/);
    const lin = new Linear(4, 2, { rng: new Rng(3) });
    lin.forward(x);
    lin.forward(x);
    lin.dispose();
    expectError(() => lin.forward(x), 'DISPOSED', /Linear\.forward: expected a live module/);
  });
});

describe('a replayed backward is validated again when its call changes', () => {
  function replaying(): { net: Sequential; x: Tensor; delta: Tensor } {
    const net = mlp(11);
    const x = randTensor([5, 4], 12);
    const delta = randTensor([5, 3], 13);
    net.forward(x);
    net.backwardUpdateGradient(x, delta, 0);
    net.forward(x);
    net.backwardUpdateGradient(x, delta, 0);
    return { net, x, delta };
  }

  it('a non-finite delta at the same address: NON_FINITE, gradients unchanged', () => {
    const { net, x, delta } = replaying();
    net.forward(x);
    const before = stateHash(net);
    delta.data[4] = Infinity;
    expectError(
      () => net.backwardUpdateGradient(x, delta, 0),
      'NON_FINITE',
      /Sequential\.backwardUpdateGradient: expected finite delta, got Infinity at flat index 4/,
    );
    expect(stateHash(net)).toBe(before);
  });

  it('a delta elsewhere: one sharing a parameter gradient is refused', () => {
    const { net, x } = replaying();
    net.forward(x);
    const before = stateHash(net);
    const last = net.modules[2] as Linear;
    // gradWeight is [6, 3]: its first 5 rows have the delta's shape.
    const shared = last.gradWeight.rows(0, 5);
    expectError(
      () => net.backwardUpdateGradient(x, shared, 0),
      'BAD_ARGUMENT',
      /sharing memory with a parameter gradient/,
    );
    expect(stateHash(net)).toBe(before);
    expectError(
      () => net.backwardUpdateGradient(x, randTensor([5, 4], 1)),
      'SHAPE_MISMATCH',
      /delta \[5, 3\]/,
    );
  });

  it('a later forward on another input, or the output freed: STALE', () => {
    const { net, x, delta } = replaying();
    net.forward(randTensor([5, 4], 14));
    expectError(() => net.backwardUpdateGradient(x, delta, 0), 'STALE', /a later forward/);
    net.forward(x).dispose();
    expectError(() => net.backwardUpdateGradient(x, delta, 0), 'STALE', /overwritten or freed/);
    net.forward(x);
    delta.dispose();
    expectError(() => net.backwardUpdateGradient(x, delta, 0), 'DISPOSED', /delta/);
  });
});

describe('a replayed loss call is validated again when its call changes', () => {
  function replaying<L extends LogSoftmaxCrossEntropy | BCELoss | MSELoss>(
    loss: L,
    yValues: number[],
    yShape: number[],
  ): { loss: L; y: Tensor; yhat: Tensor } {
    const yhat = Tensor.from(
      Array.from({ length: 15 }, (_, i) => 0.05 + i / 20),
      [5, 3],
    );
    const y = Tensor.from(yValues, yShape);
    loss.forwardBackward(y, yhat);
    loss.forwardBackward(y, yhat);
    return { loss, y, yhat };
  }

  it('labels changed in the same tensor: out of range or fractional, LABEL_OUT_OF_RANGE', () => {
    const { loss, y, yhat } = replaying(new LogSoftmaxCrossEntropy(), LABELS, [5]);
    const want = loss.forward(y, yhat);
    y.data[3] = 3;
    expectError(
      () => loss.forwardBackward(y, yhat),
      'LABEL_OUT_OF_RANGE',
      /LogSoftmaxCrossEntropy\.forward: label 3 out of range \[0, 3\) at y\[3\]/,
    );
    y.data[3] = 1.5;
    expectError(() => loss.backward(y, yhat), 'LABEL_OUT_OF_RANGE', /label 1\.5 .* at y\[3\]/);
    y.data[3] = -1;
    expectError(() => loss.forward(y, yhat), 'LABEL_OUT_OF_RANGE', /label -1 /);
    y.data[3] = 2;
    expect(loss.forward(y, yhat)).toBe(want);
    expect(loss.forward(y, yhat)).toBe(new LogSoftmaxCrossEntropy().forward(y.clone(), yhat));
  });

  it('non-finite or out-of-range predictions, a freed target, another shape', () => {
    const { loss, y, yhat } = replaying(new BCELoss(), Array(15).fill(0.5), [5, 3]);
    yhat.data[2] = 1.5;
    expectError(() => loss.forward(y, yhat), 'BAD_ARGUMENT', /yhat \(probabilities\)/);
    yhat.data[2] = NaN;
    expectError(() => loss.forward(y, yhat), 'NON_FINITE', /yhat, got NaN at flat index 2/);
    yhat.data[2] = 0.5;
    y.data[1] = NaN;
    expectError(() => loss.forward(y, yhat), 'NON_FINITE', /finite y, got NaN at flat index 1/);
    y.dispose();
    expectError(() => loss.forward(y, yhat), 'DISPOSED', /y to be a live tensor/);
    const { loss: mse, y: t, yhat: p } = replaying(new MSELoss(), Array(15).fill(0.5), [5, 3]);
    const [t2, p2] = [t.rows(0, 2), p.rows(0, 2)];
    expect(mse.forward(t2, p2)).toBe(new MSELoss().forward(t2.clone(), p2.clone()));
    expectError(() => mse.forward(t, p.reshape([3, 5])), 'SHAPE_MISMATCH', /expected y \[3, 5\]/);
  });
});
