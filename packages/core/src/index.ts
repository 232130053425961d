export * from './partition.js';
export * from './rng.js';
export * from './selection.js';
export * from './strategy.js';
export * from './vector.js';
export * from './weighted-sum.js';
