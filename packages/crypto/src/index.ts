export * from './envelope.js';
export * from './hello-proof.js';
export * from './identity.js';
