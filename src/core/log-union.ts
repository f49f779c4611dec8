/**
 * The union of two copies of a format-2 log, as the merge driver and `sync` write it
 * (docs/decisions/0018-operation-log.md §7): the lines both copies begin with, then each copy's
 * suffix whole, the one whose first entry has the lower hash first. Pure: a unit is an entry
 * with the payload lines written before it, as text; the caller parses, verifies and signs.
 */
import { byText } from './state.js';

/** One entry and the payload lines that precede it in a file, exactly as written there. */
export interface LogUnit {
  /** h(entry line). */
  readonly hash: string;
  readonly parents: readonly string[];
  /** The unit's lines (payloads, then the entry), each with its `- ` and newline. */
  readonly text: string;
  /** Whether the entry is a checkpoint: a cut, so no entry before it is a head. */
  readonly checkpoint?: boolean;
}

/** Two copies joined. */
export interface LogUnion {
  /** The units of the joined file, in file order. */
  readonly units: readonly LogUnit[];
  /** How many units both copies begin with. */
  readonly common: number;
  /** Entries that only one copy has (each in that copy's file order). */
  readonly onlyOurs: readonly string[];
  readonly onlyTheirs: readonly string[];
  /** The entries no entry of the union names as a parent, sorted. */
  readonly heads: readonly string[];
}

/**
 * The entries of `units` (in file order) that no unit names as a parent, sorted. Nothing before
 * the last checkpoint is a head: a checkpoint is a cut, and the governance entries a compacted
 * file keeps before it name parents that are gone.
 */
export function headsOf(units: readonly Pick<LogUnit, 'hash' | 'parents' | 'checkpoint'>[]): string[] {
  const after = units.slice(
    Math.max(
      0,
      units.findLastIndex((u) => u.checkpoint === true),
    ),
  );
  const named = new Set(after.flatMap((u) => u.parents));
  return after
    .map((u) => u.hash)
    .filter((h) => !named.has(h))
    .sort(byText);
}

/**
 * Joins `ours` and `theirs`: their common prefix, then the suffix whose first entry has the
 * lower hash, then the other suffix without the entries already written (two copies that merged
 * one branch in different orders hold it in both suffixes). File order stays a topological
 * order: every entry of a suffix follows its parents in its own copy, and those are all written
 * before it. When one copy holds every entry of the other, the union is that copy, unchanged.
 */
export function unionOf(ours: readonly LogUnit[], theirs: readonly LogUnit[]): LogUnion {
  let common = 0;
  while (common < ours.length && common < theirs.length && (ours[common] as LogUnit).text === (theirs[common] as LogUnit).text) common++;
  const prefix = ours.slice(0, common);
  const mine = ours.slice(common);
  const other = theirs.slice(common);
  const inPrefix = new Set(prefix.map((u) => u.hash));
  const hashesOf = (units: readonly LogUnit[]): Set<string> => new Set(units.map((u) => u.hash));
  const oursSet = hashesOf(ours);
  const theirsSet = hashesOf(theirs);
  const onlyOurs = mine.filter((u) => !theirsSet.has(u.hash)).map((u) => u.hash);
  const onlyTheirs = other.filter((u) => !oursSet.has(u.hash)).map((u) => u.hash);
  let units: LogUnit[];
  if (onlyTheirs.length === 0) units = [...ours];
  else if (onlyOurs.length === 0) units = [...theirs];
  else {
    const [first, second] = byText((mine[0] as LogUnit).hash, (other[0] as LogUnit).hash) <= 0 ? [mine, other] : [other, mine];
    const written = new Set([...inPrefix, ...first.map((u) => u.hash)]);
    units = [...prefix, ...first, ...second.filter((u) => !written.has(u.hash))];
  }
  return { units, common, onlyOurs, onlyTheirs, heads: headsOf(units) };
}
