/**
 * Rotation schedules: every N days after the last rotation (AWS AutomaticallyAfterDays) or a
 * five-field cron expression in UTC, each with an optional window after the scheduled time in
 * which a rotation may start (AWS Duration). Cron expressions are parsed by croner, loaded only
 * when a schedule uses one, so `get` never pays for it.
 */
import { SecretsError } from './errors.js';
import type { RotationConfig } from './rotation.js';

const DAY_MS = 86_400_000;
const UNIT_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: DAY_MS };

/** A window like `30m`, `4h` or `2d` in milliseconds; USAGE otherwise. */
export function parseWindow(text: string): number {
  const m = /^([1-9]\d{0,4})([mhd])$/.exec(text);
  const unit = m?.[2] !== undefined ? UNIT_MS[m[2]] : undefined;
  if (!m || unit === undefined) {
    throw new SecretsError('USAGE', `invalid --window ${JSON.stringify(text)}`, 'use a number and a unit: 30m, 4h or 1d');
  }
  return Number(m[1]) * unit;
}

/** The cron matcher, or USAGE with croner's reason. Five fields only: minute hour day month weekday. */
export async function parseCron(expr: string): Promise<{ next(after: Date): Date | null; latest(atOrBefore: Date): Date | null }> {
  const fields = expr.trim().split(/\s+/);
  if (fields.length !== 5) {
    throw new SecretsError(
      'USAGE',
      `--cron needs five fields (minute hour day-of-month month day-of-week), got ${fields.length}`,
      'for example --cron "0 3 * * 1" rotates every Monday at 03:00 UTC',
    );
  }
  const { Cron } = await import('croner');
  let cron: InstanceType<typeof Cron>;
  try {
    cron = new Cron(expr, { timezone: 'UTC', paused: true });
  } catch (err) {
    throw new SecretsError(
      'USAGE',
      `invalid --cron ${JSON.stringify(expr)}: ${err instanceof Error ? err.message : String(err)}`,
      'for example --cron "0 3 * * 1"',
    );
  }
  return {
    next: (after) => cron.nextRun(after),
    latest: (atOrBefore) => {
      // previousRuns looks strictly before its reference; a run exactly at `atOrBefore` counts.
      const [prev] = cron.previousRuns(1, new Date(atOrBefore.getTime() + 1000));
      return prev !== undefined && prev.getTime() <= atOrBefore.getTime() ? prev : null;
    },
  };
}

/** Where a rotation stands on its schedule at `now`. */
export interface ScheduleState {
  /** A rotation should run now. */
  readonly due: boolean;
  /** The scheduled time of the due slot, or the next one (AWS NextRotationDate). */
  readonly next?: Date;
}

/**
 * The schedule at `now`. Slots come after the last rotation (or the configuration, before the
 * first). The latest slot at or before `now` is due unless its window has closed, in which case
 * the next slot is awaited, as AWS does with a missed window.
 */
export async function scheduleAt(config: RotationConfig, now: Date): Promise<ScheduleState> {
  if (!config.enabled || (config.every === undefined && config.cron === undefined)) return { due: false };
  const base = new Date(config.last ?? config.since);
  const window = config.window !== undefined ? parseWindow(config.window) : undefined;
  let latest: Date | null = null;
  let following: Date | null = null;
  if (config.every !== undefined) {
    const period = config.every * DAY_MS;
    const k = Math.floor((now.getTime() - base.getTime()) / period);
    latest = k >= 1 ? new Date(base.getTime() + k * period) : null;
    following = new Date(base.getTime() + Math.max(k + 1, 1) * period);
  } else if (config.cron !== undefined) {
    const cron = await parseCron(config.cron);
    const prev = cron.latest(now);
    latest = prev !== null && prev.getTime() > base.getTime() ? prev : null;
    following = cron.next(now.getTime() > base.getTime() ? now : base);
  }
  if (latest !== null && (window === undefined || now.getTime() < latest.getTime() + window)) return { due: true, next: latest };
  return following !== null ? { due: false, next: following } : { due: false };
}
