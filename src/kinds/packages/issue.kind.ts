import { z } from 'zod';
import { operationBase } from '../../contract/ids.js';
import { reads, writes } from '../../domain/ordering/claims.js';
import { parseQuantity } from '../../domain/quantity.js';
import { chunkWork } from '../../operations/chunk-work.js';
import { defineKind, enterpriseOf, historyScope, parseItems, repeatsOf } from '../kind.js';
import { MASTER, packageSpecSchema } from './package-items.js';
import { decidePackageIssue, type PackageTerms } from './package.rules.js';
import { lockPackages, packageIssueContext, toStoredPackages, writeIssuedPackages } from './packages.sql.js';

/**
 * Loads resource packages, the master's (shared with members whose sharing is on) or a member's
 * own; the same package on the same terms again is `unchanged`, other terms `package_exists`.
 */
export const packagesIssue = defineKind({
  kind: 'packages.issue',
  schema: z.strictObject({
    ...operationBase,
    kind: z.literal('packages.issue'),
    packages: z.array(packageSpecSchema).min(1),
  }),
  items: { field: 'packages', schema: packageSpecSchema },
  itemKey: (p) => p.packageId,
  // A package id is global (`package/<p>`: `package_exists` across enterprises); `<E>/package/<p>`
  // is what E's settlements draw on. A member's own package needs the member (`<E>/member/<m>`).
  // Settlement draws on the first issued of equal packages first (`issued_seq`): E's issues apply
  // in publication order, chunks in batch order.
  claims: {
    operation: (h) => [writes(`${h.enterpriseId}/package-issue-order`)],
    item: (h, p) => [
      writes(`package/${p.packageId}`),
      writes(`${h.enterpriseId}/package/${p.packageId}`),
      ...(p.owner === MASTER ? [] : [reads(`${h.enterpriseId}/member/${p.owner}`)]),
    ],
    everyItem: (h) => [writes('package/*'), writes(`${h.enterpriseId}/package/*`), reads(`${h.enterpriseId}/member/*`)],
  },
  ordered: true,
  apply(operation, chunk) {
    const enterpriseId = enterpriseOf(operation);
    const packages: PackageTerms[] = parseItems(packageSpecSchema, chunk).map((p) => ({
      packageId: p.packageId,
      ownerMemberId: p.owner === MASTER ? null : p.owner,
      product: p.product,
      unit: p.unit,
      quantityMicros: parseQuantity(p.quantity),
      validFrom: new Date(p.validFrom),
      validUntil: new Date(p.validUntil),
    }));
    const ids = packages.map((p) => p.packageId);
    const owners = [...new Set(packages.flatMap((p) => (p.ownerMemberId === null ? [] : [p.ownerMemberId])))];
    return chunkWork({
      reads: [lockPackages(ids), packageIssueContext(historyScope(operation), enterpriseId, owners, ids)] as const,
      decide([existing, context]) {
        const decision = decidePackageIssue(
          enterpriseId,
          packages,
          chunk.offset,
          toStoredPackages(existing),
          new Set(context.flatMap((r) => (r.member_id === null ? [] : [r.member_id]))),
          new Set(context.flatMap((r) => (r.package_id === null ? [] : [r.package_id]))),
          repeatsOf(chunk),
        );
        return {
          writes: writeIssuedPackages(historyScope(operation), enterpriseId, decision.issued),
          outcome: { itemCount: packages.length, counts: decision.counts, rejections: decision.rejections },
        };
      },
    });
  },
  file: {
    columns: 'packageId,owner,product,unit,quantity,validFrom,validUntil',
    rejectedBy: ['packageId', 'memberId'],
    fromCsv: ([packageId, owner, product, unit, quantity, validFrom, validUntil]) => ({
      packageId,
      owner,
      product,
      unit,
      quantity,
      validFrom,
      validUntil,
    }),
  },
});
