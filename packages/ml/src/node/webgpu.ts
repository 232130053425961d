/**
 * WebGPU in Node: Google's Dawn through the `webgpu` npm package (an optional dependency, prebuilt
 * for linux/mac/windows, nothing downloaded at install), with tfjs's WebGPU backend on top. Dawn
 * picks the machine's GPU through its Vulkan (Linux), Metal or D3D12 driver.
 *
 * A software adapter (SwiftShader, llvmpipe/lavapipe, or one Dawn marks as fallback) runs every
 * shader on the CPU: right for checking correctness, far slower than the CPU backends for training.
 * `auto` therefore takes WebGPU only on a hardware adapter; `--backend webgpu` takes whatever
 * adapter there is. FEDLINK_WEBGPU_SOFTWARE=1 points Vulkan at the SwiftShader driver that
 * Debian's chromium package ships (what the tests run on a GPU-less machine).
 */
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { findSwiftShaderIcd, hasGpuDeviceNode } from './vulkan-icd.js';

export interface WebgpuAdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** SwiftShader, llvmpipe/lavapipe or a fallback adapter: shaders run on the CPU. */
  software: boolean;
}

/** Describes an adapter from its GPUAdapterInfo (fields are getters, so read them one by one). */
export function describeAdapter(info: { vendor?: string; architecture?: string; device?: string; description?: string } | undefined, isFallback = false): WebgpuAdapterDescription {
  const d = {
    vendor: info?.vendor ?? '',
    architecture: info?.architecture ?? '',
    device: info?.device ?? '',
    description: info?.description ?? '',
  };
  const text = `${d.vendor} ${d.architecture} ${d.device} ${d.description}`.toLowerCase();
  return { ...d, software: isFallback || /swiftshader|llvmpipe|lavapipe|softpipe|software|microsoft basic render/.test(text) };
}

export function adapterLabel(a: WebgpuAdapterDescription): string {
  const name = [a.vendor, a.architecture, a.device].filter(Boolean).join(' ') || 'unknown adapter';
  return `${name}${a.description ? ` (${a.description})` : ''}${a.software ? ', software: shaders run on the CPU' : ''}`;
}

interface DawnModule {
  create(options: string[]): GPU;
  globals: Record<string, unknown>;
}

let gpu: GPU | undefined;

/** Loads Dawn once; undefined when the optional `webgpu` package is not installed or can't load here. */
async function loadDawn(): Promise<GPU | undefined> {
  if (gpu) return gpu;
  if (process.env.FEDLINK_WEBGPU_SOFTWARE === '1' && !process.env.VK_ICD_FILENAMES) {
    const icd = findSwiftShaderIcd();
    if (icd) process.env.VK_ICD_FILENAMES = icd;
  }
  // The Vulkan loader complains (harmlessly) without a runtime dir; give it a private one.
  if (!process.env.XDG_RUNTIME_DIR) {
    const dir = join(tmpdir(), `fedlink-xdg-${process.getuid?.() ?? 'user'}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    process.env.XDG_RUNTIME_DIR = dir;
  }
  let dawn: DawnModule;
  try {
    const name = 'webgpu';
    dawn = (await import(name)) as DawnModule;
  } catch {
    return undefined;
  }
  // tfjs's backend reads GPUBufferUsage and friends from the global scope, and the GPU from navigator.
  for (const [k, v] of Object.entries(dawn.globals)) if (!(k in globalThis)) Object.defineProperty(globalThis, k, { value: v, configurable: true, writable: true });
  gpu = dawn.create([]);
  const nav = (globalThis as { navigator?: object }).navigator;
  if (nav) Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true });
  else Object.defineProperty(globalThis, 'navigator', { value: { gpu, userAgent: `Node.js ${process.version}` }, configurable: true, writable: true });
  return gpu;
}

/** The adapter Dawn would give tfjs, or undefined when there is none (no GPU driver, no `webgpu` package). */
export async function probeWebgpuAdapter(): Promise<WebgpuAdapterDescription | undefined> {
  const g = await loadDawn();
  if (!g) return undefined;
  let adapter: GPUAdapter | null;
  try {
    adapter = await g.requestAdapter({ powerPreference: 'high-performance' });
  } catch {
    return undefined;
  }
  if (!adapter) return undefined;
  // `info` and `isFallbackAdapter` are newer than TypeScript's DOM typings of GPUAdapter.
  const a = adapter as unknown as { info?: Parameters<typeof describeAdapter>[0]; isFallbackAdapter?: boolean };
  return describeAdapter(a.info, a.isFallbackAdapter === true);
}

/**
 * Starts tfjs's WebGPU backend on Dawn. With `hardwareOnly` (what `auto` asks), a software adapter
 * is declined. Returns the adapter it runs on, or why it could not start.
 */
export async function startWebgpu(hardwareOnly: boolean): Promise<{ adapter: WebgpuAdapterDescription } | { refused: string }> {
  if (hardwareOnly && !hasGpuDeviceNode()) return { refused: 'no GPU device on this machine (no /dev/dri/renderD* or /dev/nvidia0), so any WebGPU adapter would be a software one' };
  const adapter = await probeWebgpuAdapter();
  if (!adapter) {
    return gpu
      ? { refused: 'no WebGPU adapter: no GPU with a working driver (Vulkan on Linux) was found; FEDLINK_WEBGPU_SOFTWARE=1 uses the SwiftShader software adapter (tests only)' }
      : { refused: "the optional 'webgpu' package (Dawn) is not installed or cannot load on this platform" };
  }
  if (hardwareOnly && adapter.software) return { refused: `the WebGPU adapter is a software one (${adapterLabel(adapter)})` };
  try {
    await import('@tensorflow/tfjs-backend-webgpu');
    if (!(await tf.setBackend('webgpu'))) return { refused: 'tfjs could not start its webgpu backend on this adapter' };
  } catch (e) {
    return { refused: `tfjs webgpu backend failed: ${(e as Error).message}` };
  }
  return { adapter };
}
