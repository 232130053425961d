import nacl from 'tweetnacl';
import { toBase64 } from '@fedlink/protocol';

/** A URL-safe random token from the platform CSPRNG (24 bytes, 192 bits). */
export function randomToken(prefix = 'flj_'): string {
  return prefix + toBase64(nacl.randomBytes(24)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function randomId(prefix: string): string {
  return prefix + Buffer.from(nacl.randomBytes(6)).toString('hex');
}

