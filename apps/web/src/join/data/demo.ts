import { DatasetError, idxToDataset, parseIdx } from '@fedlink/ml';
import { DataProblem, type InputSpec, type LoadedData } from './types.js';

/** The demo shard built into the bundle (scripts/build.mjs): a few hundred MNIST training digits. */
export const DEMO_IMAGES = 'assets/mnist-demo-images.idx';
export const DEMO_LABELS = 'assets/mnist-demo-labels.idx';

async function fetchBytes(url: string): Promise<Uint8Array> {
  const res = await fetch(url);
  if (!res.ok) throw new DataProblem([`the demo digits could not be loaded (${res.status} ${res.statusText})`]);
  return new Uint8Array(await res.arrayBuffer());
}

export async function loadDemoShard(base: string, spec: InputSpec): Promise<LoadedData> {
  if (spec.height !== 28 || spec.width !== 28 || spec.channels !== 1 || spec.numClasses < 10) {
    throw new DataProblem([`the demo digits are 28×28 greyscale MNIST; this run's model takes ${spec.width}×${spec.height}×${spec.channels} with ${spec.numClasses} classes`]);
  }
  const [images, labels] = await Promise.all([fetchBytes(new URL(DEMO_IMAGES, base).href), fetchBytes(new URL(DEMO_LABELS, base).href)]);
  try {
    const dataset = idxToDataset(parseIdx(images, 'demo images'), parseIdx(labels, 'demo labels'), spec.numClasses);
    return { dataset, source: `${dataset.count} demo MNIST digits`, notes: [] };
  } catch (e) {
    throw new DataProblem([e instanceof DatasetError ? e.message : String(e)]);
  }
}
