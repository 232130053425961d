export * from './dataset.js';
export * from './idx.js';
export * from './models.js';
export * from './train.js';
export * from './weights.js';
