import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { toValidationIssues } from '../domain/validation.js';
import { findCoupon, listCouponHistory, listEnterpriseCoupons, listMemberCoupons } from '../read/coupons.read.js';
import type { AppDeps } from './app.js';
import { cursorQuerySchema } from './pagination.js';

const couponParams = z.object({ couponId: z.string().min(1).max(128) });
const enterpriseParams = z.object({ enterpriseId: z.string().min(1).max(128) });
const memberParams = enterpriseParams.extend({ memberId: z.string().min(1).max(128) });
const historyQuery = cursorQuerySchema.extend({ memberId: z.string().min(1).max(128).optional() });
const couponListQuery = z.object({ cursor: z.string().min(1).max(128).optional() });

export function registerCouponRoutes(app: FastifyInstance, deps: AppDeps): void {
  app.get('/v1/coupons/:couponId', async (request, reply) => {
    const { couponId } = couponParams.parse(request.params);
    const coupon = await findCoupon(deps.db, couponId);
    if (!coupon) return reply.code(404).send({ error: 'not_found' });
    return coupon;
  });

  app.get('/v1/coupons/:couponId/history', async (request, reply) => {
    const { couponId } = couponParams.parse(request.params);
    const query = historyQuery.safeParse(request.query);
    if (!query.success)
      return reply.code(400).send({ error: 'invalid_query', issues: toValidationIssues(query.error) });
    const filter = { couponId, ...(query.data.memberId !== undefined && { memberId: query.data.memberId }) };
    return listCouponHistory(deps.db, filter, query.data.cursor ?? null);
  });

  app.get('/v1/enterprises/:enterpriseId/coupon-history', async (request, reply) => {
    const { enterpriseId } = enterpriseParams.parse(request.params);
    const query = cursorQuerySchema.safeParse(request.query);
    if (!query.success)
      return reply.code(400).send({ error: 'invalid_query', issues: toValidationIssues(query.error) });
    return listCouponHistory(deps.db, { enterpriseId }, query.data.cursor ?? null);
  });

  app.get('/v1/enterprises/:enterpriseId/coupons', async (request, reply) => {
    const { enterpriseId } = enterpriseParams.parse(request.params);
    const query = couponListQuery.safeParse(request.query);
    if (!query.success)
      return reply.code(400).send({ error: 'invalid_query', issues: toValidationIssues(query.error) });
    return listEnterpriseCoupons(deps.db, enterpriseId, query.data.cursor ?? null);
  });

  app.get('/v1/enterprises/:enterpriseId/members/:memberId/coupons', async (request) => {
    const { enterpriseId, memberId } = memberParams.parse(request.params);
    return listMemberCoupons(deps.db, enterpriseId, memberId);
  });
}
