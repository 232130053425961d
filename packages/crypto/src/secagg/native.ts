/**
 * Access to WebCrypto's native Ed25519 and X25519 (Node >= 20, current browsers), which run
 * 10-50x faster than tweetnacl's pure JS. Raw 32-byte private keys (the form tweetnacl uses and
 * Shamir shares) are imported as PKCS#8: a fixed 16-byte DER prefix (RFC 8410) then the key.
 */
const PKCS8_PREFIX = {
  Ed25519: [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20],
  X25519: [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20],
} as const;

export function subtleOrUndefined(): SubtleCrypto | undefined {
  return globalThis.crypto?.subtle;
}

export async function importPrivate(alg: 'Ed25519' | 'X25519', raw: Uint8Array): Promise<CryptoKey> {
  const der = new Uint8Array(48);
  der.set(PKCS8_PREFIX[alg]);
  der.set(raw.subarray(0, 32), 16);
  try {
    return await subtleOrUndefined()!.importKey('pkcs8', der as BufferSource, { name: alg }, false, alg === 'Ed25519' ? ['sign'] : ['deriveBits']);
  } finally {
    der.fill(0);
  }
}

export async function importPublic(alg: 'Ed25519' | 'X25519', raw: Uint8Array): Promise<CryptoKey> {
  return subtleOrUndefined()!.importKey('raw', raw as BufferSource, { name: alg }, false, alg === 'Ed25519' ? ['verify'] : []);
}

/**
 * Runs `test` once (it should compare the native result with tweetnacl's on fixed inputs) and
 * remembers whether native crypto can be trusted on this platform.
 */
export function nativeCheck(test: () => Promise<boolean>): () => Promise<boolean> {
  let result: Promise<boolean> | undefined;
  return () => {
    result ??= (async () => {
      try {
        return subtleOrUndefined() !== undefined && (await test());
      } catch {
        return false; // algorithm not supported here: use tweetnacl
      }
    })();
    return result;
  };
}
