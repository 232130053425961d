/** Messages between the simulator and its worker processes (IPC). */
export interface WorkerStart {
  type: 'start';
  url: string;
  token: string;
  fingerprint: string;
  data: string;
  partition: string;
  seed: number;
  numClients: number;
  /** Which simulated clients this worker hosts (indices into the partition). */
  clients: number[];
  backend: string;
  /** Probability that a selected client vanishes at a random point of a round. */
  dropout: number;
}

export type WorkerReport =
  | { type: 'ready'; backend: string; clients: number }
  | { type: 'client-error'; client: number; message: string }
  | { type: 'done' }
  | { type: 'fatal'; message: string };
