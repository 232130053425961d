// @ts-check
/**
 * Builds the browser pages into dist/ for the coordinator to serve:
 *   dist/index.html, dist/join.html      the dashboard (/) and the browser client (/join)
 *   dist/assets/*.js                     esbuild bundles (ESM, split: the dashboard loads no tfjs;
 *                                        the webgpu and wasm backends load only when tried)
 *   dist/assets/wasm/*.wasm              tfjs wasm binaries (setWasmPaths points here)
 *   dist/assets/mnist-demo-*.idx         the demo shard: DEMO_COUNT MNIST training digits
 * Type checking is not done here: the root `tsc -b` checks apps/web (tsconfig.json, noEmit).
 */
import { build } from 'esbuild';
import { copyFile, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** "A few hundred digits": enough to see the loss fall, small enough to load instantly. */
const DEMO_COUNT = 300;

const root = fileURLToPath(new URL('..', import.meta.url));
const src = join(root, 'src');
const dist = join(root, 'dist');
const assets = join(dist, 'assets');
const require = createRequire(import.meta.url);
const started = performance.now();

await mkdir(join(assets, 'wasm'), { recursive: true });
// Old bundles and chunks (hashed names) would pile up; the data assets are kept.
await rm(join(assets, 'chunks'), { recursive: true, force: true });
for (const f of await readdir(assets)) if (/\.js(\.map)?$/.test(f)) await rm(join(assets, f));

const result = await build({
  entryPoints: { dashboard: join(src, 'dashboard/main.ts'), join: join(src, 'join/main.ts') },
  outdir: assets,
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022', 'chrome109', 'firefox115', 'safari16'],
  minify: true,
  sourcemap: 'linked',
  metafile: true,
  logLevel: 'warning',
});

for (const f of ['index.html', 'join.html']) await copyFile(join(src, 'pages', f), join(dist, f));
for (const f of ['styles.css', 'favicon.svg']) await copyFile(join(src, 'pages', f), join(assets, f));

const wasmDir = join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
for (const f of await readdir(wasmDir)) if (f.endsWith('.wasm')) await copyFile(join(wasmDir, f), join(assets, 'wasm', f));

await writeDemoShard();

const entries = Object.entries(result.metafile.outputs).filter(([name, o]) => o.entryPoint && name.endsWith('.js'));
const kib = (/** @type {number} */ n) => `${(n / 1024).toFixed(0)} KiB`;
console.log(
  `web: built ${entries.map(([name, o]) => `${name.split('/').pop()} ${kib(o.bytes)}`).join(', ')} in ${((performance.now() - started) / 1000).toFixed(1)} s -> ${dist}`,
);

/** The demo shard as two IDX files, parsed in the page by the same code as uploaded IDX files. */
async function writeDemoShard() {
  const images = join(assets, 'mnist-demo-images.idx');
  const labels = join(assets, 'mnist-demo-labels.idx');
  if (await exists(images) && await exists(labels)) return; // the mnist package does not change
  const { loadMnistPackage } = await import('@fedlink/ml/node');
  const { encodeIdx } = await import('@fedlink/ml');
  // Training digits only: the coordinator evaluates on the held-out part of the same split.
  const { train } = await loadMnistPackage();
  const n = Math.min(DEMO_COUNT, train.count);
  const size = train.height * train.width;
  const pixels = new Uint8Array(n * size);
  for (let i = 0; i < n * size; i++) pixels[i] = Math.round(train.images[i] * 255);
  await writeFile(images, encodeIdx([n, train.height, train.width], pixels));
  await writeFile(labels, encodeIdx([n], train.labels.slice(0, n)));
}

/** @param {string} path */
async function exists(path) {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
