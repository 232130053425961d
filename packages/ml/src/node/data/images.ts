import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { DatasetError, type ImageDataset } from '../../dataset.js';

/** The shape images are resized to: [height, width, channels], channels 1 (greyscale) or 3 (RGB). */
export type ImageShape = [number, number, number];

const IMAGE_EXTENSIONS = /\.(png|jpe?g|webp|gif|tiff?|avif|bmp)$/i;

/**
 * A folder of photos with one sub-folder per class (`<dir>/<class>/<file>`; classes in sorted
 * order are labels 0..k-1), decoded by sharp (libvips), any size, greyscale or colour, resized to
 * `shape` (stretched to fill) and scaled to [0, 1]. A file that can't be decoded is a DatasetError
 * naming it.
 */
export async function loadImageFolder(dir: string, shape: ImageShape): Promise<ImageDataset & { classes: string[] }> {
  const [height, width, channels] = shape;
  if (channels !== 1 && channels !== 3) throw new DatasetError(`images: ${channels} channels asked for; 1 (greyscale) or 3 (RGB)`);
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    throw new DatasetError(`images:${dir}: cannot read the folder (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  const classes = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  if (classes.length < 2) throw new DatasetError(`images:${dir}: needs one sub-folder per class (at least 2), found ${classes.length}`);
  if (classes.length > 256) throw new DatasetError(`images:${dir}: ${classes.length} classes; at most 256`);
  const files: { path: string; label: number }[] = [];
  for (const [label, name] of classes.entries()) {
    const inClass = (await readdir(join(dir, name))).filter((f) => IMAGE_EXTENSIONS.test(f)).sort();
    if (inClass.length === 0) throw new DatasetError(`images:${dir}: class folder ${name} holds no images`);
    for (const f of inClass) files.push({ path: join(dir, name, f), label });
  }
  const size = height * width * channels;
  const images = new Float32Array(files.length * size);
  const labels = new Uint8Array(files.length);
  for (const [i, f] of files.entries()) {
    let pixels: Buffer;
    try {
      let img = sharp(f.path).resize(width, height, { fit: 'fill' }).removeAlpha();
      img = channels === 1 ? img.greyscale() : img.toColourspace('srgb');
      pixels = await img.raw().toBuffer();
    } catch (e) {
      throw new DatasetError(`images:${dir}: ${f.path} is not an image sharp can decode (${(e as Error).message})`);
    }
    if (pixels.length !== size) throw new DatasetError(`images:${dir}: ${f.path} decoded to ${pixels.length} values, expected ${size}`);
    for (let k = 0; k < size; k++) images[i * size + k] = pixels[k]! / 255;
    labels[i] = f.label;
  }
  return { images, labels, count: files.length, height, width, channels, numClasses: classes.length, classes };
}
