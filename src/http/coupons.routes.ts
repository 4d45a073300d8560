import type { FastifyInstance, FastifyRequest } from 'fastify';
import { couponIdSchema } from '../contract/index.js';
import { isVisible } from '../auth/visibility.sql.js';
import { findCoupon, listCouponHistory, listEnterpriseCoupons, listMemberCoupons } from '../read/coupons.read.js';
import type { AppDeps } from './app.js';
import { readVisible } from './visible.js';
import { parseQuery } from './query.js';
import { notFound, principalOf } from './api-auth.js';
import { couponParams, enterpriseParams, idCursorQuery, memberIdFilter, memberParams } from './id-params.js';
import { cursorQuerySchema } from './pagination.js';

const historyQuery = cursorQuerySchema.extend({ memberId: memberIdFilter });
const couponListQuery = idCursorQuery(couponIdSchema);

export function registerCouponRoutes(app: FastifyInstance, deps: AppDeps): void {
  /** The coupon named by the path, when the caller's key may see it; as if missing otherwise. */
  const visibleCoupon = (request: FastifyRequest) =>
    readVisible(deps.db, request, {
      kind: 'coupon',
      id: couponParams.parse(request.params).couponId,
      read: (id) => findCoupon(deps.db, id),
      enterpriseOf: (coupon) => coupon.enterpriseId,
    });

  app.get('/v1/coupons/:couponId', { config: { scope: 'read' } }, async (request, reply) => {
    return (await visibleCoupon(request)) ?? notFound(reply);
  });

  app.get('/v1/coupons/:couponId/history', { config: { scope: 'read' } }, async (request, reply) => {
    const { couponId } = couponParams.parse(request.params);
    const query = parseQuery(historyQuery, request);
    // An unbound key keeps the old answer for a coupon never issued (an empty page); a bound one
    // sees only its enterprises' coupons, and anything else as missing.
    if (!(await isVisible(deps.db, principalOf(request), 'coupon', couponId))) return notFound(reply);
    const filter = { couponId, ...(query.memberId !== undefined && { memberId: query.memberId }) };
    return listCouponHistory(deps.db, filter, query.cursor ?? null);
  });

  app.get('/v1/enterprises/:enterpriseId/coupon-history', { config: { scope: 'read' } }, async (request) => {
    const { enterpriseId } = enterpriseParams.parse(request.params);
    const query = parseQuery(cursorQuerySchema, request);
    return listCouponHistory(deps.db, { enterpriseId }, query.cursor ?? null);
  });

  app.get('/v1/enterprises/:enterpriseId/coupons', { config: { scope: 'read' } }, async (request) => {
    const { enterpriseId } = enterpriseParams.parse(request.params);
    const query = parseQuery(couponListQuery, request);
    return listEnterpriseCoupons(deps.db, enterpriseId, query.cursor ?? null);
  });

  app.get('/v1/enterprises/:enterpriseId/members/:memberId/coupons', { config: { scope: 'read' } }, async (request) => {
    const { enterpriseId, memberId } = memberParams.parse(request.params);
    return listMemberCoupons(deps.db, enterpriseId, memberId);
  });
}
