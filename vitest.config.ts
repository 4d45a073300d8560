import { defineConfig } from 'vitest/config';

// The core scenarios run twice: with the queues in Redis (every test) and in PostgreSQL through
// BullMQ's PostgreSQL backend (the files that exercise the pipeline end to end).
const coreOnPostgresQueues = [
  'test/integration/sharing-pipeline.test.ts',
  'test/integration/idempotency.test.ts',
  'test/integration/coupons.test.ts',
  'test/integration/operation-control.test.ts',
  'test/integration/cli.test.ts',
  'test/integration/publication-order.test.ts',
  'test/integration/usage.test.ts',
];

export default defineConfig({
  test: {
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    projects: [
      { extends: true, test: { name: 'redis-queues', include: ['test/**/*.test.ts'] } },
      {
        extends: true,
        test: { name: 'postgres-queues', include: coreOnPostgresQueues, env: { TEST_QUEUE_BACKEND: 'postgres' } },
      },
    ],
  },
});
