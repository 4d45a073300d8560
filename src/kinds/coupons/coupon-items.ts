import { z } from 'zod';
import { amountSchema, couponIdSchema, memberIdSchema, productIdSchema, timestampSchema } from '../../contract/ids.js';

export const couponSpecSchema = z
  .strictObject({
    couponId: couponIdSchema,
    faceValue: amountSchema,
    allocationMode: z.enum(['once', 'multiple']),
    validFrom: timestampSchema,
    validUntil: timestampSchema,
    products: z.array(productIdSchema).min(1).max(100),
  })
  .refine((c) => Date.parse(c.validUntil) > Date.parse(c.validFrom), {
    path: ['validUntil'],
    message: 'validUntil must be later than validFrom',
  });
export type CouponSpec = z.infer<typeof couponSpecSchema>;

export const allocationItemSchema = z.strictObject({ memberId: memberIdSchema, amount: amountSchema });
export type AllocationItem = z.infer<typeof allocationItemSchema>;

export const revocationItemSchema = z.strictObject({ memberId: memberIdSchema, amount: amountSchema.optional() });
export type RevocationItem = z.infer<typeof revocationItemSchema>;
