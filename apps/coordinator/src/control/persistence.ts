import type { RunArchive } from '../storage/run-archive.js';
import type { JoinTokens } from '../storage/join-tokens.js';

/** The persistent parts, absent when the coordinator runs in memory only (a Nest provider). */
export class Persistence {
  constructor(
    readonly archive: RunArchive | undefined,
    readonly tokens: JoinTokens | undefined,
  ) {}
}
