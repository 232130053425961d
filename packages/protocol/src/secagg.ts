import { z } from 'zod';
import { bytesFromWire } from './bytes.js';

/**
 * Wire messages of secure aggregation (SecAgg+, Bell et al. 2020 over Bonawitz et al. 2017).
 * The state machines that produce and consume them live in @fedlink/crypto (`secagg/`); this file
 * only says what may travel. Every message names its run, round, stage and sender/recipient, and
 * every client->server message is signed over exactly those fields, so a message replayed into
 * another run, round or stage fails.
 *
 * Order within one round (S = coordinator, C = client):
 *   S->C setup          (broadcast)     C->S advertise
 *   S->C keys           (per client)    C->S shares
 *   S->C routed-shares  (per client)    C->S masked
 *   S->C unmask-request (per client)    C->S unmask
 *   S->C abort          (any time: the round is abandoned, with a reason)
 * Binary fields (keys, signatures, sealed shares, the masked vector) travel as binary attachments
 * (Buffer / ArrayBuffer / Uint8Array), never as JSON arrays; parsing normalises them to Uint8Array.
 * Each attempt at a round is its own SecAgg instance: the messages' `round` field is the attempt's
 * wire id, `roundKeyId({ round, attempt })` (round-key.ts).
 */
export const SECAGG_EVENTS = {
  setup: 'secagg:setup',
  advertise: 'secagg:advertise',
  keys: 'secagg:keys',
  shares: 'secagg:shares',
  routedShares: 'secagg:routed-shares',
  masked: 'secagg:masked',
  unmaskRequest: 'secagg:unmask-request',
  unmask: 'secagg:unmask',
  abort: 'secagg:abort',
} as const;

export const SECAGG_STAGES = ['setup', 'advertise', 'keys', 'shares', 'routed-shares', 'masked', 'unmask-request', 'unmask', 'abort'] as const;
export type SecAggStage = (typeof SECAGG_STAGES)[number];

/** Why a round was abandoned; a program can branch on it, `message` says it to people. */
export const SECAGG_ABORT_REASONS = [
  'too_few_advertised', // fewer than t clients (or t in some neighbourhood) advertised keys
  'too_few_shared', // ... sent their shares
  'too_few_masked', // some secret can no longer be reconstructed: too few neighbours sent masked input
  'too_few_unmasked', // too few survivors returned shares for unmasking
  'reconstruction_failed', // shares did not reconstruct a secret matching its public commitment
  'aggregate_invalid', // masks did not cancel (total example count out of range)
  'protocol_violation', // a party broke the protocol in a way the round cannot survive
] as const;
export type SecAggAbortReason = (typeof SECAGG_ABORT_REASONS)[number];

/** Hard limits, so a hostile peer can't make a parser allocate without bound. */
export const SECAGG_LIMITS = {
  maxParticipants: 10_000,
  maxVectorLength: 100_000_000,
  /** Shamir share over GF(2^521 - 1): 66 bytes, big-endian. */
  shareBytes: 66,
  /** One sealed share: two Shamir shares + AES-GCM tag. */
  maxSealedShareBytes: 512,
} as const;

const bytes = (exact?: number, max?: number) =>
  z
    .custom<unknown>((v) => {
      // Small fields arrive as base64 text (see packSmallBinaries), large ones as binary.
      const b = bytesFromWire(v);
      if (b === undefined) return false;
      if (exact !== undefined) return b.length === exact;
      return max === undefined || b.length <= max;
    }, exact !== undefined ? `must be ${exact} bytes of binary` : `must be binary of at most ${max} bytes`)
    .transform((v) => bytesFromWire(v)!);

const runId = z.string().min(1).max(64);
const round = z.number().int().min(0).max(1_000_000_000);
const clientId = z.string().min(1).max(64);
const clientIds = z.array(clientId).max(SECAGG_LIMITS.maxParticipants);

export const SecAggParticipantSchema = z.strictObject({
  clientId,
  /** Ed25519 identity key: every later client message is checked against it. */
  signPublicKey: bytes(32),
  /** Upper bound on the client's example count (from its hello); fixes the quantisation range. */
  maxExamples: z.number().int().min(1).max(1_000_000_000),
});
export type SecAggParticipant = z.infer<typeof SecAggParticipantSchema>;

/** S->C broadcast to the selected clients: the round's public parameters. */
export const SecAggSetupSchema = z.strictObject({
  stage: z.literal('setup'),
  runId,
  round,
  /** U0 in roster order; a client's Shamir x-coordinate is its index + 1. */
  participants: z.array(SecAggParticipantSchema).min(2).max(SECAGG_LIMITS.maxParticipants),
  /** t: shares needed to reconstruct a secret. */
  threshold: z.number().int().min(2),
  /** k: neighbours per client on the (randomly relabelled Harary) graph. */
  neighbours: z.number().int().min(1),
  /** Entries in the update vector (the masked vector has one more: the example count). */
  vectorLength: z.number().int().min(1).max(SECAGG_LIMITS.maxVectorLength),
  /** Each delta entry is clipped to [-clipRange, clipRange] before quantisation. */
  clipRange: z.number().refine((x) => Number.isFinite(x) && x > 0, 'must be finite and > 0'),
  /** Public randomness from which everyone derives the same graph. */
  graphSeed: bytes(32),
  /**
   * Distributed differential privacy: each client clips its delta to L2 norm `l2Clip`, quantises
   * it with weight 1 and adds discrete Gaussian noise of std `shareStd` (in delta units; times the
   * quantisation scale in integer units) to every word before masking.
   */
  dp: z.strictObject({ l2Clip: z.number().refine((x) => Number.isFinite(x) && x > 0, 'must be finite and > 0'), shareStd: z.number().refine((x) => Number.isFinite(x) && x >= 0, 'must be finite and >= 0') }).optional(),
});
export type SecAggSetup = z.infer<typeof SecAggSetupSchema>;

