import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Queue } from 'bullmq';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { QUEUES } from '../contract/index.js';
import { basicAuthHook, type BasicCredentials } from './basic-auth.js';
import { atLeast } from './log-level.js';

export const DASHBOARD_PATH = '/dashboard';

export interface DashboardOptions {
  /** One queue for every entry of QUEUES, so a queue added to the contract shows up here too. */
  queues: Record<keyof typeof QUEUES, Queue>;
  readOnly: boolean;
  /** null: no authentication (the board is on a trusted network). */
  credentials: BasicCredentials | null;
}

const READ_METHODS = new Set(['GET', 'HEAD']);

/** Shown under each queue's name, so an operator reads a queue's waiting jobs for what they are. */
const QUEUE_DESCRIPTIONS: Record<keyof typeof QUEUES, string> = {
  operations: 'Operations published as raw BullMQ jobs; a worker records each and splits it into chunks.',
  chunks: 'Chunks of up to 100 items; each applies in one PostgreSQL transaction.',
  events:
    'Outbound operation.finished events for other systems to consume. Nothing in this service consumes them: ' +
    'jobs wait here until a subscriber does, and that is not a fault. Completed ones are removed after a day.',
};

async function refuseWrites(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
  if (READ_METHODS.has(request.method)) return undefined;
  return reply.code(405).header('allow', 'GET, HEAD').send({ error: 'dashboard_read_only' });
}

/** Bull Board for every queue of the service at /dashboard, in its own encapsulated scope. */
export async function registerDashboard(app: FastifyInstance, options: DashboardOptions): Promise<void> {
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(DASHBOARD_PATH);
  const keys = Object.keys(QUEUES) as Array<keyof typeof QUEUES>;
  createBullBoard({
    queues: keys.map(
      (key) =>
        new BullMQAdapter(options.queues[key], {
          readOnlyMode: options.readOnly,
          description: QUEUE_DESCRIPTIONS[key],
        }),
    ),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'Benefits queues' } },
  });
  await app.register(
    async (scope) => {
      // Hooks of this scope cover the board's pages, static files and API alike.
      if (options.credentials) scope.addHook('onRequest', basicAuthHook(options.credentials, 'Benefits dashboard'));
      // The board refuses writes queue by queue; refusing every write here also covers routes
      // that act on all queues at once or that a later version of the board adds.
      if (options.readOnly) scope.addHook('onRequest', refuseWrites);
      await scope.register(serverAdapter.registerPlugin());
    },
    // The page polls its API every few seconds: request lines would drown the service's own.
    { prefix: DASHBOARD_PATH, logLevel: atLeast(app.log.level, 'warn') },
  );
}
