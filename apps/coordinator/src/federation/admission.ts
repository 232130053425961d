import { type Identity, clientIdOf, deferredSharedKey, randomBytes, verifyHello } from '@fedlink/crypto';
import { EVENTS, FedlinkError, type Hello, PROTOCOL_VERSION, fromBase64, parseClientPayload, toBase64 } from '@fedlink/protocol';
import type { ClientRegistry, ClientSession } from './client-registry.js';
import type { JoinAuthority } from './join-authority.js';
import type { Peer } from './peer.js';

/**
 * `auth:challenge` and `hello`: who may join. A hello must carry the protocol version, a valid
 * token (or an allowlisted key), and a signature over this connection's one-time challenge, which
 * proves the client holds the secret key of the identity it claims.
 */
export class Admission {
  private readonly challenges = new Map<string, Uint8Array>();

  constructor(
    private readonly identity: Identity,
    private readonly authority: JoinAuthority,
    private readonly registry: ClientRegistry,
    /** Why edge aggregators may not join this run (edge/edge-policy.ts); undefined: they may. */
    private readonly edgeRefusal?: string,
  ) {}

  challenge(peer: Peer): { nonce: string } {
    const nonce = randomBytes(32);
    this.challenges.set(peer.id, nonce);
    return { nonce: toBase64(nonce) };
  }

  forget(peerId: string): void {
    this.challenges.delete(peerId);
  }

  async admit(peer: Peer, raw: unknown): Promise<ClientSession> {
    // The version is checked before the rest so a client of another version gets a clear reason.
    const version = (raw as { protocol?: unknown } | null)?.protocol;
    if (typeof version === 'number' && version !== PROTOCOL_VERSION) {
      throw new FedlinkError('protocol_mismatch', `coordinator speaks protocol ${PROTOCOL_VERSION}, client sent ${version}`);
    }
    const hello: Hello = parseClientPayload(EVENTS.hello, raw);
    const challenge = this.challenges.get(peer.id);
    // One challenge, one hello: a second hello on the connection (or a replayed one) fails.
    this.challenges.delete(peer.id);
    if (!challenge) throw new FedlinkError('replay', 'no fresh challenge for this connection: request auth:challenge before each hello');
    const signPublicKey = fromBase64(hello.signPublicKey);
    const boxPublicKey = fromBase64(hello.boxPublicKey);
    if (!(await verifyHello(signPublicKey, fromBase64(hello.signature), challenge, peer.id, boxPublicKey))) {
      throw new FedlinkError('bad_signature', 'hello signature does not verify for this connection and challenge');
    }
    const clientId = clientIdOf(signPublicKey);
    await this.authority.authorize(hello.token, clientId);
    const edge = hello.role === 'edge';
    if (edge && this.edgeRefusal !== undefined) throw new FedlinkError('unsupported', `edge aggregators can't join this run: ${this.edgeRefusal}`);
    if (!edge && hello.edge !== undefined) throw new FedlinkError('bad_request', 'only an edge aggregator (hello role edge) may send an edge summary');
    const now = Date.now();
    return this.registry.add({
      clientId,
      peer,
      signPublicKey,
      boxPublicKey,
      sharedKey: deferredSharedKey(boxPublicKey, this.identity.boxSecretKey),
      numExamples: hello.numExamples,
      platform: hello.platform,
      backend: hello.backend,
      ...(hello.name !== undefined ? { name: hello.name } : {}),
      ...(edge ? { edge } : {}),
      ...(edge && hello.edge ? { edgeSummary: hello.edge } : {}),
      joinedAt: now,
      lastSeen: now,
    });
  }
}
