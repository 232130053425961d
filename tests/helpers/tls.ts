import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestPki {
  dir: string;
  /** PEM of the private CA (what `fedlink join --ca` trusts). */
  ca: string;
  caFile: string;
  /** Server certificate for 127.0.0.1 / localhost, signed by the CA, and its key. */
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
  cleanup(): Promise<void>;
}

/** A throwaway private CA and a server certificate for loopback, made with the openssl CLI (the same commands docs/SECURITY.md shows). */
export async function makeTestPki(): Promise<TestPki> {
  const dir = await mkdtemp(join(tmpdir(), 'fedlink-pki-'));
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=fedlink test CA');
  run('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  await writeFile(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  run('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'server.ext');
  const read = (f: string) => readFile(join(dir, f), 'utf8');
  return {
    dir,
    ca: await read('ca.pem'),
    caFile: join(dir, 'ca.pem'),
    cert: await read('server.pem'),
    key: await read('server.key'),
    certFile: join(dir, 'server.pem'),
    keyFile: join(dir, 'server.key'),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}
