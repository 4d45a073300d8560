import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

export interface BasicCredentials {
  readonly user: string;
  readonly password: string;
}

// Digests have one length whatever was typed, so comparing them takes the same time for a
// wrong user, a wrong password, or a guess of the right length.
const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

function parseBasic(header: string | undefined): { user: string; password: string } | null {
  const match = header?.match(/^Basic\s+([A-Za-z0-9+/=]+)\s*$/i);
  if (!match?.[1]) return null;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** Checks both fields in constant time; a non-short-circuit `&` keeps the user check from leaking. */
export function credentialsMatch(expected: BasicCredentials, header: string | undefined): boolean {
  const given = parseBasic(header);
  const user = timingSafeEqual(digest(given?.user ?? ''), digest(expected.user));
  const password = timingSafeEqual(digest(given?.password ?? ''), digest(expected.password));
  return given !== null && Boolean(Number(user) & Number(password));
}

/** An `onRequest` hook answering 401 with a challenge, so browsers ask for the credentials. */
export function basicAuthHook(expected: BasicCredentials, realm: string) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    const header = request.headers.authorization;
    if (credentialsMatch(expected, header)) return undefined;
    // A request without credentials is a browser's normal first try; wrong ones are worth a line.
    if (header !== undefined) request.log.warn({ url: request.url }, 'refused request with wrong credentials');
    return reply
      .code(401)
      .header('www-authenticate', `Basic realm="${realm}", charset="UTF-8"`)
      .send({ error: 'unauthorized' });
  };
}
