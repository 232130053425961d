import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FEDLINK_BIN, joinLineOf } from '../helpers/processes.js';
import { makeTestPki } from '../helpers/tls.js';

describe('fedlink serve --tls-cert/--tls-key and fedlink join --ca', () => {
  test('serve prints https URLs; a device joins over wss trusting the private CA and finishes the run', async () => {
    const pki = await makeTestPki();
    const dir = await mkdtemp(join(tmpdir(), 'fedlink-tls-'));
    const serve = spawn(
      process.execPath,
      [FEDLINK_BIN, 'serve', '--port', '0', '--state-dir', join(dir, 'state'), '--model', 'mlp', '--rounds', '1', '--min-fit', '1', '--log-level', 'warn', '--tls-cert', pki.certFile, '--tls-key', pki.keyFile, '--exit-on-finish'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    serve.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    try {
      const joinLine = await joinLineOf(serve, () => out);
      expect(out).toMatch(/listening {4}https:\/\/127\.0\.0\.1:\d+/);
      expect(out).toMatch(/https:\/\/127\.0\.0\.1:\d+\/join\?token=/);
      expect(out).toMatch(/add --ca/);
      const args = joinLine.trim().split(/\s+/);
      expect(args[args.indexOf('--server') + 1]).toMatch(/^https:/);
      const device = spawnSync(process.execPath, [FEDLINK_BIN, 'join', ...args, '--ca', pki.caFile, '--backend', 'wasm'], { encoding: 'utf8', timeout: 120_000 });
      expect(device.stderr).toBe('');
      expect(device.status).toBe(0);
      expect(device.stdout).toMatch(/\(pinned\)/);
      expect(device.stdout).toMatch(/round 1: sent \d+ KiB sealed update/);
      expect(device.stdout).toMatch(/run finished/);
      await new Promise((r) => (serve.exitCode === null ? serve.once('exit', r) : r(null)));
      expect(serve.exitCode).toBe(0);
    } finally {
      serve.kill('SIGTERM');
      await rm(dir, { recursive: true, force: true });
      await pki.cleanup();
    }
  });

  test('bad TLS flags are usage errors', () => {
    const run = (...a: string[]) => spawnSync(process.execPath, [FEDLINK_BIN, ...a], { encoding: 'utf8', timeout: 60_000 });
    const half = run('serve', '--tls-cert', '/etc/hostname', '--port', '0');
    expect(half.status).toBe(2);
    expect(half.stderr).toMatch(/--tls-cert and --tls-key go together/);
    const notPem = run('serve', '--tls-cert', '/etc/hostname', '--tls-key', '/etc/hostname', '--port', '0');
    expect(notPem.status).toBe(2);
    expect(notPem.stderr).toMatch(/--tls-cert: \/etc\/hostname is not a PEM file/);
    const caOnHttp = run('join', '--server', 'http://127.0.0.1:1', '--ca', '/etc/hostname');
    expect(caOnHttp.status).toBe(2);
    expect(caOnHttp.stderr).toMatch(/--ca: \/etc\/hostname is not a PEM certificate/);
  });
});
