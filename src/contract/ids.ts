import { z } from 'zod';
import { AMOUNT_PATTERN } from '../domain/money.js';
import { QUANTITY_PATTERN } from '../domain/quantity.js';

// Ids end up in BullMQ job ids (no ':'), in claim paths (no '/') and in logs and URLs: a
// conservative alphabet keeps SQL and script fragments out of the domain tables before they get there.
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@-]*$/;
const idSchema = (what: string) =>
  z
    .string()
    .min(1)
    .max(128)
    .regex(ID_PATTERN, `${what} may contain only letters, digits and . _ @ - and must start with a letter or digit`);

export const operationIdSchema = idSchema('operationId');
export const enterpriseIdSchema = idSchema('enterpriseId');
export const memberIdSchema = idSchema('memberId');
export const couponIdSchema = idSchema('couponId');
export const productIdSchema = idSchema('product');
export const packageIdSchema = idSchema('packageId');
export const recordIdSchema = idSchema('recordId');
export const unitSchema = idSchema('unit').max(32);

/** A decimal string with at most two fraction digits, greater than zero: "12.50". */
export const amountSchema = z
  .string()
  .regex(AMOUNT_PATTERN, 'amount must be a decimal string with at most two fraction digits, e.g. "12.50"')
  .refine((value) => /[1-9]/.test(value), 'amount must be greater than zero');

/** A decimal string with at most two fraction digits, zero allowed: a usage record may cost nothing. */
export const moneySchema = z
  .string()
  .regex(AMOUNT_PATTERN, 'amount must be a decimal string with at most two fraction digits, e.g. "12.50"');

/** A quantity of a product's unit, greater than zero: a decimal string with at most six fraction digits. */
export const quantitySchema = z
  .string()
  .regex(QUANTITY_PATTERN, 'quantity must be a decimal string with at most six fraction digits, e.g. "1.5"')
  .refine((value) => /[1-9]/.test(value), 'quantity must be greater than zero');

export const timestampSchema = z.iso.datetime({ offset: true });

/** The fields every operation has besides its kind. */
export const operationBase = { operationId: operationIdSchema.optional(), enterpriseId: enterpriseIdSchema };
