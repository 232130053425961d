// Jest global setup: runs once in the parent process, before any test file, so what it puts in
// process.env reaches the real environment of every test process (test files get a copy of env,
// which native code such as the Vulkan loader never reads).
// Not '@fedlink/ml/node': loading tfjs here would put its engine in the process-wide global
// namespace, and test files would then create tensors of another tfjs instance.
import { findSwiftShaderIcd } from '../packages/ml/dist/node/vulkan-icd.js';

export default function globalSetup() {
  // WebGPU tests in Node run on the SwiftShader software adapter that Debian's chromium ships.
  const icd = findSwiftShaderIcd();
  if (icd && !process.env.VK_ICD_FILENAMES) {
    process.env.VK_ICD_FILENAMES = icd;
    process.env.FEDLINK_WEBGPU_SOFTWARE = '1';
  }
}
