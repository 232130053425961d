import { clientIdOf, identityFromSeed } from '@fedlink/crypto';
import nacl from 'tweetnacl';

/**
 * Simulated client i's keys: the same for the same seed (so the same id, selection and batch
 * order every run). Simulated keys never leave loopback.
 */
export function simulatedIdentity(seed: number, client: number) {
  return identityFromSeed(nacl.hash(new TextEncoder().encode(`fedlink/simulated-client/${seed}/${client}`)).slice(0, 32));
}

/** Simulated client i's id, as every coordinator it joins knows it. */
export function simulatedClientId(seed: number, client: number): string {
  return clientIdOf(simulatedIdentity(seed, client).signPublicKey);
}
