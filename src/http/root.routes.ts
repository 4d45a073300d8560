import type { FastifyInstance } from 'fastify';
import { DASHBOARD_PATH } from './dashboard.js';

/**
 * The service's entry points, by name: `GET /` answers with them and start-up prints them, so a
 * newcomer finds the API, the dashboard and the metrics from either. A new entry point (the API
 * documentation at /docs) is one more line here.
 */
export const ENTRY_POINTS = {
  api: '/v1/operations',
  dashboard: DASHBOARD_PATH,
  metrics: '/metrics',
  health: '/healthz',
  readiness: '/readyz',
} as const;

export type EntryPoint = keyof typeof ENTRY_POINTS;

/** The entry points under a base URL (`http://localhost:3000`). */
export function entryPointLinks(
  baseUrl: string,
  names: readonly EntryPoint[] = Object.keys(ENTRY_POINTS) as EntryPoint[],
) {
  const base = baseUrl.replace(/\/$/, '');
  return Object.fromEntries(names.map((name) => [name, `${base}${ENTRY_POINTS[name]}`])) as Record<EntryPoint, string>;
}

/** `GET /`: what this service is and where its parts are, as links relative to the address asked. */
export function registerRootRoute(app: FastifyInstance, withDashboard: boolean): void {
  const names = (Object.keys(ENTRY_POINTS) as EntryPoint[]).filter((name) => withDashboard || name !== 'dashboard');
  app.get('/', async (request) => {
    const base = `${request.protocol}://${request.host}`;
    return { service: 'benefits-worker', links: entryPointLinks(base, names) };
  });
}
