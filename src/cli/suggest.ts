/**
 * The nearest of some words to a mistyped one, for "did you mean …?" hints: commands (`nearest`)
 * and the names of the policy language (`nearestName`), which core reports as misspelled.
 */

/** Beyond this many edits a command is not a typo of another. */
const MAX_EDITS = 2;

/**
 * Edit distance: optimal string alignment (Levenshtein plus adjacent transpositions), or plain
 * Levenshtein when `transpositions` is false.
 */
export function editDistance(a: string, b: string, transpositions = true): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  const row0 = d[0] as number[];
  for (let j = 1; j <= b.length; j++) row0[j] = j;
  for (let i = 1; i <= a.length; i++) {
    const row = d[i] as number[];
    const prev = d[i - 1] as number[];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
      if (transpositions && i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        best = Math.min(best, ((d[i - 2] as number[])[j - 2] as number) + 1);
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

/**
 * The one name in `names` nearest to `word`, ignoring case as IAM does, or undefined when none is
 * close (more than max(2, a quarter of the letters) edits, counting no transpositions). Policy
 * names are long, so a name cut short (4 letters or more) means its shortest longer name.
 */
export function nearestName(word: string, names: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = Infinity;
  const w = word.toLowerCase();
  // A name cut short (secrets:GetSecret) means the longer name, whatever the edit distance says.
  const extended = names.filter((n) => n.toLowerCase().startsWith(w));
  if (w.length >= 4 && extended.length > 0) return extended.sort((a, b) => a.length - b.length)[0];
  for (const n of names) {
    const score = editDistance(w, n.toLowerCase(), false);
    if (score < bestScore) {
      best = n;
      bestScore = score;
    }
  }
  return bestScore <= Math.max(2, Math.floor(w.length / 4)) ? best : undefined;
}
