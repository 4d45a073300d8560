import type { Scope } from './api-key.js';

/** Who is calling: a key's id, scopes and enterprises, or everyone when authentication is off. */
export interface Principal {
  /** null when authentication is off (`API_AUTH=off`). */
  readonly keyId: string | null;
  readonly scopes: ReadonlySet<Scope>;
  /** null: every enterprise. */
  readonly enterprises: ReadonlySet<string> | null;
}

export const UNRESTRICTED: Principal = Object.freeze({
  keyId: null,
  scopes: new Set<Scope>(['operations:write', 'operations:control', 'read', 'admin']),
  enterprises: null,
});

export const hasScope = (principal: Principal, scope: Scope): boolean =>
  principal.scopes.has(scope) || principal.scopes.has('admin');

/** Whether the caller may see or act for the enterprise; a resource without one only an unbound key sees. */
export const mayActFor = (principal: Principal, enterpriseId: string | null | undefined): boolean =>
  principal.enterprises === null || (enterpriseId != null && principal.enterprises.has(enterpriseId));
