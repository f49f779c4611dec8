// The union of two copies of a format-2 log (core/log-union.ts), on units with made-up hashes:
// the common prefix, the suffix with the lower first hash first, fast-forwards, entries both
// suffixes hold written once; and, as properties, that the union does not depend on which copy
// is ours, holds every entry once, and keeps every parent before its children.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { headsOf, type LogUnit, unionOf } from '../src/core/log-union.js';

/** A unit named `hash` after `parents`, with one payload line so the text is more than the entry. */
const unit = (hash: string, ...parents: string[]): LogUnit => ({ hash, parents, text: `- {"kind":"keys","n":"${hash}"}\n- {"kind":"op","h":"${hash}"}\n` });

/** A chain of units named `names`, the first after `after`. */
function chain(after: string | undefined, names: readonly string[]): LogUnit[] {
  let previous = after;
  return names.map((n) => {
    const u = previous === undefined ? unit(n) : unit(n, previous);
    previous = n;
    return u;
  });
}

const hashes = (units: readonly LogUnit[]): string[] => units.map((u) => u.hash);

describe('log union', () => {
  const base = chain(undefined, ['G', 'p1', 'p2']);

  test('two suffixes: the common prefix, then the one whose first entry has the lower hash, each whole', () => {
    const ours = [...base, ...chain('p2', ['m1', 'm2'])];
    const theirs = [...base, ...chain('p2', ['k1'])];
    const u = unionOf(ours, theirs);
    assert.deepEqual(hashes(u.units), ['G', 'p1', 'p2', 'k1', 'm1', 'm2']);
    assert.equal(u.common, 3);
    assert.deepEqual(u.onlyOurs, ['m1', 'm2']);
    assert.deepEqual(u.onlyTheirs, ['k1']);
    assert.deepEqual(u.heads, ['k1', 'm2']);
    assert.deepEqual(hashes(unionOf(theirs, ours).units), hashes(u.units), 'the same file whichever copy is ours');
  });

  test('a copy that holds every entry of the other is the union, unchanged (a fast-forward either way)', () => {
    const longer = [...base, ...chain('p2', ['x1', 'x2'])];
    assert.deepEqual(unionOf(longer, base).units, longer);
    assert.deepEqual(unionOf(base, longer).units, longer);
    assert.deepEqual(unionOf(base, base).units, base);
    assert.deepEqual(unionOf(longer, base).heads, ['x2']);
  });

  test('entries both suffixes hold (one branch merged in different orders) are written once', () => {
    // ours merged a then b; theirs holds b, then its own c.
    const ours = [...base, ...chain('p2', ['a']), ...chain('p2', ['b']), unit('m', 'a', 'b')];
    const theirs = [...base, ...chain('p2', ['b']), ...chain('b', ['c'])];
    const u = unionOf(ours, theirs);
    assert.deepEqual(hashes(u.units), ['G', 'p1', 'p2', 'a', 'b', 'm', 'c']);
    assert.deepEqual(u.heads, ['c', 'm']);
    assert.deepEqual(u.onlyTheirs, ['c']);
  });

  test('heads are the entries no entry names', () => {
    assert.deepEqual(headsOf([unit('G'), unit('a', 'G'), unit('b', 'G')]), ['a', 'b']);
  });

  test("nothing before a compacted file's checkpoint is a head, though the governance kept there names parents that are gone", () => {
    // The genesis and two governance entries (their parents compacted away), the checkpoint, an op after it.
    const compacted = [unit('G'), unit('m1', 'x1'), unit('m2', 'x2'), { ...unit('C', 'u'), checkpoint: true }];
    assert.deepEqual(headsOf(compacted), ['C']);
    assert.deepEqual(headsOf([...compacted, unit('p', 'C')]), ['p']);
    assert.deepEqual(unionOf([...compacted, unit('p', 'C')], [...compacted, unit('q', 'C')]).heads, ['p', 'q']);
  });

  test('property: symmetric, every entry once, parents first', () => {
    const names = fc.uniqueArray(fc.stringMatching(/^[a-z]{1,3}$/), { maxLength: 12 });
    fc.assert(
      fc.property(fc.nat({ max: 4 }), names, fc.nat(), (prefixLength, all, split) => {
        const prefix = chain(undefined, ['G', ...Array.from({ length: prefixLength }, (_, i) => `P${i}`)]);
        const tip = prefix.at(-1)?.hash as string;
        const cut = all.length === 0 ? 0 : split % (all.length + 1);
        const ours = [...prefix, ...chain(tip, all.slice(0, cut))];
        const theirs = [...prefix, ...chain(tip, all.slice(cut))];
        const one = unionOf(ours, theirs);
        const other = unionOf(theirs, ours);
        assert.deepEqual(hashes(one.units), hashes(other.units));
        assert.deepEqual(one.heads, other.heads);
        const seen = new Set<string>();
        for (const u of one.units) {
          assert.ok(!seen.has(u.hash), `${u.hash} once`);
          for (const p of u.parents) assert.ok(seen.has(p), `${p} before ${u.hash}`);
          seen.add(u.hash);
        }
        assert.deepEqual([...seen].sort(), [...new Set([...hashes(ours), ...hashes(theirs)])].sort());
      }),
      { numRuns: 200 },
    );
  });
});
