// Writes the golden model file of the current format version (test/fixtures/model-v<N>.safetensors)
// and a stored input with its expected output (model-v<N>.txt, float32 bit patterns in hex), which
// test/modelfile.test.ts loads on every run, forever. Run by hand once per released format
// version: `npx tsx scripts/gen-model-fixture.ts`; never overwrite an existing version's files.
import { existsSync, writeFileSync } from 'node:fs';
import {
  Conv1D,
  FORMAT_VERSION,
  Flatten,
  Linear,
  MaxPool1D,
  ReLU,
  Rng,
  Sequential,
  Softmax,
  Tensor,
  init,
  serialize,
} from '../ts/index.js';

await init();
const base = new URL(`../test/fixtures/model-v${FORMAT_VERSION}`, import.meta.url);
if (existsSync(new URL(`${base.href}.safetensors`)))
  throw new Error(`${base.pathname}.safetensors exists: a released version's file never changes`);
const rng = new Rng(2024);
const net = new Sequential(
  new Conv1D(3, 1, 4, 2, { rng }),
  new ReLU(),
  new MaxPool1D(2),
  new Flatten(),
  new Linear(12, 5, { rng }),
  new Softmax(),
);
const x = Tensor.from(
  Float32Array.from({ length: 2 * 14 }, () => rng.uniform(-1, 1)),
  [2, 14, 1],
);
const y = net.forward(x);
const hex = (t: Tensor) =>
  Array.from(new Uint32Array(t.toArray().buffer), (b) => b.toString(16).padStart(8, '0')).join(' ');
writeFileSync(
  new URL(`${base.href}.safetensors`),
  new Uint8Array(
    serialize(net, { metadata: { purpose: 'golden file of a released format version' } }),
  ),
);
writeFileSync(
  new URL(`${base.href}.txt`),
  [
    `# Golden file of torchlet model format ${FORMAT_VERSION}: scripts/gen-model-fixture.ts. Values: float32 bits, hex.`,
    `x ${x.shape.join(',')} ${hex(x)}`,
    `y ${y.shape.join(',')} ${hex(y)}`,
    '',
  ].join('\n'),
);
console.log(`wrote ${base.pathname}.safetensors and .txt`);
