import { type BackendInfo, NODE_BACKEND_CHOICES, type NodeBackendChoice, initBackend } from '@fedlink/ml';

/** `--backend` values: what Node can run (@fedlink/ml decides what `auto` picks). */
export const BACKEND_CHOICES = NODE_BACKEND_CHOICES;
export type BackendChoice = NodeBackendChoice;

/**
 * Starts the tfjs backend for local training (`@fedlink/ml` initBackend) and returns what it
 * chose, for the caller to show; a backend that can't start is worded for the command line.
 */
export async function selectBackendInfo(choice: BackendChoice): Promise<BackendInfo> {
  try {
    return await initBackend(choice);
  } catch (err) {
    throw new Error(refusal(choice, err instanceof Error ? err.message : String(err)));
  }
}

/** The reason @fedlink/ml gave after "could not initialise tfjs backend 'x' in Node: ". */
function reasonOf(message: string): string {
  const m = /^could not initialise tfjs backend '[^']*' in Node: (.*)$/s.exec(message);
  return m ? m[1]!.trim() : '';
}

/** What the command line says when `choice` does not start. */
export function refusal(choice: BackendChoice, message: string): string {
  const why = reasonOf(message);
  switch (choice) {
    case 'tensorflow':
      return "backend 'tensorflow' needs @tensorflow/tfjs-node installed (npm install @tensorflow/tfjs-node)";
    case 'native': {
      const cause =
        why === ''
          ? 'the @fedlink/native addon did not start'
          : /cannot find module/i.test(why)
            ? 'the @fedlink/native C++ addon was not built at install (no working C++ compiler, python3 and make then; the install goes on without it)'
            : /FEDLINK_NATIVE=0/.test(why)
              ? 'the @fedlink/native addon is disabled by FEDLINK_NATIVE=0'
              : `the @fedlink/native addon is unavailable (${why})`;
      return `backend 'native' could not be initialised: ${cause}. Install g++ (or clang++), python3 and make and run \`npm rebuild @fedlink/native\`, or use --backend fedlink (wasm kernels)`;
    }
    default:
      return `backend '${choice}' could not be initialised${why ? `: ${why}` : ''}`;
  }
}

/** selectBackendInfo, returning only the backend name. */
export async function selectBackend(choice: BackendChoice): Promise<string> {
  return (await selectBackendInfo(choice)).name;
}
