import { execSync } from 'node:child_process';
import { subset } from '@fedlink/ml';
import { loadMnistPackage } from '@fedlink/ml/node';
import { type Browser, chromium } from 'playwright-core';
import { TEST_TOKEN, startTestCoordinator } from '../helpers/coordinator.js';
import { makeTestPki, type TestPki } from '../helpers/tls.js';
import { CHROMIUM, collectPageErrors, describeBrowser, joinWithDemo, openJoinPage, readHook, waitForRunEnd } from './browser.js';

/** base64 SHA-256 of the certificate's public key: what Chromium's SPKI allow-list takes. */
function spkiHash(certFile: string): string {
  return execSync(`openssl x509 -in '${certFile}' -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64`).toString().trim();
}

describeBrowser('the browser client over https (serve --tls-cert/--tls-key)', () => {
  let browser: Browser;
  let pki: TestPki;

  beforeAll(async () => {
    pki = await makeTestPki();
    // Trust exactly this server key (as a private CA would be trusted by a managed browser), not "any certificate".
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', `--ignore-certificate-errors-spki-list=${spkiHash(pki.certFile)}`],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await pki?.cleanup();
  });

  test('/join loads over https in a secure context, joins over wss and completes a round', async () => {
    const mnist = await loadMnistPackage();
    const coord = await startTestCoordinator(
      { model: 'mlp', rounds: 1, fit: { epochs: 1, batchSize: 20, learningRate: 0.05, proximalMu: 0 }, selection: { fraction: 1, minFit: 1, minAvailable: 1, overSelect: 0 } },
      { testData: subset(mnist.test, Array.from({ length: 200 }, (_, i) => i)), config: { tls: { cert: pki.cert, key: pki.key } } },
    );
    const errors: string[] = [];
    const context = await browser.newContext();
    try {
      expect(coord.url).toMatch(/^https:/);
      const tab = await context.newPage();
      collectPageErrors(tab, errors);
      await openJoinPage(tab, coord.url, TEST_TOKEN);
      expect(await tab.evaluate(() => [location.protocol, window.isSecureContext])).toEqual(['https:', true]);
      await joinWithDemo(tab);
      const end = await coord.done;
      expect(end.status).toBe('finished');
      expect(coord.store.rounds.map((r) => [r.status, r.reported])).toEqual([['completed', 1]]);
      await waitForRunEnd(tab, 60_000);
      const hook = await readHook(tab);
      expect(hook.errors).toEqual([]);
      expect(hook.runEnd).toMatchObject({ status: 'finished', rounds: 1 });
      expect(errors).toEqual([]);
    } finally {
      await context.close();
      await coord.cleanup();
    }
  });
});
