import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * Bodies are read as they come: one declaring an encoding (gzip, br, ...) would be parsed as if it
 * were plain JSON, or not at all. Refusing it says so, instead of a confusing 400.
 */
export async function refuseEncodedBodies(
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<FastifyReply | undefined> {
  const encoding = request.headers['content-encoding'];
  if (encoding === undefined || encoding.trim().toLowerCase() === 'identity') return undefined;
  return reply
    .code(415)
    .header('accept-encoding', 'identity')
    .send({ error: 'unsupported_content_encoding', message: 'request bodies must not be encoded' });
}
