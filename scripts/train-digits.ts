// `npm start`: trains Linear(64,100) -> ReLU -> Linear(100,10) with LogSoftmaxCrossEntropy on the
// bundled 8x8 digits, printing the loss per epoch and the final test accuracy.
import {
  LogSoftmaxCrossEntropy, Linear, ReLU, Sequential, accuracy, evaluateLoss, init, loadDigits, manualSeed, sgd,
} from '../ts/index.js';

await init();
manualSeed(1);
const started = performance.now();
const { train, test } = loadDigits();
const net = new Sequential(new Linear(64, 100), new ReLU(), new Linear(100, 10));
const loss = new LogSoftmaxCrossEntropy();
console.log(`torchlet: ${net.modules.map(String).join(' -> ')} on 8x8 digits (${train.x.shape[0]} train / ${test.x.shape[0]} test)`);
sgd(net, train, loss, {
  batchSize: 32,
  epochs: 20,
  step: 0.05,
  seed: 1,
  onEpoch: (epoch, value) => console.log(`epoch ${String(epoch + 1).padStart(2)}  loss ${value.toFixed(4)}`),
});
const seconds = (performance.now() - started) / 1000;
console.log(`test loss ${evaluateLoss(net, test, loss).toFixed(4)}  test accuracy ${accuracy(net, test).toFixed(4)}  (${seconds.toFixed(2)} s)`);
