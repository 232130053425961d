export * from './client.js';
export * from './emitter.js';
export * from './trainer.js';
export * from './secure.js';
export * from './socket.js';
export * from './control.js';
export * from './compression.js';
export * from './text-trainer.js';
