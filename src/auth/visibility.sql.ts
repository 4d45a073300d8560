import { type Kysely, sql } from 'kysely';
import type { Database } from '../db/schema.js';
import type { Principal } from './principal.js';

export type OwnedKind = keyof typeof OWNED;

const OWNED = {
  operation: { table: 'operations', id: 'operation_id' },
  coupon: { table: 'coupons', id: 'coupon_id' },
  package: { table: 'packages', id: 'package_id' },
} as const;

/**
 * Whether the caller may see the thing, asked before reading it: for a key bound to enterprises,
 * one lookup by id filtered on those enterprises, which finds nothing alike for another
 * enterprise's thing and for a missing one. Reading the thing first would take longer when it
 * exists (its counters, its holdings) and tell a patient caller so.
 */
export async function isVisible(
  db: Kysely<Database>,
  principal: Principal,
  kind: OwnedKind,
  id: string,
): Promise<boolean> {
  if (principal.enterprises === null) return true;
  const { table, id: column } = OWNED[kind];
  const { rows } = await sql`
    SELECT 1 FROM ${sql.table(table)}
    WHERE ${sql.ref(column)} = ${id} AND enterprise_id = ANY(${[...principal.enterprises]}::text[])`.execute(db);
  return rows.length > 0;
}
