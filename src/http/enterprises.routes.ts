import type { FastifyInstance } from 'fastify';
import { findEnterprise } from '../read/enterprises.read.js';
import { findMember, listSharingHistory } from '../read/members.read.js';
import type { AppDeps } from './app.js';
import { parseQuery } from './query.js';
import { notFound } from './api-auth.js';
import { enterpriseParams, memberParams } from './id-params.js';
import { cursorQuerySchema } from './pagination.js';

// An enterprise-bound key asking for another enterprise's path was answered 404 by the auth hook.
export function registerEnterpriseRoutes(app: FastifyInstance, deps: AppDeps): void {
  app.get('/v1/enterprises/:enterpriseId', { config: { scope: 'read' } }, async (request, reply) => {
    const { enterpriseId } = enterpriseParams.parse(request.params);
    const enterprise = await findEnterprise(deps.db, enterpriseId);
    return enterprise ?? notFound(reply);
  });

  app.get('/v1/enterprises/:enterpriseId/members/:memberId', { config: { scope: 'read' } }, async (request, reply) => {
    const { enterpriseId, memberId } = memberParams.parse(request.params);
    const member = await findMember(deps.db, enterpriseId, memberId);
    return member ?? notFound(reply);
  });

  app.get(
    '/v1/enterprises/:enterpriseId/members/:memberId/sharing-history',
    { config: { scope: 'read' } },
    async (request) => {
      const { enterpriseId, memberId } = memberParams.parse(request.params);
      const query = parseQuery(cursorQuerySchema, request);
      return listSharingHistory(deps.db, enterpriseId, memberId, query.cursor ?? null);
    },
  );
}
