import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { GlobalModel } from '@fedlink/coordinator';

/** Writes a model as tfjs artifacts: `dir`/model.json (weights at weights.bin) and `dir`/weights.bin. */
export async function writeModelArtifacts(dir: string, model: Pick<GlobalModel, 'artifacts'>): Promise<void> {
  const { modelJson, weightsBin } = model.artifacts('weights.bin');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'model.json'), JSON.stringify(modelJson));
  await writeFile(join(dir, 'weights.bin'), weightsBin);
}
