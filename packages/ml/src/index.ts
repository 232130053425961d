export * from './dataset.js';
export * from './idx.js';
export * from './models.js';
export * from './train.js';
export * from './weights.js';
export {
  BACKEND_CHOICES,
  initBackend,
  isBackendChoice,
  type BackendChoice,
  type BackendInfo,
  type InitBackendOptions,
} from './backend-select.js';
