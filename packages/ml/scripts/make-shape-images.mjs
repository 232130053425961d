#!/usr/bin/env node
// Writes the deterministic demo photo folder for `--data images:<dir>`:
//   node packages/ml/scripts/make-shape-images.mjs <dir> [per-class=150] [seed=1]
// 4 classes (checker, diagonal, horizontal, vertical) of noisy RGB PNGs, 24..40 px square.
import { writeShapeImages } from '@fedlink/ml/node';

const [dir, perClass = '150', seed = '1'] = process.argv.slice(2);
if (!dir) {
  process.stderr.write('usage: make-shape-images.mjs <dir> [per-class] [seed]\n');
  process.exit(2);
}
const n = await writeShapeImages(dir, Number(perClass), Number(seed));
process.stdout.write(`wrote ${n} images to ${dir}\n`);
