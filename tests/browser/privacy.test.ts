import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseIdx } from '@fedlink/ml';
import type { Browser } from 'playwright-core';
import { TEST_TOKEN, startTestCoordinator } from '../helpers/coordinator.js';
import { describeBrowser, joinWithDemo, launchBrowser, openJoinPage, readHook, waitForRunEnd } from './browser.js';

/** One socket.io packet as the browser sent it (socket.io-parser's text encoding). */
interface Packet {
  type: number;
  attachments: number;
  event?: string;
  args: unknown[];
}

/** `<type>[<attachments>-][<nsp>,][<ack id>]<json>` after engine.io's message prefix `4`. */
function parseSocketIo(frame: string): Packet | 'engine.io' {
  if (!frame.startsWith('4')) return 'engine.io'; // ping, pong, upgrade probes
  const m = /^4(\d)(?:(\d+)-)?(?:(\/[^,]*),)?(\d*)(.*)$/s.exec(frame);
  if (!m) throw new Error(`unparseable socket.io frame: ${frame.slice(0, 80)}`);
  const data: unknown = m[5] ? JSON.parse(m[5]) : [];
  const args = Array.isArray(data) ? data : [data];
  const type = Number(m[1]);
  const isEvent = type === 2 || type === 5;
  return { type, attachments: Number(m[2] ?? 0), ...(isEvent ? { event: String(args[0]) } : {}), args: isEvent ? args.slice(1) : args };
}

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

/** 16-byte windows of every demo digit (where its strokes are) as raw bytes and as float32. */
async function demoFingerprints(): Promise<Uint8Array[]> {
  const path = fileURLToPath(new URL('../../apps/web/dist/assets/mnist-demo-images.idx', import.meta.url));
  const images = parseIdx(new Uint8Array(await readFile(path)));
  const [count, h, w] = images.dims as [number, number, number];
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const img = images.data.subarray(i * h * w, (i + 1) * h * w);
    // The first 16 pixels from the first stroke pixel on: unique to this image in practice.
    const start = Math.min(img.findIndex((v) => v > 0), h * w - 16);
    const bytes = img.slice(start, start + 16);
    out.push(bytes, new Uint8Array(Float32Array.from(bytes.subarray(0, 4), (v) => v / 255).buffer));
  }
  return out;
}

