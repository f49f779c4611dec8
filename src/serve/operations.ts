/**
 * The Secrets Manager operations of `secrets serve`: each takes AWS's request shape, calls the
 * same use case as the CLI command that does the same thing (so policies, audit and rotation
 * are the CLI's), and returns AWS's response shape. Names, staging labels, dates and errors are
 * translated in src/serve/aws.ts.
 */
import { randomPassword } from '../crypto/password.js';
import { SecretsError } from '../core/errors.js';
import type { SecretEntry } from '../core/model.js';
import { assertTag } from '../core/names.js';
import { checkPolicy, type PolicyIssue } from '../core/policy.js';
import { SecretBytes } from '../core/secret-bytes.js';
import { describeSecret, type ListFilter, listSecrets, listSecretVersions, matchesFilters, type SecretDescription } from '../core/use-cases/read.js';
import { getSecretValue } from '../core/use-cases/read.js';
import { batchGetSecretValue } from '../core/use-cases/release.js';
import { cancelRotation, configureRotation, rotateSecret, type RotationSettings } from '../core/use-cases/rotate.js';
import { deletePolicy, getPolicy, putPolicy } from '../core/use-cases/team.js';
import type { CoreDeps } from '../core/use-cases/deps.js';
import {
  createSecret,
  DEFAULT_RECOVERY_DAYS,
  deleteSecret,
  MAX_RECOVERY_DAYS,
  MIN_RECOVERY_DAYS,
  putSecretValue,
  restoreSecret,
  tagSecret,
  untagSecret,
  updateSecret,
  updateVersionStage,
} from '../core/use-cases/write.js';
import type { RotationPorts } from '../core/use-cases/rotate.js';
import {
  type ArnScope,
  AwsError,
  awsLabel,
  bool,
  epoch,
  type Input,
  int,
  list,
  nameFromSecretId,
  ourLabel,
  secretArn,
  secretValue,
  str,
  toAwsError,
} from './aws.js';
import type { ServeContext } from './context.js';

/** What an operation receives. */
export interface OperationContext {
  readonly serve: ServeContext;
  readonly deps: CoreDeps;
  readonly scope: ArnScope;
  readonly rotation: () => Promise<RotationPorts>;
}

type Operation = (ctx: OperationContext, input: Input) => Promise<Record<string, unknown>>;

const SECRET_ID = { required: true, min: 1, max: 2048 } as const;

/** The secret's name for `SecretId`, with the ARN and id of the secret of that name. */
async function target(ctx: OperationContext, input: Input): Promise<{ name: string; arn: string }> {
  const secretId = str(input, 'SecretId', SECRET_ID) as string;
  return resolve(ctx, secretId);
}

async function resolve(ctx: OperationContext, secretId: string): Promise<{ name: string; arn: string }> {
  const state = await ctx.serve.vault.read(ctx.serve.identity.identity);
  const exists = (n: string): boolean => state.secrets.some((e) => e.secret.name === n);
  const name = nameFromSecretId(secretId, ctx.scope, exists) ?? secretId;
  return { name, arn: arnFor(ctx, name) };
}

function arnFor(ctx: OperationContext, name: string): string {
  return secretArn(ctx.scope, name);
}

function tagsOf(input: Input, member = 'Tags'): Map<string, string> {
  const tags = new Map<string, string>();
  for (const t of list(input, member) ?? []) {
    if (typeof t !== 'object' || t === null) throw new AwsError('SerializationException', `Unrecognized value in ${member}`);
    const key = str(t as Input, 'Key', { required: true, min: 1, max: 128 }) as string;
    const value = str(t as Input, 'Value', { max: 256 }) ?? '';
    try {
      assertTag(key, value);
    } catch {
      throw new AwsError('InvalidParameterException', 'Invalid tag key or value. Tag keys and values can contain letters, numbers, spaces, and _.:/=+-@');
    }
    tags.set(key, value);
  }
  return tags;
}

function stringList(input: Input, member: string): string[] {
  return (list(input, member) ?? []).map((v) => {
    if (typeof v !== 'string') throw new AwsError('SerializationException', `Unrecognized value in ${member}: expected strings`);
    return v;
  });
}

