/** Nest injection tokens for values that are not classes. */
export const LOG = Symbol('fedlink.log');
