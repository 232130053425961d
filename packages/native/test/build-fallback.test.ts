/**
 * The install step never fails: a broken compiler (CXX=/bin/false) leaves the addon unbuilt, the
 * script exits 0 and says fedlink falls back to wasm, and the loader then reports the addon absent.
 * A working compiler builds a loadable addon. Both build in a scratch copy of the package, so the
 * addon this checkout uses is left alone.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const pkg = join(process.cwd(), 'packages', 'native');
const scratch: string[] = [];

function copyPackage(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fedlink-native-'));
  scratch.push(dir);
  for (const f of ['binding.gyp', 'package.json', 'index.js', 'src', 'scripts']) cpSync(join(pkg, f), join(dir, f), { recursive: true });
  return dir;
}

function build(dir: string, env: Record<string, string>): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: dir, env: { ...process.env, ...env }, encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

interface Loader {
  loadNative(): { isa(): string; matmul(...args: unknown[]): void } | undefined;
  nativeLoadError(): string | undefined;
}
const loader = async (dir: string): Promise<Loader> => (await import(pathToFileURL(join(dir, 'index.js')).href)) as Loader;

afterAll(() => {
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
});

test('CXX=/bin/false: the build script exits 0, reports the wasm fallback, and the loader says the addon is absent', async () => {
  const dir = copyPackage();
  const r = build(dir, { CXX: '/bin/false', CC: '/bin/false' });
  expect(r.status).toBe(0);
  expect(r.out).toMatch(/@fedlink\/native: not built \(node-gyp exited \d+.*\); fedlink will use its wasm kernels/);
  const l = await loader(dir);
  expect(l.loadNative()).toBeUndefined();
  expect(l.nativeLoadError()).toMatch(/^addon not loadable: /);
});

test('FEDLINK_NATIVE_SKIP_BUILD=1 skips the build with exit 0', () => {
  const r = build(copyPackage(), { FEDLINK_NATIVE_SKIP_BUILD: '1' });
  expect(r.status).toBe(0);
  expect(r.out).toContain('not built (FEDLINK_NATIVE_SKIP_BUILD=1)');
});

test('with a working compiler the script builds an addon that loads and multiplies', async () => {
  const dir = copyPackage();
  const r = build(dir, {});
  expect(r.status).toBe(0);
  if (!r.out.includes('built build/Release')) {
    // No compiler on this machine: the fallback message is the right outcome.
    expect(r.out).toMatch(/fedlink will use its wasm kernels/);
    return;
  }
  const l = await loader(dir);
  const addon = l.loadNative();
  expect(addon).toBeDefined();
  const c = new Float32Array(4);
  addon!.matmul(Float32Array.of(1, 2, 3, 4), Float32Array.of(5, 6, 7, 8), c, null, false, 1, 0, 0, 2, 2, 2, false, false);
  expect(Array.from(c)).toEqual([19, 22, 43, 50]);
});

test('FEDLINK_NATIVE=0 makes the loader treat the addon as absent, saying so', async () => {
  const l = await loader(pkg);
  process.env.FEDLINK_NATIVE = '0';
  try {
    expect(l.loadNative()).toBeUndefined();
    expect(l.nativeLoadError()).toBe('disabled by FEDLINK_NATIVE=0');
  } finally {
    delete process.env.FEDLINK_NATIVE;
  }
});
