import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { createRng } from '@fedlink/core';

/** The classes of the demo photo folder: the pattern each image shows. */
export const SHAPE_CLASSES = ['checker', 'diagonal', 'horizontal', 'vertical'] as const;

/**
 * Writes a small, deterministic folder of RGB photos for trying `images:<dir>` (and the tests):
 * `<dir>/<class>/<n>.png`, 4 classes of stripe/checker patterns of random period, colours,
 * phase and size (24..40 px, so loading must resize), with pixel noise. Same seed, same bytes.
 */
export async function writeShapeImages(dir: string, perClass: number, seed = 1): Promise<number> {
  const r = createRng(seed);
  const rng = (): number => r.next();
  let written = 0;
  for (const [c, name] of SHAPE_CLASSES.entries()) {
    await mkdir(join(dir, name), { recursive: true });
    for (let n = 0; n < perClass; n++) {
      const size = 24 + Math.floor(rng() * 17);
      const period = 3 + Math.floor(rng() * 4);
      const phase = Math.floor(rng() * period);
      const a = [rng(), rng(), rng()].map((x) => 40 + x * 200);
      const b = [rng(), rng(), rng()].map((x) => 40 + x * 200);
      const px = Buffer.alloc(size * size * 3);
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          const on =
            c === 0 ? (Math.floor((x + phase) / period) + Math.floor(y / period)) % 2 === 0
            : c === 1 ? Math.floor((x + y + phase) / period) % 2 === 0
            : c === 2 ? Math.floor((y + phase) / period) % 2 === 0
            : Math.floor((x + phase) / period) % 2 === 0;
          const col = on ? a : b;
          for (let k = 0; k < 3; k++) px[(y * size + x) * 3 + k] = Math.max(0, Math.min(255, Math.round(col[k]! + (rng() - 0.5) * 60)));
        }
      }
      await sharp(px, { raw: { width: size, height: size, channels: 3 } }).png().toFile(join(dir, name, `${String(n).padStart(4, '0')}.png`));
      written++;
    }
  }
  return written;
}
