// Public surface of secure aggregation: the two state machines, their errors, and the pieces an
// engine, a benchmark or a test needs (parameters, quantisation bounds, Shamir, mask streams).
export { SecAggClientRound, type SecAggClientOptions, type SecAggInput } from './client.js';
export { SecAggServerRound, DEFAULT_CLIP_RANGE, type SecAggResult, type SecAggServerConfig, type SecAggServerStage } from './server.js';
export { SecAggAbortError } from './errors.js';
export { NeighbourGraph, defaultDegree, defaultThreshold, degreeForDropout, effectiveDegree } from './graph.js';
export { dequantizeSum, quantizationScale, quantizeWeightedUpdate, weightedSumErrorBound, type QuantizeResult } from './quantize.js';
export { combineShares, interpolateAtZero, splitSecret, SHAMIR_PRIME, SHARE_BYTES, type Share as ShamirShare } from './shamir.js';
export { deriveStreamKey, expandStream, randomWords } from './prg.js';
export { resolveParams, setupDigest, type RoundParams } from './params.js';
export { sizeDistributedDp, type DistributedDpSizing } from './distributed-dp.js';
