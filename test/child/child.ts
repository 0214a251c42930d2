// A fresh process for the determinism and model-file tests, bundled by test/child/spawn.ts into
// one .mjs (so it starts in ~0.1 s, not tsx's ~1 s). argv: <mode> <wasm path> <digits path> ...
//   train-hash <seed>                      trains the digits MLP, prints its weight hash
//   train-save <seed> <file>               trains it (shuffle seed 1), saves it to <file>
//   load-train-hash <file>                 loads <file>, trains on (shuffle seed 2), prints the hash
//   save-loop <file> <seedA> <seedB> <n>   prints "ready", then saves net A, net B, A, … to <file> until killed
import { readFileSync } from 'node:fs';
import {
  Linear,
  LogSoftmaxCrossEntropy,
  type Module,
  ReLU,
  Rng,
  Sequential,
  init,
  load,
  loadDigits,
  save,
  sgd,
} from '../../ts/index.js';
import { weightHash } from './hash.js';

const [mode, wasm, digits, ...args] = process.argv.slice(2);
await init(readFileSync(wasm!));

function mlp(seed: number, hidden = 32): Sequential {
  const rng = new Rng(seed);
  return new Sequential(
    new Linear(64, hidden, { rng }),
    new ReLU(),
    new Linear(hidden, 10, { rng }),
  );
}

function train(net: Module, shuffleSeed: number): void {
  const { train } = loadDigits({ path: digits! });
  sgd(net, train, new LogSoftmaxCrossEntropy(), {
    epochs: 2,
    batchSize: 32,
    step: 0.05,
    seed: shuffleSeed,
  });
}

if (mode === 'train-hash') {
  const net = mlp(Number(args[0]));
  train(net, 1);
  train(net, 2);
  console.log(weightHash(net));
} else if (mode === 'train-save') {
  const net = mlp(Number(args[0]));
  train(net, 1);
  save(net, args[1]!);
  console.log('saved');
} else if (mode === 'load-train-hash') {
  const net = load(args[0]!);
  train(net, 2);
  console.log(weightHash(net));
} else if (mode === 'save-loop') {
  const nets = [mlp(Number(args[1]), Number(args[3])), mlp(Number(args[2]), Number(args[3]))];
  console.log('ready');
  for (let i = 0; ; i++) save(nets[i % 2]!, args[0]!);
} else {
  throw new Error(`child: unknown mode ${mode}`);
}
