import type { Queue } from 'bullmq';
import type { Producer } from '../../src/producers/index.js';
import type pg from 'pg';
import { log, memberId } from './common.js';
import { ENTERPRISE, expectEqual } from './scenario.js';

export interface PublishRun {
  operations: number;
  inFlight: number;
  seconds: number;
  rate: number;
}

/**
 * Many small operations through the producer library: each records a row in Postgres and adds
 * one chunk job. Run with no worker consuming, so the figure is the publisher's own cost.
 */
export async function benchPublishing(
  producer: Producer,
  pool: pg.Pool,
  chunkQueue: Queue,
  options: { operations: number; inFlight: number; members: number },
): Promise<PublishRun> {
  const prefix = `bench-pub-${options.inFlight}-`;
  const bodies = Array.from({ length: options.operations }, (_, i) => ({
    operationId: `${prefix}${i}`,
    kind: 'sharing.set' as const,
    enterpriseId: ENTERPRISE,
    enabled: i % 2 === 0,
    memberIds: Array.from({ length: 1 + (i % 5) }, (_, j) => memberId((i * 7 + j * 13) % options.members)),
  }));
  const waitingBefore = await chunkQueue.getWaitingCount();
  log(`publishing: ${options.operations} sharing.set operations of 1-5 members, ${options.inFlight} in flight`);
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: options.inFlight }, async () => {
      for (let i = next++; i < bodies.length; i = next++) await producer.publish(bodies[i]!);
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const { rows } = await pool.query<{ n: number }>(`SELECT count(*) AS n FROM operations WHERE operation_id LIKE $1`, [
    `${prefix}%`,
  ]);
  expectEqual('operations recorded', rows[0]!.n, options.operations);
  expectEqual('chunk jobs enqueued', (await chunkQueue.getWaitingCount()) - waitingBefore, options.operations);
  log(`  ${seconds.toFixed(2)} s, ${Math.round(options.operations / seconds)} operations/s`);
  return { operations: options.operations, inFlight: options.inFlight, seconds, rate: options.operations / seconds };
}
