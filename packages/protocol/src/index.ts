export * from './bytes.js';
export * from './errors.js';
export * from './messages.js';
export * from './tensor-codec.js';
export * from './version.js';
export * from './secagg.js';
export * from './dashboard.js';