/** C->S: the client's two fresh X25519 keys for this round, signed with its identity key. */
export const SecAggAdvertiseSchema = z.strictObject({
  stage: z.literal('advertise'),
  runId,
  round,
  sender: clientId,
  /** For pairwise mask agreement. */
  maskPublicKey: bytes(32),
  /** For sealing Shamir shares to this client. */
  sharePublicKey: bytes(32),
  /** Hash of the self-mask seed: lets the coordinator check the seed it reconstructs. */
  selfMaskCommitment: bytes(32),
  signature: bytes(64),
});
export type SecAggAdvertise = z.infer<typeof SecAggAdvertiseSchema>;

export const SecAggAdvertisedKeysSchema = SecAggAdvertiseSchema.omit({ stage: true, runId: true, round: true, sender: true }).extend({
  clientId,
});
export type SecAggAdvertisedKeys = z.infer<typeof SecAggAdvertisedKeysSchema>;

/** S->C per client: the signed keys of its neighbours that advertised. */
export const SecAggKeysSchema = z.strictObject({
  stage: z.literal('keys'),
  runId,
  round,
  recipient: clientId,
  keys: z.array(SecAggAdvertisedKeysSchema).max(SECAGG_LIMITS.maxParticipants),
});
export type SecAggKeys = z.infer<typeof SecAggKeysSchema>;

export const SealedShareSchema = z.strictObject({
  /** Who the share is for (shares) or who it is from (routed-shares). */
  peer: clientId,
  nonce: bytes(24),
  ciphertext: bytes(undefined, SECAGG_LIMITS.maxSealedShareBytes),
});
export type SealedShare = z.infer<typeof SealedShareSchema>;

/** C->S: one sealed share per neighbour; the coordinator routes them but can't open them. */
export const SecAggSharesSchema = z.strictObject({
  stage: z.literal('shares'),
  runId,
  round,
  sender: clientId,
  shares: z.array(SealedShareSchema).max(SECAGG_LIMITS.maxParticipants),
  signature: bytes(64),
});
export type SecAggShares = z.infer<typeof SecAggSharesSchema>;

/** S->C per client: the shares its neighbours sealed to it (`peer` = sender). */
export const SecAggRoutedSharesSchema = z.strictObject({
  stage: z.literal('routed-shares'),
  runId,
  round,
  recipient: clientId,
  shares: z.array(SealedShareSchema).max(SECAGG_LIMITS.maxParticipants),
});
export type SecAggRoutedShares = z.infer<typeof SecAggRoutedSharesSchema>;

/** C->S: the quantised, masked update: (vectorLength + 1) little-endian uint32 words. */
export const SecAggMaskedSchema = z.strictObject({
  stage: z.literal('masked'),
  runId,
  round,
  sender: clientId,
  masked: bytes(undefined, 4 * (SECAGG_LIMITS.maxVectorLength + 1)),
  /** Signs the header and SHA-256 of `masked`. */
  signature: bytes(64),
});
export type SecAggMasked = z.infer<typeof SecAggMaskedSchema>;

/** S->C per survivor: which of its neighbours sent masked input and which dropped. */
export const SecAggUnmaskRequestSchema = z.strictObject({
  stage: z.literal('unmask-request'),
  runId,
  round,
  recipient: clientId,
  survivors: clientIds,
  dropped: clientIds,
});
export type SecAggUnmaskRequest = z.infer<typeof SecAggUnmaskRequestSchema>;

export const RevealedShareSchema = z.strictObject({
  /** Whose secret this is a share of. */
  owner: clientId,
  share: bytes(SECAGG_LIMITS.shareBytes),
});
export type RevealedShare = z.infer<typeof RevealedShareSchema>;

/** C->S: shares of survivors' self-mask seeds and of dropped clients' mask keys (never both for one owner). */
export const SecAggUnmaskSchema = z.strictObject({
  stage: z.literal('unmask'),
  runId,
  round,
  sender: clientId,
  selfMaskShares: z.array(RevealedShareSchema).max(SECAGG_LIMITS.maxParticipants),
  maskKeyShares: z.array(RevealedShareSchema).max(SECAGG_LIMITS.maxParticipants),
  signature: bytes(64),
});
export type SecAggUnmask = z.infer<typeof SecAggUnmaskSchema>;

/** S->C broadcast: the round is abandoned; the global model stays as it was. */
export const SecAggAbortSchema = z.strictObject({
  stage: z.literal('abort'),
  runId,
  round,
  reason: z.enum(SECAGG_ABORT_REASONS),
  message: z.string().max(500),
});
export type SecAggAbort = z.infer<typeof SecAggAbortSchema>;

/**
 * Every client->server message, told apart by `stage`: what the coordinator dispatches on.
 * Parsing an already-parsed message gives the same message (binary fields accept Uint8Array).
 */
export const SecAggClientMessageSchema = z.discriminatedUnion('stage', [SecAggAdvertiseSchema, SecAggSharesSchema, SecAggMaskedSchema, SecAggUnmaskSchema]);
export type SecAggClientMessage = z.infer<typeof SecAggClientMessageSchema>;

/** Every server->client message, told apart by `stage`: what a client dispatches on. */
export const SecAggServerMessageSchema = z.discriminatedUnion('stage', [
  SecAggSetupSchema,
  SecAggKeysSchema,
  SecAggRoutedSharesSchema,
  SecAggUnmaskRequestSchema,
  SecAggAbortSchema,
]);
export type SecAggServerMessage = z.infer<typeof SecAggServerMessageSchema>;
