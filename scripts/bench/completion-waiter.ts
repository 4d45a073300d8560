import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { JOBS, QUEUES } from '../../src/producers/index.js';
import { log } from './common.js';

/**
 * Learns that operations ended the way a publisher that does not poll does: from the service's
 * `operation.finished` events (README, Completion events). Asking Postgres every 25 ms instead
 * put about a third of a millisecond of the service's own database time on every poll, inside
 * the service's measured run, and found the end 12 ms late on average.
 */
export class CompletionWaiter {
  readonly #finished = new Set<string>();
  readonly #worker: Worker;
  #wake: (() => void) | null = null;

  constructor(connection: Redis, prefix: string) {
    this.#worker = new Worker(
      QUEUES.events,
      async (job) => {
        if (job.name === JOBS.operationFinished) this.#finished.add((job.data as { operationId: string }).operationId);
        this.#wake?.();
      },
      { connection, prefix },
    );
    // A lost Redis connection is retried by BullMQ; said, not swallowed. The wait's half-second
    // fallback to Postgres keeps the run going meanwhile.
    this.#worker.on('error', (error) => log(`completion events: ${error.message}`));
  }

  /** Resolves once every operation announced its end, or after `ms`, whichever comes first. */
  async until(operationIds: readonly string[], ms: number): Promise<void> {
    const announced = () => operationIds.every((id) => this.#finished.has(id));
    if (announced()) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = () => {
        if (announced()) done();
      };
    });
    this.#wake = null;
  }

  close(): Promise<void> {
    return this.#worker.close();
  }
}
