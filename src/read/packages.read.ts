import type { Kysely } from 'kysely';
import { formatQuantity } from '../domain/quantity.js';
import type { Database, PackageRow } from '../db/schema.js';
import { MASTER } from '../kinds/packages/package-items.js';
import { iso, PAGE_SIZE, type Page, pageOf } from './page.js';

/** A resource package as the API shows it: quantities as decimal strings of its unit. */
export interface PackageView {
  packageId: string;
  enterpriseId: string;
  /** `"master"` for the enterprise's own (shared) package, else the member whose package it is. */
  owner: string;
  product: string;
  unit: string;
  quantity: string;
  remaining: string;
  consumed: string;
  validFrom: string;
  validUntil: string;
}

/** One settled record's draw on a package. */
export interface PackageConsumptionView {
  recordId: string;
  memberId: string;
  source: string;
  quantity: string;
  usedAt: string;
  settledAt: string;
}

function packageView(row: PackageRow): PackageView {
  return {
    packageId: row.package_id,
    enterpriseId: row.enterprise_id,
    owner: row.owner_member_id ?? MASTER,
    product: row.product,
    unit: row.unit,
    quantity: formatQuantity(row.quantity_micros),
    remaining: formatQuantity(row.remaining_micros),
    consumed: formatQuantity(row.consumed_micros),
    validFrom: iso(row.valid_from),
    validUntil: iso(row.valid_until),
  };
}

export async function findPackage(db: Kysely<Database>, packageId: string): Promise<PackageView | undefined> {
  const row = await db.selectFrom('packages').selectAll().where('package_id', '=', packageId).executeTakeFirst();
  return row && packageView(row);
}

/** The enterprise's packages (the master's and its members' own) by id, after `afterPackageId`. */
export async function listEnterprisePackages(
  db: Kysely<Database>,
  enterpriseId: string,
  afterPackageId: string | null,
): Promise<Page<PackageView>> {
  let query = db.selectFrom('packages').selectAll().where('enterprise_id', '=', enterpriseId);
  if (afterPackageId !== null) query = query.where('package_id', '>', afterPackageId);
  const rows = await query.orderBy('package_id').limit(PAGE_SIZE).execute();
  return pageOf(rows, (r) => r.package_id, packageView);
}

/**
 * What settled records drew on the package, newest first (`settled_seq`, the settle order); the
 * cursor is the `settled_seq` of the last line of the previous page. A record draws on a package
 * at most once, so that key is unique within the package. Lines are matched on the package's
 * enterprise and a package source too: a coupon may have the same id as a package.
 */
export async function listPackageConsumption(
  db: Kysely<Database>,
  pkg: Pick<PackageView, 'packageId' | 'enterpriseId'>,
  beforeSeq: number | null,
): Promise<Page<PackageConsumptionView>> {
  let query = db
    .selectFrom('usage_lines as l')
    .innerJoin('usage_records as r', (join) =>
      join.onRef('r.enterprise_id', '=', 'l.enterprise_id').onRef('r.record_id', '=', 'l.record_id'),
    )
    .select([
      'l.record_id',
      'l.member_id',
      'l.source',
      'l.quantity_micros',
      'l.used_at',
      'l.settled_seq',
      'r.settled_at',
    ])
    .where('l.benefit_id', '=', pkg.packageId)
    .where('l.enterprise_id', '=', pkg.enterpriseId)
    .where('l.source', 'in', ['own_package', 'master_package']);
  if (beforeSeq !== null) query = query.where('l.settled_seq', '<', beforeSeq);
  const rows = await query.orderBy('l.settled_seq', 'desc').limit(PAGE_SIZE).execute();
  return pageOf(
    rows,
    (r) => r.settled_seq,
    (r) => ({
      recordId: r.record_id,
      memberId: r.member_id,
      source: r.source,
      quantity: formatQuantity(r.quantity_micros ?? 0),
      usedAt: iso(r.used_at),
      settledAt: iso(r.settled_at),
    }),
  );
}
