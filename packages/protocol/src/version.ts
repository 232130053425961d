/** Bumped on any incompatible change to messages or the tensor codec. */
export const PROTOCOL_VERSION = 1;
