export * from './dataset.js';
export * from './idx.js';
export * from './models.js';
export * from './recommender.js';
export * from './bag-of-embeddings.js';
export * from './csv.js';
export * from './tabular.js';
export * from './synthetic-tabular.js';
export * from './synthetic-text.js';
export * from './train.js';
export * from './weights.js';
export { FusedSgdOptimizer, SGD_UPDATE_KERNEL, sgdOptimizer, type SgdUpdateAttrs } from './optimizer.js';
export * from './fused-step.js';
export {
  BACKEND_CHOICES,
  BROWSER_BACKENDS,
  BROWSER_BACKEND_CHOICES,
  NODE_BACKEND_CHOICES,
  backendOrder,
  initBackend,
  isBackendChoice,
  isBrowserBackend,
  type BackendChoice,
  type BackendInfo,
  type BackendName,
  type BrowserBackend,
  type InitBackendOptions,
  type NodeBackendChoice,
} from './backend-select.js';
export * from './model-spec.js';
export * from './text.js';
export * from './text-model.js';
