import { startRedisCluster } from './redis-cluster.js';
import { CLUSTER_BASE_PORT } from './servers.js';

/**
 * The redis-cluster test project's Redis: a cluster of 3 masters and 3 replicas of its own,
 * on the ports its TEST_REDIS_URL names, stopped when the project ends.
 */
export default async function setup(): Promise<() => Promise<void>> {
  const cluster = await startRedisCluster({ basePort: CLUSTER_BASE_PORT });
  return () => cluster.dispose();
}
