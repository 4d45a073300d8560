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
  chunk: 'chunk',
  operationFinished: 'operation.finished',
} as const;

export const CHUNK_SIZE = 100;

/**
 * Internal: consecutive chunks of CHUNK_SIZE items (at most MAX_CHUNKS_PER_JOB; the last may be
 * shorter), carrying their own slice of the batch only. Each chunk is its own transaction.
 */
export const chunkJobSchema = z.strictObject({
  operationId: operationIdSchema,
  /** Index of the job's first chunk. */
  chunkIndex: z.number().int().min(0),
  /** Position of the job's first item in the batch; rejections are keyed by position. */
  offset: z.number().int().min(0),
  /** The items of the kind, each parsed by the kind when its chunk is applied. */
  items: z.array(z.unknown()).max(CHUNK_SIZE * MAX_CHUNKS_PER_JOB),
  /** Positions of the items that repeat the key of an earlier item of the batch (`duplicate_item`). */
  repeats: z.array(z.number().int().min(0)).max(CHUNK_SIZE * MAX_CHUNKS_PER_JOB).optional(),
});
export type ChunkJob = z.infer<typeof chunkJobSchema>;
