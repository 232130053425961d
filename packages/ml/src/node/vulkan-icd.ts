import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

// Kept free of tfjs imports: the test runner's global setup reads it before any test loads tfjs.

/** Where Linux distributions put the SwiftShader Vulkan driver manifest (Debian's chromium package first). */
const SWIFTSHADER_ICDS = [
  '/usr/lib/chromium/vk_swiftshader_icd.json',
  '/usr/lib/chromium-browser/vk_swiftshader_icd.json',
  '/usr/lib64/chromium-browser/vk_swiftshader_icd.json',
  '/opt/google/chrome/vk_swiftshader_icd.json',
];

/** The SwiftShader Vulkan ICD manifest on this machine, if there is one. */
export function findSwiftShaderIcd(): string | undefined {
  return SWIFTSHADER_ICDS.find((p) => existsSync(p));
}

/** Whether the optional `webgpu` package (Dawn) is installed (resolved, not loaded). */
export function isDawnInstalled(): boolean {
  try {
    createRequire(import.meta.url).resolve('webgpu');
    return true;
  } catch {
    return false;
  }
}
