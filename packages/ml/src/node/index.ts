// Node-only entry (@fedlink/ml/node): file-system datasets. Browser bundles import '@fedlink/ml'.
export * from './datasets.js';
