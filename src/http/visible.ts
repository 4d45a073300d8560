import type { FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import { mayActFor } from '../auth/principal.js';
import { isVisible, type OwnedKind } from '../auth/visibility.sql.js';
import type { Database } from '../db/schema.js';
import { principalOf } from './api-auth.js';

/**
 * The thing a path names, read only once the caller's key may see it (`isVisible`); undefined,
 * as for a missing one, otherwise.
 */
export async function readVisible<T>(
  db: Kysely<Database>,
  request: FastifyRequest,
  thing: {
    kind: OwnedKind;
    id: string;
    read: (id: string) => Promise<T | undefined>;
    enterpriseOf: (found: T) => string | null;
  },
): Promise<T | undefined> {
  const principal = principalOf(request);
  if (!(await isVisible(db, principal, thing.kind, thing.id))) return undefined;
  const found = await thing.read(thing.id);
  return found && mayActFor(principal, thing.enterpriseOf(found)) ? found : undefined;
}
