import { randomUUID } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { Kysely } from 'kysely';
import { isFinal } from '../domain/operation-status.js';
import { type RepeatFinder, repeatsOf } from '../domain/repeats.js';
import type { PlannedChunk } from '../domain/chunk-plan.js';
import { findOperation, type RecordResult } from '../operations/operation-records.js';
import type { Database, OperationRow } from '../db/schema.js';
import { IdempotencyConflictError } from '../errors.js';
import { isConnectionLost, QueueUnavailableError } from '../queue/connections.js';
import { enqueueChunkJobs, jobWithItems, plannedJobs, rangeJobs } from './chunk-enqueuer.js';
import type { ChunkJob, OperationStatus } from '../contract/index.js';
import { parseOperation } from '../contract/parse-operation.js';
import { recordWithItems } from './operation-store.js';
import { describeOperation, type OperationRecord } from './operation-record.js';

export interface PublishResult {
  operationId: string;
  status: OperationStatus;
  /** false when this operationId was already published with the same payload. */
  created: boolean;
  operation: OperationRow;
}

export interface PublisherDeps {
  db: Kysely<Database>;
  /** The chunk queue; rejects quickly (QueueUnavailableError) when it cannot take jobs. */
  chunkQueue: () => Promise<Queue>;
  chunkAttempts: number;
}

export type OperationSource = 'producer' | 'http' | 'queue' | 'cli';

export interface PublishOptions {
  source?: OperationSource;
  defaultOperationId?: string;
  /**
   * Called as items are handed on, with how many: as their jobs reach the queue, or for a stream
   * (whose jobs carry no items) as they are stored with the operation.
   */
  onEnqueued?: (items: number) => void;
}

/**
 * Records an operation in Postgres with its items and enqueues its chunks; returns as soon as both
 * are done. Throws InvalidPayloadError (with the offending fields), IdempotencyConflictError, or
 * QueueUnavailableError when Redis is down (then nothing was recorded).
 */
export async function publish(
  deps: PublisherDeps,
  input: unknown,
  options: PublishOptions = {},
): Promise<PublishResult> {
  const operation = parseOperation(input);
  const operationId = operation.operationId ?? options.defaultOperationId ?? randomUUID();
  const { record, items } = describeOperation(operation, operationId);
  return recordAndEnqueue(deps, record, { inMemory: items, repeats: repeatsOf(items, record.itemKey) }, options);
}

/**
 * Where an operation's items come from: a batch in memory (its jobs then carry their items, a
 * cache that spares the workers a read), or a stream read once more to store them (its jobs then
 * name their range only, and the workers read the items from Postgres).
 */
export type PublishedItems =
  | { inMemory: readonly unknown[]; repeats: RepeatFinder }
  | { stream: () => AsyncIterable<unknown>; itemCount: number; repeats: RepeatFinder };

/** The step every publishing path shares, once the operation is validated and described. */
export async function recordAndEnqueue(
  deps: PublisherDeps,
  record: OperationRecord,
  items: PublishedItems,
  options: PublishOptions,
): Promise<PublishResult> {
  // Asked before recording anything, so a publisher facing a Redis outage leaves no trace.
  const chunkQueue = await deps.chunkQueue();
  const { operationId } = record;
  const target = { operationId, kind: record.kind, chunksTotal: record.chunksTotal, ordered: record.ordered };
  const plan = (from: Iterable<unknown> | AsyncIterable<unknown>) =>
    plannedJobs(from, record.chunksTotal, record.itemKey, items.repeats);
  const newOperation = {
    operation_id: operationId,
    kind: record.kind,
    enterprise_id: record.enterpriseId,
    payload_hash: record.payloadHash,
    params: JSON.stringify(record.params),
    source: options.source ?? 'producer',
    status: 'queued',
    items_total: record.itemsTotal,
    chunks_total: record.chunksTotal,
  } as const;
  let jobs: Iterable<ChunkJob>;
  let recorded: RecordResult;
  if ('inMemory' in items) {
    const planned: PlannedChunk<unknown>[] = [];
    for await (const job of plan(items.inMemory)) planned.push(job);
    recorded = await recordWithItems(deps.db, newOperation, record.claims, planned);
    jobs = planned.map((job) => jobWithItems(target, job));
  } else {
    // A streamed batch published again is not read a third time: its items were stored with it.
    const known = await findOperation(deps.db, operationId);
    recorded = known
      ? { created: false, operation: known }
      : await recordWithItems(deps.db, newOperation, record.claims, plan(items.stream()), options.onEnqueued);
    jobs = rangeJobs(target, items.itemCount);
  }
  const { created, operation: row } = recorded;
  if (row.payload_hash !== record.payloadHash) throw new IdempotencyConflictError(operationId);
  // Publishing again re-adds the chunks of an unfinished operation: deterministic ids and an
  // idempotent apply make it safe, and it spares waiting for the reconciler.
  if (isFinal(row.status)) return { operationId, status: row.status as OperationStatus, created, operation: row };
  try {
    const onEnqueued = 'inMemory' in items ? options.onEnqueued : undefined;
    await enqueueChunkJobs(chunkQueue, target, jobs, { attempts: deps.chunkAttempts, onEnqueued });
  } catch (error) {
    // Redis went away after the check above (mid-publish, or before the client noticed): the
    // publisher is told the queue is unavailable, not an internal error. The operation and its
    // items are in Postgres: the workers' reconciler enqueues what is missing once Redis is back.
    if (!isConnectionLost(error)) throw error;
    throw new QueueUnavailableError(
      `Redis became unreachable while enqueueing operation ${operationId}; it is recorded with its items and the workers will finish it once Redis is back`,
      { cause: error },
    );
  }
  return { operationId, status: row.status as OperationStatus, created, operation: row };
}
