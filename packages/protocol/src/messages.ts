import { z } from 'zod';
import { asBytes, fromBase64 } from './bytes.js';
import { EDGE_STATES } from './dashboard.js';
import { ERROR_CODES, FedlinkError, type WireError } from './errors.js';
import { TENSOR_ENCODINGS, type TensorEncoding } from './tensor-codec.js';
import { TabularStatsSchema } from './tabular.js';

/**
 * The one source of truth for what travels between clients and the coordinator.
 * Every inbound message is parsed with `parseMessage(schema, raw)` at the boundary; handlers only
 * ever see the typed result.
 */

/**
 * socket.io event names. Client->server events carry an ack callback; what each event and its
 * ack carry is the contract table in events.ts.
 */
export const EVENTS = {
  /** C->S, ack `{ nonce }`: a fresh challenge the hello must sign (proof of key possession). */
  challenge: 'auth:challenge',
  /** C->S, ack `{ welcome }` or an error. */
  hello: 'hello',
  /** S->C, client acks when it starts training. */
  roundStart: 'round:start',
  /** C->S, ack `{ accepted: true }` or an error. */
  update: 'round:update',
  /** S->C broadcast to joined clients. */
  roundEnd: 'round:end',
  /** S->C broadcast: the run is over. */
  runEnd: 'run:end',
  /** S->C: a typed error, usually followed by a disconnect. */
  error: 'fedlink:error',
  /** C->S, ack `{ ok: true }`: the client can't finish this round (training failed, a secure stage failed). */
  withdraw: 'round:withdraw',
  /** C->S (edges only), ack `{ ok: true }`: the edge's group changed (its leaf clients, examples, own edges). */
  edgeSummary: 'edge:summary',
} as const;

export const MAX_TOKEN_LENGTH = 256;

const base64Key = (bytes: number) =>
  z.string().max(2 * bytes).refine((s) => {
    try {
      return fromBase64(s).length === bytes;
    } catch {
      return false;
    }
  }, `must be ${bytes} bytes in base64`);

/** Binary attachment (Buffer in Node, ArrayBuffer/typed array in browsers). */
const binary = (maxBytes?: number) =>
  z.custom<Uint8Array>((v) => {
    const b = asBytes(v);
    return b !== undefined && (maxBytes === undefined || b.length <= maxBytes);
  }, maxBytes === undefined ? 'must be binary' : `must be binary of at most ${maxBytes} bytes`);

const finite = () => z.number().refine(Number.isFinite, 'must be finite');
const runId = z.string().min(1).max(64);
const round = z.number().int().min(0).max(1_000_000_000);

/** C->S `auth:challenge`: asks for a nonce; carries nothing. */
export const ChallengeRequestSchema = z.strictObject({});
export type ChallengeRequest = z.infer<typeof ChallengeRequestSchema>;

// Ack bodies are parsed non-strictly: the ack's `ok` field rides alongside (see `Ack`, `parseAck`).

/** Ack body of `auth:challenge`. */
export const ChallengeReplySchema = z.object({ nonce: base64Key(32) });
export type ChallengeReply = z.infer<typeof ChallengeReplySchema>;

/** Ack body of an event whose success says nothing more than `{ ok: true }`. */
export const OkReplySchema = z.object({});

export const PLATFORMS = ['node', 'browser'] as const;

/** At most this many of an edge's own edges travel in its summary (the parent's tree view). */
export const MAX_EDGE_CHILDREN = 256;

