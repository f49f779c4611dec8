/** The nearest of some words to a mistyped one, for "did you mean …?" hints. */

/** Beyond this many edits a word is not a typo of another. */
const MAX_EDITS = 2;

/** Optimal string alignment distance (Levenshtein plus adjacent transpositions). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  const row0 = d[0] as number[];
  for (let j = 1; j <= b.length; j++) row0[j] = j;
  for (let i = 1; i <= a.length; i++) {
    const row = d[i] as number[];
    const prev = d[i - 1] as number[];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, ((d[i - 2] as number[])[j - 2] as number) + 1);
      row[j] = best;
    }
  }
  return (d[a.length] as number[])[b.length] as number;
}

/**
 * The candidates nearest to `word`: the one it starts (`rot` → rotate) when only one, else those
 * within MAX_EDITS edits that keep over half the letters, fewest edits first. Empty when none is
 * close: a far guess is worse than none.
 */
export function nearest(word: string, candidates: readonly string[]): string[] {
  const prefixed = candidates.filter((c) => word.length >= 2 && c.startsWith(word));
  if (prefixed.length === 1) return prefixed;
  let best = MAX_EDITS + 1;
  let out: string[] = [];
  for (const c of new Set(candidates)) {
    const distance = editDistance(word, c);
    if (distance > MAX_EDITS || distance * 2 >= Math.max(word.length, c.length)) continue;
    if (distance < best) {
      best = distance;
      out = [c];
    } else if (distance === best) {
      out.push(c);
    }
  }
  return out.sort();
}
