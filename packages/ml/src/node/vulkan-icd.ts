import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

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

/**
 * Whether a Linux machine has a GPU device node a hardware Vulkan driver could open: a DRM render
 * node (/dev/dri/renderD*: Intel, AMD, and others through Mesa) or NVIDIA's /dev/nvidia0. Without
 * one, every Vulkan adapter Dawn could find is a software one, so `auto` need not load Dawn (which
 * costs a few hundred ms and prints driver warnings on stderr). Always true off Linux, where the
 * GPU APIs (Metal, D3D12) have no such nodes to look for.
 */
export function hasGpuDeviceNode(platform: NodeJS.Platform = process.platform, devDir = '/dev'): boolean {
  if (platform !== 'linux') return true;
  if (existsSync(join(devDir, 'nvidia0'))) return true;
  try {
    return readdirSync(join(devDir, 'dri')).some((name) => name.startsWith('renderD'));
  } catch {
    return false;
  }
}
