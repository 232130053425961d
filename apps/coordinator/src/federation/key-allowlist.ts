import { readFileSync, statSync } from 'node:fs';
import { clientIdOf, ed25519PointProblem } from '@fedlink/crypto';
import { FedlinkError, fromBase64 } from '@fedlink/protocol';

/**
 * The `--allow-keys FILE` list: one client per line, as its client id (16 hex digits, what
 * `fedlink keygen` prints) or its base64 Ed25519 signing public key; `#` starts a comment.
 * The file is re-read when it changes, so an operator can add a device without a restart.
 */
export class KeyAllowlist {
  private ids = new Set<string>();
  private mtimeMs = -1;

  constructor(readonly path: string) {
    this.reload();
  }

  has(clientId: string): boolean {
    this.reload();
    return this.ids.has(clientId.toLowerCase());
  }

  get size(): number {
    return this.ids.size;
  }

  private reload(): void {
    let mtime: number;
    try {
      mtime = statSync(this.path).mtimeMs;
    } catch {
      // A missing file admits nobody rather than everybody.
      this.ids = new Set();
      this.mtimeMs = -1;
      return;
    }
    if (mtime === this.mtimeMs) return;
    this.ids = parseAllowlist(readFileSync(this.path, 'utf8'), this.path);
    this.mtimeMs = mtime;
  }
}

export function parseAllowlist(text: string, where = 'allowlist'): Set<string> {
  const ids = new Set<string>();
  text.split('\n').forEach((line, i) => {
    const entry = line.replace(/#.*/, '').trim();
    if (!entry) return;
    if (/^[0-9a-fA-F]{16}$/.test(entry)) {
      ids.add(entry.toLowerCase());
      return;
    }
    let key: Uint8Array | undefined;
    try {
      key = fromBase64(entry);
    } catch {
      key = undefined;
    }
    if (!key || key.length !== 32) throw new RangeError(`${where}:${i + 1}: '${entry.slice(0, 40)}' is neither a client id (16 hex digits) nor a base64 signing key`);
    // A small-order key would be held by everyone: listing it would let any party join as it.
    const problem = ed25519PointProblem(key);
    if (problem) throw new FedlinkError('weak_key', `${where}:${i + 1}: signing key '${entry.slice(0, 44)}' is ${problem === 'small_order' ? 'a small-order point' : 'a non-canonical encoding'}: refused`);
    ids.add(clientIdOf(key));
  });
  return ids;
}
