/**
 * Releasing secrets to a program (docs/programs.md): resolves a selection (references
 * files, --secret, --prefix) into environment variables. Each secret released is authorized,
 * verified, decrypted and audited (one GetSecretValue event, fail-closed) before any value
 * leaves; `exec`, `env`, `inject` and batch `get` all come through here.
 */
import { AuditBatch, audited } from '../audit.js';
import { SecretsError } from '../errors.js';
import type { SecretEntry, VaultState } from '../model.js';
import type { AuditTrail } from '../ports.js';
import { assertDerivedNamesSafe, type DerivedFrom } from '../protected-variables.js';
import { envName, type SecretReference } from '../references.js';
import { SecretBytes } from '../secret-bytes.js';
import { labelsOf, selectVersion } from '../versions.js';
import { check, type CoreDeps, findLiveEntry } from './deps.js';

/** Where a variable comes from. */
export type Source =
  | { readonly kind: 'reference'; readonly variable: string; readonly ref: SecretReference; readonly origin: string }
  | { readonly kind: 'plain'; readonly variable: string; readonly value: string; readonly origin: string }
  /**
   * A whole secret: one variable, or `<base>_<KEY>` per key of a JSON object. `named`: the
   * caller wrote the base (`--secret NAME=VAR`); otherwise it was derived from the name.
   */
  | { readonly kind: 'secret'; readonly base: string; readonly named: boolean; readonly ref: SecretReference; readonly origin: string }
  /** Every live secret under a prefix, named after the rest of its name. */
  | { readonly kind: 'prefix'; readonly prefix: string; readonly origin: string };

/** One variable ready for a child: its value and whether it is secret (to mask). */
export interface Released {
  readonly variable: string;
  readonly value: SecretBytes;
  readonly secret: boolean;
  /** Where it came from, for messages: `secrets.env:3`, `--secret prod/db`. */
  readonly origin: string;
  /** Set when the variable's name was derived from a secret's name or a JSON key, not written by the caller. */
  readonly derived?: DerivedFrom;
}

/** What a release produced: the variables, and what could not be resolved. */
export interface Release {
  readonly variables: Released[];
  readonly problems: { readonly origin: string; readonly variable?: string; readonly error: SecretsError }[];
}

/** Errors a non-strict release skips with a warning; anything else (integrity, storage) always stops. */
const SKIPPABLE = new Set(['NOT_FOUND', 'SECRET_DELETED', 'DENIED', 'INVALID_VALUE']);

/** The keys of a JSON-object value, or undefined when the value is not one. */
export function jsonFields(value: SecretBytes): Map<string, string> | undefined {
  const text = value.revealText();
  if (text === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) out.set(k, typeof v === 'string' ? v : JSON.stringify(v));
  return out;
}

function fieldOf(value: SecretBytes, name: string, field: string): SecretBytes {
  const fields = jsonFields(value);
  if (!fields) {
    throw new SecretsError('INVALID_VALUE', `secret ${name} is not a JSON object, so #${field} cannot be read`);
  }
  const v = fields.get(field);
  if (v === undefined) throw new SecretsError('NOT_FOUND', `secret ${name} has no field ${JSON.stringify(field)}`);
  return SecretBytes.fromString(v);
}

/** Reads one secret for release: authorized, verified, decrypted, audited before it is returned. */
async function readForRelease(
  deps: CoreDeps,
  trail: AuditTrail,
  identityId: string,
  identity: Parameters<CoreDeps['cipher']['open']>[2],
  state: VaultState,
  ref: SecretReference,
  command: string | undefined,
): Promise<{ entry: SecretEntry; value: SecretBytes }> {
  return audited(trail, 'GetSecretValue', identityId, async (scope) => {
    scope.vault(state, identityId).secretName(ref.name);
    if (command !== undefined) scope.command(command);
    const entry = findLiveEntry(state, ref.name);
    scope.secret(entry);
    const version = selectVersion(entry, ref);
    const stages = labelsOf(entry.secret, version.id);
    scope.version(version, stages);
    check(deps, state, identityId, 'GetSecretValue', entry, { versionStages: stages, versionId: version.id });
    await deps.vault.verifyRecords(state, [entry.secret, version]);
    const value = await deps.cipher.open(version, state.vault.id, identity);
    try {
      await scope.commit();
    } catch (err) {
      value.wipe();
      throw err;
    }
    return { entry, value };
  });
}

