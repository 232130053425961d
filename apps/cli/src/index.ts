// Library use of the CLI's pieces, e.g. simulations from a script.
export * from './simulate/simulate.js';
export { VANISH_POINTS, type VanishPoint, type FaultPlan, dropoutPlan, faultyClient } from './simulate/faults.js';
export * from './simulate/attacks.js';
export { runSettingsFrom, formatRoundLine, strategyFrom } from './run-options.js';
export { refusal as backendRefusal, selectBackend, selectBackendInfo, BACKEND_CHOICES, type BackendChoice } from './backend.js';
export { main } from './main.js';
