import { defineConfig } from 'vitest/config';
import { CLUSTER_URL } from './test/support/servers.js';

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

// The same core scenarios and a ledger check with the queues on a Redis Cluster of 3 masters and
// 3 replicas that the project starts for itself (test/support/cluster-setup.ts).
const coreOnRedisCluster = [
  'test/integration/sharing-pipeline.test.ts',
  'test/integration/coupons.test.ts',
  'test/integration/reliability/duplicate-delivery.test.ts',
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
      {
        extends: true,
        test: {
          name: 'redis-cluster',
          include: coreOnRedisCluster,
          globalSetup: ['test/support/cluster-setup.ts'],
          env: { TEST_REDIS_URL: CLUSTER_URL },
        },
      },
    ],
  },
});
