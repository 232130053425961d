// Node-only entry (@fedlink/ml/node): file-system datasets. Browser bundles import '@fedlink/ml'.
export * from './datasets.js';
// Node-only backend selection: the fedlink backend with worker_threads, tfjs-node when installed.
export * from './backend.js';
// Models from model.json files (any tfjs Layers model), read with plain file IO.
export * from './model-file.js';
// Data sources, one module each: CIFAR-10 binary batches and folders of photos (sharp).
export * from './data/cifar10.js';
export * from './data/images.js';
export * from './data/synthetic-images.js';
export * from './data/text.js';
// Tables: csv:<file> and the synthetic housing / ratings tables.
export * from './data/csv-source.js';
