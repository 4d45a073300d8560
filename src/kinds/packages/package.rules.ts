import { type OutcomeCounts, type Rejection, separateDuplicates } from '../../domain/outcomes.js';

export interface PackageTerms {
  packageId: string;
  /** Null for the master's own package. */
  ownerMemberId: string | null;
  product: string;
  unit: string;
  quantityMicros: number;
  validFrom: Date;
  validUntil: Date;
}

export interface StoredPackage extends PackageTerms {
  enterpriseId: string;
}

export interface IssuedPackage extends PackageTerms {
  position: number;
  outcome: 'applied' | 'unchanged';
}

export interface PackageIssueDecision {
  issued: IssuedPackage[];
  rejections: Rejection[];
  counts: OutcomeCounts;
}

const sameTerms = (a: PackageTerms, b: StoredPackage) =>
  a.ownerMemberId === b.ownerMemberId &&
  a.product === b.product &&
  a.unit === b.unit &&
  a.quantityMicros === b.quantityMicros &&
  a.validFrom.getTime() === b.validFrom.getTime() &&
  a.validUntil.getTime() === b.validUntil.getTime();

/**
 * Loads resource packages. A package id is global: the same package on the same terms again is
 * `unchanged`, any other reuse of the id `package_exists` (never an overwrite: members may have
 * drawn on it). A member's own package needs the member associated with the enterprise.
 */
export function decidePackageIssue(
  enterpriseId: string,
  packages: readonly PackageTerms[],
  offset: number,
  existing: ReadonlyMap<string, StoredPackage>,
  associated: ReadonlySet<string>,
  seenInOperation: ReadonlySet<string>,
  repeats?: ReadonlySet<number>,
): PackageIssueDecision {
  const { unique, duplicates } = separateDuplicates(
    packages.map((p) => p.packageId),
    offset,
    seenInOperation,
    repeats,
  );
  const rejections: Rejection[] = duplicates.map((d) => {
    const p = packages[d.position - offset]!;
    return { position: d.position, memberId: p.ownerMemberId, packageId: p.packageId, reason: d.reason };
  });
  const issued: IssuedPackage[] = [];
  for (const { position } of unique) {
    const p = packages[position - offset]!;
    const current = existing.get(p.packageId);
    const reject = (reason: Rejection['reason']) =>
      rejections.push({ position, memberId: p.ownerMemberId, packageId: p.packageId, reason });
    if (current) {
      if (current.enterpriseId === enterpriseId && sameTerms(p, current))
        issued.push({ ...p, position, outcome: 'unchanged' });
      else reject('package_exists');
    } else if (p.ownerMemberId !== null && !associated.has(p.ownerMemberId)) {
      reject('not_a_member');
    } else {
      issued.push({ ...p, position, outcome: 'applied' });
    }
  }
  rejections.sort((a, b) => a.position - b.position);
  const applied = issued.filter((p) => p.outcome === 'applied').length;
  return {
    issued,
    rejections,
    counts: { applied, unchanged: issued.length - applied, superseded: 0, rejected: rejections.length },
  };
}
