import type { LoadOptions } from '@fedlink/ml/node';
import type { AttackSpec } from './attacks.js';

/** Messages between the simulator and its worker processes (IPC, structured-clone serialization). */
export interface WorkerStart {
  type: 'start';
  url: string;
  token: string;
  fingerprint: string;
  /** A tree: client i joins edges[edgeOf(i, edges.length)] instead of `url` (see tree.ts). */
  edges?: { url: string; fingerprint: string }[];
  data: string;
  /** csv data: the label column (the iid/shards/dirichlet split cuts by it; encoding waits for the welcome). */
  label?: string;
  /** images:<dir>: the size photos are resized to ([h, w, c]). */
  imageShape?: [number, number, number];
  /** text:<file-or-dir>: how the text is cut (the same as the simulator's). */
  text?: LoadOptions['text'];
  partition: string;
  /** Federated evaluation: each client holds out this share of its examples and evaluates the global model on it. */
  holdout?: number;
  seed: number;
  numClients: number;
  /** Which simulated clients this worker hosts (indices into the partition). */
  clients: number[];
  backend: string;
  /** Probability that a selected client vanishes at a random point of a round. */
  dropout: number;
  /** The attack the clients in `attackers` run (see attacks.ts); absent: everyone is honest. */
  attack?: AttackSpec;
  attackers: number[];
  /** ALIE's z when the attack does not set one. */
  alieZ: number;
}

/** ALIE collusion: an attacker's honest delta to the simulator, and every attacker's back. */
export interface CollusionPost {
  type: 'collude';
  key: string;
  delta: Float32Array;
}
export interface CollusionReply {
  type: 'collusion';
  key: string;
  deltas: Float32Array[];
}

export type WorkerReport =
  | { type: 'ready'; backend: string; clients: number }
  | { type: 'client-error'; client: number; message: string }
  /** A hosted client got its first welcome. */
  | { type: 'joined'; client: number }
  /** This worker process's peak resident set so far (process.resourceUsage().maxRSS, KiB). */
  | { type: 'rss'; maxRssKiB: number }
  | { type: 'done' }
  | CollusionPost
  | { type: 'fatal'; message: string };
