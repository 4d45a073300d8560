import { z } from 'zod';
import {
  memberIdSchema,
  packageIdSchema,
  productIdSchema,
  quantitySchema,
  timestampSchema,
  unitSchema,
} from '../../contract/ids.js';

/** The owner of a package the master's own: shareable with members whose sharing is on. */
export const MASTER = 'master';

export const packageSpecSchema = z
  .strictObject({
    packageId: packageIdSchema,
    /** `"master"`, or the id of the member whose own package it is. */
    owner: z.union([z.literal(MASTER), memberIdSchema]),
    product: productIdSchema,
    unit: unitSchema,
    quantity: quantitySchema,
    validFrom: timestampSchema,
    validUntil: timestampSchema,
  })
  .refine((p) => Date.parse(p.validUntil) > Date.parse(p.validFrom), {
    path: ['validUntil'],
    message: 'validUntil must be later than validFrom',
  });
export type PackageSpec = z.infer<typeof packageSpecSchema>;