function newValue(input: Input): { bytes: SecretBytes; type: 'string' | 'binary' } | undefined {
  const v = secretValue(input);
  return v ? { bytes: new SecretBytes(v.bytes), type: v.type } : undefined;
}

function token(input: Input): string | undefined {
  return str(input, 'ClientRequestToken', { min: 32, max: 64 });
}

/** The payload of a value as AWS returns it. */
function payload(v: { type: 'string' | 'binary'; value: SecretBytes }): { SecretString: string } | { SecretBinary: string } {
  const text = v.type === 'string' ? v.value.revealText() : undefined;
  return text !== undefined ? { SecretString: text } : { SecretBinary: Buffer.from(v.value.reveal()).toString('base64') };
}

function describeShape(ctx: OperationContext, d: SecretDescription): Record<string, unknown> {
  const stages: Record<string, string[]> = {};
  for (const [id, labels] of Object.entries(d.VersionIdsToStages)) stages[id] = labels.map(awsLabel);
  return {
    ARN: arnFor(ctx, d.Name),
    Name: d.Name,
    ...(d.Description !== undefined ? { Description: d.Description } : {}),
    ...(d.RotationEnabled !== undefined ? { RotationEnabled: d.RotationEnabled } : {}),
    ...(d.RotationRules !== undefined ? { RotationRules: d.RotationRules } : {}),
    ...(d.LastRotatedDate !== undefined ? { LastRotatedDate: epoch(d.LastRotatedDate) } : {}),
    LastChangedDate: epoch(d.LastChangedDate),
    ...(d.LastAccessedDate !== undefined ? { LastAccessedDate: epoch(d.LastAccessedDate) } : {}),
    ...(d.DeletedDate !== undefined ? { DeletedDate: epoch(d.DeletedDate) } : {}),
    ...(d.NextRotationDate !== undefined ? { NextRotationDate: epoch(d.NextRotationDate) } : {}),
    ...(d.Tags.length > 0 ? { Tags: d.Tags } : {}),
    VersionIdsToStages: stages,
    CreatedDate: epoch(d.CreatedDate),
  };
}

/** ListSecrets filter keys and what they mean here. */
const FILTER_KEYS = new Set(['name', 'description', 'tag-key', 'tag-value', 'all', 'primary-region', 'owning-service']);

function filtersOf(input: Input): ListFilter[] | undefined {
  const raw = list(input, 'Filters');
  if (raw === undefined) return undefined;
  if (raw.length > 10) throw new AwsError('InvalidParameterException', 'Filters can contain at most 10 filters.');
  const out: ListFilter[] = [];
  for (const f of raw) {
    if (typeof f !== 'object' || f === null) throw new AwsError('SerializationException', 'Unrecognized value in Filters');
    const key = str(f as Input, 'Key', { required: true });
    if (key === undefined || !FILTER_KEYS.has(key)) {
      throw new AwsError(
        'ValidationException',
        `1 validation error detected: Value '${key ?? ''}' at 'filters.1.member.key' failed to satisfy constraint: Member must satisfy enum value set: [all, name, tag-key, description, tag-value, primary-region, owning-service]`,
      );
    }
    const values = stringList(f as Input, 'Values');
    // No secret here has a primary region or an owning service: those filters match nothing.
    out.push({
      key: key === 'primary-region' || key === 'owning-service' ? 'tag:\0none' : (key as ListFilter['key']),
      values: values.length > 0 ? values : ['\0'],
    });
  }
  return out;
}

/** NextToken: the position in the list, bound to the request's own parameters. */
function pageToken(offset: number, bound: string): string {
  return Buffer.from(JSON.stringify([offset, bound])).toString('base64url');
}

function pageOffset(token: string | undefined, bound: string): number {
  if (token === undefined) return 0;
  try {
    const [offset, was] = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as [unknown, unknown];
    if (typeof offset === 'number' && Number.isInteger(offset) && offset >= 0 && was === bound) return offset;
  } catch {
    // reported below
  }
  throw new AwsError('InvalidNextTokenException', 'The NextToken value is invalid.');
}

function page<T>(items: readonly T[], input: Input, bound: string, max: number): { items: T[]; next?: string } {
  const limit = int(input, 'MaxResults', 1, max) ?? max;
  const offset = pageOffset(str(input, 'NextToken', { min: 1, max: 4096 }), bound);
  const slice = items.slice(offset, offset + limit);
  return { items: slice, ...(offset + limit < items.length ? { next: pageToken(offset + limit, bound) } : {}) };
}

