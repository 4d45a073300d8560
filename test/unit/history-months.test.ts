import { describe, expect, it } from 'vitest';
import {
  monthOfPartition,
  monthsBetween,
  nextMonth,
  operationMonth,
  parseMonth,
  partitionName,
} from '../../src/domain/history-months.js';

describe('history months', () => {
  it('takes the UTC month of the operation, whatever the local clock', () => {
    expect(operationMonth(new Date('2026-11-30T23:59:59.999Z'))).toBe('2026-11-01');
    expect(operationMonth(new Date('2026-12-01T00:00:00.000Z'))).toBe('2026-12-01');
    expect(operationMonth(new Date('2027-01-01T00:30:00+01:00'))).toBe('2026-12-01');
  });

  it('steps and spans months across a year end', () => {
    expect(nextMonth('2026-12-01')).toBe('2027-01-01');
    expect(monthsBetween('2026-11-01', '2027-02-01')).toEqual(['2026-11-01', '2026-12-01', '2027-01-01', '2027-02-01']);
    expect(monthsBetween('2027-02-01', '2026-11-01')).toEqual([]);
  });

  it('names partitions and reads their month back', () => {
    expect(partitionName('sharing_history', '2026-01-01')).toBe('sharing_history_y2026m01');
    expect(monthOfPartition('sharing_history', 'sharing_history_y2026m01')).toBe('2026-01-01');
    expect(monthOfPartition('sharing_history', 'coupon_history_y2026m01')).toBeNull();
    expect(monthOfPartition('sharing_history', 'sharing_history_default')).toBeNull();
  });

  it('parses a --before month', () => {
    expect(parseMonth('2026-01')).toBe('2026-01-01');
    expect(parseMonth('2026-01-01')).toBe('2026-01-01');
    for (const bad of ['2026-13', '2026-1', 'January', '2026-01-15']) expect(parseMonth(bad), bad).toBeNull();
  });
});
