import { type Kysely, sql } from 'kysely';

/**
 * The history tables become range-partitioned by `operation_month`, the UTC month their operation
 * was recorded in, so old months can be detached and dropped whole. The key is the operation's
 * month and not the row's time: all rows of an operation share one partition whatever the retries,
 * so the unique key per item (now with the month in it) still admits one row per item. Existing
 * rows are copied into partitions for their months; the months ahead are created here and by the
 * service (`src/db/history-partitions.ts`).
 */
interface HistoryTable {
  name: string;
  /** The one-row-per-item key, without the month. */
  itemKey: string;
  nullsNotDistinct?: boolean;
  /** Secondary indexes, by name, as column lists (with an optional WHERE). */
  indexes: Record<string, string>;
}

const TABLES: HistoryTable[] = [
  {
    name: 'sharing_history',
    itemKey: 'operation_id, member_id',
    indexes: {
      sharing_history_member_idx: '(member_id, id)',
      sharing_history_arrears_idx: '(operation_id, member_id) WHERE arrears_risk',
    },
  },
  {
    name: 'coupon_history',
    itemKey: 'operation_id, coupon_id, member_id',
    nullsNotDistinct: true,
    indexes: {
      coupon_history_coupon_idx: '(coupon_id, id)',
      coupon_history_enterprise_idx: '(enterprise_id, id)',
    },
  },
  { name: 'package_history', itemKey: 'operation_id, package_id', indexes: {} },
  { name: 'usage_history', itemKey: 'operation_id, record_id', indexes: {} },
];

// Months created ahead of today, so no insert ever waits for one.
const MONTHS_AHEAD = 3;

/** The item key (with the month when partitioned) and the secondary indexes of a history table. */
async function createIndexes(db: Kysely<any>, table: HistoryTable, partitioned: boolean): Promise<void> {
  const t = table.name;
  const key = partitioned ? `${table.itemKey}, operation_month` : table.itemKey;
  const nulls = table.nullsNotDistinct ? ' NULLS NOT DISTINCT' : '';
  await sql.raw(`CREATE UNIQUE INDEX ${t}_item_uq ON ${t} (${key})${nulls}`).execute(db);
  for (const [name, definition] of Object.entries(table.indexes))
    await sql.raw(`CREATE INDEX ${name} ON ${t} ${definition}`).execute(db);
}

export async function up(db: Kysely<any>): Promise<void> {
  for (const table of TABLES) await partition(db, table);
}

