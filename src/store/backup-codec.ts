/**
 * The plaintext payload inside a backup file (ADR 0020), version 1: one JSON object, read as
 * strictly as a vault record (exact field sets, canonical base64, ISO times with milliseconds,
 * sizes capped). It exists only in memory, between decryption and the restore.
 */
import { SecretsError } from '../core/errors.js';
import { isLabel, isPrintable, isSecretName, isTag, MAX_DESCRIPTION, MAX_TAGS, MAX_VALUE_BYTES, MAX_VERSIONS } from '../core/names.js';
import { SecretBytes } from '../core/secret-bytes.js';
import type { Backup, BackupSecret, BackupVersion } from '../core/use-cases/backup.js';
import { fromBase64, toBase64 } from '../crypto/encoding.js';
import { rotationFromJson } from './codec.js';

/** The payload's format name and version; bump both with any change to the fields. */
const FORMAT = 'secrets-backup';
const VERSION = 1;
/** A vault holds at most this many secrets in one backup (far more than any real vault). */
const MAX_SECRETS = 100_000;

/** The payload as UTF-8 JSON bytes. The caller wipes them once sealed. */
export function encodeBackup(backup: Backup): Uint8Array {
  const doc = {
    format: FORMAT,
    version: VERSION,
    vault: { id: backup.vault.id, name: backup.vault.name },
    exported: backup.exported,
    secrets: backup.secrets.map((s) => ({
      name: s.name,
      ...(s.description !== undefined ? { description: s.description } : {}),
      tags: Object.fromEntries(s.tags),
      created: s.created,
      ...(s.rotation !== undefined ? { rotation: s.rotation } : {}),
      versions: s.versions.map((v) => ({ id: v.id, created: v.created, type: v.type, stages: v.stages, value: toBase64(v.value.reveal()) })),
    })),
  };
  return new TextEncoder().encode(JSON.stringify(doc));
}

function bad(what: string): SecretsError {
  return new SecretsError(
    'INTEGRITY',
    `the backup's content is not valid: ${what}`,
    'it decrypted, so it was written by a different version of secrets or by hand',
  );
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Exactly these keys (the optional ones may be absent), or `bad`. */
function fields(v: unknown, where: string, required: readonly string[], optional: readonly string[] = []): Record<string, unknown> {
  if (!isObject(v)) throw bad(`${where} is not an object`);
  for (const k of Object.keys(v))
    if (!required.includes(k) && !optional.includes(k)) throw bad(`${where} has an unknown field ${JSON.stringify(k.slice(0, 40))}`);
  for (const k of required) if (!Object.prototype.hasOwnProperty.call(v, k)) throw bad(`${where} has no ${k}`);
  return v;
}

function str(v: unknown, where: string, max: number): string {
  if (typeof v !== 'string' || v.length > max) throw bad(`${where} is not a string`);
  return v;
}

function time(v: unknown, where: string): string {
  const t = str(v, where, 32);
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(t) || Number.isNaN(Date.parse(t))) throw bad(`${where} is not a time`);
  return t;
}

function version(v: unknown, where: string): BackupVersion {
  const f = fields(v, where, ['id', 'created', 'type', 'stages', 'value']);
  const id = str(f['id'], `${where}.id`, 64);
  if (!/^[A-Za-z0-9-]{1,64}$/.test(id)) throw bad(`${where}.id is not a version id`);
  const type = f['type'];
  if (type !== 'string' && type !== 'binary') throw bad(`${where}.type is not string or binary`);
  const stages = f['stages'];
  if (!Array.isArray(stages) || !stages.every((l): l is string => typeof l === 'string' && isLabel(l))) throw bad(`${where}.stages is not a list of labels`);
  const bytes = fromBase64(str(f['value'], `${where}.value`, Math.ceil(MAX_VALUE_BYTES / 3) * 4));
  if (!bytes) throw bad(`${where}.value is not base64`);
  const value = new SecretBytes(new Uint8Array(bytes));
  bytes.fill(0);
  if (type === 'string' && value.revealText() === undefined) {
    value.wipe();
    throw bad(`${where} is a string version whose value is not UTF-8`);
  }
  return { id, created: time(f['created'], `${where}.created`), type, stages, value };
}

function secret(v: unknown, where: string): BackupSecret {
  const f = fields(v, where, ['name', 'tags', 'created', 'versions'], ['description', 'rotation']);
  const name = str(f['name'], `${where}.name`, 512);
  if (!isSecretName(name)) throw bad(`${where}.name is not a secret name`);
  const description = f['description'] === undefined ? undefined : str(f['description'], `${where}.description`, MAX_DESCRIPTION);
  if (description !== undefined && !isPrintable(description)) throw bad(`${where}.description has control characters`);
  const tagsRaw = f['tags'];
  if (!isObject(tagsRaw) || Object.keys(tagsRaw).length > MAX_TAGS) throw bad(`${where}.tags is not a map of at most ${MAX_TAGS} tags`);
  const tags = new Map<string, string>();
  for (const [k, t] of Object.entries(tagsRaw)) {
    if (typeof t !== 'string' || !isTag(k, t)) throw bad(`${where}.tags has an invalid tag`);
    tags.set(k, t);
  }
  let rotation;
  if (f['rotation'] !== undefined) {
    try {
      rotation = rotationFromJson(f['rotation']);
    } catch (err) {
      throw bad(`${where}.rotation: ${err instanceof Error ? err.message.replace(/^.*: /, '') : 'invalid'}`);
    }
  }
  const list = f['versions'];
  if (!Array.isArray(list) || list.length === 0 || list.length > MAX_VERSIONS) throw bad(`${where}.versions is not a list of 1 to ${MAX_VERSIONS} versions`);
  const versions: BackupVersion[] = [];
  try {
    list.forEach((x, i) => versions.push(version(x, `${name} version ${i + 1}`)));
  } catch (err) {
    for (const x of versions) x.value.wipe();
    throw err;
  }
  return {
    name,
    ...(description !== undefined ? { description } : {}),
    tags,
    created: time(f['created'], `${where}.created`),
    ...(rotation !== undefined ? { rotation } : {}),
    versions,
  };
}

/** Reads a decrypted payload. Throws INTEGRITY naming the first problem; wipes what it read then. */
export function decodeBackup(bytes: Uint8Array): Backup {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw bad('it is not UTF-8 JSON');
  }
  const f = fields(doc, 'the payload', ['format', 'version', 'vault', 'exported', 'secrets']);
  if (f['format'] !== FORMAT || f['version'] !== VERSION) throw bad(`it is not ${FORMAT} version ${VERSION}`);
  const vault = fields(f['vault'], 'vault', ['id', 'name']);
  const list = f['secrets'];
  if (!Array.isArray(list) || list.length > MAX_SECRETS) throw bad('secrets is not a list');
  const secrets: BackupSecret[] = [];
  try {
    list.forEach((s, i) => secrets.push(secret(s, `secret ${i + 1}`)));
  } catch (err) {
    for (const s of secrets) for (const v of s.versions) v.value.wipe();
    throw err;
  }
  return {
    vault: { id: str(vault['id'], 'vault.id', 64), name: str(vault['name'], 'vault.name', 256) },
    exported: time(f['exported'], 'exported'),
    secrets,
  };
}