/** True when the value can be an environment variable: valid UTF-8 without a NUL. */
export function isEnvironmentText(value: SecretBytes): boolean {
  const text = value.revealText();
  return text !== undefined && !text.includes('\0');
}

/**
 * Resolves `sources` into variables. With `strict`, the first unresolvable reference throws
 * before anything is returned; otherwise it is listed in `problems` and skipped. With
 * `textOnly` (the variables become an environment), a binary secret found under a prefix is
 * such a problem too: nobody named it, so it is left out rather than failing the rest. With
 * `environment` (the variables the released ones join), a name derived from a secret that is
 * protected or already set there is refused (DENIED) before any value is returned, whatever
 * `strict` says.
 */
export async function releaseSecrets(
  deps: CoreDeps,
  input: {
    sources: readonly Source[];
    strict: boolean;
    command?: string | undefined;
    environment?: Readonly<Record<string, string | undefined>>;
    textOnly?: boolean;
  },
): Promise<Release> {
  const { identity } = await deps.identities.load();
  // Named secrets only (no prefix): read just those lines of the vault.
  const named = input.sources.every((s) => s.kind !== 'prefix');
  const names = input.sources.flatMap((s) => (s.kind === 'reference' || s.kind === 'secret' ? [s.ref.name] : []));
  const state = named && deps.vault.readSome ? await deps.vault.readSome(identity, names) : await deps.vault.read(identity);
  const variables: Released[] = [];
  const problems: Release['problems'][number][] = [];
  const byVariable = new Map<string, Released>();
  const cache = new Map<string, Promise<{ entry: SecretEntry; value: SecretBytes }>>();
  // All events of the release are appended with one fsync before any value is returned.
  const batch = new AuditBatch(deps.audit);
  const read = (ref: SecretReference): Promise<{ entry: SecretEntry; value: SecretBytes }> => {
    // One read (and one audit event) per secret version, however many variables use it.
    const key = JSON.stringify([ref.name, ref.versionId ?? null, ref.versionStage ?? null]);
    let p = cache.get(key);
    if (!p) {
      p = readForRelease(deps, batch, identity.id, identity, state, ref, input.command);
      cache.set(key, p);
    }
    return p;
  };
  const add = (variable: string, value: SecretBytes, secret: boolean, origin: string, derived?: DerivedFrom): void => {
    const clash = byVariable.get(variable);
    if (clash) {
      throw new SecretsError(
        'USAGE',
        `${variable} would be set twice: by ${clash.origin} and by ${origin}`,
        'rename one with --secret NAME=VAR, or drop one source',
      );
    }
    const r: Released = { variable, value, secret, origin, ...(derived !== undefined ? { derived } : {}) };
    byVariable.set(variable, r);
    variables.push(r);
  };
  const attempt = async (origin: string, variable: string | undefined, work: () => Promise<void>): Promise<void> => {
    try {
      await work();
    } catch (err) {
      if (!(err instanceof SecretsError) || input.strict || !SKIPPABLE.has(err.code)) throw err;
      problems.push({ origin, ...(variable !== undefined ? { variable } : {}), error: err });
    }
  };
  try {
    for (const src of input.sources) {
      switch (src.kind) {
        case 'plain':
          add(src.variable, SecretBytes.fromString(src.value), false, src.origin);
          break;
        case 'reference':
          await attempt(src.origin, src.variable, async () => {
            const { value } = await read(src.ref);
            add(src.variable, src.ref.field !== undefined ? fieldOf(value, src.ref.name, src.ref.field) : value, true, src.origin);
          });
          break;
        case 'secret':
          await attempt(src.origin, undefined, async () => {
            const { value } = await read(src.ref);
            const name = src.ref.name;
            const field = src.ref.field;
            if (field !== undefined) return add(src.base, fieldOf(value, name, field), true, src.origin, src.named ? undefined : { secret: name, field });
            const fields = jsonFields(value);
            if (!fields) return add(src.base, value, true, src.origin, src.named ? undefined : { secret: name });
            // A JSON key names its variable, whoever named the base.
            for (const [k, v] of fields) add(`${src.base}_${envName(k)}`, SecretBytes.fromString(v), true, src.origin, { secret: name, field: k });
          });
          break;
        case 'prefix': {
          const under = state.secrets.filter((e) => e.secret.deleted === undefined && e.secret.name.startsWith(src.prefix) && e.secret.name !== src.prefix);
          if (under.length === 0) {
            const err = new SecretsError('NOT_FOUND', `no secrets under the prefix ${src.prefix}`, '`secrets list` shows the names');
            if (input.strict) throw err;
            problems.push({ origin: src.origin, error: err });
          }
          for (const e of under) {
            const name = e.secret.name;
            const base = envName(name.slice(src.prefix.length));
            await attempt(src.origin, base, async () => {
              const { value } = await read({ name });
              if (input.textOnly === true && !isEnvironmentText(value)) {
                throw new SecretsError(
                  'INVALID_VALUE',
                  `secret ${name} is binary, and an environment variable holds text`,
                  `read it with \`secrets get ${name} > FILE\``,
                );
              }
              const fields = jsonFields(value);
              if (!fields) return add(base, value, true, `${src.origin} (${name})`, { secret: name });
              for (const [k, v] of fields) add(`${base}_${envName(k)}`, SecretBytes.fromString(v), true, `${src.origin} (${name})`, { secret: name, field: k });
            });
          }
          break;
        }
      }
    }
    if (input.environment !== undefined) assertDerivedNamesSafe(variables, input.environment);
    await batch.flush();
  } catch (err) {
    for (const v of variables) v.value.wipe();
    // Denials and errors are still recorded; the original error is what the user sees.
    await batch.flush().catch(() => undefined);
    throw err;
  }
  return { variables, problems };
}

