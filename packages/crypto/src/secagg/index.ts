export * from './client.js';
export * from './errors.js';
export * from './graph.js';
export * from './quantize.js';
export * from './server.js';
export * from './shamir.js';
export { deriveStreamKey, expandStream, randomWords } from './prg.js';
export { resolveParams, setupDigest, type RoundParams } from './params.js';
