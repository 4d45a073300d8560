import { z } from 'zod';
import { MAX_CHUNKS_PER_JOB } from '../domain/chunk-plan.js';
import { operationIdSchema } from './ids.js';

/**
 * The queues and jobs: a system with only a BullMQ client adds a job named `operation` to
 * `benefits-operations` with a payload that matches `operationSchema`; everything else here is
 * internal to the service.
 */
export const QUEUES = {
  operations: 'benefits-operations',
  chunks: 'benefits-chunks',
  /** Outbound: `operation.finished` events for publishers that would rather not poll. */
  events: 'benefits-events',
} as const;

export const JOBS = {
  operation: 'operation',
  operationFinished: 'operation.finished',
} as const;

export const CHUNK_SIZE = 100;

/**
 * Internal: consecutive chunks of CHUNK_SIZE items (at most MAX_CHUNKS_PER_JOB; the last may be
 * shorter). Postgres keeps the items (`operation_items`); a job names its range and may carry its
 * items too, sparing the worker a read. A job without them (enqueued again from Postgres by the
 * reconciler or a retry) is applied from the stored items. The fields an operator reads on the
 * dashboard come first; the items last. Each chunk is its own transaction.
 */
export const chunkJobSchema = z
  .strictObject({
    operationId: operationIdSchema,
    /** For whoever reads the queue: the worker takes the kind from the operation's record. */
    kind: z.string().optional(),
    /** Index of the job's first chunk. */
    chunkIndex: z.number().int().min(0),
    /** How many chunks the job holds (for readers; with items, their count decides). */
    chunks: z.number().int().min(1).max(MAX_CHUNKS_PER_JOB).optional(),
    itemCount: z.number().int().min(0).optional(),
    /** Position of the job's first item in the batch; rejections are keyed by position. */
    offset: z.number().int().min(0).optional(),
    /** Positions of the items that repeat the key of an earlier item of the batch (`duplicate_item`). */
    repeats: z.array(z.number().int().min(0)).max(CHUNK_SIZE * MAX_CHUNKS_PER_JOB).optional(),
    /** The items of the kind, each parsed by the kind when its chunk is applied. */
    items: z.array(z.unknown()).max(CHUNK_SIZE * MAX_CHUNKS_PER_JOB).optional(),
  })
  .refine((job) => (job.items === undefined) === (job.offset === undefined), {
    message: 'offset and items come together',
    path: ['offset'],
  });
export type ChunkJob = z.infer<typeof chunkJobSchema>;

/** A job's readable name on the dashboard: its kind and chunk range, `sharing.set 3940–3949`. */
export function chunkJobName(kind: string, firstChunk: number, chunks: number): string {
  return chunks > 1 ? `${kind} ${firstChunk}–${firstChunk + chunks - 1}` : `${kind} ${firstChunk}`;
}
