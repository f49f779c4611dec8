/**
 * A persistent map from strings to values: a hash array mapped trie. `set` and `delete` return
 * a new map that shares every node the change did not touch, so a replay can keep the state
 * before each entry of a branch without copying the whole vault: a change costs O(log₃₂ n).
 * It is a `ReadonlyMap`, so code that only reads a state does not know the difference.
 * Iteration order depends only on the keys (their hashes), never on the order of changes.
 */

const BITS = 5;
const MASK = (1 << BITS) - 1;
/** Below this depth the 32-bit hash is used up; keys with one hash share a bucket. */
const MAX_SHIFT = 30;

interface Leaf<V> {
  readonly hash: number;
  readonly key: string;
  readonly value: V;
}

interface Branch<V> {
  /** Bit i is set when child slot i is used; `children` holds the used slots in order. */
  readonly bitmap: number;
  readonly children: readonly Slot<V>[];
}

/** Leaves whose keys have the same hash (only below MAX_SHIFT, or by rare collision). */
interface Bucket<V> {
  readonly hash: number;
  readonly leaves: readonly Leaf<V>[];
}

type Slot<V> = Leaf<V> | Branch<V> | Bucket<V>;

const isLeaf = <V>(s: Slot<V>): s is Leaf<V> => 'key' in s;
const isBucket = <V>(s: Slot<V>): s is Bucket<V> => 'leaves' in s;

/** FNV-1a over UTF-16 code units, then a final mix so that similar keys spread. */
function hashOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}

function popcount(x: number): number {
  let v = x - ((x >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

const EMPTY_BRANCH: Branch<never> = { bitmap: 0, children: [] };

function lookup<V>(node: Slot<V>, hash: number, key: string, shift: number): Leaf<V> | undefined {
  for (;;) {
    if (isLeaf(node)) return node.key === key ? node : undefined;
    if (isBucket(node)) return node.leaves.find((l) => l.key === key);
    const bit = 1 << ((hash >>> shift) & MASK);
    if ((node.bitmap & bit) === 0) return undefined;
    node = node.children[popcount(node.bitmap & (bit - 1))] as Slot<V>;
    shift += BITS;
  }
}

/** Two leaves with different keys, in a new subtree at `shift`. */
function pair<V>(a: Leaf<V>, b: Leaf<V>, shift: number): Slot<V> {
  if (a.hash === b.hash || shift > MAX_SHIFT) return { hash: a.hash, leaves: [a, b] };
  const ia = (a.hash >>> shift) & MASK;
  const ib = (b.hash >>> shift) & MASK;
  if (ia === ib) return { bitmap: 1 << ia, children: [pair(a, b, shift + BITS)] };
  return { bitmap: (1 << ia) | (1 << ib), children: ia < ib ? [a, b] : [b, a] };
}

/** Returns the new node and whether the size grew. */
function insert<V>(node: Slot<V>, leaf: Leaf<V>, shift: number): [Slot<V>, boolean] {
  if (isLeaf(node)) {
    if (node.key === leaf.key) return [leaf, false];
    return [pair(node, leaf, shift), true];
  }
  if (isBucket(node)) {
    if (node.hash !== leaf.hash) {
      // A bucket made by a hash collision above MAX_SHIFT meets another hash: split by depth.
      const first = node.leaves[0] as Leaf<V>;
      let out: Slot<V> = pair(first, leaf, shift);
      for (const l of node.leaves.slice(1)) out = insert(out, l, shift)[0];
      return [out, true];
    }
    const i = node.leaves.findIndex((l) => l.key === leaf.key);
    if (i >= 0) return [{ hash: node.hash, leaves: node.leaves.map((l, j) => (j === i ? leaf : l)) }, false];
    return [{ hash: node.hash, leaves: [...node.leaves, leaf] }, true];
  }
  const bit = 1 << ((leaf.hash >>> shift) & MASK);
  const at = popcount(node.bitmap & (bit - 1));
  if ((node.bitmap & bit) === 0) {
    const children = [...node.children];
    children.splice(at, 0, leaf);
    return [{ bitmap: node.bitmap | bit, children }, true];
  }
  const [child, grew] = insert(node.children[at] as Slot<V>, leaf, shift + BITS);
  const children = [...node.children];
  children[at] = child;
  return [{ bitmap: node.bitmap, children }, grew];
}

/** Returns the new node (undefined when it became empty), or the same node when the key is absent. */
function remove<V>(node: Slot<V>, hash: number, key: string, shift: number): Slot<V> | undefined {
  if (isLeaf(node)) return node.key === key ? undefined : node;
  if (isBucket(node)) {
    const leaves = node.leaves.filter((l) => l.key !== key);
    if (leaves.length === node.leaves.length) return node;
    return leaves.length === 1 ? leaves[0] : { hash: node.hash, leaves };
  }
  const bit = 1 << ((hash >>> shift) & MASK);
  if ((node.bitmap & bit) === 0) return node;
  const at = popcount(node.bitmap & (bit - 1));
  const old = node.children[at] as Slot<V>;
  const child = remove(old, hash, key, shift + BITS);
  if (child === old) return node;
  const children = [...node.children];
  if (child === undefined) {
    children.splice(at, 1);
    if (children.length === 0) return undefined;
    const only = children[0] as Slot<V>;
    // A branch left holding one leaf or bucket collapses into it, so shapes depend only on keys.
    if (children.length === 1 && !('bitmap' in only)) return only;
    return { bitmap: node.bitmap & ~bit, children };
  }
  if (node.children.length === 1 && !('bitmap' in child)) return child;
  children[at] = child;
  return { bitmap: node.bitmap, children };
}

function* leavesOf<V>(node: Slot<V>): Generator<Leaf<V>> {
  if (isLeaf(node)) yield node;
  else if (isBucket(node)) yield* [...node.leaves].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  else for (const c of node.children) yield* leavesOf(c);
}

/** An immutable map; every change returns a new one. */
export class PMap<V> implements ReadonlyMap<string, V> {
  private constructor(
    private readonly root: Slot<V>,
    readonly size: number,
  ) {}

  static empty<V>(): PMap<V> {
    return new PMap<V>(EMPTY_BRANCH, 0);
  }

  static from<V>(entries: Iterable<readonly [string, V]>): PMap<V> {
    let m = PMap.empty<V>();
    for (const [k, v] of entries) m = m.set(k, v);
    return m;
  }

  get(key: string): V | undefined {
    return lookup(this.root, hashOf(key), key, 0)?.value;
  }

  has(key: string): boolean {
    return lookup(this.root, hashOf(key), key, 0) !== undefined;
  }

  set(key: string, value: V): PMap<V> {
    const [root, grew] = insert(this.root, { hash: hashOf(key), key, value }, 0);
    return new PMap(root, grew ? this.size + 1 : this.size);
  }

  delete(key: string): PMap<V> {
    const root = remove(this.root, hashOf(key), key, 0);
    if (root === this.root) return this;
    return new PMap(root ?? EMPTY_BRANCH, this.size - 1);
  }

  *entries(): MapIterator<[string, V]> {
    for (const l of leavesOf(this.root)) yield [l.key, l.value];
  }

  *keys(): MapIterator<string> {
    for (const l of leavesOf(this.root)) yield l.key;
  }

  *values(): MapIterator<V> {
    for (const l of leavesOf(this.root)) yield l.value;
  }

  [Symbol.iterator](): MapIterator<[string, V]> {
    return this.entries();
  }

  forEach(fn: (value: V, key: string, map: ReadonlyMap<string, V>) => void): void {
    for (const l of leavesOf(this.root)) fn(l.value, l.key, this);
  }
}
