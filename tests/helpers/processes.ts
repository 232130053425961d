import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const FEDLINK_BIN = fileURLToPath(new URL('../../apps/cli/bin/fedlink.js', import.meta.url));

/** A child process whose output is collected, with waits on what it printed. */
export class Proc {
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;
  private readonly waiters: (() => void)[] = [];

  constructor(readonly child: ChildProcess) {
    child.stdout?.on('data', (d: Buffer) => {
      this.stdout += d.toString();
      this.waiters.splice(0).forEach((w) => w());
    });
    child.stderr?.on('data', (d: Buffer) => {
      this.stderr += d.toString();
      this.waiters.splice(0).forEach((w) => w());
    });
    this.exited = new Promise((resolve) =>
      child.on('exit', (code) => {
        resolve(code);
        this.waiters.splice(0).forEach((w) => w());
      }),
    );
  }

  /** Resolves with the first match of `re` in stdout; fails at the deadline or if the process exits first. */
  async waitFor(re: RegExp, timeoutMs = 60_000, what = String(re)): Promise<RegExpMatchArray> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const m = re.exec(this.stdout);
      if (m) return m;
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`process exited (${this.child.exitCode ?? this.child.signalCode}) before printing ${what}\nstdout:\n${this.stdout}\nstderr:\n${this.stderr.slice(-4000)}`);
      }
      const left = until - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}\nstdout:\n${this.stdout}\nstderr:\n${this.stderr.slice(-4000)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** The exit code, or an error with what the process printed if it is still running at the deadline. */
  async exit(timeoutMs = 120_000): Promise<number | null> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`process still running after ${timeoutMs} ms\nstdout:\n${this.stdout}\nstderr:\n${this.stderr.slice(-6000)}`)), timeoutMs);
    });
    try {
      return await Promise.race([this.exited, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }
}

export function spawnNode(args: string[], opts: { stdin?: boolean } = {}): Proc {
  return new Proc(spawn(process.execPath, args, { stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] }));
}

export function spawnFedlink(args: string[]): Proc {
  return spawnNode([FEDLINK_BIN, ...args]);
}

/** The kernel's range for ephemeral ports (outgoing connections, listen(0)); Linux's default where it can't be read. */
function ephemeralRange(): [number, number] {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(lo) && Number.isInteger(hi)) return [lo!, hi!];
  } catch {
    /* not Linux */
  }
  return [32768, 60999];
}

async function listensOn(port: number): Promise<number | undefined> {
  const server = createServer();
  const bound = await new Promise<boolean>((r) => {
    server.once('error', () => r(false));
    server.listen(port, '127.0.0.1', () => r(true));
  });
  if (!bound) return undefined;
  const got = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return got;
}

/**
 * A loopback port that was free a moment ago (a restarted coordinator must get the same one),
 * picked below the ephemeral range: a port listen(0) hands out is one any outgoing connection of
 * another test may take before the process meant for it listens (EADDRINUSE in CI). Random, so
 * parallel suites rarely pick the same one; listen(0) only if no port there is free.
 */
export async function freePort(): Promise<number> {
  const [lo] = ephemeralRange();
  const floor = Math.max(1024, lo - 12_000);
  for (let i = 0; i < 50 && lo - floor > 100; i++) {
    const port = await listensOn(floor + Math.floor(Math.random() * (lo - floor)));
    if (port !== undefined) return port;
  }
  return (await listensOn(0))!;
}

/** The arguments of the `npx fedlink join ...` line a `fedlink serve` process prints, once it has printed it. */
export function joinLineOf(serve: ChildProcess, output: () => string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const t = setInterval(() => {
      const m = /npx fedlink join (.*)/.exec(output());
      if (m) {
        clearInterval(t);
        resolve(m[1]!);
      }
    }, 50);
    serve.on('exit', (c) => {
      clearInterval(t);
      reject(new Error(`serve exited ${c}: ${output()}`));
    });
  });
}
