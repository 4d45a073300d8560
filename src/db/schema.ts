import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

/** Timestamps are written by Postgres (`now()`), read back as Date. */
type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
type Timestamp = ColumnType<Date, Date | string, Date | string>;

export interface OperationsTable {
  operation_id: string;
  /** Publication order: the sequence decides which of two operations on one member wins. */
  seq: Generated<number>;
  kind: string;
  enterprise_id: string | null;
  payload_hash: string;
  /** The operation's small parameters (everything but the item list), for reads and chunk planning. */
  params: ColumnType<Record<string, unknown>, string, string>;
  source: string;
  status: string;
  items_total: number;
  chunks_total: number | null;
  error: ColumnType<unknown, string | null, string | null> | null;
  created_at: CreatedAt;
  started_at: Timestamp | null;
  finished_at: Timestamp | null;
  updated_at: CreatedAt;
  /** The unfinished operations a chunk of this one last found it had to wait for. */
  waiting_for: string[] | null;
}

/**
 * A resource an unfinished operation reads or writes (`src/domain/ordering/claims.ts`); its rows
 * go when the operation reaches a final status.
 */
export interface OperationClaimsTable {
  seq: number;
  path: string;
  write: boolean;
}

/** An operation's progress counters. */
export interface ProgressCounters {
  chunks_done: number;
  chunks_failed: number;
  items_done: number;
  applied: number;
  unchanged: number;
  superseded: number;
  rejected: number;
}

/**
 * One of the rows an operation's counters are spread over: a chunk adds its counts to the shard
 * of its index, so chunks in flight together do not queue on one row's lock.
 */
export type OperationProgressTable = { operation_id: string; shard: number; updated_at: CreatedAt } & {
  [K in keyof ProgressCounters]: Generated<number>;
};

/** View: an operation with its counters summed over its progress shards. Read only. */
export type OperationSummariesView = {
  [K in keyof OperationsTable]: ColumnType<Selectable<OperationsTable>[K], never, never>;
} & { [K in keyof ProgressCounters]: ColumnType<number, never, never> };

export interface OperationChunksTable {
  operation_id: string;
  chunk_index: number;
  status: string;
  applied: Generated<number>;
  unchanged: Generated<number>;
  superseded: Generated<number>;
  rejected: Generated<number>;
  error: string | null;
  finished_at: CreatedAt;
}

/** The items of one chunk job of an operation, kept until ITEM_RETENTION_DAYS after it finished. */
export interface OperationItemsTable {
  operation_id: string;
  /** The job's first chunk. */
  chunk_index: number;
  chunk_count: number;
  /** Position of its first item in the batch. */
  item_offset: number;
  item_count: number;
  /** A JSON array. */
  items: string;
  repeats: number[] | null;
}

export interface OperationRejectionsTable {
  operation_id: string;
  position: number;
  member_id: string | null;
  coupon_id: string | null;
  package_id: string | null;
  record_id: string | null;
  reason: string;
  created_at: CreatedAt;
}

export interface EnterprisesTable {
  enterprise_id: string;
  share_with_new_members: Generated<boolean>;
  /** Sequence of the last `sharing.set-default` applied, so an older one arriving late is superseded. */
  default_seq: Generated<number>;
  created_at: CreatedAt;
  updated_at: CreatedAt;
}

export interface MembersTable {
  member_id: string;
  enterprise_id: string | null;
  sharing_enabled: Generated<boolean>;
  associated_at: Timestamp | null;
  /** Sequence of the last operation applied to this member. */
  last_seq: Generated<number>;
  updated_at: CreatedAt;
}

export interface SharingHistoryTable {
  id: Generated<number>;
  operation_id: string;
  operation_seq: number;
  enterprise_id: string;
  member_id: string;
  action: string;
  sharing_before: boolean | null;
  sharing_after: boolean | null;
  outcome: string;
  /** A disabled member that drew on the master's packages lately: it may fall into arrears. */
  arrears_risk: Generated<boolean>;
  /** The partition: the UTC month its operation was recorded in (`src/domain/history-months.ts`). */
  operation_month: ColumnType<Date, string, never>;
  created_at: CreatedAt;
}

export interface CouponsTable {
  coupon_id: string;
  enterprise_id: string;
  face_value_cents: number;
  balance_cents: number;
  allocation_mode: string;
  valid_from: Timestamp;
  valid_until: Timestamp;
  products: string[];
  allocation_operation_id: string | null;
  issued_by_operation_id: string;
  /** Spent by members straight from the unallocated balance. */
  spent_cents: Generated<number>;
  /** Issue order, the last tie-break of the order coupons are spent in. */
  issued_seq: Generated<number>;
  created_at: CreatedAt;
  updated_at: CreatedAt;
}

export interface MemberCouponsTable {
  coupon_id: string;
  member_id: string;
  enterprise_id: string;
  allocated_cents: number;
  revoked_cents: Generated<number>;
  spent_cents: Generated<number>;
  unused_cents: number;
  created_at: CreatedAt;
  updated_at: CreatedAt;
}

