/**
 * Connection limits for a coordinator (root or edge) that `clients` simulated clients join over
 * loopback at once: they all come from one address and sign their hellos on this machine's cores,
 * so no per-address cap, room for every one of them while it joins, and a handshake deadline that
 * a connection storm fits in.
 */
export function loopbackLimits(clients: number): { maxConnections: number; maxPending: number; maxPerAddress: number; handshakeTimeoutMs: number } {
  return { maxConnections: clients + 16, maxPending: clients + 16, maxPerAddress: 0, handshakeTimeoutMs: 120_000 };
}