const leafCount = () => z.number().int().min(0).max(1_000_000_000);
/** An http(s) URL (an edge's dashboard): nothing else is ever linked from a parent's page. */
const httpUrl = z.string().max(2048).refine((s) => {
  try {
    const u = new URL(s);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}, 'must be an http(s) URL');

/** One of an edge's own edges, as the edge tells its parent (one level: its own summary's counts, not its edges). */
export const EdgeChildSummarySchema = z.strictObject({
  clientId: z.string().min(1).max(128),
  name: z.string().max(128).optional(),
  clients: leafCount(),
  examples: leafCount(),
  /** Where it stands in the edge's open round. */
  state: z.enum(EDGE_STATES),
  dashboardUrl: httpUrl.optional(),
});
export type EdgeChildSummary = z.infer<typeof EdgeChildSummarySchema>;

/**
 * What an edge tells its parent of its group (in its hello, and in `edge:summary` whenever it
 * changes): the eligible leaf clients under it (its own edges count by their leaves) and their
 * examples, which the parent's selection allocates each round's leaf target by; optionally its
 * dashboard's URL and its own edges, for the parent's tree view.
 */
export const EdgeSummarySchema = z.strictObject({
  clients: leafCount(),
  examples: leafCount(),
  dashboardUrl: httpUrl.optional(),
  edges: z.array(EdgeChildSummarySchema).max(MAX_EDGE_CHILDREN).optional(),
});
export type EdgeSummary = z.infer<typeof EdgeSummarySchema>;

export const HelloSchema = z.strictObject({
  protocol: z.number().int(),
  signPublicKey: base64Key(32),
  boxPublicKey: base64Key(32),
  /** Ed25519 signature over `helloTranscript(...)`, see @fedlink/crypto. */
  signature: base64Key(64),
  token: z.string().max(MAX_TOKEN_LENGTH).optional(),
  platform: z.enum(PLATFORMS),
  backend: z.string().min(1).max(64),
  numExamples: z.number().int().min(1).max(1_000_000_000),
  name: z.string().max(128).optional(),
  /**
   * 'edge': an edge aggregator (a coordinator of its own clients) joins as one client; its
   * updates carry `contributors`, and `numExamples` is what its clients held when it joined.
   * Absent: an ordinary client.
   */
  role: z.enum(['client', 'edge']).optional(),
  /** Edges only: the group behind the edge when it (re)joins (then `numExamples` is its examples, at least 1). */
  edge: EdgeSummarySchema.optional(),
});
export type Hello = z.infer<typeof HelloSchema>;

export const TensorSpecSchema = z.strictObject({
  name: z.string().max(256),
  shape: z.array(z.number().int().min(0)).max(8),
});

export const TrainConfigSchema = z.strictObject({
  epochs: z.number().int().min(1).max(1000),
  batchSize: z.number().int().min(1).max(65_536),
  learningRate: finite().refine((x) => x > 0, 'must be > 0'),
  /** FedProx proximal term weight; 0 is plain FedAvg local training. */
  proximalMu: finite().refine((x) => x >= 0, 'must be >= 0'),
  /** Seed for the client's batch shuffling, so simulations are reproducible. */
  seed: z.number().int(),
});
export type TrainConfig = z.infer<typeof TrainConfigSchema>;

/**
 * Local training settings of a run (epochs, batch size, learning rate, FedProx mu): the wire
 * config without its per-client seed. The one place their bounds are written; run settings,
 * their REST patch and their validation derive from it.
 */
export const FitSettingsSchema = TrainConfigSchema.omit({ seed: true });
export type FitSettings = z.infer<typeof FitSettingsSchema>;

/**
 * A text run's vocabulary (@fedlink/ml TextSpec): the coordinator builds it from its data (or a
 * vocabulary file) and every client encodes its own text with it, never a vocabulary of its own.
 * tokens[i] is id i (0 <pad>, 1 <unk>); classes[i] is label i of a classification run; `hash` is
 * SHA-256 of the rest (@fedlink/ml textSpecHash), which a client checks.
 */
export const WelcomeTextSchema = z.strictObject({
  task: z.enum(['next-char', 'classify']),
  unit: z.enum(['char', 'word']),
  tokens: z.array(z.string().max(64)).min(3).max(65_536),
  classes: z.array(z.string().min(1).max(200)).min(2).max(256).optional(),
  seqLength: z.number().int().min(1).max(4096),
  hash: z.string().regex(/^[0-9a-f]{64}$/),
});
export type WelcomeText = z.infer<typeof WelcomeTextSchema>;

export const WelcomeSchema = z.strictObject({
  protocol: z.number().int(),
  runId,
  clientId: z.string(),
  server: z.strictObject({ signPublicKey: base64Key(32), boxPublicKey: base64Key(32), fingerprint: z.string() }),
  model: z.strictObject({
    name: z.string(),
    /** Keras-style layers topology (what `model.toJSON()` gives), rebuilt with tf.models.modelFromJSON. */
    topology: z.record(z.string(), z.unknown()),
    manifest: z.array(TensorSpecSchema),
    numParams: z.number().int(),
    /** SHA-256 (hex) of the canonical topology JSON and manifest (@fedlink/ml modelHash); a client refuses a model that doesn't hash to it. */
    hash: z.string().regex(/^[0-9a-f]{64}$/).optional(),
  }),
  round: round,
  rounds: z.number().int(),
  secureAggregation: z.boolean(),
  /** Encoding clients use for their deltas. */
  encoding: z.enum(TENSOR_ENCODINGS as [TensorEncoding, ...TensorEncoding[]]),
  /** topk: share of each tensor's entries a delta keeps (DEFAULT_TOPK_FRACTION when absent). */
  topkFraction: z.number().gt(0).max(1).optional(),
  limits: z.strictObject({ maxUpdateBytes: z.number().int() }),
  /** A text run: the vocabulary clients encode with. */
  text: WelcomeTextSchema.optional(),
  /** A tabular run (csv data): how every client encodes its rows (the coordinator's statistics). */
  data: TabularStatsSchema.optional(),
});
export type Welcome = z.infer<typeof WelcomeSchema>;

/** Ack body of `hello`. */
export const HelloReplySchema = z.object({ welcome: WelcomeSchema });
export type HelloReply = z.infer<typeof HelloReplySchema>;

export const RoundStartSchema = z.strictObject({
  runId,
  round,
  /** A round abandoned below minFit is retried with the same number and the next attempt. */
  attempt: z.number().int().min(1),
  /** Epoch milliseconds by which the update must arrive. */
  deadline: z.number(),
  config: TrainConfigSchema,
  /** Global weights, tensor codec, float32. */
  weights: binary(),
  /**
   * SCAFFOLD (the run's strategy has control variates): the server control variate c, tensor
   * codec, float32, the model's manifest. Present exactly when the run uses SCAFFOLD; the
   * client then trains on the corrected gradient g + c - c_i and its sealed update holds
   * [delta y, delta c] in the manifest controlManifest(model manifest) gives.
   */
  control: binary().optional(),
  /** Local differential privacy: the client clips its delta to L2 norm `clip` and adds N(0, noiseStd^2) per entry before sealing. */
  privacy: z.strictObject({ mode: z.literal('local'), clip: finite().refine((x) => x > 0, 'must be > 0'), noiseStd: finite().refine((x) => x >= 0, 'must be >= 0') }).optional(),
  /**
   * Edges only (delegated selection): how many of its leaf clients the edge selects for this
   * round, its share of the parent's allocation. Absent for an ordinary client.
   */
  share: z.number().int().min(1).max(1_000_000_000).optional(),
});
export type RoundStart = z.infer<typeof RoundStartSchema>;

export const TrainMetricsSchema = z.strictObject({
  loss: finite(),
  accuracy: finite().optional(),
  trainSeconds: finite().optional(),
  samplesPerSecond: finite().optional(),
  /**
   * Federated evaluation: the global model this client received, evaluated on its own held-out
   * split before training (loss, accuracy, and how many held-out examples).
   */
  evalLoss: finite().optional(),
  evalAccuracy: finite().optional(),
  evalExamples: z.number().int().min(1).max(1_000_000_000).optional(),
  /** Regression runs: mean absolute and root-mean-square error on the held-out split, in the label's units. */
  evalMae: finite().optional(),
  evalRmse: finite().optional(),
});
export type TrainMetrics = z.infer<typeof TrainMetricsSchema>;

/**
 * An update's metrics: a client's training metrics, where only an edge may leave out `loss` (its
 * group sent none: its clients ran secure aggregation, which carries no individual loss).
 */
export const UpdateMetricsSchema = TrainMetricsSchema.extend({ loss: finite().optional() });
export type UpdateMetrics = z.infer<typeof UpdateMetricsSchema>;

export const EnvelopeSchema = z.strictObject({
  /** 24 random bytes; also the HKDF salt. */
  nonce: binary(24).refine((b) => asBytes(b)!.length === 24, 'nonce must be 24 bytes'),
  ciphertext: binary(),
});
export type Envelope = z.infer<typeof EnvelopeSchema>;

export const UpdateSchema = z.strictObject({
  runId,
  round,
  numExamples: z.number().int().min(1).max(1_000_000_000),
  metrics: UpdateMetricsSchema,
  /** The delta (local - global) in the tensor codec, sealed to the coordinator's key. */
  envelope: EnvelopeSchema,
  /**
   * Edges only: the leaf clients behind this update. The delta is then their example-weighted
   * mean and `numExamples` their total, so the parent adds `numExamples * delta` as a group of
   * `contributors` (the tree's FedAvg equals the flat one). Absent: one client.
   */
  contributors: z.number().int().min(1).max(1_000_000_000).optional(),
});
export type Update = z.infer<typeof UpdateSchema>;

/** Ack body of `round:update`: the update counts towards the round. */
export const UpdateReplySchema = z.object({ accepted: z.literal(true) });
export type UpdateReply = z.infer<typeof UpdateReplySchema>;

export const WithdrawSchema = z.strictObject({
  runId,
  round,
  /**
   * The attempt the client is leaving (its round:start's). A withdrawal from an earlier attempt
   * (a late refusal, or one from a coordinator it reconnected away from) leaves a later attempt of
   * the same round alone. Without it the withdrawal applies to whichever attempt is open.
   */
  attempt: z.number().int().min(1).optional(),
  reason: z.string().max(200),
});
export type Withdraw = z.infer<typeof WithdrawSchema>;

export const RoundEndSchema = z.strictObject({
  runId,
  round,
  status: z.enum(['completed', 'abandoned']),
  reason: z.string().optional(),
  participants: z.number().int(),
  metrics: z.record(z.string(), z.number()),
});
export type RoundEnd = z.infer<typeof RoundEndSchema>;

export const RunEndSchema = z.strictObject({
  runId,
  status: z.enum(['finished', 'stopped']),
  rounds: z.number().int(),
  metrics: z.record(z.string(), z.number()),
});
export type RunEnd = z.infer<typeof RunEndSchema>;

export const WireErrorSchema = z.strictObject({
  code: z.enum(ERROR_CODES),
  message: z.string(),
  /** `rate_limited`: when to try again, in ms (at most 10 minutes). */
  retryAfterMs: z.number().int().min(0).max(600_000).optional(),
});

/** Ack of an event: `{ ok: true }` with the event's ack body, or a typed error. */
export type Ack<T> = ({ ok: true } & T) | { ok: false; error: WireError };

export function ackError(error: WireError): { ok: false; error: WireError } {
  return { ok: false, error };
}

/**
 * Validates an ack (the reply to `event`). A refusal becomes the FedlinkError it carries; an ack
 * that is neither a refusal nor `{ ok: true, ...body }` with a valid body is a `bad_request`.
 */
export function parseAck<S extends z.ZodType>(body: S, reply: unknown, event: string): z.infer<S> {
  const r = reply !== null && typeof reply === 'object' ? (reply as { ok?: unknown; error?: unknown }) : undefined;
  if (r?.ok === false) {
    const e = WireErrorSchema.safeParse(r.error);
    throw e.success
      ? new FedlinkError(e.data.code, e.data.message, e.data.retryAfterMs !== undefined ? { retryAfterMs: e.data.retryAfterMs } : {})
      : new FedlinkError('bad_request', `malformed error reply to ${event}`);
  }
  if (r?.ok !== true) throw new FedlinkError('bad_request', `malformed reply to ${event}`);
  return parseMessage(body, reply, `reply to ${event}`);
}

/**
 * Validates a raw inbound message. Throws a `bad_request` FedlinkError naming the first offending
 * field; never echoes the (possibly huge) input back.
 */
export function parseMessage<S extends z.ZodType>(schema: S, raw: unknown, what: string): z.infer<S> {
  let res: z.ZodSafeParseResult<z.infer<S>>;
  try {
    res = schema.safeParse(raw) as z.ZodSafeParseResult<z.infer<S>>;
  } catch {
    // zod throws (TypeError) on some hostile shapes, e.g. a null-prototype object where a string
    // belongs, when it formats its issue: still a malformed message, not a crash.
    throw new FedlinkError('bad_request', `malformed ${what}: a value of a type that cannot be read`);
  }
  if (res.success) return res.data;
  const issue = res.error.issues[0];
  const where = issue && issue.path.length ? issue.path.map(String).join('.').slice(0, 80) : 'message';
  throw new FedlinkError('bad_request', `malformed ${what}: ${where}: ${(issue?.message ?? 'invalid').slice(0, 120)}`);
}
