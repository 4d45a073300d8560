import { z } from 'zod';
import { memberIdSchema } from '../../contract/ids.js';
import type { ItemFileFormat } from '../kind.js';

/** A batch of member ids, the items of every kind that acts on members one by one. */
export const memberIds = z.array(memberIdSchema).min(1);

/** A file of member ids: one a line, in CSV or as NDJSON (a string, or `{ "memberId": ... }`). */
export const memberIdFile: ItemFileFormat = {
  columns: 'memberId',
  rejectedBy: ['memberId', 'couponId'],
  fromCsv: ([memberId = '']) => memberId,
  fromNdjson: (value) =>
    value !== null && typeof value === 'object' && 'memberId' in value
      ? (value as { memberId: unknown }).memberId
      : value,
};
