// Write your own layer: a learned per-feature gain, y = x ⊙ g, written against the public layer
// contract of the built package (what `npm install torchlet` gives), then used like a built-in
// layer: in a Sequential, trained by sgd with Adam, checked by gradCheck, saved and loaded.
// Run: `node --experimental-strip-types examples/custom-layer.mts` after `npm install torchlet`,
// or compile it with tsc. The part between the --8<-- markers is the README's block, word for
// word; test/package.test.ts runs this file against the packed package and checks its last line.
// --8<-- [start:readme]
import {
  type Call,
  type LayerSpec,
  type Parameter,
  Linear,
  LogSoftmaxCrossEntropy,
  Module,
  ReLU,
  Rng,
  Sequential,
  Tensor,
  TorchletError,
  accuracy,
  deserialize,
  gradCheck,
  init,
  loadDigits,
  register,
  serialize,
  sgd,
} from 'torchlet';

/** y[b, j] = x[b, j] · gain[j]: a learned scale per feature, initialised to 1. */
export class Scale extends Module {
  // The one description: model files, toString and fromArchitecture derive from it.
  static readonly spec: LayerSpec<Scale> = {
    type: 'Scale',
    args: [{ name: 'features', kind: 'int' }],
    params: (a) => ({ gain: [a.features as number] }),
    build: (a) => new Scale(a.features as number),
  };

  readonly features: number;
  readonly gain: Tensor;
  readonly gradGain: Tensor;

  constructor(features: number) {
    super();
    this.features = features;
    this.gain = Tensor.from(new Float32Array(features).fill(1), [features]);
    this.gradGain = Tensor.zeros([features]);
  }

  override parameters(): Parameter[] {
    return [{ name: 'gain', value: this.gain, grad: this.gradGain }];
  }

  outputShape(s: readonly number[], method = 'forward'): number[] {
    if (s.length !== 2 || s[1] !== this.features) {
      throw new TorchletError(
        'SHAPE_MISMATCH',
        `Scale.${method}: expected input [batch, ${this.features}], got [${s.join(', ')}]`,
      );
    }
    return [...s];
  }

  // y = x ⊙ g. Views (`.data`) stay valid while nothing allocates, so take them together.
  protected updateOutput({ input, output }: Call): void {
    const [x, y, g, n] = [input.data, output.data, this.gain.data, this.features];
    for (let i = 0; i < x.length; i++) y[i] = x[i]! * g[i % n]!;
  }

  // dx = delta ⊙ g (overwrite gradInput).
  protected updateGradInput(_call: Call, delta: Tensor, gradInput: Tensor): void {
    const [d, dx, g, n] = [delta.data, gradInput.data, this.gain.data, this.features];
    for (let i = 0; i < d.length; i++) dx[i] = d[i]! * g[i % n]!;
  }

  // dg = beta·dg + Σ_batch x ⊙ delta (beta 0: overwrite, 1: add).
  protected override accGradParameters({ input }: Call, delta: Tensor, beta: 0 | 1): void {
    const [x, d, dg, n] = [input.data, delta.data, this.gradGain.data, this.features];
    if (beta === 0) dg.fill(0);
    for (let i = 0; i < x.length; i++) dg[i % n]! += x[i]! * d[i]!;
  }
}

register(Scale); // files naming 'Scale' now load (data only: the class builds it)

// Then it is a layer like any other.
await init();
const { train, test } = loadDigits();
const rng = new Rng(1);
const net = new Sequential(
  new Linear(64, 32, { rng }),
  new Scale(32),
  new ReLU(),
  new Linear(32, 10, { rng }),
);
const history = sgd(net, train, new LogSoftmaxCrossEntropy(), {
  epochs: 10,
  step: 0.01,
  optimizer: 'adam',
  seed: 1,
});
const probe = Tensor.from(
  Array.from({ length: 20 }, (_, i) => Math.sin(i + 1)),
  [4, 5],
);
const check = gradCheck(new Scale(5), probe); // check.ok: true
const copy = deserialize(serialize(net)); // Sequential(Linear(64, 32) -> Scale(32) -> ReLU() -> Linear(32, 10))
console.log(history.loss.at(-1), accuracy(net, test), check.ok, String(copy));
// --8<-- [end:readme]

// What test/package.test.ts checks, as one JSON line: the saved and loaded copy computes the same.
const x = test.x.rows(0, 16);
const [before, after] = [net.forward(x).toArray(), copy.forward(x).toArray()];
console.log(
  JSON.stringify({
    loss: [history.loss[0], history.loss.at(-1)],
    accuracy: accuracy(net, test),
    gradCheck: check.ok,
    architecture: String(copy),
    sameAfterLoad: before.every((v, i) => v === after[i]),
  }),
);