function rotationSettings(input: Input): RotationSettings | undefined {
  const rules = input['RotationRules'];
  if (rules === undefined || rules === null) return undefined;
  if (typeof rules !== 'object') throw new AwsError('SerializationException', 'Unrecognized value for RotationRules');
  const r = rules as Input;
  const days = int(r, 'AutomaticallyAfterDays', 1, 1000);
  const expression = str(r, 'ScheduleExpression', { min: 1, max: 256 });
  const duration = str(r, 'Duration', { min: 2, max: 3 });
  let every = days;
  let cron: string | undefined;
  if (expression !== undefined) {
    const rate = /^rate\((\d+) days?\)$/.exec(expression);
    const c = /^cron\((.+)\)$/.exec(expression);
    if (rate) every = Number(rate[1]);
    else if (c) cron = c[1];
    else throw new AwsError('InvalidParameterException', 'Invalid ScheduleExpression. Use rate(N days) or cron(...).');
    if (days !== undefined) throw new AwsError('InvalidParameterException', "You can't specify both AutomaticallyAfterDays and ScheduleExpression.");
  }
  return { ...(every !== undefined ? { every } : {}), ...(cron !== undefined ? { cron } : {}), ...(duration !== undefined ? { window: duration } : {}) };
}

function issueText(issue: PolicyIssue): string {
  return `${issue.path.join('.')}: ${issue.message}`;
}

function policyDocument(input: Input): unknown {
  const text = str(input, 'ResourcePolicy', { required: true, min: 1, max: 20_480 }) as string;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new AwsError('MalformedPolicyDocumentException', 'This resource policy contains a syntax error.');
  }
}

