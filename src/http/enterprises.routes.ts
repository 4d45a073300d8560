import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { toValidationIssues } from '../domain/operations/validation.js';
import { enterpriseSummary } from '../db/enterprises.repository.js';
import { findMember, listSharingHistory } from '../db/members.repository.js';
import type { AppDeps } from './app.js';
import { cursorQuerySchema, nextCursor, PAGE_SIZE } from './pagination.js';

const enterpriseParams = z.object({ enterpriseId: z.string().min(1).max(128) });
const memberParams = enterpriseParams.extend({ memberId: z.string().min(1).max(128) });

export function registerEnterpriseRoutes(app: FastifyInstance, deps: AppDeps): void {
  app.get('/v1/enterprises/:enterpriseId', async (request, reply) => {
    const { enterpriseId } = enterpriseParams.parse(request.params);
    const summary = await enterpriseSummary(deps.db, enterpriseId);
    if (!summary) return reply.code(404).send({ error: 'not_found' });
    return summary;
  });

  app.get('/v1/enterprises/:enterpriseId/members/:memberId', async (request, reply) => {
    const { enterpriseId, memberId } = memberParams.parse(request.params);
    const member = await findMember(deps.db, enterpriseId, memberId);
    if (!member) return reply.code(404).send({ error: 'not_a_member' });
    return {
      enterpriseId,
      memberId: member.member_id,
      sharingEnabled: member.sharing_enabled,
      associatedAt: member.associated_at ? new Date(member.associated_at).toISOString() : null,
    };
  });

  app.get('/v1/enterprises/:enterpriseId/members/:memberId/sharing-history', async (request, reply) => {
    const { enterpriseId, memberId } = memberParams.parse(request.params);
    const query = cursorQuerySchema.safeParse(request.query);
    if (!query.success)
      return reply.code(400).send({ error: 'invalid_query', issues: toValidationIssues(query.error) });
    const rows = await listSharingHistory(deps.db, enterpriseId, memberId, query.data.cursor ?? null, PAGE_SIZE);
    return {
      items: rows.map((r) => ({
        operationId: r.operation_id,
        action: r.action,
        sharingBefore: r.sharing_before,
        sharingAfter: r.sharing_after,
        outcome: r.outcome,
        at: r.created_at.toISOString(),
      })),
      nextCursor: nextCursor(rows, (r) => r.id),
    };
  });
}
