export * from './models.js';
export {
  BACKEND_CHOICES,
  initBackend,
  isBackendChoice,
  type BackendChoice,
  type BackendInfo,
  type InitBackendOptions,
} from './backend-select.js';