/** Every operation, by its X-Amz-Target name. */
export const OPERATIONS: Readonly<Record<string, Operation>> = {
  async CreateSecret(ctx, input) {
    const name = str(input, 'Name', { required: true, min: 1, max: 512 }) as string;
    const description = str(input, 'Description', { max: 2048 });
    str(input, 'KmsKeyId', { max: 2048 });
    if (list(input, 'AddReplicaRegions')?.length)
      throw new AwsError('InvalidRequestException', 'Replication to other regions is not available on this endpoint.');
    const value = newValue(input);
    if (!value) throw new AwsError('InvalidRequestException', 'This endpoint creates a secret with its first value: pass SecretString or SecretBinary.');
    const tags = tagsOf(input);
    const r = await createSecret(ctx.deps, { name, description, tags, value, token: token(input) });
    return { ARN: arnFor(ctx, name), Name: name, ...(r.VersionId !== undefined ? { VersionId: r.VersionId } : {}) };
  },

  async GetSecretValue(ctx, input) {
    const { name, arn } = await target(ctx, input);
    const versionId = str(input, 'VersionId', { min: 32, max: 64 });
    const stage = str(input, 'VersionStage', { min: 1, max: 256 });
    const v = await getSecretValue(ctx.deps, { name, versionId, versionStage: versionId === undefined && stage !== undefined ? ourLabel(stage) : undefined });
    try {
      if (versionId !== undefined && stage !== undefined && !v.VersionStages.includes(ourLabel(stage))) {
        throw new AwsError('InvalidParameterException', 'You provided a VersionStage that is not associated to the provided VersionId.');
      }
      return { ARN: arn, Name: v.Name, VersionId: v.VersionId, ...payload(v), VersionStages: v.VersionStages.map(awsLabel), CreatedDate: epoch(v.CreatedDate) };
    } finally {
      v.value.wipe();
    }
  },

  async BatchGetSecretValue(ctx, input) {
    const ids = list(input, 'SecretIdList');
    const filters = filtersOf(input);
    if ((ids === undefined) === (filters === undefined)) {
      throw new AwsError('InvalidParameterException', 'Either SecretIdList or Filters must be provided, but not both.');
    }
    if (ids !== undefined && ids.length > 20) throw validation20();
    const names: string[] = [];
    for (const id of ids ?? []) {
      if (typeof id !== 'string') throw new AwsError('SerializationException', 'Unrecognized value in SecretIdList: expected strings');
      names.push((await resolve(ctx, id)).name);
    }
    const r = await batchGetSecretValue(ctx.deps, { names, ...(filters ? { filter: (e: SecretEntry) => matchesFilters(e.secret, filters) } : {}) });
    try {
      const values = r.values.map((v) => ({
        ARN: arnFor(ctx, v.Name),
        Name: v.Name,
        VersionId: v.VersionId,
        ...payload(v),
        VersionStages: v.VersionStages.map(awsLabel),
        CreatedDate: epoch(v.CreatedDate),
      }));
      const member = await ctx.serve.memberName();
      const errors = r.errors.map((e) => {
        const aws = toAwsError(new SecretsError(e.ErrorCode as SecretsError['code'], e.Message), 'GetSecretValue', {
          name: e.SecretId,
          member,
          accountId: ctx.serve.credentials.accountId,
        });
        return { SecretId: e.SecretId, ErrorCode: aws.type, Message: aws.message };
      });
      const paged = page(values, input, JSON.stringify([ids, input['Filters']]), 20);
      return { SecretValues: paged.items, Errors: errors, ...(paged.next !== undefined ? { NextToken: paged.next } : {}) };
    } finally {
      for (const v of r.values) v.value.wipe();
    }
  },

  async PutSecretValue(ctx, input) {
    const { name, arn } = await target(ctx, input);
    const value = newValue(input);
    if (!value) throw new AwsError('InvalidRequestException', 'You must provide either SecretString or SecretBinary.');
    const labels = stringList(input, 'VersionStages').map(ourLabel);
    const r = await putSecretValue(ctx.deps, { name, value, labels, token: token(input) });
    return { ARN: arn, Name: name, VersionId: r.VersionId, VersionStages: (r.VersionStages ?? []).map(awsLabel) };
  },

  async UpdateSecret(ctx, input) {
    const { name, arn } = await target(ctx, input);
    const description = str(input, 'Description', { max: 2048 });
    str(input, 'KmsKeyId', { max: 2048 });
    const value = newValue(input);
    if (description === undefined && value === undefined) return { ARN: arn, Name: name };
    const r = await updateSecret(ctx.deps, { name, description, value, token: value ? token(input) : undefined });
    return { ARN: arn, Name: name, ...(r.VersionId !== undefined ? { VersionId: r.VersionId } : {}) };
  },

  async DescribeSecret(ctx, input) {
    const { name } = await target(ctx, input);
    return describeShape(ctx, await describeSecret(ctx.deps, { name }));
  },

  async ListSecrets(ctx, input) {
    const includeDeleted = bool(input, 'IncludePlannedDeletion') ?? false;
    const order = str(input, 'SortOrder');
    if (order !== undefined && order !== 'asc' && order !== 'desc') {
      throw new AwsError(
        'ValidationException',
        `1 validation error detected: Value '${order}' at 'sortOrder' failed to satisfy constraint: Member must satisfy enum value set: [asc, desc]`,
      );
    }
    const filters = filtersOf(input) ?? [];
    const r = await listSecrets(ctx.deps, { filters, includeDeleted });
    // AWS lists by creation date; desc is its default order.
    const sorted = [...r.SecretList].sort((a, b) => (a.CreatedDate < b.CreatedDate ? -1 : a.CreatedDate > b.CreatedDate ? 1 : a.Name < b.Name ? -1 : 1));
    if (order !== 'asc') sorted.reverse();
    const paged = page(sorted, input, JSON.stringify([includeDeleted, order, input['Filters']]), 100);
    const SecretList = paged.items.map((d) => {
      const { VersionIdsToStages, ...rest } = describeShape(ctx, d);
      return { ...rest, SecretVersionsToStages: VersionIdsToStages };
    });
    return { SecretList, ...(paged.next !== undefined ? { NextToken: paged.next } : {}) };
  },

  async ListSecretVersionIds(ctx, input) {
    const { name, arn } = await target(ctx, input);
    const includeDeprecated = bool(input, 'IncludeDeprecated') ?? false;
    const r = await listSecretVersions(ctx.deps, { name });
    const versions = r.Versions.filter((v) => includeDeprecated || v.VersionStages.length > 0).map((v) => ({
      VersionId: v.VersionId,
      VersionStages: v.VersionStages.map(awsLabel),
      CreatedDate: epoch(v.CreatedDate),
    }));
    const paged = page(versions, input, JSON.stringify([name, includeDeprecated]), 100);
    return { Versions: paged.items, ARN: arn, Name: r.Name, ...(paged.next !== undefined ? { NextToken: paged.next } : {}) };
  },

  async UpdateSecretVersionStage(ctx, input) {
    const { name, arn } = await target(ctx, input);
    const label = str(input, 'VersionStage', { required: true, min: 1, max: 256 }) as string;
    const from = str(input, 'RemoveFromVersionId', { min: 32, max: 64 });
    const to = str(input, 'MoveToVersionId', { min: 32, max: 64 });
    if (from === undefined && to === undefined) {
      throw new AwsError('InvalidParameterException', 'You must specify either RemoveFromVersionId or MoveToVersionId.');
    }
    await updateVersionStage(ctx.deps, { name, label: ourLabel(label), to, from });
    return { ARN: arn, Name: name };
  },

  async TagResource(ctx, input) {
    const { name } = await target(ctx, input);
    if (list(input, 'Tags') === undefined) throw validationNull('tags');
    await tagSecret(ctx.deps, { name, tags: tagsOf(input) });
    return {};
  },

  async UntagResource(ctx, input) {
    const { name } = await target(ctx, input);
    if (list(input, 'TagKeys') === undefined) throw validationNull('tagKeys');
    await untagSecret(ctx.deps, { name, keys: stringList(input, 'TagKeys') });
    return {};
  },

  async DeleteSecret(ctx, input) {
    const { name, arn } = await target(ctx, input);
    const days = input['RecoveryWindowInDays'];
    const force = bool(input, 'ForceDeleteWithoutRecovery') ?? false;
    if (force && days !== undefined && days !== null) {
      throw new AwsError('InvalidParameterException', "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.");
    }
    if (days !== undefined && days !== null && (typeof days !== 'number' || !Number.isInteger(days) || days < MIN_RECOVERY_DAYS || days > MAX_RECOVERY_DAYS)) {
      throw new AwsError('InvalidParameterException', 'The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).');
    }
    const r = await deleteSecret(ctx.deps, { name, force, recoveryWindowDays: force ? undefined : ((days as number | undefined) ?? DEFAULT_RECOVERY_DAYS) });
    return { ARN: arn, Name: name, DeletionDate: epoch(r.DeletionDate) };
  },

  async RestoreSecret(ctx, input) {
    const { name, arn } = await target(ctx, input);
    try {
      await restoreSecret(ctx.deps, { name });
    } catch (err) {
      // AWS restores a secret that is not deleted as a no-op.
      if (!(err instanceof SecretsError) || err.code !== 'CONFLICT') throw err;
    }
    return { ARN: arn, Name: name };
  },

  async GetRandomPassword(_ctx, input) {
    const password = randomPassword({
      length: int(input, 'PasswordLength', 1, 4096) ?? 32,
      excludeCharacters: str(input, 'ExcludeCharacters', { max: 4096 }) ?? '',
      excludeNumbers: bool(input, 'ExcludeNumbers') ?? false,
      excludePunctuation: bool(input, 'ExcludePunctuation') ?? false,
      excludeUppercase: bool(input, 'ExcludeUppercase') ?? false,
      excludeLowercase: bool(input, 'ExcludeLowercase') ?? false,
      includeSpace: bool(input, 'IncludeSpace') ?? false,
      requireEachIncludedType: bool(input, 'RequireEachIncludedType') ?? true,
    });
    return { RandomPassword: password };
  },

  async RotateSecret(ctx, input) {
    const { name, arn } = await target(ctx, input);
    const lambda = str(input, 'RotationLambdaARN', { max: 2048 });
    token(input);
    if (lambda !== undefined) {
      throw new AwsError(
        'AccessDeniedException',
        `Secrets Manager cannot invoke the specified Lambda function. Ensure that the function policy grants access to the principal secretsmanager.amazonaws.com. (This endpoint rotates with its own handlers: configure one with \`secrets rotate ${name} --handler …\`.)`,
      );
    }
    const settings = rotationSettings(input);
    const now = bool(input, 'RotateImmediately') ?? true;
    const ports = await ctx.rotation();
    // New rules, or RotateImmediately false, store the configuration (and turn rotation on) first.
    if (settings || !now) {
      const r = await configureRotation(ctx.deps, ports, { name, settings: settings ?? {}, rotateNow: now });
      return { ARN: arn, Name: name, ...(r.Rotated ? { VersionId: r.Rotated.VersionId } : {}) };
    }
    const r = await rotateSecret(ctx.deps, ports, { name });
    return { ARN: arn, Name: name, VersionId: r.VersionId };
  },

  async CancelRotateSecret(ctx, input) {
    const { name, arn } = await target(ctx, input);
    const r = await cancelRotation(ctx.deps, { name });
    return { ARN: arn, Name: name, ...(r.CancelledVersionId !== undefined ? { VersionId: r.CancelledVersionId } : {}) };
  },

  async GetResourcePolicy(ctx, input) {
    const { name, arn } = await target(ctx, input);
    try {
      const p = await getPolicy(ctx.deps, { secret: name });
      return { ARN: arn, Name: name, ResourcePolicy: JSON.stringify(p.Document) };
    } catch (err) {
      // AWS answers a secret without a policy with no ResourcePolicy member.
      if (err instanceof SecretsError && err.code === 'NOT_FOUND' && /has no resource policy/.test(err.message)) return { ARN: arn, Name: name };
      throw err;
    }
  },

  async PutResourcePolicy(ctx, input) {
    const { name, arn } = await target(ctx, input);
    const doc = policyDocument(input);
    bool(input, 'BlockPublicPolicy');
    try {
      await putPolicy(ctx.deps, { secret: name, doc, describe: issueText });
    } catch (err) {
      if (err instanceof SecretsError && err.code === 'USAGE') throw new AwsError('MalformedPolicyDocumentException', err.message);
      throw err;
    }
    return { ARN: arn, Name: name };
  },

  async DeleteResourcePolicy(ctx, input) {
    const { name, arn } = await target(ctx, input);
    try {
      await deletePolicy(ctx.deps, { secret: name });
    } catch (err) {
      // Deleting a policy that is not there succeeds, as in AWS.
      if (!(err instanceof SecretsError) || err.code !== 'NOT_FOUND' || !/has no resource policy/.test(err.message)) throw err;
    }
    return { ARN: arn, Name: name };
  },

  async ValidateResourcePolicy(_ctx, input) {
    str(input, 'SecretId', { min: 1, max: 2048 });
    const doc = policyDocument(input);
    const { issues } = checkPolicy(doc, 'resource');
    const errors = issues.filter((i) => i.level === 'error');
    return {
      PolicyValidationPassed: errors.length === 0,
      ValidationErrors: errors.map((i) => ({ CheckName: 'POLICY_GRAMMAR', ErrorMessage: issueText(i) })),
    };
  },
};

