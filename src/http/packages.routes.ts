import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { toValidationIssues } from '../domain/validation.js';
import { listMemberBenefits } from '../read/benefits.read.js';
import { findMembership } from '../read/members.read.js';
import { findPackage, listEnterprisePackages, listPackageConsumption } from '../read/packages.read.js';
import { listMemberUsage } from '../read/usage.read.js';
import type { AppDeps } from './app.js';
import { cursorQuerySchema } from './pagination.js';

const packageParams = z.object({ packageId: z.string().min(1).max(128) });
const enterpriseParams = z.object({ enterpriseId: z.string().min(1).max(128) });
const memberParams = enterpriseParams.extend({ memberId: z.string().min(1).max(128) });
// Packages are listed by id: the cursor is the last id of the previous page.
const packageListQuery = z.object({ cursor: z.string().min(1).max(128).optional() });
const benefitsQuery = z.object({ product: z.string().min(1).max(128).optional() });

/** Resource packages, members' settled usage and what members can draw on now. */
export function registerPackageRoutes(app: FastifyInstance, deps: AppDeps): void {
  app.get('/v1/enterprises/:enterpriseId/packages', async (request, reply) => {
    const { enterpriseId } = enterpriseParams.parse(request.params);
    const query = packageListQuery.safeParse(request.query);
    if (!query.success)
      return reply.code(400).send({ error: 'invalid_query', issues: toValidationIssues(query.error) });
    return listEnterprisePackages(deps.db, enterpriseId, query.data.cursor ?? null);
  });

  app.get('/v1/packages/:packageId', async (request, reply) => {
    const { packageId } = packageParams.parse(request.params);
    const pkg = await findPackage(deps.db, packageId);
    if (!pkg) return reply.code(404).send({ error: 'not_found' });
    return pkg;
  });

  app.get('/v1/packages/:packageId/consumption', async (request, reply) => {
    const { packageId } = packageParams.parse(request.params);
    const query = cursorQuerySchema.safeParse(request.query);
    if (!query.success)
      return reply.code(400).send({ error: 'invalid_query', issues: toValidationIssues(query.error) });
    const pkg = await findPackage(deps.db, packageId);
    if (!pkg) return reply.code(404).send({ error: 'not_found' });
    return listPackageConsumption(deps.db, pkg, query.data.cursor ?? null);
  });

  // A member that left keeps its settled usage: listed whether it is still a member or not.
  app.get('/v1/enterprises/:enterpriseId/members/:memberId/usage', async (request, reply) => {
    const { enterpriseId, memberId } = memberParams.parse(request.params);
    const query = cursorQuerySchema.safeParse(request.query);
    if (!query.success)
      return reply.code(400).send({ error: 'invalid_query', issues: toValidationIssues(query.error) });
    return listMemberUsage(deps.db, enterpriseId, memberId, query.data.cursor ?? null);
  });

  app.get('/v1/enterprises/:enterpriseId/members/:memberId/benefits', async (request, reply) => {
    const { enterpriseId, memberId } = memberParams.parse(request.params);
    const query = benefitsQuery.safeParse(request.query);
    if (!query.success)
      return reply.code(400).send({ error: 'invalid_query', issues: toValidationIssues(query.error) });
    const member = await findMembership(deps.db, enterpriseId, memberId);
    if (!member) return reply.code(404).send({ error: 'not_a_member' });
    return listMemberBenefits(deps.db, member, query.data.product ?? null);
  });
}
