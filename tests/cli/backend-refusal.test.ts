// What `--backend X` prints when X does not start: for native, why the addon is missing and what to do.
import { backendRefusal } from '@fedlink/cli';

const refusedIn = (why: string) => `could not initialise tfjs backend 'native' in Node: ${why}`;

describe('backend refusal wording', () => {
  test('native, addon not built: says it was not built at install and how to fix it', () => {
    const msg = backendRefusal('native', refusedIn("addon not loadable: Cannot find module '/x/build/Release/fedlink_native.node'"));
    expect(msg).toMatch(/^backend 'native' could not be initialised: the @fedlink\/native C\+\+ addon was not built at install/);
    expect(msg).toContain('npm rebuild @fedlink/native');
    expect(msg).toContain('--backend fedlink');
  });

  test('native, disabled by FEDLINK_NATIVE=0', () => {
    expect(backendRefusal('native', refusedIn('disabled by FEDLINK_NATIVE=0'))).toContain('disabled by FEDLINK_NATIVE=0');
  });

  test('native, another load failure: quotes the reason', () => {
    expect(backendRefusal('native', refusedIn('wasm SIMD/threads unavailable'))).toContain('unavailable (wasm SIMD/threads unavailable)');
  });

  test('other backends keep their wording and add the reason when there is one', () => {
    expect(backendRefusal('tensorflow', 'x')).toBe("backend 'tensorflow' needs @tensorflow/tfjs-node installed (npm install @tensorflow/tfjs-node)");
    expect(backendRefusal('webgpu', "could not initialise tfjs backend 'webgpu' in Node: no adapter")).toBe("backend 'webgpu' could not be initialised: no adapter");
    expect(backendRefusal('cpu', 'boom')).toBe("backend 'cpu' could not be initialised");
  });
});
