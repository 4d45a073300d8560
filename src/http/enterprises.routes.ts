import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { toValidationIssues } from '../domain/validation.js';
import { findEnterprise } from '../read/enterprises.read.js';
import { findMember, listSharingHistory } from '../read/members.read.js';
import type { AppDeps } from './app.js';
import { cursorQuerySchema } from './pagination.js';

const enterpriseParams = z.object({ enterpriseId: z.string().min(1).max(128) });
const memberParams = enterpriseParams.extend({ memberId: z.string().min(1).max(128) });

export function registerEnterpriseRoutes(app: FastifyInstance, deps: AppDeps): void {
  app.get('/v1/enterprises/:enterpriseId', async (request, reply) => {
    const { enterpriseId } = enterpriseParams.parse(request.params);
    const enterprise = await findEnterprise(deps.db, enterpriseId);
    if (!enterprise) return reply.code(404).send({ error: 'not_found' });
    return enterprise;
  });

  app.get('/v1/enterprises/:enterpriseId/members/:memberId', async (request, reply) => {
    const { enterpriseId, memberId } = memberParams.parse(request.params);
    const member = await findMember(deps.db, enterpriseId, memberId);
    if (!member) return reply.code(404).send({ error: 'not_a_member' });
    return member;
  });

  app.get('/v1/enterprises/:enterpriseId/members/:memberId/sharing-history', async (request, reply) => {
    const { enterpriseId, memberId } = memberParams.parse(request.params);
    const query = cursorQuerySchema.safeParse(request.query);
    if (!query.success)
      return reply.code(400).send({ error: 'invalid_query', issues: toValidationIssues(query.error) });
    return listSharingHistory(deps.db, enterpriseId, memberId, query.data.cursor ?? null);
  });
}