describeBrowser('the browser client sends no raw data', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
  });

  test('only GETs of the page, its assets and the model; only hello, acks and sealed updates of the expected sizes', async () => {
    const ROUNDS = 2;
    const coord = await startTestCoordinator({ model: 'mlp', rounds: ROUNDS, fit: { epochs: 1, batchSize: 50, learningRate: 0.05, proximalMu: 0 }, selection: { fraction: 1, minFit: 1, minAvailable: 1, overSelect: 0 } });
    const context = await browser.newContext();
    const requests: { method: string; url: string; body: string | null }[] = [];
    const sockets: string[] = [];
    const text: string[] = [];
    const binary: Uint8Array[] = [];
    context.on('request', (r) => requests.push({ method: r.method(), url: r.url(), body: r.postData() }));
    try {
      const tab = await context.newPage();
      tab.on('websocket', (ws) => {
        sockets.push(ws.url());
        ws.on('framesent', (f) => (typeof f.payload === 'string' ? text.push(f.payload) : binary.push(new Uint8Array(f.payload))));
      });
      const page = await tab.goto(`${coord.url}/join?token=${TEST_TOKEN}`);
      // The browser itself refuses connections anywhere but the coordinator (CSP), and the page
      // is cross-origin isolated (COOP/COEP: wasm threads get SharedArrayBuffer).
      const headers = page!.headers();
      expect(headers['content-security-policy']).toContain("connect-src 'self'");
      expect(headers['cross-origin-opener-policy']).toBe('same-origin');
      expect(headers['cross-origin-embedder-policy']).toBe('require-corp');
      await openJoinPage(tab, coord.url, TEST_TOKEN);
      expect(await tab.evaluate(() => crossOriginIsolated)).toBe(true);
      await joinWithDemo(tab);
      await waitForRunEnd(tab, 120_000);
      const hook = await readHook(tab);
      expect(hook.runEnd).toMatchObject({ status: 'finished', rounds: ROUNDS });

      // HTTP: nothing but GETs without a body, to the coordinator, for the page and what it needs.
      const origin = new URL(coord.url).origin;
      const allowed = [/^\/join$/, /^\/assets\/[\w./-]+$/, /^\/api\/model$/, /^\/socket\.io\/$/];
      for (const r of requests) {
        const u = new URL(r.url);
        expect({ ...r, ok: r.method === 'GET' && r.body === null && u.origin === origin && allowed.some((re) => re.test(u.pathname)) }).toMatchObject({ ok: true });
      }
      expect(sockets.every((s) => new URL(s).host === new URL(coord.url).host && new URL(s).pathname === '/socket.io/')).toBe(true);

      // socket.io: a challenge, one hello, acks of round:start, and one sealed update per round.
      const packets = text.map(parseSocketIo).filter((p): p is Packet => p !== 'engine.io');
      const events = packets.filter((p) => p.event !== undefined).map((p) => p.event);
      expect(events.sort()).toEqual(['auth:challenge', 'hello', ...Array<string>(ROUNDS).fill('round:update')].sort());
      for (const t of text) expect(t.length).toBeLessThan(2048);

      const hello = packets.find((p) => p.event === 'hello')!.args[0] as Record<string, unknown>;
      expect(Object.keys(hello).sort()).toEqual(['backend', 'boxPublicKey', 'name', 'numExamples', 'platform', 'protocol', 'signPublicKey', 'signature', 'token'].sort());
      // Of the data, hello tells only how much there is.
      expect(hello).toMatchObject({ platform: 'browser', backend: 'webgl', numExamples: 300, token: TEST_TOKEN });

      for (const p of packets.filter((x) => x.event === 'round:update')) {
        expect(p.attachments).toBe(2);
        const u = p.args[0] as Record<string, unknown>;
        expect(Object.keys(u).sort()).toEqual(['envelope', 'metrics', 'numExamples', 'round', 'runId']);
        expect(u.envelope).toEqual({ nonce: { _placeholder: true, num: 0 }, ciphertext: { _placeholder: true, num: 1 } });
        expect(Object.values(u.metrics as object).every((v) => typeof v === 'number')).toBe(true);
      }
      const acks = packets.filter((p) => p.type === 3);
      expect(acks.map((a) => a.args)).toEqual(Array(ROUNDS).fill([{ ok: true }]));

      // Binary frames: per round a 24-byte nonce and the sealed delta of exactly the model's size.
      const sizes = binary.map((b) => b.length).sort((a, b) => a - b);
      expect(sizes).toEqual([...Array<number>(ROUNDS).fill(24), ...Array<number>(ROUNDS).fill(coord.context.maxUpdateBytes)]);

      // And no demo digit, as bytes or as floats, appears in anything sent.
      const sent = [...binary, ...text.map((t) => new TextEncoder().encode(t))];
      const fingerprints = await demoFingerprints();
      expect(fingerprints.length).toBe(600);
      // The detector works: a digit's windows are found in data that does hold it.
      const demo = new Uint8Array(await readFile(fileURLToPath(new URL('../../apps/web/dist/assets/mnist-demo-images.idx', import.meta.url))));
      expect(contains(demo, fingerprints[598]!)).toBe(true);
      expect(contains(new Uint8Array(Float32Array.from(demo.subarray(16), (v) => v / 255).buffer), fingerprints[599]!)).toBe(true);
      const leaks = fingerprints.filter((f) => sent.some((s) => contains(s, f)));
      expect(leaks).toHaveLength(0);
    } finally {
      await context.close();
      await coord.cleanup();
    }
  }, 240_000);
});
