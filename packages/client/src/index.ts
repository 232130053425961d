export * from './client.js';
export * from './emitter.js';
export * from './trainer.js';
