import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import type { Scope } from '../auth/api-key.js';
import type { Authenticator } from '../auth/authenticator.js';
import { hasScope, mayActFor, type Principal, UNRESTRICTED } from '../auth/principal.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** What a /v1 route requires of the caller's key; every /v1 route must name one. */
    scope?: Scope;
  }
  interface FastifyRequest {
    /** The caller, on /v1 routes once authenticated. */
    principal: Principal | null;
  }
}

export interface GuardedRoute {
  method: HTTPMethods;
  url: string;
  scope: Scope;
}

const API_PREFIX = '/v1/';
const guardedRoutes = new WeakMap<FastifyInstance, GuardedRoute[]>();

/** The /v1 routes registered so far and the scope each requires (the tests walk them all). */
export const listGuardedRoutes = (app: FastifyInstance): readonly GuardedRoute[] => guardedRoutes.get(app) ?? [];

/** The caller of a /v1 route: set by the hook below before any handler runs. */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new Error(`no principal on ${request.method} ${request.url}`);
  return request.principal;
}

/** One answer for anything a key may not see, the same as for what does not exist. */
export const notFound = (reply: FastifyReply) => reply.code(404).send({ error: 'not_found' });

const unauthorized = (reply: FastifyReply) =>
  reply.code(401).header('www-authenticate', 'Bearer realm="benefits"').send({ error: 'unauthorized' });

/**
 * Bearer keys on every /v1 route. A route declares its scope in its config; one that does not
 * fails at registration, so a new route cannot be left open by mistake. An enterprise-bound key
 * asking for another enterprise's path gets the 404 a missing one gets. `authenticate` null:
 * `API_AUTH=off`, every caller may do everything.
 */
export function registerApiAuth(app: FastifyInstance, authenticate: Authenticator | null): void {
  const routes: GuardedRoute[] = [];
  guardedRoutes.set(app, routes);
  app.decorateRequest('principal', null);
  app.addHook('onRoute', (route) => {
    if (!route.url.startsWith(API_PREFIX)) return;
    const scope = route.config?.scope;
    if (!scope) throw new Error(`${String(route.method)} ${route.url} declares no scope`);
    for (const method of [route.method].flat()) routes.push({ method, url: route.url, scope });
  });
  app.addHook('onRequest', async (request, reply) => {
    // The matched route decides, whatever form the URL came in; unknown /v1 paths are guarded
    // too, so a caller without a key learns nothing of what exists.
    const scope = request.routeOptions.config.scope;
    if (scope === undefined && !request.url.startsWith(API_PREFIX)) return undefined;
    let principal = UNRESTRICTED;
    if (authenticate) {
      const result = await authenticate(request.headers.authorization);
      if (!result.ok) {
        request.log.info({ refusal: result.refusal }, 'refused request without a valid API key');
        return unauthorized(reply);
      }
      principal = result.principal;
    }
    request.principal = principal;
    if (scope === undefined) return undefined; // no such route: fastify answers 404
    if (!hasScope(principal, scope)) return reply.code(403).send({ error: 'forbidden', scope });
    const { enterpriseId } = (request.params ?? {}) as { enterpriseId?: string };
    if (enterpriseId !== undefined && !mayActFor(principal, enterpriseId)) return notFound(reply);
    return undefined;
  });
}
