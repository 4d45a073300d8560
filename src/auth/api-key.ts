import { createHash, randomBytes } from 'node:crypto';

/** What a key may do. `admin` may do everything, key management included. */
export const SCOPES = ['operations:write', 'operations:control', 'read', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

export const KEY_PREFIX = 'bk_live_';
// 32 random bytes in base64url: 43 characters after the prefix.
const KEY_PATTERN = /^bk_live_[A-Za-z0-9_-]{43}$/;

export const isScope = (value: string): value is Scope => (SCOPES as readonly string[]).includes(value);

/** A new key's text (shown once) and id (shown always; names the key in lists, logs and audit). */
export function generateKey(): { id: string; key: string } {
  return { id: `key_${randomBytes(8).toString('hex')}`, key: `${KEY_PREFIX}${randomBytes(32).toString('base64url')}` };
}

/** What is stored and looked up: the key's SHA-256. */
export const hashKey = (key: string): Buffer => createHash('sha256').update(key, 'utf8').digest();

/** The key a `Authorization: Bearer` header carries, when it has a key's shape at all. */
export function bearerKey(header: string | undefined): string | null {
  const match = header?.match(/^Bearer +(\S+) *$/i);
  const key = match?.[1];
  return key !== undefined && KEY_PATTERN.test(key) ? key : null;
}
