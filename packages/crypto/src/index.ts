export * from './envelope.js';
export * from './hello-proof.js';
export * from './identity.js';
export * from './key-checks.js';
export * from './secagg/index.js';
export * from './curve.js';
export { ENVELOPE_CIPHER, NODE_CIPHER, WEBCRYPTO_CIPHER, type EnvelopeCipher } from './aead.js';
