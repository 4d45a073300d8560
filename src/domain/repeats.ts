/**
 * Which items of a batch repeat the key of an earlier item. The publisher marks them on the chunk
 * jobs, so that whichever chunk happens to run first, the first occurrence is the one applied and
 * every later one is `duplicate_item`, as in batch order.
 */
export interface RepeatFinder {
  /** Fed every item's key in batch order; true for a key seen before. */
  isRepeat(key: string): boolean;
}

/** Every key remembered: for a batch already in memory. */
export function exactRepeats(): RepeatFinder {
  const seen = new Set<string>();
  return {
    isRepeat(key) {
      if (seen.has(key)) return true;
      seen.add(key);
      return false;
    },
  };
}

/** Batches up to this size remember every key; larger ones sieve their keys first. */
const REMEMBERED_KEYS = 10_000;

/**
 * The repeats of a batch in memory: a large one is sieved first (a fixed-size filter over its keys
 * costs about half of a Set of them all: 35 against 60-100 ms for 200,000 members), and only the
 * keys the sieve found may repeat are remembered while it is enqueued.
 */
export function repeatsOf<T>(items: readonly T[], key: (item: T) => string): RepeatFinder {
  if (items.length <= REMEMBERED_KEYS) return exactRepeats();
  const sieve = new KeySieve();
  for (const item of items) sieve.add(key(item));
  return repeatsAmong(sieve.candidates);
}

/**
 * Only the keys in `candidates` remembered: for a streamed batch, whose first pass found every key
 * that may repeat (`KeySieve`), so the second can tell repeats exactly in memory bounded by them.
 */
export function repeatsAmong(candidates: ReadonlySet<string>): RepeatFinder {
  const seen = new Set<string>();
  return {
    isRepeat(key) {
      if (!candidates.has(key)) return false;
      if (seen.has(key)) return true;
      seen.add(key);
      return false;
    },
  };
}

const BITS = 1 << 24; // 2 MiB: a million keys leave about one false candidate in 1,400
const HASHES = 7;

function fnv1a(text: string, seed: number): number {
  let hash = seed >>> 0;
  for (let i = 0; i < text.length; i += 1) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/**
 * A Bloom filter over a stream's keys, in fixed memory: every key seen before is reported (with a
 * few that were not), so the repeats of a batch are among the keys it collects.
 */
export class KeySieve {
  readonly #bits = new Uint8Array(BITS / 8);
  readonly candidates = new Set<string>();

  add(key: string): void {
    const h1 = fnv1a(key, 0x811c9dc5);
    const h2 = fnv1a(key, 0x050c5d1f) | 1;
    let present = true;
    for (let i = 0; i < HASHES; i += 1) {
      const bit = ((h1 + Math.imul(i, h2)) >>> 0) & (BITS - 1);
      const byte = bit >>> 3;
      const mask = 1 << (bit & 7);
      if ((this.#bits[byte]! & mask) === 0) {
        present = false;
        this.#bits[byte]! |= mask;
      }
    }
    if (present) this.candidates.add(key);
  }
}