export interface CouponHistoryTable {
  id: Generated<number>;
  operation_id: string;
  coupon_id: string;
  enterprise_id: string;
  member_id: string | null;
  action: string;
  outcome: string;
  amount_cents: number;
  coupon_balance_after_cents: number;
  member_balance_after_cents: number | null;
  /** The partition: the UTC month its operation was recorded in (`src/domain/history-months.ts`). */
  operation_month: ColumnType<Date, string, never>;
  created_at: CreatedAt;
}

/** Quantities in integer millionths of the product's unit. */
export interface PackagesTable {
  package_id: string;
  enterprise_id: string;
  /** Null for the master's package. */
  owner_member_id: string | null;
  product: string;
  unit: string;
  quantity_micros: number;
  remaining_micros: number;
  consumed_micros: Generated<number>;
  valid_from: Timestamp;
  valid_until: Timestamp;
  issued_seq: Generated<number>;
  issued_by_operation_id: string;
  created_at: CreatedAt;
  updated_at: CreatedAt;
}

export interface PackageHistoryTable {
  id: Generated<number>;
  operation_id: string;
  package_id: string;
  enterprise_id: string;
  outcome: string;
  /** The partition: the UTC month its operation was recorded in (`src/domain/history-months.ts`). */
  operation_month: ColumnType<Date, string, never>;
  created_at: CreatedAt;
}

/** One settled usage record, once per enterprise whatever the retries. */
export interface UsageRecordsTable {
  enterprise_id: string;
  record_id: string;
  member_id: string;
  product: string;
  quantity_micros: number;
  amount_cents: number;
  used_at: Timestamp;
  covered_micros: number;
  uncovered_micros: number;
  priced_cents: number;
  coupon_cents: number;
  payg_cents: number;
  operation_id: string;
  settled_seq: Generated<number>;
  settled_at: CreatedAt;
}

/** What a settled record drew on, one row per package or coupon, and its pay-as-you-go part. */
export interface UsageLinesTable {
  enterprise_id: string;
  record_id: string;
  line_no: number;
  member_id: string;
  source: string;
  benefit_id: string | null;
  quantity_micros: number | null;
  amount_cents: number | null;
  used_at: Timestamp;
  settled_seq: number;
}

export interface UsageHistoryTable {
  id: Generated<number>;
  operation_id: string;
  enterprise_id: string;
  record_id: string;
  member_id: string;
  outcome: string;
  /** The partition: the UTC month its operation was recorded in (`src/domain/history-months.ts`). */
  operation_month: ColumnType<Date, string, never>;
  created_at: CreatedAt;
}

/** An API key: only the SHA-256 of its text is kept. */
export interface ApiKeysTable {
  id: string;
  name: string;
  key_hash: Buffer;
  scopes: string[];
  /** null or empty: every enterprise. */
  enterprises: string[] | null;
  created_at: CreatedAt;
  last_used_at: Timestamp | null;
  revoked_at: Timestamp | null;
}

/** Which key published, cancelled and last retried an operation (null: no key, API_AUTH=off). */
export interface OperationAuditTable {
  operation_id: string;
  published_by: string | null;
  cancelled_by: string | null;
  cancelled_at: Timestamp | null;
  retried_by: string | null;
  retried_at: Timestamp | null;
}

export interface Database {
  api_keys: ApiKeysTable;
  operation_audit: OperationAuditTable;
  operations: OperationsTable;
  operation_claims: OperationClaimsTable;
  operation_progress: OperationProgressTable;
  operation_summaries: OperationSummariesView;
  operation_chunks: OperationChunksTable;
  operation_rejections: OperationRejectionsTable;
  operation_items: OperationItemsTable;
  enterprises: EnterprisesTable;
  members: MembersTable;
  sharing_history: SharingHistoryTable;
  coupons: CouponsTable;
  member_coupons: MemberCouponsTable;
  coupon_history: CouponHistoryTable;
  packages: PackagesTable;
  package_history: PackageHistoryTable;
  usage_records: UsageRecordsTable;
  usage_lines: UsageLinesTable;
  usage_history: UsageHistoryTable;
}

export type OperationRow = Selectable<OperationSummariesView>;
export type ApiKeyRow = Selectable<ApiKeysTable>;
export type NewOperation = Insertable<OperationsTable>;
export type MemberRow = Selectable<MembersTable>;
export type EnterpriseRow = Selectable<EnterprisesTable>;
export type SharingHistoryRow = Selectable<SharingHistoryTable>;
export type CouponRow = Selectable<CouponsTable>;
export type CouponHistoryRow = Selectable<CouponHistoryTable>;
export type PackageRow = Selectable<PackagesTable>;
export type UsageRecordRow = Selectable<UsageRecordsTable>;
export type UsageLineRow = Selectable<UsageLinesTable>;
