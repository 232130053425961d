import { mkdir, readFile, rename, writeFile, chmod } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type Identity, generateIdentity, identityFromJson, identityToJson } from '@fedlink/crypto';
import { randomToken } from './secrets.js';

/**
 * The coordinator's state directory (default ./.fedlink/): its identity (so the fingerprint
 * clients pin survives restarts) and the default join token. Secrets are written 0600.
 */
export async function ensureStateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
}

export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  // The state dir may not exist yet (a first `fedlink serve` on a fresh checkout).
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, data, { mode });
  await rename(tmp, path);
  await chmod(path, mode);
}

export async function loadOrCreateIdentity(dir: string): Promise<{ identity: Identity; created: boolean }> {
  const path = join(dir, 'identity.json');
  let text: string | undefined;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    const identity = generateIdentity();
    await writeFileAtomic(path, JSON.stringify(identityToJson(identity), null, 2) + '\n');
    return { identity, created: true };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${path} is not valid JSON: restore it from a backup, or delete it to create a new identity (clients must then pin the new fingerprint)`);
  }
  return { identity: identityFromJson(json), created: false };
}

export async function loadOrCreateJoinToken(dir: string): Promise<string> {
  const path = join(dir, 'join-token');
  try {
    const t = (await readFile(path, 'utf8')).trim();
    if (t) return t;
  } catch {
    /* create below */
  }
  const token = randomToken();
  await writeFileAtomic(path, token + '\n');
  return token;
}



/** The admin token (REST run control, token management): created on first start, kept 0600. */
export async function loadOrCreateAdminToken(dir: string): Promise<string> {
  const path = join(dir, 'admin-token');
  try {
    const t = (await readFile(path, 'utf8')).trim();
    if (t) return t;
  } catch {
    /* create below */
  }
  const token = randomToken('fla_');
  await writeFileAtomic(path, token + '\n');
  return token;
}
