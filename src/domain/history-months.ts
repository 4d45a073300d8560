/**
 * History is partitioned by the month its operation was recorded in (UTC), not by the time a row
 * is written: every row of an operation lands in one partition, whenever its chunks are retried,
 * so a unique key per partition is still one row per item.
 */

/** `YYYY-MM-01`, the first day of `at`'s month in UTC: the partition key of an operation's rows. */
export function operationMonth(at: Date): string {
  return `${at.getUTCFullYear().toString().padStart(4, '0')}-${String(at.getUTCMonth() + 1).padStart(2, '0')}-01`;
}

/** The month after `month` (`YYYY-MM-01`). */
export function nextMonth(month: string): string {
  const [year, m] = month.split('-').map(Number) as [number, number];
  return m === 12 ? `${year + 1}-01-01` : `${year}-${String(m + 1).padStart(2, '0')}-01`;
}

/** Every month from `first` to `last`, both included. */
export function monthsBetween(first: string, last: string): string[] {
  const months: string[] = [];
  for (let month = first; month <= last; month = nextMonth(month)) months.push(month);
  return months;
}

/** `sharing_history_y2026m12`: a partition's name says its month. */
export function partitionName(table: string, month: string): string {
  return `${table}_y${month.slice(0, 4)}m${month.slice(5, 7)}`;
}

/** The month a partition name says, or null for a name that is not one of ours. */
export function monthOfPartition(table: string, name: string): string | null {
  const match = new RegExp(`^${table}_y(\\d{4})m(\\d{2})$`).exec(name);
  return match ? `${match[1]}-${match[2]}-01` : null;
}

/** `2026-01` or `2026-01-01` as a month; null when it is not one. */
export function parseMonth(text: string): string | null {
  const match = /^(\d{4})-(\d{2})(?:-01)?$/.exec(text.trim());
  if (!match || Number(match[2]) < 1 || Number(match[2]) > 12) return null;
  return `${match[1]}-${match[2]}-01`;
}
