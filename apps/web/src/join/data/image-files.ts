import { type ImageDataset, validateDataset } from '@fedlink/ml';
import { isSystemFile, labelFromPath, looksLikeImage } from './labels.js';
import { DataProblem, type InputSpec, type LoadedData, type Progress } from './types.js';

/** More than this and a tab runs out of memory before training starts; say so instead. */
export const MAX_IMAGES = 100_000;
/** Problems listed on the page; the rest are counted. */
const MAX_LISTED = 8;

type Canvas2D = OffscreenCanvasRenderingContext2D | CanvasRenderingContext2D;

function canvasOf(spec: InputSpec): Canvas2D {
  const ctx =
    typeof OffscreenCanvas === 'function'
      ? new OffscreenCanvas(spec.width, spec.height).getContext('2d', { willReadFrequently: true })
      : Object.assign(document.createElement('canvas'), { width: spec.width, height: spec.height }).getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new DataProblem(['this browser cannot decode images (no 2D canvas)']);
  return ctx;
}

/**
 * Decodes picked image files in the tab into a dataset of the model's input shape: resized to
 * its width x height and, for one-channel models, greyscale. Images on a light background are
 * inverted, because MNIST-shaped models learn light strokes on a dark ground.
 * Any problem (unreadable file, file of another kind, missing or out-of-range label) refuses
 * the whole set, so training never starts on data the person did not mean.
 */
export async function loadImageFiles(files: readonly File[], spec: InputSpec, what: string, onProgress?: Progress): Promise<LoadedData> {
  const picked = files.filter((f) => !isSystemFile(f.name));
  if (picked.length === 0) throw new DataProblem([`${what} holds no images${files.length ? ' (only system files)' : ''}`]);
  if (picked.length > MAX_IMAGES) throw new DataProblem([`${what} holds ${picked.length} files; at most ${MAX_IMAGES.toLocaleString('en-US')} images fit in a tab`]);

  const problems: string[] = [];
  const labelled: { file: File; label: number; path: string }[] = [];
  for (const file of picked) {
    const path = file.webkitRelativePath || file.name;
    if (!looksLikeImage(file.name, file.type)) {
      problems.push(`${path}: not an image (${file.type || 'unknown type'}); pick PNG, JPEG, GIF, BMP or WebP files`);
      continue;
    }
    const l = labelFromPath(file.webkitRelativePath, file.name, spec.numClasses);
    if ('problem' in l) problems.push(l.problem);
    else labelled.push({ file, label: l.label, path });
  }
  if (problems.length) throw new DataProblem(listed(problems));

  const size = spec.height * spec.width * spec.channels;
  const images = new Float32Array(labelled.length * size);
  const labels = new Uint8Array(labelled.length);
  const ctx = canvasOf(spec);
  let inverted = 0;
  for (let i = 0; i < labelled.length; i++) {
    const { file, label, path } = labelled[i]!;
    let bitmap: ImageBitmap;
    try {
      bitmap = await createImageBitmap(file);
    } catch {
      problems.push(`${path}: can't be read as an image (damaged or not really ${file.type || 'an image'})`);
      continue;
    }
    try {
      // Transparent pixels count as white paper, the usual look of a drawn digit.
      ctx.fillStyle = '#fff';
      ctx.fillRect(0, 0, spec.width, spec.height);
      ctx.drawImage(bitmap, 0, 0, spec.width, spec.height);
    } finally {
      bitmap.close();
    }
    const rgba = ctx.getImageData(0, 0, spec.width, spec.height).data;
    if (toPixels(rgba, spec, images.subarray(i * size, (i + 1) * size))) inverted++;
    labels[i] = label;
    if (onProgress && (i % 25 === 0 || i === labelled.length - 1)) onProgress(i + 1, labelled.length);
  }
  if (problems.length) throw new DataProblem(listed(problems));

  const dataset: ImageDataset = { images, labels, count: labelled.length, height: spec.height, width: spec.width, channels: spec.channels, numClasses: spec.numClasses };
  validateDataset(dataset);
  const notes = inverted ? [`${inverted} of ${labelled.length} images had a light background and were inverted (light strokes on dark, as the model expects)`] : [];
  return { dataset, source: what, notes };
}

/**
 * RGBA bytes -> the model's channels in [0, 1]. For greyscale, luma (BT.601) and inversion when
 * the border is mostly light. Returns whether the image was inverted.
 */
export function toPixels(rgba: Uint8ClampedArray, spec: Pick<InputSpec, 'height' | 'width' | 'channels'>, out: Float32Array): boolean {
  const n = spec.height * spec.width;
  if (spec.channels !== 1) {
    for (let p = 0; p < n; p++) for (let c = 0; c < spec.channels; c++) out[p * spec.channels + c] = rgba[p * 4 + Math.min(c, 2)]! / 255;
    return false;
  }
  let border = 0;
  let borderCount = 0;
  for (let p = 0; p < n; p++) {
    const v = (0.299 * rgba[p * 4]! + 0.587 * rgba[p * 4 + 1]! + 0.114 * rgba[p * 4 + 2]!) / 255;
    out[p] = v;
    const x = p % spec.width;
    const y = Math.floor(p / spec.width);
    if (x === 0 || y === 0 || x === spec.width - 1 || y === spec.height - 1) {
      border += v;
      borderCount++;
    }
  }
  if (border / borderCount <= 0.5) return false;
  for (let p = 0; p < n; p++) out[p] = 1 - out[p]!;
  return true;
}

function listed(problems: string[]): string[] {
  if (problems.length <= MAX_LISTED) return problems;
  return [...problems.slice(0, MAX_LISTED), `…and ${problems.length - MAX_LISTED} more problems`];
}
