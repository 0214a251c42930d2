// torchlet's public API: everything a user imports comes from here, grouped as the folders are.

// ---- core: the WASM core, tensors, the module contract, layers, containers, losses, model files
export {
  init,
  memory,
  compiledModule,
  isInitialized,
  backend,
  gpuInfo,
  sync,
  readLosses,
  type Backend,
  type InitOptions,
  type GpuBackendOptions,
  type GpuInfo,
  type WasmSource,
  type MemoryInfo,
} from './core/wasm.js';
export { TorchletError, type ErrorCode } from './core/errors.js';
export { Tensor } from './core/tensor.js';
export { Rng, manualSeed, defaultRng, SEED_LIMIT } from './core/rng.js';
export {
  Module,
  Frame,
  BufferSlot,
  type Reservation,
  type Parameter,
  type Call,
  type LayerSpec,
  type LayerClass,
  type ArgSpec,
  type Args,
  type ArgValue,
} from './core/module.js';
// Each layer family file exports only its public layers and their option types, so a layer added
// to a family is exported (and, through its spec, registered) with no edit here.
export * from './core/linear.js';
export * from './core/conv.js';
export * from './core/pool.js';
export * from './core/activation.js';
export * from './core/view.js';
export * from './core/upsample.js';
export * from './core/container.js';
export {
  Loss,
  MSELoss,
  BCELoss,
  CrossEntropyLoss,
  LogSoftmaxCrossEntropy,
  REDUCTIONS,
  type Reduction,
  type LossOptions,
} from './core/loss.js';
export {
  gradCheck,
  gradCheckLoss,
  type GradCheckOptions,
  type GradCheckResult,
} from './core/gradcheck.js';
export { register, registeredTypes, MODULE_TYPES } from './core/registry.js';
export {
  save,
  load,
  loadModel,
  serialize,
  deserialize,
  deserializeModel,
  describeArchitecture,
  fromArchitecture,
  FORMAT_VERSION,
  type ArchitectureNode,
  type ArgValueJson,
  type SavedModel,
  type SaveOptions,
} from './core/serialize.js';

// ---- train: update rules, the training loop, metrics, grid search
export {
  Optim,
  OPTIMIZERS,
  type OptimizerName,
  type OptimOptions,
  type GradientReport,
} from './train/optim.js';
export {
  sgd,
  predict,
  accuracy,
  evaluateLoss,
  labelsOf,
  type Dataset,
  type SgdOptions,
  type History,
  type EpochInfo,
  type BatchInfo,
} from './train/train.js';
export { fit, type FitOptions, type Progress } from './train/fit.js';
export {
  startWorkers,
  type StartWorkersOptions,
  stopWorkers,
  workerThreads,
  availableCores,
  MAX_WORKERS,
} from './train/parallel.js';
export {
  evaluate,
  confusionMatrix,
  meanSquaredError,
  metricOf,
  METRICS,
  MAX_CLASSES,
  type Metric,
  type MetricName,
  type ConfusionMatrix,
  type EvaluateOptions,
} from './train/metrics.js';
export { gridSearch, type GridSearchOptions } from './train/gridsearch.js';
export {
  kFold,
  gridCombinations,
  gridPlotName,
  paramsLabel,
  MAX_GRID_TRIALS,
  LOSS_NAMES,
  TRAIN_KEYS,
  type GridRow,
  type GridParams,
  type ParamGrid,
  type GridValue,
  type LossName,
  type GridMetric,
  type GridTrainOptions,
  type FoldCurves,
  type Fold,
} from './train/grid.js';
export { MAX_GRID_WORKERS, type BuildNet, type Torchlet } from './train/gridpool.js';
export {
  GRID_QUEUE,
  startGridWorker,
  type GridQueueOptions,
  type GridWorker,
  type GridWorkerOptions,
} from './train/gridqueue.js';

// ---- tools: data sets, the report's presets, plots, clustering (the CLI is tools/cli.ts)
export {
  loadDigits,
  fetchDigits,
  parseDigitsCsv,
  DIGITS_COUNT,
  DIGITS_TRAIN_COUNT,
  type DigitsSplit,
  type LoadDigitsOptions,
  type FetchDigitsOptions,
} from './tools/data/digits.js';
export { loadMnist, MNIST_COUNT, type LoadMnistOptions } from './tools/data/mnist.js';
export {
  preset,
  PRESETS,
  asSamples,
  asSequence,
  type PresetName,
  type PresetInfo,
  type Preset,
  type PresetOptions,
} from './tools/presets.js';
export {
  lossCurvesSvg,
  imageGridSvg,
  imageGridPng,
  type LossRun,
  type LossPlotOptions,
  type ImageGridOptions,
} from './tools/plot.js';
export {
  kMeans,
  purity,
  adjustedRandIndex,
  pca,
  type Points,
  type KMeansOptions,
  type KMeansResult,
  type PcaResult,
} from './tools/cluster.js';
