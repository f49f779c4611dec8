/** The package's library entry: `import { SecretsClient } from 'local-secrets-manager'` (docs/library.md). */
export { SecretsClient } from './lib/client.js';
export type { GetSecretValueInput, SecretsClientOptions, SecretValue } from './lib/client.js';
export { SecretsError } from './core/errors.js';
export type { ErrorCode } from './core/errors.js';
