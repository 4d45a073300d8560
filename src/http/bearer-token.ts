import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

// Digests have one length whatever was sent, so the comparison takes the same time for any guess.
const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/** An `onRequest` hook requiring `Authorization: Bearer <token>`, compared in constant time. */
export function bearerTokenHook(token: string) {
  const expected = digest(token);
  return async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    const given = request.headers.authorization?.match(/^Bearer +(\S+) *$/i)?.[1] ?? '';
    if (timingSafeEqual(digest(given), expected) && given !== '') return undefined;
    return reply.code(401).header('www-authenticate', 'Bearer realm="metrics"').send({ error: 'unauthorized' });
  };
}
