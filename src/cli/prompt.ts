/**
 * Interactive prompts (only on a terminal), through @inquirer/prompts, loaded on demand so no
 * other command pays for it. Ctrl-C is exit 130 and writes nothing.
 */
import { SecretsError } from '../core/errors.js';
import { SecretBytes } from '../core/secret-bytes.js';
import { formatNote } from './ui.js';

function interrupted(err: unknown): never {
  if (err instanceof Error && err.name === 'ExitPromptError') {
    throw new SecretsError('INTERRUPTED', 'cancelled; nothing was written');
  }
  throw err;
}

/** Asks twice for a hidden value until both entries match. */
export async function askHiddenConfirmed(label: string): Promise<SecretBytes> {
  const { password } = await import('@inquirer/prompts');
  for (;;) {
    try {
      const first = await password({ message: `${label}:`, mask: false }, { output: process.stderr });
      const second = await password({ message: 'Again, to confirm:', mask: false }, { output: process.stderr });
      if (first === second) return SecretBytes.fromString(first);
      process.stderr.write(formatNote('the two entries differ; try again'));
    } catch (err) {
      interrupted(err);
    }
  }
}

/** Asks once for a hidden value. */
export async function askHidden(label: string): Promise<SecretBytes> {
  const { password } = await import('@inquirer/prompts');
  try {
    return SecretBytes.fromString(await password({ message: `${label}:`, mask: false }, { output: process.stderr }));
  } catch (err) {
    return interrupted(err);
  }
}

/** Asks a yes/no question; default no. */
export async function askConfirm(message: string): Promise<boolean> {
  const { confirm } = await import('@inquirer/prompts');
  try {
    return await confirm({ message, default: false }, { output: process.stderr });
  } catch (err) {
    return interrupted(err);
  }
}
