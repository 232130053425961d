import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './processes.js';

/**
 * Real Redis and PostgreSQL for the cluster and store tests: Debian's `redis-server` and
 * `postgresql`, started as plain processes on loopback with temporary directories and free
 * ports, and stopped after. Never an in-memory imitation, and never a silent skip: a machine
 * without the binaries fails with what to install (`.ci/run` installs them).
 */

const MISSING = (what: string, pkg: string) =>
  new Error(`${what} not found: install Debian's ${pkg} (apt-get install -y ${pkg}); .ci/run does this in CI`);

async function waitForPort(port: number, timeoutMs: number, child: ChildProcess, what: string, output: () => string): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what} exited (${child.exitCode}) before listening on ${port}\n${output()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`${what} did not listen on ${port} within ${timeoutMs} ms\n${output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface RedisService {
  url: string;
  port: number;
  /** Stops the server (SIGTERM, then SIGKILL) and removes its directory. */
  stop(): Promise<void>;
}

export async function startRedis(): Promise<RedisService> {
  const bin = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find((p) => existsSync(p));
  if (!bin) throw MISSING('redis-server', 'redis-server');
  const dir = mkdtempSync(join(tmpdir(), 'fedlink-redis-'));
  const port = await freePort();
  const child = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--protected-mode', 'yes'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitForPort(port, 20_000, child, 'redis-server', () => out);
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function postgresBinDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'pg_ctl'))).sort((a, b) => Number(b) - Number(a)) : [];
  if (versions.length === 0) throw MISSING('PostgreSQL (initdb, pg_ctl under /usr/lib/postgresql/*/bin)', 'postgresql');
  return join(root, versions[0]!, 'bin');
}

export interface PostgresService {
  /** postgres://postgres@127.0.0.1:PORT/fedlink */
  url: string;
  port: number;
  stop(): Promise<void>;
}

/**
 * initdb + pg_ctl in a temporary directory owned by the `postgres` user (PostgreSQL refuses to
 * run as root), trust authentication on loopback only, one database `fedlink`.
 */
export async function startPostgres(): Promise<PostgresService> {
  const bin = postgresBinDir();
  const asRoot = process.getuid?.() === 0;
  const runAs = (cmd: string, args: string[]) => (asRoot ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args]) as [string, string[]];
  const dir = mkdtempSync(join(tmpdir(), 'fedlink-pg-'));
  const data = join(dir, 'data');
  chmodSync(dir, 0o755);
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    chownSync(dir, uid, gid);
  }
  const port = await freePort();
  const exec = (cmd: string, args: string[]) => {
    const [c, a] = runAs(cmd, args);
    try {
      return execFileSync(c, a, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 }).toString();
    } catch (e) {
      const err = e as { stderr?: Buffer; stdout?: Buffer; message: string };
      throw new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${err.stdout?.toString() ?? ''}${err.stderr?.toString() ?? ''}`);
    }
  };
  exec(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
  // Socket directory inside the temp dir (the system's /var/run/postgresql may not exist or be writable).
  const opts = `-h 127.0.0.1 -p ${port} -k ${dir} -c fsync=off -c max_connections=200`;
  exec(join(bin, 'pg_ctl'), ['-D', data, '-l', join(dir, 'log'), '-o', opts, '-w', '-t', '60', 'start']);
  exec(join(bin, 'createdb'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', 'fedlink']);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/fedlink`,
    port,
    async stop() {
      try {
        exec(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
