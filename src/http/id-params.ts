import { z } from 'zod';
import {
  couponIdSchema,
  enterpriseIdSchema,
  memberIdSchema,
  operationIdSchema,
  packageIdSchema,
  productIdSchema,
} from '../contract/index.js';

// Path and query ids follow the contract's id pattern: anything else (a NUL byte, a slash) names
// nothing the service could hold, and is refused with 400 before it reaches SQL.
export const operationParams = z.object({ operationId: operationIdSchema });
export const couponParams = z.object({ couponId: couponIdSchema });
export const packageParams = z.object({ packageId: packageIdSchema });
export const enterpriseParams = z.object({ enterpriseId: enterpriseIdSchema });
export const memberParams = enterpriseParams.extend({ memberId: memberIdSchema });

/** A list paged by id: the cursor is the last id of the previous page. */
export const idCursorQuery = (id: z.ZodString) => z.object({ cursor: id.optional() });
export const memberIdFilter = memberIdSchema.optional();
export const productFilter = productIdSchema.optional();
