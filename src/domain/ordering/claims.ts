/**
 * What an operation touches, so that a later operation can tell whether it must wait for it.
 *
 * A claim names a resource by a path of segments joined by `/` (ids never contain `/`), read or
 * written. A path ending in `/*` is a class: every resource below it, for an operation too large
 * to claim its items one by one. Two claims conflict when one's path is the other's, or lies
 * below a class the other names, and at least one of them writes: then the later operation's
 * outcome may depend on the earlier one, and applying them out of publication order could differ
 * from applying them in it.
 */
export interface Claim {
  readonly path: string;
  readonly write: boolean;
}

export const reads = (path: string): Claim => ({ path, write: false });
export const writes = (path: string): Claim => ({ path, write: true });

const CLASS_SUFFIX = '/*';

export const isClass = (path: string): boolean => path.endsWith(CLASS_SUFFIX);

/** The path a path lies directly in (`E1/member/m1` → `E1/member`; a class's: `E1/member/*` → `E1`); '' at the top. */
function parentOf(path: string): string {
  const end = isClass(path) ? path.length - CLASS_SUFFIX.length : path.length;
  const slash = path.lastIndexOf('/', end - 1);
  return slash < 0 ? '' : path.slice(0, slash);
}

/**
 * The classes a path lies below, nearest first: `E1/member/m1` → `E1/member/*`, `E1/*`. The
 * items of a chunk share their parents: `memo` keeps each parent's classes for the next path.
 */
export function classesAbove(path: string, memo?: Map<string, string[]>): string[] {
  const parent = parentOf(path);
  if (parent === '') return [];
  let classes = memo?.get(parent);
  if (!classes) {
    classes = [`${parent}${CLASS_SUFFIX}`, ...classesAbove(parent, memo)];
    memo?.set(parent, classes);
  }
  return classes;
}

/** Whether `path` is `class` or lies below it (for a class path: `E1/member/*` covers `E1/member/m1`). */
function covers(classPath: string, path: string): boolean {
  return path.startsWith(classPath.slice(0, -1));
}

export function conflict(a: Claim, b: Claim): boolean {
  if (!a.write && !b.write) return false;
  if (a.path === b.path) return true;
  return (isClass(a.path) && covers(a.path, b.path)) || (isClass(b.path) && covers(b.path, a.path));
}

/** The same claims with each path once, written where any of its claims writes. */
export function mergeClaims(claims: Iterable<Claim>): Claim[] {
  const byPath = new Map<string, boolean>();
  for (const { path, write } of claims) byPath.set(path, (byPath.get(path) ?? false) || write);
  return [...byPath].map(([path, write]) => ({ path, write }));
}

/**
 * What to look up among the claims of earlier operations to find those that conflict with
 * `claims`: paths equal to one of them or to a class above one (`exact`), and for each class
 * claimed, the range of paths below it (`below`, from `from` inclusive to `to` exclusive, in
 * byte order). Each carries whether the lookup needs only writers (when `write` is false).
 */
export interface ClaimProbe {
  exact: { paths: string[]; writes: boolean[] };
  below: { from: string[]; to: string[]; writes: boolean[] };
}

export function probeFor(claims: Iterable<Claim>): ClaimProbe {
  const merged = mergeClaims(claims);
  const memo = new Map<string, string[]>();
  const exact = mergeClaims(
    merged.flatMap((c) => [c, ...classesAbove(c.path, memo).map((path) => ({ path, write: c.write }))]),
  );
  const classes = merged.filter((c) => isClass(c.path));
  return {
    exact: { paths: exact.map((c) => c.path), writes: exact.map((c) => c.write) },
    below: {
      from: classes.map((c) => c.path.slice(0, -1)),
      // `/` is followed by `0` in byte order: every path below `E1/member/` sorts before `E1/member0`.
      to: classes.map((c) => `${c.path.slice(0, -2)}0`),
      writes: classes.map((c) => c.write),
    },
  };
}

/** A claim held by an operation, named by its sequence number. */
export interface HeldClaim extends Claim {
  readonly seq: number;
}

/**
 * The claims of some operations, to tell in memory which of them conflict with a set of claims:
 * a worker loads those of the operations before one it applies once, and asks for each chunk.
 */
export class ClaimIndex {
  readonly #byPath = new Map<string, HeldClaim[]>();

  constructor(held: Iterable<HeldClaim>) {
    for (const claim of held) {
      const list = this.#byPath.get(claim.path);
      if (list) list.push(claim);
      else this.#byPath.set(claim.path, [claim]);
    }
  }

  /** The operations (by sequence number) holding a claim that conflicts with one of `claims`. */
  conflicting(claims: Iterable<Claim>): Set<number> {
    const seqs = new Set<number>();
    const memo = new Map<string, string[]>();
    const check = (path: string, write: boolean) => {
      for (const held of this.#byPath.get(path) ?? []) if (held.write || write) seqs.add(held.seq);
    };
    for (const { path, write } of claims) {
      check(path, write);
      for (const above of classesAbove(path, memo)) check(above, write);
      if (isClass(path))
        for (const [heldPath, list] of this.#byPath)
          if (heldPath !== path && covers(path, heldPath))
            for (const held of list) if (held.write || write) seqs.add(held.seq);
    }
    return seqs;
  }
}