/** One value of a batch read (AWS BatchGetSecretValue shape, less the ARN). */
export interface BatchValue {
  readonly Name: string;
  readonly VersionId: string;
  readonly VersionStages: string[];
  readonly CreatedDate: string;
  readonly type: 'string' | 'binary';
  readonly value: SecretBytes;
}

/** `secrets get NAME... --json` / `--filter`: every secret read on its own, errors collected per name. */
export async function batchGetSecretValue(
  deps: CoreDeps,
  input: { names: readonly string[]; filter?: (entry: SecretEntry) => boolean; progress?: ((done: number, total: number) => void) | undefined },
): Promise<{ values: BatchValue[]; errors: { SecretId: string; ErrorCode: string; Message: string }[] }> {
  const { identity } = await deps.identities.load();
  const state = !input.filter && deps.vault.readSome ? await deps.vault.readSome(identity, input.names) : await deps.vault.read(identity);
  const names = [...input.names];
  if (input.filter) {
    for (const e of state.secrets) if (e.secret.deleted === undefined && input.filter(e) && !names.includes(e.secret.name)) names.push(e.secret.name);
  }
  const values: BatchValue[] = [];
  const errors: { SecretId: string; ErrorCode: string; Message: string }[] = [];
  const batch = new AuditBatch(deps.audit);
  let done = 0;
  for (const name of names) {
    input.progress?.(done++, names.length);
    try {
      const { entry, value } = await readForRelease(deps, batch, identity.id, identity, state, { name }, undefined);
      const version = selectVersion(entry, {});
      values.push({
        Name: name,
        VersionId: version.id,
        VersionStages: labelsOf(entry.secret, version.id),
        CreatedDate: version.created,
        type: version.type,
        value,
      });
    } catch (err) {
      if (!(err instanceof SecretsError) || !SKIPPABLE.has(err.code)) {
        for (const v of values) v.value.wipe();
        await batch.flush().catch(() => undefined);
        throw err;
      }
      errors.push({ SecretId: name, ErrorCode: err.code, Message: err.message });
    }
  }
  input.progress?.(names.length, names.length);
  try {
    await batch.flush();
  } catch (err) {
    for (const v of values) v.value.wipe();
    throw err;
  }
  return { values, errors };
}
