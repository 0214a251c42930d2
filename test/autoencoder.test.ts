// AutoEncoder: forward = decoder(encoder(x)), latent = encoder alone, backward through both halves,
// named parameters, gradCheck, errors, training with Optim and sgd (the report's linear
// autoencoder halves its test reconstruction loss). Tolerances: gradCheck's defaults.
import { describe, expect, it } from 'vitest';
import {
  AutoEncoder,
  BCELoss,
  Linear,
  MSELoss,
  Optim,
  Rng,
  Sequential,
  Sigmoid,
  TanH,
  Tensor,
  evaluateLoss,
  gradCheck,
  init,
  loadDigits,
  preset,
  sgd,
} from '../ts/index.js';
import { expectError, expectGradOk, randTensor, stateHash } from './helpers.js';

await init();

function small(seed: number): AutoEncoder {
  const rng = new Rng(seed);
  return new AutoEncoder(
    new Sequential(new Linear(6, 4, { rng }), new TanH(), new Linear(4, 2, { rng }), new TanH()),
    new Sequential(new Linear(2, 4, { rng }), new TanH(), new Linear(4, 6, { rng }), new Sigmoid()),
  );
}

describe('AutoEncoder', () => {
  it('names parameters encoder.* then decoder.*', () => {
    expect(
      small(1)
        .parameters()
        .map((p) => p.name),
    ).toEqual([
      'encoder.0.weight',
      'encoder.0.bias',
      'encoder.2.weight',
      'encoder.2.bias',
      'decoder.0.weight',
      'decoder.0.bias',
      'decoder.2.weight',
      'decoder.2.bias',
    ]);
    expect(
      new AutoEncoder(new Linear(3, 2), new Linear(2, 3)).parameters().map((p) => p.name),
    ).toEqual(['encoder.weight', 'encoder.bias', 'decoder.weight', 'decoder.bias']);
  });

  it('forward is decoder(encoder(x)) and latent is the encoder alone', () => {
    const ae = small(2);
    const x = randTensor([3, 6], 1);
    const code = ae.encoder.forward(x).toArray();
    const expected = ae.decoder.forward(ae.encoder.output!).toArray();
    // The network's forward keeps its own record: the halves' direct outputs are untouched by it.
    const y = ae.forward(x);
    expect(y.shape).toEqual([3, 6]);
    expect(Array.from(y.data)).toEqual(Array.from(expected));
    const z = ae.latent(x);
    expect(z.shape).toEqual([3, 2]);
    expect(Array.from(z.data)).toEqual(Array.from(code));
    expect(ae.toString()).toBe(
      'AutoEncoder(Linear(6, 4) -> TanH() -> Linear(4, 2) -> TanH(), Linear(2, 4) -> TanH() -> Linear(4, 6) -> Sigmoid())',
    );
  });

  it('backward goes through the decoder then the encoder (same as the halves by hand)', () => {
    const ae = small(3);
    const halves = small(3);
    const x = randTensor([4, 6], 2);
    const d = randTensor([4, 6], 3);
    ae.forward(x);
    ae.zeroGrad();
    const dx = ae.backward(d).toArray();
    const code = halves.encoder.forward(x);
    halves.decoder.forward(code);
    halves.zeroGrad();
    const dCode = halves.decoder.backward(d);
    const dxByHand = halves.encoder.backward(dCode).toArray();
    expect(Array.from(dx)).toEqual(Array.from(dxByHand));
    expect(stateHash(ae)).toBe(stateHash(halves));
  });

  it('passes gradCheck', () => {
    expectGradOk(gradCheck(small(4), randTensor([3, 6], 4)));
  });

  it('rejects bad input naming the half; latent leaves a pending backward intact', () => {
    const ae = small(5);
    const hash = stateHash(ae);
    expectError(
      () => ae.forward(randTensor([2, 5], 1)),
      'SHAPE_MISMATCH',
      /^AutoEncoder\[0\] \(Sequential\)\.Sequential\[0\] \(Linear\)\.forward: expected input \[batch, 6\], got \[2, 5\]$/,
    );
    expectError(
      () => ae.latent(randTensor([2, 5], 1)),
      'SHAPE_MISMATCH',
      /^AutoEncoder\[0\] \(Sequential\)\.Sequential\[0\] \(Linear\)\.latent: expected input \[batch, 6\], got \[2, 5\]$/,
    );
    expect(stateHash(ae)).toBe(hash);
    const x = randTensor([2, 6], 2);
    expectError(
      () => ae.backward(randTensor([2, 6], 3)),
      'STALE',
      /^AutoEncoder\.backward: expected a forward pass first/,
    );
    expect(stateHash(ae)).toBe(hash);
    // latent() runs the encoder in a frame of its own: a pending backward still pairs with its forward.
    ae.forward(x);
    ae.latent(randTensor([5, 6], 4));
    ae.zeroGrad();
    const dx = ae.backward(randTensor([2, 6], 3)).toArray();
    const again = small(5);
    again.forward(x);
    again.zeroGrad();
    expect(again.backward(randTensor([2, 6], 3)).toArray()).toEqual(dx);
    expect(stateHash(again)).toBe(stateHash(ae));
    expectError(
      () => new AutoEncoder(new Linear(2, 2), null as never),
      'BAD_ARGUMENT',
      /^AutoEncoder: expected decoder to be a Module, got null$/,
    );
  });

  it('trains with Optim.step like any module', () => {
    const ae = small(6);
    const x = Tensor.from(
      Float32Array.from({ length: 8 * 6 }, (_, i) => ((i * 37) % 11) / 11),
      [8, 6],
    );
    const opt = new Optim(ae, new MSELoss(), 0.5);
    const first = opt.step(x, x);
    let last = first;
    for (let i = 0; i < 200; i++) last = opt.step(x, x);
    expect(last).toBeLessThan(first / 2);
  });

  it("the report's autoencoder halves its test reconstruction loss on the digits (sgd, BCELoss)", () => {
    const { net } = preset('autoencoder', { seed: 1 });
    const { train, test } = loadDigits();
    const loss = new BCELoss();
    const before = evaluateLoss(net, { x: test.x, y: test.x }, loss);
    sgd(net, { x: train.x, y: train.x }, loss, { batchSize: 32, epochs: 10, step: 0.05, seed: 1 });
    const after = evaluateLoss(net, { x: test.x, y: test.x }, loss);
    expect(after).toBeLessThan(before / 2);
  });
});
