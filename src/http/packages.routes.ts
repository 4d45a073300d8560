import type { FastifyInstance, FastifyRequest } from 'fastify';
import { packageIdSchema } from '../contract/index.js';
import { listMemberBenefits } from '../read/benefits.read.js';
import { findMembership } from '../read/members.read.js';
import { findPackage, listEnterprisePackages, listPackageConsumption } from '../read/packages.read.js';
import { listMemberUsage } from '../read/usage.read.js';
import type { AppDeps } from './app.js';
import { readVisible } from './visible.js';
import { parseQuery } from './query.js';
import { notFound } from './api-auth.js';
import { enterpriseParams, idCursorQuery, memberParams, packageParams, productFilter } from './id-params.js';
import { cursorQuerySchema } from './pagination.js';
import { z } from 'zod';

// Packages are listed by id: the cursor is the last id of the previous page.
const packageListQuery = idCursorQuery(packageIdSchema);
const benefitsQuery = z.object({ product: productFilter });

/** Resource packages, members' settled usage and what members can draw on now. */
export function registerPackageRoutes(app: FastifyInstance, deps: AppDeps): void {
  /** The package named by the path, when the caller's key may see it; as if missing otherwise. */
  const visiblePackage = (request: FastifyRequest) =>
    readVisible(deps.db, request, {
      kind: 'package',
      id: packageParams.parse(request.params).packageId,
      read: (id) => findPackage(deps.db, id),
      enterpriseOf: (pkg) => pkg.enterpriseId,
    });

  app.get('/v1/enterprises/:enterpriseId/packages', { config: { scope: 'read' } }, async (request) => {
    const { enterpriseId } = enterpriseParams.parse(request.params);
    const query = parseQuery(packageListQuery, request);
    return listEnterprisePackages(deps.db, enterpriseId, query.cursor ?? null);
  });

  app.get('/v1/packages/:packageId', { config: { scope: 'read' } }, async (request, reply) => {
    return (await visiblePackage(request)) ?? notFound(reply);
  });

  app.get('/v1/packages/:packageId/consumption', { config: { scope: 'read' } }, async (request, reply) => {
    const pkg = await visiblePackage(request);
    const query = parseQuery(cursorQuerySchema, request);
    if (!pkg) return notFound(reply);
    return listPackageConsumption(deps.db, pkg, query.cursor ?? null);
  });

  // A member that left keeps its settled usage: listed whether it is still a member or not.
  app.get('/v1/enterprises/:enterpriseId/members/:memberId/usage', { config: { scope: 'read' } }, async (request) => {
    const { enterpriseId, memberId } = memberParams.parse(request.params);
    const query = parseQuery(cursorQuerySchema, request);
    return listMemberUsage(deps.db, enterpriseId, memberId, query.cursor ?? null);
  });

  app.get(
    '/v1/enterprises/:enterpriseId/members/:memberId/benefits',
    { config: { scope: 'read' } },
    async (request, reply) => {
      const { enterpriseId, memberId } = memberParams.parse(request.params);
      const query = parseQuery(benefitsQuery, request);
      const member = await findMembership(deps.db, enterpriseId, memberId);
      if (!member) return notFound(reply);
      return listMemberBenefits(deps.db, member, query.product ?? null);
    },
  );
}
