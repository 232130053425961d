import { ClientRegistry, leavesOf, type ClientSession } from '@fedlink/coordinator';

const peer = (id: string) => ({ id, address: '127.0.0.1', emit: () => undefined, request: async () => ({ ok: true }), disconnect: () => undefined });
const session = (clientId: string, peerId: string, edge?: { clients: number }): Omit<ClientSession, 'roundsCompleted'> => ({
  clientId,
  peer: peer(peerId),
  signPublicKey: new Uint8Array(32),
  boxPublicKey: new Uint8Array(32),
  sharedKey: async () => new Uint8Array(32),
  numExamples: 10,
  platform: 'node',
  backend: 'test',
  joinedAt: 0,
  lastSeen: 0,
  ...(edge ? { edge: true, edgeSummary: { clients: edge.clients, examples: 10 * edge.clients } } : {}),
});

describe('ClientRegistry.leafCount (kept as sessions change, not recounted per join)', () => {
  test('equals the sum over the sessions through joins, an edge re-summarising, reconnections and leaves', () => {
    const r = new ClientRegistry();
    const recount = () => r.sessions().reduce((n, s) => n + leavesOf(s), 0);
    const steps: [string, () => void, number][] = [
      ['two clients', () => (r.add(session('a', 'p1')), r.add(session('b', 'p2'))), 2],
      ['an edge with 5 leaves', () => r.add(session('e', 'p3', { clients: 5 })), 7],
      ['the edge now has 8', () => r.setEdgeSummary('e', { clients: 8, examples: 80 }), 10],
      ['a summary for an ordinary client is ignored', () => r.setEdgeSummary('a', { clients: 50, examples: 500 }), 10],
      ['a reconnects on a new connection (replaces, not adds)', () => r.add(session('a', 'p4')), 10],
      ['its old connection closing removes nothing', () => r.removePeer('p1', 'disconnected'), 10],
      ['the edge reconnects with 3 leaves', () => r.add(session('e', 'p5', { clients: 3 })), 5],
      ['b leaves', () => r.removePeer('p2', 'disconnected'), 4],
      ['an unknown connection closing', () => r.removePeer('nope', 'disconnected'), 4],
      ['the edge leaves', () => r.removePeer('p5', 'disconnected'), 1],
    ];
    for (const [what, step, expected] of steps) {
      step();
      expect([what, r.leafCount()]).toEqual([what, expected]);
      expect([what, r.leafCount()]).toEqual([what, recount()]);
    }
  });

  test('waitForClients resolves on the join that reaches the count', async () => {
    const r = new ClientRegistry();
    const waiting = r.waitForClients(6, 5_000);
    r.add(session('a', 'p1'));
    r.add(session('e', 'p2', { clients: 4 }));
    let settled = false;
    void waiting.then(() => (settled = true));
    await new Promise((res) => setImmediate(res));
    expect(settled).toBe(false);
    r.setEdgeSummary('e', { clients: 5, examples: 50 });
    await expect(waiting).resolves.toBe(true);
  });
});
