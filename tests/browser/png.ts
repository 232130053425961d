import { crc32, deflateSync } from 'node:zlib';

/** A minimal greyscale PNG encoder, so tests can make image files without an image library. */
export function encodeGreyPng(width: number, height: number, pixels: Uint8Array): Uint8Array {
  const chunk = (type: string, data: Uint8Array) => {
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    out.write(type, 4, 'ascii');
    Buffer.from(data).copy(out, 8);
    out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // greyscale
  const raw = Buffer.alloc((width + 1) * height);
  for (let y = 0; y < height; y++) Buffer.from(pixels.subarray(y * width, (y + 1) * width)).copy(raw, y * (width + 1) + 1);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', new Uint8Array())]);
}

/** A dark digit-ish stroke on white paper (the page inverts light backgrounds). */
export function strokeImage(size: number, seed: number): Uint8Array {
  const px = new Uint8Array(size * size).fill(255);
  const col = 6 + (seed % (size - 12));
  for (let y = 4; y < size - 4; y++) for (let x = col; x < col + 3; x++) px[y * size + x] = 0;
  return px;
}
