/**
 * Typed errors with stable codes. Every failure a user can cause or meet is one of these; the
 * CLI maps `exit` to the process exit code in one place (cli/main.ts) and prints `message` and
 * `hint`. Messages never contain secret values.
 */

/** The exit codes (README "Exit codes", `secrets help exit-codes`). */
export const ExitCode = {
  ok: 0,
  internal: 1,
  usage: 2,
  notFound: 3,
  conflict: 4,
  denied: 5,
  integrity: 6,
  identity: 7,
  storage: 8,
  /** A rotation step failed at the service (CURRENT is unchanged). */
  rotation: 9,
  /** exec: the command exists but cannot run (as env(1)). */
  cannotExecute: 126,
  /** exec: no such command (as env(1)). */
  commandNotFound: 127,
  /** Ctrl-C at a prompt (128 + SIGINT). */
  interrupted: 130,
} as const;

/** exec: a command killed by signal N exits with this plus N, as a shell reports it. */
export const SIGNAL_EXIT_BASE = 128;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** Stable error codes, grouped by the exit code they map to. */
export type ErrorCode =
  | 'USAGE'
  | 'INVALID_NAME'
  | 'INVALID_VALUE'
  | 'LIMIT_EXCEEDED'
  | 'NOT_FOUND'
  | 'VAULT_NOT_FOUND'
  | 'SECRET_DELETED'
  | 'ALREADY_EXISTS'
  | 'VAULT_EXISTS'
  | 'LOCKED'
  | 'CONFLICT'
  | 'DENIED'
  | 'INTEGRITY'
  | 'DAMAGED_VAULT'
  | 'ROLLBACK'
  | 'DECRYPTION_FAILED'
  | 'IDENTITY_UNAVAILABLE'
  | 'KEYCHAIN_UNAVAILABLE'
  | 'STORAGE'
  | 'AUDIT_UNAVAILABLE'
  | 'ROTATION_FAILED'
  | 'COMMAND_NOT_FOUND'
  | 'CANNOT_EXECUTE'
  | 'INTERRUPTED'
  | 'INTERNAL';

const exitFor: Record<ErrorCode, ExitCodeValue> = {
  USAGE: ExitCode.usage,
  INVALID_NAME: ExitCode.usage,
  INVALID_VALUE: ExitCode.usage,
  LIMIT_EXCEEDED: ExitCode.usage,
  NOT_FOUND: ExitCode.notFound,
  VAULT_NOT_FOUND: ExitCode.notFound,
  SECRET_DELETED: ExitCode.notFound,
  ALREADY_EXISTS: ExitCode.conflict,
  VAULT_EXISTS: ExitCode.conflict,
  LOCKED: ExitCode.conflict,
  CONFLICT: ExitCode.conflict,
  DENIED: ExitCode.denied,
  INTEGRITY: ExitCode.integrity,
  DAMAGED_VAULT: ExitCode.integrity,
  ROLLBACK: ExitCode.integrity,
  DECRYPTION_FAILED: ExitCode.integrity,
  IDENTITY_UNAVAILABLE: ExitCode.identity,
  KEYCHAIN_UNAVAILABLE: ExitCode.identity,
  STORAGE: ExitCode.storage,
  AUDIT_UNAVAILABLE: ExitCode.storage,
  ROTATION_FAILED: ExitCode.rotation,
  COMMAND_NOT_FOUND: ExitCode.commandNotFound,
  CANNOT_EXECUTE: ExitCode.cannotExecute,
  INTERRUPTED: ExitCode.interrupted,
  INTERNAL: ExitCode.internal,
};

/** An error meant for a person: one line of message, an optional hint with the fix. */
export class SecretsError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly exit: ExitCodeValue;

  constructor(code: ErrorCode, message: string, hint?: string) {
    super(message);
    this.name = 'SecretsError';
    this.code = code;
    this.hint = hint;
    this.exit = exitFor[code];
  }
}

/** True for our own errors (as opposed to bugs, which print as internal errors). */
export function isSecretsError(e: unknown): e is SecretsError {
  return e instanceof SecretsError;
}