function validationNull(member: string): AwsError {
  return new AwsError('ValidationException', `1 validation error detected: Value null at '${member}' failed to satisfy constraint: Member must not be null`);
}

function validation20(): AwsError {
  return new AwsError(
    'ValidationException',
    "1 validation error detected: Value at 'secretIdList' failed to satisfy constraint: Member must have length less than or equal to 20",
  );
}

/** True for the name of an operation this server answers. */
export function isOperation(name: string): boolean {
  return Object.prototype.hasOwnProperty.call(OPERATIONS, name);
}

/** Runs one operation and turns this project's errors into AWS's. */
export async function runOperation(ctx: OperationContext, name: string, input: Input): Promise<Record<string, unknown>> {
  const op = isOperation(name) ? OPERATIONS[name] : undefined;
  if (!op) throw new AwsError('UnknownOperationException', '');
  try {
    return await op(ctx, input);
  } catch (err) {
    if (err instanceof SecretsError) {
      const secretId = typeof input['SecretId'] === 'string' ? input['SecretId'] : typeof input['Name'] === 'string' ? input['Name'] : undefined;
      throw toAwsError(err, name, { name: secretId, member: await ctx.serve.memberName().catch(() => 'unknown'), accountId: ctx.serve.credentials.accountId });
    }
    throw err;
  }
}
