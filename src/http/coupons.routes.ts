import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { isAllocatable } from '../domain/coupons/coupon.rules.js';
import { formatCents } from '../domain/coupons/money.js';
import { toValidationIssues } from '../domain/operations/validation.js';
import {
  findCoupon,
  listCouponHistory,
  listEnterpriseCoupons,
  listMemberCoupons,
  toCouponState,
} from '../db/coupons.repository.js';
import type { CouponHistoryRow, CouponRow } from '../db/schema.js';
import type { AppDeps } from './app.js';
import { cursorQuerySchema, nextCursor, PAGE_SIZE } from './pagination.js';

const couponParams = z.object({ couponId: z.string().min(1).max(128) });
const enterpriseParams = z.object({ enterpriseId: z.string().min(1).max(128) });
const memberParams = enterpriseParams.extend({ memberId: z.string().min(1).max(128) });
const historyQuery = cursorQuerySchema.extend({ memberId: z.string().min(1).max(128).optional() });
const couponListQuery = z.object({ cursor: z.string().min(1).max(128).optional() });

const iso = (value: Date | string) => new Date(value).toISOString();

function couponView(row: CouponRow & { allocated_outstanding_cents: number | null }, now: Date) {
  return {
    couponId: row.coupon_id,
    enterpriseId: row.enterprise_id,
    faceValue: formatCents(row.face_value_cents),
    balance: formatCents(row.balance_cents),
    allocatedOutstanding: formatCents(Number(row.allocated_outstanding_cents ?? 0)),
    allocationMode: row.allocation_mode,
    validFrom: iso(row.valid_from),
    validUntil: iso(row.valid_until),
    products: row.products,
    allocatable: isAllocatable(toCouponState(row), now),
  };
}

function historyView(row: CouponHistoryRow) {
  return {
    operationId: row.operation_id,
    couponId: row.coupon_id,
    memberId: row.member_id,
    action: row.action,
    outcome: row.outcome,
    amount: formatCents(row.amount_cents),
    couponBalanceAfter: formatCents(row.coupon_balance_after_cents),
    memberBalanceAfter: row.member_balance_after_cents === null ? null : formatCents(row.member_balance_after_cents),
    at: row.created_at.toISOString(),
  };
}

export function registerCouponRoutes(app: FastifyInstance, deps: AppDeps): void {
  app.get('/v1/coupons/:couponId', async (request, reply) => {
    const { couponId } = couponParams.parse(request.params);
    const row = await findCoupon(deps.db, couponId);
    if (!row) return reply.code(404).send({ error: 'not_found' });
    return couponView(row, new Date());
  });

  app.get('/v1/coupons/:couponId/history', async (request, reply) => {
    const { couponId } = couponParams.parse(request.params);
    const query = historyQuery.safeParse(request.query);
    if (!query.success)
      return reply.code(400).send({ error: 'invalid_query', issues: toValidationIssues(query.error) });
    const filter = { couponId, ...(query.data.memberId !== undefined && { memberId: query.data.memberId }) };
    const rows = await listCouponHistory(deps.db, filter, query.data.cursor ?? null, PAGE_SIZE);
    return { items: rows.map(historyView), nextCursor: nextCursor(rows, (r) => r.id) };
  });

  app.get('/v1/enterprises/:enterpriseId/coupon-history', async (request, reply) => {
    const { enterpriseId } = enterpriseParams.parse(request.params);
    const query = cursorQuerySchema.safeParse(request.query);
    if (!query.success)
      return reply.code(400).send({ error: 'invalid_query', issues: toValidationIssues(query.error) });
    const rows = await listCouponHistory(deps.db, { enterpriseId }, query.data.cursor ?? null, PAGE_SIZE);
    return { items: rows.map(historyView), nextCursor: nextCursor(rows, (r) => r.id) };
  });

  app.get('/v1/enterprises/:enterpriseId/coupons', async (request, reply) => {
    const { enterpriseId } = enterpriseParams.parse(request.params);
    const query = couponListQuery.safeParse(request.query);
    if (!query.success)
      return reply.code(400).send({ error: 'invalid_query', issues: toValidationIssues(query.error) });
    const rows = await listEnterpriseCoupons(deps.db, enterpriseId, query.data.cursor ?? null, PAGE_SIZE);
    const now = new Date();
    const last = rows.at(-1);
    return {
      items: rows.map((r) => couponView(r, now)),
      nextCursor: rows.length === PAGE_SIZE && last ? last.coupon_id : null,
    };
  });

  app.get('/v1/enterprises/:enterpriseId/members/:memberId/coupons', async (request) => {
    const { enterpriseId, memberId } = memberParams.parse(request.params);
    const rows = await listMemberCoupons(deps.db, enterpriseId, memberId);
    return {
      items: rows.map((r) => ({
        couponId: r.coupon_id,
        allocated: formatCents(r.allocated_cents),
        revoked: formatCents(r.revoked_cents),
        spent: formatCents(r.spent_cents),
        unused: formatCents(r.unused_cents),
        validFrom: iso(r.valid_from),
        validUntil: iso(r.valid_until),
        products: r.products,
      })),
    };
  });
}
