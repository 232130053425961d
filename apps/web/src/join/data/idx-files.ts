import { DatasetError, type IdxArray, idxToDataset, parseIdx, validateDataset } from '@fedlink/ml';
import { isSystemFile } from './labels.js';
import { DataProblem, type InputSpec, type LoadedData } from './types.js';

/** gzip magic: IDX files are often shipped as .gz. */
function isGzip(b: Uint8Array): boolean {
  return b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;
}

async function gunzip(bytes: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

export async function readIdxFile(file: Blob, name: string): Promise<IdxArray> {
  let bytes: Uint8Array = new Uint8Array(await file.arrayBuffer());
  if (isGzip(bytes)) {
    try {
      bytes = await gunzip(new Uint8Array(bytes));
    } catch {
      throw new DataProblem([`${name}: damaged gzip file`]);
    }
  }
  try {
    return parseIdx(bytes, name);
  } catch (e) {
    throw new DataProblem([e instanceof DatasetError ? e.message : `${name}: can't be read`]);
  }
}

/**
 * An images IDX (N x H x W) and a labels IDX (N), told apart by their shape, not their names.
 * With the four standard MNIST files picked, the training pair (not t10k) is used.
 */
export async function loadIdxFiles(files: readonly File[], spec: InputSpec): Promise<LoadedData> {
  const picked = files.filter((f) => !isSystemFile(f.name));
  if (picked.length === 0) throw new DataProblem(['no files picked: choose an images IDX file and a labels IDX file']);
  const parsed: { name: string; idx: IdxArray }[] = [];
  const problems: string[] = [];
  for (const f of picked) {
    try {
      parsed.push({ name: f.name, idx: await readIdxFile(f, f.name) });
    } catch (e) {
      problems.push(...(e instanceof DataProblem ? e.problems : [`${f.name}: can't be read`]));
    }
  }
  if (problems.length) throw new DataProblem(problems);
  const preferTrain = <T extends { name: string }>(xs: T[]): T[] => (xs.length > 1 ? xs.filter((x) => !/t10k|test/i.test(x.name)) : xs);
  const images = preferTrain(parsed.filter((p) => p.idx.dims.length === 3));
  const labels = preferTrain(parsed.filter((p) => p.idx.dims.length === 1));
  if (images.length !== 1 || labels.length !== 1) {
    throw new DataProblem([
      `need exactly one images IDX file (N × height × width) and one labels IDX file (N); got ${images.length} images and ${labels.length} labels files`,
    ]);
  }
  const img = images[0]!;
  const lab = labels[0]!;
  const [, height, width] = img.idx.dims as [number, number, number];
  if (spec.channels !== 1) throw new DataProblem([`${img.name}: IDX images are greyscale, the run's model takes ${spec.channels}-channel images`]);
  if (height !== spec.height || width !== spec.width) {
    throw new DataProblem([`${img.name}: images are ${width}×${height}, the run's model takes ${spec.width}×${spec.height}`]);
  }
  if (img.idx.dims[0] === 0) throw new DataProblem([`${img.name}: holds no images`]);
  try {
    const dataset = idxToDataset(img.idx, lab.idx, spec.numClasses);
    validateDataset(dataset);
    return { dataset, source: `IDX files ${img.name} + ${lab.name}`, notes: [] };
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new DataProblem([/outside/.test(msg) ? `${lab.name}: ${msg} (the run's model has ${spec.numClasses} classes)` : msg]);
  }
}
