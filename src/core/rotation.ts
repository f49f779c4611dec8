/**
 * Rotation as the core sees it (docs/rotation.md): the four steps of AWS rotation, the
 * configuration stored (signed, plaintext) on the secret record, and what a handler receives
 * for each step (the handler ports themselves are in ports.ts).
 */
import type { SecretBytes } from './secret-bytes.js';

/** The steps, in the order they run. */
export const ROTATION_STEPS = ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as const;
export type RotationStep = (typeof ROTATION_STEPS)[number];

/** How a rotation changes the credential on the service. */
export type RotationStrategy = 'single-user' | 'alternating-users';

/** Generator options kept with the configuration (only those that differ from AWS defaults). */
export interface RotationRandom {
  readonly length?: number;
  readonly excludeCharacters?: string;
  readonly excludeNumbers?: boolean;
  readonly excludePunctuation?: boolean;
  readonly excludeUppercase?: boolean;
  readonly excludeLowercase?: boolean;
  readonly includeSpace?: boolean;
  readonly requireEachIncludedType?: boolean;
}

/** A secret's rotation configuration, as stored in its record. */
export interface RotationConfig {
  /**
   * `password`, `postgres`, `mysql`, or `command:NAME`: a name that each machine maps to a
   * program of its own choosing (HandlerAllowlist). Vaults written before names were required
   * may hold `command:/absolute/path`, which no machine runs.
   */
  readonly handler: string;
  /** Automatic rotation is on (AWS RotationEnabled); `--cancel` turns it off. */
  readonly enabled: boolean;
  /** Rotate every N days (AWS AutomaticallyAfterDays). */
  readonly every?: number;
  /** Or on a cron schedule (five or six fields, UTC). */
  readonly cron?: string;
  /** How long after a scheduled time a rotation may still start (e.g. `4h`; AWS Duration). */
  readonly window?: string;
  /** Database handlers: who changes which password. */
  readonly strategy?: RotationStrategy;
  /** alternating-users: the secret holding the administrator's credentials. */
  readonly master?: string;
  /** Options for the new password. */
  readonly random?: RotationRandom;
  /** When the configuration was made (the schedule's start before the first rotation). */
  readonly since: string;
  /** When a rotation last finished (AWS LastRotatedDate). */
  readonly last?: string;
}

/** What one step receives. Values are never logged; handlers must not put them in errors. */
export interface RotationRequest {
  readonly secretId: string;
  readonly name: string;
  /** The pending version's id (AWS ClientRequestToken). */
  readonly token: string;
  readonly step: RotationStep;
  readonly config: RotationConfig;
  /** The CURRENT value. */
  readonly current: SecretBytes;
  /** The PENDING value (absent during createSecret). */
  readonly pending?: SecretBytes;
  /** The PREVIOUS value, if any. */
  readonly previous?: SecretBytes;
  /** alternating-users: the master secret's value. */
  readonly master?: SecretBytes;
  /** Tells the person running the rotation what is happening (stderr). */
  readonly note: (message: string) => void;
}

/** A request from setSecret on: the pending value is there. */
export type PendingRequest = RotationRequest & { readonly pending: SecretBytes };

/** The handlers built in: they run no program a vault names, so no machine needs to allow them. */
export const BUILTIN_HANDLERS = ['password', 'postgres', 'mysql'] as const;

/** A local handler's name, as stored after `command:`. */
export const HANDLER_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
