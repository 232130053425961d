import { DatasetError, type ImageDataset } from './dataset.js';

/**
 * Parser for the IDX format (LeCun's MNIST files): magic 0x0000 | dtype | ndims, then ndims
 * big-endian u32 sizes, then the data. Only unsigned-byte data (type 0x08) is used by image sets.
 */
export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

export function parseIdx(bytes: Uint8Array, what = 'IDX file'): IdxArray {
  if (bytes.length < 4) throw new DatasetError(`${what}: too short to be an IDX file`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint16(0) !== 0) throw new DatasetError(`${what}: bad magic number (not an IDX file)`);
  const type = bytes[2]!;
  const ndims = bytes[3]!;
  if (type !== 0x08) throw new DatasetError(`${what}: element type 0x${type.toString(16)} is not supported (need unsigned bytes, 0x08)`);
  if (ndims < 1 || ndims > 4) throw new DatasetError(`${what}: ${ndims} dimensions is not supported`);
  const headerSize = 4 + 4 * ndims;
  if (bytes.length < headerSize) throw new DatasetError(`${what}: truncated header`);
  const dims: number[] = [];
  for (let i = 0; i < ndims; i++) dims.push(view.getUint32(4 + 4 * i));
  const n = dims.reduce((a, b) => a * b, 1);
  if (bytes.length !== headerSize + n) {
    throw new DatasetError(`${what}: header describes ${n} bytes of data, file has ${bytes.length - headerSize}`);
  }
  return { dims, data: bytes.subarray(headerSize) };
}

/** Builds a dataset from an images IDX (N x H x W) and a labels IDX (N). */
export function idxToDataset(images: IdxArray, labels: IdxArray, numClasses = 10): ImageDataset {
  if (images.dims.length !== 3) throw new DatasetError(`images IDX must be N x H x W, got ${images.dims.join(' x ')}`);
  if (labels.dims.length !== 1) throw new DatasetError(`labels IDX must be one-dimensional, got ${labels.dims.join(' x ')}`);
  const [count, height, width] = images.dims as [number, number, number];
  if (labels.dims[0] !== count) throw new DatasetError(`${count} images but ${labels.dims[0]} labels`);
  const pixels = new Float32Array(images.data.length);
  for (let i = 0; i < pixels.length; i++) pixels[i] = images.data[i]! / 255;
  const lab = new Uint8Array(labels.data);
  for (let i = 0; i < count; i++) {
    if (lab[i]! >= numClasses) throw new DatasetError(`label ${lab[i]} of example ${i} is outside 0..${numClasses - 1}`);
  }
  return { images: pixels, labels: lab, count, height, width, channels: 1, numClasses };
}

/** Writes an IDX file (for fixtures and exports). */
export function encodeIdx(dims: number[], data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(out.buffer);
  out[2] = 0x08;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d));
  out.set(data, 4 + 4 * dims.length);
  return out;
}
