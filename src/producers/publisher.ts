import { randomUUID } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { Kysely } from 'kysely';
import { isFinal } from '../domain/operation-status.js';
import { type RepeatFinder, repeatsOf } from '../domain/repeats.js';
import { insertOperation } from '../operations/operation-records.js';
import type { Database, OperationRow } from '../db/schema.js';
import { IdempotencyConflictError } from '../errors.js';
import { isConnectionLost, QueueUnavailableError } from '../queue/connections.js';
import { enqueueChunks } from './chunk-enqueuer.js';
import type { OperationStatus } from '../contract/index.js';
import { parseOperation } from '../contract/parse-operation.js';
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
  /** Called as chunks reach the queue, with the number of items they held. */
  onEnqueued?: (items: number) => void;
}

/**
 * Records an operation in Postgres and enqueues its chunks; returns as soon as both are done.
 * Throws InvalidPayloadError (with the offending fields), IdempotencyConflictError, or
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
  return recordAndEnqueue(deps, record, items, repeatsOf(items, record.itemKey), options);
}

/** The step every publishing path shares, once the operation is validated and described. */
export async function recordAndEnqueue(
  deps: PublisherDeps,
  record: OperationRecord,
  items: Iterable<unknown> | AsyncIterable<unknown>,
  repeats: RepeatFinder,
  options: PublishOptions,
): Promise<PublishResult> {
  // Asked before recording anything, so a publisher facing a Redis outage leaves no trace.
  const chunkQueue = await deps.chunkQueue();
  const { operationId } = record;
  const { created, operation: row } = await insertOperation(
    deps.db,
    {
      operation_id: operationId,
      kind: record.kind,
      enterprise_id: record.enterpriseId,
      payload_hash: record.payloadHash,
      params: JSON.stringify(record.params),
      source: options.source ?? 'producer',
      status: 'queued',
      items_total: record.itemsTotal,
      chunks_total: record.chunksTotal,
    },
    record.claims,
  );
  if (row.payload_hash !== record.payloadHash) throw new IdempotencyConflictError(operationId);
  // A publisher that crashed between recording and enqueueing re-publishes to finish the job;
  // re-adding chunks is safe (deterministic ids, idempotent apply), so do it until the operation is final.
  if (isFinal(row.status)) return { operationId, status: row.status as OperationStatus, created, operation: row };
  try {
    await enqueueChunks(chunkQueue, operationId, items, record.chunksTotal, {
      attempts: deps.chunkAttempts,
      ordered: record.ordered,
      itemKey: record.itemKey,
      repeats,
      onEnqueued: options.onEnqueued,
    });
  } catch (error) {
    // Redis went away after the check above (mid-publish, or before the client noticed): the
    // publisher is told the queue is unavailable, not an internal error, and how to finish the job.
    if (!isConnectionLost(error)) throw error;
    throw new QueueUnavailableError(
      `Redis became unreachable while enqueueing operation ${operationId}; it is recorded: publish it again with the same operationId to finish it`,
      { cause: error },
    );
  }
  return { operationId, status: row.status as OperationStatus, created, operation: row };
}
