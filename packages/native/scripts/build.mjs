#!/usr/bin/env node
// Install step of @fedlink/native: compiles the addon with node-gyp. It never fails the install:
// when there is no compiler (or the build breaks) it says so and exits 0, and fedlink trains on
// its wasm kernels instead. `node scripts/build.mjs --help` prints this.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

if (process.argv.includes('--help')) {
  console.log('usage: node scripts/build.mjs   (builds build/Release/fedlink_native.node; exits 0 even if that fails)\n' +
    'env: FEDLINK_NATIVE_SKIP_BUILD=1 skips the build; CXX/CC pick the compiler.');
  process.exit(0);
}
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const fallback = (why) => {
  console.log(`@fedlink/native: not built (${why}); fedlink will use its wasm kernels`);
  process.exit(0);
};
if (process.env.FEDLINK_NATIVE_SKIP_BUILD === '1') fallback('FEDLINK_NATIVE_SKIP_BUILD=1');

/** node-gyp: npm's own copy (npm_config_node_gyp), else one resolvable from here or from npm. */
function findNodeGyp() {
  const candidates = [process.env.npm_config_node_gyp];
  const require = createRequire(import.meta.url);
  try {
    candidates.push(require.resolve('node-gyp/bin/node-gyp.js'));
  } catch { /* not a dependency here */ }
  const prefix = dirname(dirname(process.execPath));
  candidates.push(join(prefix, 'lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'));
  return candidates.find((c) => c && existsSync(c));
}

const gyp = findNodeGyp();
if (!gyp) fallback('node-gyp not found');
const args = [gyp, 'rebuild'];
// Use the headers next to this node (Debian's /usr/include/node) so the build needs no download.
const prefix = dirname(dirname(process.execPath));
if (existsSync(join(prefix, 'include/node/common.gypi'))) args.push(`--nodedir=${prefix}`);
const r = spawnSync(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
if (r.status !== 0) {
  const tail = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-3).join(' | ');
  fallback(`node-gyp exited ${r.status ?? r.signal}: ${tail}`);
}
console.log('@fedlink/native: built build/Release/fedlink_native.node');
