// A publisher that stops at a chosen point and waits there to be killed (SIGKILL), for the tests
// of a publisher that dies mid-publish. It runs the service's own publishing code; only the queue
// (or the stream it reads) is wrapped so that it can say where it is and hang there:
//   HANG_AT=enqueue  after the operation and its items are committed, when its first jobs would be added;
//   HANG_AT=stream   while a streamed batch's items are being stored, before anything is committed.
// Prints the line `hanging` once there. Env: DATABASE_URL, REDIS_URL, QUEUE_PREFIX, PAYLOAD_FILE (the operation, JSON).
import { readFile } from 'node:fs/promises';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { QUEUES } from '../../src/contract/index.js';
import { createDatabase } from '../../src/db/database.js';
import { publish } from '../../src/producers/publisher.js';
import { publishStream } from '../../src/producers/stream-publisher.js';

const env = (name: string) => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};
const hang = (): Promise<never> => {
  process.stdout.write('hanging\n');
  return new Promise(() => {});
};

const db = createDatabase({ connectionString: env('DATABASE_URL'), poolSize: 2, onError: () => {} });
const queue = new Queue(QUEUES.chunks, { connection: new Redis(env('REDIS_URL')), prefix: env('QUEUE_PREFIX') });
const payload = JSON.parse(await readFile(env('PAYLOAD_FILE'), 'utf8')) as Record<string, unknown> & {
  kind: string;
  memberIds: string[];
};
const deps = { db, chunkQueue: async () => queue, chunkAttempts: 5 };

if (env('HANG_AT') === 'enqueue') {
  queue.addBulk = hang;
  await publish(deps, payload);
} else {
  const { memberIds, ...header } = payload;
  let pass = 0;
  await publishStream(deps, header, () => {
    pass += 1;
    const storing = pass === 2;
    return (async function* () {
      for (const [i, id] of memberIds.entries()) {
        if (storing && i === Math.floor(memberIds.length / 2)) await hang();
        yield id;
      }
    })();
  });
}
throw new Error('the publisher was meant to hang, and finished');
