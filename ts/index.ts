// torchlet's public API: everything a user imports comes from here.

export { init, memory, compiledModule, isInitialized, type WasmSource, type MemoryInfo } from './wasm.js';
export { TorchletError, type ErrorCode } from './errors.js';
export { Tensor } from './tensor.js';
export { Rng, manualSeed, defaultRng } from './rng.js';
export { Module, type Parameter } from './module.js';
export { Linear, type LinearOptions } from './linear.js';
export { TanH, Sigmoid, ReLU, Softmax } from './activation.js';
export { Sequential } from './container.js';
export { Loss, MSELoss, BCELoss, CrossEntropyLoss, LogSoftmaxCrossEntropy } from './loss.js';
export { Optim } from './optim.js';
export { sgd, predict, accuracy, evaluateLoss, labelsOf, type Dataset, type SgdOptions, type History } from './train.js';
export { gradCheck, gradCheckLoss, type GradCheckOptions, type GradCheckResult } from './gradcheck.js';
export { loadDigits, parseDigitsCsv, DIGITS_COUNT, DIGITS_TRAIN_COUNT, type DigitsSplit, type LoadDigitsOptions } from './data/digits.js';
export { loadMnist, MNIST_COUNT, type LoadMnistOptions } from './data/mnist.js';
