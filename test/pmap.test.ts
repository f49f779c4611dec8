// The persistent map behind replayed states (core/pmap.ts), checked against a plain Map.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { PMap } from '../src/core/pmap.js';

type Step = { op: 'set'; key: string; value: number } | { op: 'delete'; key: string };

const key = fc.oneof(fc.string({ maxLength: 3 }), fc.uuid(), fc.constantFrom('', 'a', 'b', 'ab', 'ba'));
const steps = fc.array(
  fc.oneof(fc.record({ op: fc.constant('set' as const), key, value: fc.integer() }), fc.record({ op: fc.constant('delete' as const), key })),
  { maxLength: 200 },
);

const sorted = (m: ReadonlyMap<string, number>): [string, number][] => [...m].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));

test('every sequence of sets and deletes reads as a Map does, and old versions never change', () => {
  fc.assert(
    fc.property(steps, (ops: Step[]) => {
      const model = new Map<string, number>();
      let map = PMap.empty<number>();
      const history: [PMap<number>, [string, number][]][] = [];
      for (const s of ops) {
        if (s.op === 'set') {
          model.set(s.key, s.value);
          map = map.set(s.key, s.value);
        } else {
          model.delete(s.key);
          map = map.delete(s.key);
        }
        history.push([map, sorted(model)]);
        assert.equal(map.size, model.size);
        assert.equal(map.has(s.key), model.has(s.key));
        assert.equal(map.get(s.key), model.get(s.key));
      }
      for (const [old, expected] of history) assert.deepEqual(sorted(old), expected);
      assert.deepEqual([...map.keys()].sort(), [...model.keys()].sort());
    }),
    { numRuns: 300 },
  );
});

test('iteration order depends on the keys only, not on the order they were set in', () => {
  fc.assert(
    fc.property(fc.uniqueArray(key, { maxLength: 60 }), fc.integer(), (keys, seed) => {
      const shuffled = [...keys].sort((a, b) => ((a.length * 31 + seed) % 7) - ((b.length * 31 + seed) % 7) || (a < b ? 1 : -1));
      const one = PMap.from(keys.map((k) => [k, 1] as const));
      const two = PMap.from(shuffled.map((k) => [k, 1] as const));
      assert.deepEqual([...one.keys()], [...two.keys()]);
    }),
  );
});

test('100,000 keys: every one found, deletes shrink it, and a change leaves the old map whole', () => {
  let map = PMap.empty<number>();
  for (let i = 0; i < 100_000; i++) map = map.set(`secret-${i}`, i);
  assert.equal(map.size, 100_000);
  for (let i = 0; i < 100_000; i += 997) assert.equal(map.get(`secret-${i}`), i);
  const before = map;
  for (let i = 0; i < 100_000; i += 2) map = map.delete(`secret-${i}`);
  assert.equal(map.size, 50_000);
  assert.equal(before.size, 100_000);
  assert.equal(before.get('secret-0'), 0);
  assert.equal(map.get('secret-0'), undefined);
  assert.equal(map.get('secret-1'), 1);
  assert.equal([...map.values()].length, 50_000);
  assert.equal(map.delete('absent'), map);
});
