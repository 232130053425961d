// Loader of the native kernels. loadNative() returns the addon, or undefined when it was not
// built (no compiler at install), fails to load, or FEDLINK_NATIVE=0 says to act as if absent;
// nativeLoadError() says why. Never throws.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
let cached;
let why;

export function addonPath() {
  return join(here, 'build', 'Release', 'fedlink_native.node');
}

export function loadNative() {
  if (process.env.FEDLINK_NATIVE === '0') {
    why = 'disabled by FEDLINK_NATIVE=0';
    return undefined;
  }
  if (cached) return cached;
  try {
    cached = createRequire(import.meta.url)(addonPath());
    why = undefined;
    return cached;
  } catch (e) {
    why = `addon not loadable: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`;
    return undefined;
  }
}

export function nativeLoadError() {
  return why;
}
