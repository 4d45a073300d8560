import { timingSafeEqual } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { ApiKeyRow, Database } from '../db/schema.js';
import type { Logger } from '../logger.js';
import { bearerKey, hashKey, isScope } from './api-key.js';
import { findKeyByHash, touchKey } from './api-keys.sql.js';
import type { Principal } from './principal.js';

/** Why a request was refused; logged, never told to the caller beyond 401. */
export type Refusal = 'missing' | 'malformed' | 'unknown' | 'revoked';

export type Authentication = { ok: true; principal: Principal } | { ok: false; refusal: Refusal };

export interface AuthenticatorOptions {
  /** `last_used_at` is written at most this often per key and process. */
  touchIntervalMs?: number;
}

export type Authenticator = (authorization: string | undefined) => Promise<Authentication>;

const principalOf = (row: ApiKeyRow): Principal => ({
  keyId: row.id,
  scopes: new Set(row.scopes.filter(isScope)),
  enterprises: row.enterprises && row.enterprises.length > 0 ? new Set(row.enterprises) : null,
});

/**
 * Checks a bearer key against Postgres on every request, uncached: a revoked key is refused by
 * every process at once. An unknown key and a revoked one cost the same single index lookup by
 * digest, and the digest found is compared in constant time, so neither answer is faster.
 */
export function createAuthenticator(
  db: Kysely<Database>,
  logger: Logger,
  options: AuthenticatorOptions = {},
): Authenticator {
  const touchIntervalMs = options.touchIntervalMs ?? 60_000;
  const lastTouched = new Map<string, number>();
  const touch = (id: string) => {
    const now = Date.now();
    if (now - (lastTouched.get(id) ?? 0) < touchIntervalMs) return;
    lastTouched.set(id, now);
    // Bookkeeping off the request's path: a failed write is worth a line, not a refused request.
    touchKey(db, id).catch((error: unknown) => logger.warn({ err: error, keyId: id }, 'could not record key use'));
  };
  return async (authorization) => {
    if (authorization === undefined) return { ok: false, refusal: 'missing' };
    const key = bearerKey(authorization);
    if (key === null) return { ok: false, refusal: 'malformed' };
    const digest = hashKey(key);
    const row = await findKeyByHash(db, digest);
    const matches = row !== undefined && timingSafeEqual(row.key_hash, digest);
    if (!row || !matches) return { ok: false, refusal: 'unknown' };
    if (row.revoked_at !== null) return { ok: false, refusal: 'revoked' };
    touch(row.id);
    return { ok: true, principal: principalOf(row) };
  };
}