async function partition(db: Kysely<any>, table: HistoryTable): Promise<void> {
  const t = table.name;
  const old = `${t}_unpartitioned`;
  await sql`ALTER TABLE ${sql.id(t)} RENAME TO ${sql.id(old)}`.execute(db);
  // The new table takes the old names: free them (the data is copied without the indexes).
  const { rows: constraints } = await sql<{ conname: string }>`
    SELECT conname FROM pg_constraint WHERE conrelid = ${old}::regclass AND contype IN ('p', 'u')`.execute(db);
  for (const { conname } of constraints)
    await sql`ALTER TABLE ${sql.id(old)} DROP CONSTRAINT ${sql.id(conname)}`.execute(db);
  const { rows: indexes } = await sql<{ indexname: string }>`
    SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = ${old}`.execute(db);
  for (const { indexname } of indexes) await sql`DROP INDEX ${sql.id(indexname)}`.execute(db);
  const sequence = `${t}_id_seq`;
  await sql`ALTER TABLE ${sql.id(old)} ALTER COLUMN id DROP DEFAULT`.execute(db);
  await sql`ALTER SEQUENCE ${sql.id(sequence)} OWNED BY NONE`.execute(db);

  await sql`CREATE TABLE ${sql.id(t)} (LIKE ${sql.id(old)} INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
              operation_month date NOT NULL) PARTITION BY RANGE (operation_month)`.execute(db);
  await sql`ALTER TABLE ${sql.id(t)} ALTER COLUMN id SET DEFAULT nextval(${sql.lit(sequence)}::regclass)`.execute(db);
  await sql`ALTER SEQUENCE ${sql.id(sequence)} OWNED BY ${sql.id(t, 'id')}`.execute(db);
  await sql`ALTER TABLE ${sql.id(t)} ADD CONSTRAINT ${sql.id(`${t}_pkey`)} PRIMARY KEY (id, operation_month)`.execute(
    db,
  );
  await createIndexes(db, table, true);

  // A row's month is its operation's; a row whose operation is gone keeps the month it was written in.
  const month = sql`date_trunc('month', coalesce(o.created_at, h.created_at) AT TIME ZONE 'UTC')::date`;
  const { rows: range } = await sql<{ first: string | null }>`
    SELECT to_char(min(${month}), 'YYYY-MM-DD') AS first
    FROM ${sql.id(old)} h LEFT JOIN operations o USING (operation_id)`.execute(db);
  const { rows: months } = await sql<{ month: string }>`
    SELECT to_char(m, 'YYYY-MM-DD') AS month
    FROM generate_series(
      least(${range[0]?.first ?? null}::date, date_trunc('month', now() AT TIME ZONE 'UTC')::date),
      date_trunc('month', now() AT TIME ZONE 'UTC')::date + make_interval(months => ${MONTHS_AHEAD}),
      interval '1 month') AS m`.execute(db);
  for (const { month: from } of months) {
    const name = `${t}_y${from.slice(0, 4)}m${from.slice(5, 7)}`;
    await sql`CREATE TABLE ${sql.id(name)} PARTITION OF ${sql.id(t)}
                FOR VALUES FROM (${sql.lit(from)}) TO (${sql.lit(from)}::date + interval '1 month')`.execute(db);
  }
  const { rows: columns } = await sql<{ column_name: string }>`
    SELECT column_name FROM information_schema.columns
    WHERE table_schema = current_schema() AND table_name = ${old} ORDER BY ordinal_position`.execute(db);
  const list = sql.join(columns.map((c) => sql.id(c.column_name)));
  const fromOld = sql.join(columns.map((c) => sql.id('h', c.column_name)));
  await sql`INSERT INTO ${sql.id(t)} (${list}, operation_month)
            SELECT ${fromOld}, ${month} FROM ${sql.id(old)} h LEFT JOIN operations o USING (operation_id)`.execute(db);
  await sql`DROP TABLE ${sql.id(old)}`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of TABLES) {
    const t = table.name;
    const flat = `${t}_flat`;
    await sql`CREATE TABLE ${sql.id(flat)} (LIKE ${sql.id(t)} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`.execute(db);
    await sql`INSERT INTO ${sql.id(flat)} SELECT * FROM ${sql.id(t)}`.execute(db);
    await sql`ALTER TABLE ${sql.id(flat)} ALTER COLUMN id DROP DEFAULT`.execute(db);
    await sql`ALTER SEQUENCE ${sql.id(`${t}_id_seq`)} OWNED BY NONE`.execute(db);
    await sql`DROP TABLE ${sql.id(t)}`.execute(db);
    await sql`ALTER TABLE ${sql.id(flat)} RENAME TO ${sql.id(t)}`.execute(db);
    await sql`ALTER TABLE ${sql.id(t)} DROP COLUMN operation_month`.execute(db);
    await sql`ALTER TABLE ${sql.id(t)} ALTER COLUMN id SET DEFAULT nextval(${sql.lit(`${t}_id_seq`)}::regclass)`.execute(
      db,
    );
    await sql`ALTER SEQUENCE ${sql.id(`${t}_id_seq`)} OWNED BY ${sql.id(t, 'id')}`.execute(db);
    await sql`ALTER TABLE ${sql.id(t)} ADD PRIMARY KEY (id)`.execute(db);
    await createIndexes(db, table, false);
  }
}
