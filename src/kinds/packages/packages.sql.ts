import { type Selectable, sql } from 'kysely';
import { recordsTable } from '../../db/records.js';
import type { PackagesTable } from '../../db/schema.js';
import { namedStatement, type NamedQuery } from '../../db/statements.js';
import type { IssuedPackage, StoredPackage } from './package.rules.js';
import type { HistoryScope } from '../kind.js';

type PackageRow = Selectable<PackagesTable>;

/** Locks the packages an issue chunk names, in a fixed order. */
export const lockPackages = namedStatement(
  'lock_packages',
  (packageIds: readonly string[]) => sql<PackageRow>`
    SELECT * FROM packages WHERE package_id = ANY(${packageIds}::text[]) ORDER BY package_id FOR UPDATE`,
);

export function toStoredPackages(rows: readonly PackageRow[]): Map<string, StoredPackage> {
  return new Map(
    rows.map((r) => [
      r.package_id,
      {
        packageId: r.package_id,
        enterpriseId: r.enterprise_id,
        ownerMemberId: r.owner_member_id,
        product: r.product,
        unit: r.unit,
        quantityMicros: r.quantity_micros,
        validFrom: new Date(r.valid_from),
        validUntil: new Date(r.valid_until),
      },
    ]),
  );
}

/** The named owners associated with the enterprise, and the packages this operation already wrote. */
export const packageIssueContext = namedStatement(
  'package_issue_context',
  (
    { operationId, month }: HistoryScope,
    enterpriseId: string,
    ownerIds: readonly string[],
    packageIds: readonly string[],
  ) => sql<{
    member_id: string | null;
    package_id: string | null;
  }>`
    SELECT member_id, NULL::text AS package_id FROM members
    WHERE member_id = ANY(${ownerIds}::text[]) AND enterprise_id = ${enterpriseId}::text
    UNION ALL
    SELECT NULL, package_id FROM package_history
    WHERE operation_id = ${operationId}::text AND operation_month = ${month}::date
      AND package_id = ANY(${packageIds}::text[])`,
);

const insertPackages = namedStatement(
  'insert_packages',
  (operationId: string, enterpriseId: string, packages: readonly IssuedPackage[]) => sql<never>`
    INSERT INTO packages (package_id, enterprise_id, owner_member_id, product, unit, quantity_micros,
                          remaining_micros, valid_from, valid_until, issued_by_operation_id)
    SELECT p.package_id, ${enterpriseId}::text, p.owner, p.product, p.unit, p.quantity, p.quantity,
           p.valid_from, p.valid_until, ${operationId}::text
    FROM ${recordsTable(
      packages.map((p) => ({
        package_id: p.packageId,
        owner: p.ownerMemberId,
        product: p.product,
        unit: p.unit,
        quantity: p.quantityMicros,
        valid_from: p.validFrom,
        valid_until: p.validUntil,
      })),
      {
        package_id: 'text',
        owner: 'text',
        product: 'text',
        unit: 'text',
        quantity: 'int8',
        valid_from: 'timestamptz',
        valid_until: 'timestamptz',
      },
      'p',
      'n',
    )}
    ORDER BY p.n`,
);

const insertPackageHistory = namedStatement(
  'insert_package_history',
  ({ operationId, month }: HistoryScope, enterpriseId: string, packages: readonly IssuedPackage[]) => sql<never>`
    INSERT INTO package_history (operation_id, operation_month, package_id, enterprise_id, outcome)
    SELECT ${operationId}::text, ${month}::date, h.package_id, ${enterpriseId}::text, h.outcome
    FROM ${recordsTable(
      packages.map((p) => ({ package_id: p.packageId, outcome: p.outcome })),
      { package_id: 'text', outcome: 'text' },
      'h',
    )}`,
);

/** Writes the packages an issue chunk loads (in batch order: the issue order) and one history row each. */
export function writeIssuedPackages(
  scope: HistoryScope,
  enterpriseId: string,
  packages: readonly IssuedPackage[],
): NamedQuery<never>[] {
  if (packages.length === 0) return [];
  const fresh = packages.filter((p) => p.outcome === 'applied');
  return [
    ...(fresh.length > 0 ? [insertPackages(scope.operationId, enterpriseId, fresh)] : []),
    insertPackageHistory(scope, enterpriseId, packages),
  ];
}
