import { access, mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { clientIdOf, fingerprint, generateIdentity, identityToJson } from '@fedlink/crypto';
import { type CommandSpec, UsageError, parseArgs } from '../args.js';

export const keygenSpec: CommandSpec = {
  name: 'keygen',
  summary: 'Create a client identity (Ed25519 + X25519 keys) so a device is recognised across restarts.',
  usage: 'fedlink keygen --out <file>',
  options: {
    out: { type: 'string', placeholder: '<file>', description: 'where to write the identity (mode 0600)' },
    force: { type: 'boolean', default: false, description: 'overwrite an existing file' },
  },
  examples: ['fedlink keygen --out ~/.fedlink/device.json && fedlink join --identity ~/.fedlink/device.json ...'],
};

export async function keygenCommand(argv: string[]): Promise<number> {
  const v = parseArgs(keygenSpec, argv);
  if (!v) return 0;
  const out = v.out as string | undefined;
  if (!out) throw new UsageError('--out is required');
  if (!v.force) {
    const exists = await access(out).then(
      () => true,
      () => false,
    );
    if (exists) throw new UsageError(`${out} exists; pass --force to overwrite it`);
  }
  const id = generateIdentity();
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, JSON.stringify(identityToJson(id), null, 2) + '\n', { mode: 0o600 });
  process.stdout.write(`wrote ${out}\nfingerprint ${fingerprint(id)}\nclient id   ${clientIdOf(id.signPublicKey)}  (the line to add to a coordinator's --allow-keys file)\n`);
  return 0;
}
