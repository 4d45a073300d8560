import { DelayedError, type Job } from 'bullmq';
import type { Kysely } from 'kysely';
import type { PlannedChunk } from '../domain/chunk-plan.js';
import { ClaimIndex, type HeldClaim, probeFor } from '../domain/ordering/claims.js';
import { chunkClaims } from '../domain/ordering/operation-claims.js';
import type { Database } from '../db/schema.js';
import type { NamedQuery } from '../db/statements.js';
import { kindSpec } from '../kinds/index.js';
import type { OperationIdentity } from '../kinds/kind.js';
import type { ChunkGate } from '../operations/chunk-work.js';
import { unfinished } from '../operations/operation-records.js';
import {
  awaitEarlierRecordings,
  type BlockersRow,
  EARLIER_CLAIMS_KEPT,
  earlierClaims,
  findBlockers,
  recordWaitingFor,
} from '../operations/ordering.sql.js';
import type { FinishListener } from './finish-listener.js';

/**
 * How long a chunk waits in its worker slot for the operations in its way to finish. Most of
 * them are running right then and finish within milliseconds; a job sent back to the queue
 * instead goes to the end of it, behind everything published since.
 */
const IN_PLACE_MS = 2_000;
/** A job sent back to the queue is delayed this long, doubling each time it is found waiting again. */
const FIRST_DELAY_MS = 25;
const LONGEST_DELAY_MS = 1_000;
/** How many operations each of the gate's memories holds (least recent goes first). */
const REMEMBERED = 200;

/** What a chunk the gate held waits for: earlier operations, or (none named) the chunk before it. */
export interface Held {
  waitingFor: string[];
}

export type ChunkOrderGate = ChunkGate & { held(): Held };

export interface ChunkWaitsDeps {
  db: Kysely<Database>;
  /** Hears operations finish; without it, chunks never wait in place. */
  listener?: FinishListener;
  /**
   * How many jobs may wait in place at once: the other worker slots stay free for the work they
   * wait on, so that waiting can never take every slot.
   */
  inPlaceSlots: number;
}

/**
 * Keeps publication order for the chunks of one worker process. A chunk may not apply while an
 * operation published before its own, and still unfinished, claims something its items touch in a
 * conflicting way (`src/domain/ordering`), nor, for a kind whose chunks apply in order, before the
 * chunk before it. The question travels with the chunk's claim (`gateFor`); a chunk held waits in
 * its worker slot for a moment, else goes back to the queue, delayed, which costs none of its
 * attempts.
 */
export function createChunkWaits(deps: ChunkWaitsDeps) {
  // Nothing published later can come before an operation: once nothing is before it, it stays so.
  const unblocked = new Set<string>();
  // The claims of what was unfinished before an operation when this process first applied a
  // chunk of it, or 'many' (then Postgres is asked for every chunk): they can only go away.
  const earlier = new Map<string, ClaimIndex | 'many'>();
  const shownWaiting = new Map<string, string>();
  let waitingInPlace = 0;

  /** The gate for a chunk, or null when nothing can be in its way. */
  function gateFor(
    operation: OperationIdentity,
    chunk: PlannedChunk<unknown>,
    previousChunk: number | null,
  ): ChunkOrderGate | null {
    const operationId = operation.operation_id;
    const previous = previousChunk === null ? null : { operationId, chunkIndex: previousChunk };
    const onlyPrevious = () => (previous === null ? null : gate([findBlockers(operation.seq, null, previous)], 0));
    if (unblocked.has(operationId)) return onlyPrevious();
    const spec = kindSpec(operation.kind);
    if (!spec) throw new Error(`operation ${operationId} has unknown kind ${operation.kind}`);
    const claims = chunkClaims(
      spec.claims,
      { enterpriseId: operation.enterprise_id ?? '', params: operation.params },
      chunk.items,
    );
    const known = earlier.get(operationId);
    if (known instanceof ClaimIndex && known.conflicting(claims).size === 0) return onlyPrevious();
    const probe = findBlockers(operation.seq, probeFor(claims), previous);
    if (known !== undefined) return gate([probe], 0);
    // The first chunk of it here: wait out the recordings of earlier operations, then load their claims.
    return gate([awaitEarlierRecordings(), earlierClaims(operation.seq), probe], 2, (rows) => {
      const held = rows[1] as HeldClaim[];
      remember(earlier, operationId, held.length > EARLIER_CLAIMS_KEPT ? 'many' : new ClaimIndex(held));
    });

    function gate(statements: NamedQuery<unknown>[], blockersAt: number, load?: (rows: unknown[][]) => void) {
      let found: BlockersRow | undefined;
      return {
        statements,
        passes(rows: unknown[][]) {
          load?.(rows);
          found = (rows[blockersAt] as BlockersRow[])[0];
          if (!found) throw new Error('find_blockers answered with no row');
          if (!found.earlier) remember(unblocked, operationId, true);
          return found.blockers.length === 0 && found.previous_recorded;
        },
        held: () => ({ waitingFor: found?.blockers ?? [] }),
      };
    }
  }

  function remember<V>(memory: Set<string> | Map<string, V>, operationId: string, value: V): void {
    if (memory instanceof Set) memory.add(operationId);
    else memory.set(operationId, value);
    if (memory.size > REMEMBERED) memory.delete(memory.keys().next().value!);
  }

  /** Waits in the worker slot for the operations in the way to finish; true when they did. */
  async function waitInPlace(held: Held): Promise<boolean> {
    if (held.waitingFor.length === 0 || !deps.listener || waitingInPlace >= deps.inPlaceSlots) return false;
    waitingInPlace += 1;
    try {
      return await deps.listener.waitFor(held.waitingFor, IN_PLACE_MS, (ids) => unfinished(deps.db, ids));
    } finally {
      waitingInPlace -= 1;
    }
  }

  /** Sends the job back to the queue, delayed, and shows the publisher what its operation waits for. */
  async function park(job: Job, token: string | undefined, operationId: string, held: Held): Promise<never> {
    const { waitingFor } = held;
    if (waitingFor.length > 0 && shownWaiting.get(operationId) !== waitingFor.join()) {
      await recordWaitingFor(deps.db, operationId, waitingFor);
      shownWaiting.set(operationId, waitingFor.join());
      if (shownWaiting.size > 1_000) shownWaiting.delete(shownWaiting.keys().next().value!);
    }
    if (token === undefined)
      throw new Error(
        `chunk job ${job.id} must wait for ${waitingFor.join(', ') || 'its previous chunk'}, but no worker holds it`,
      );
    const delaysBefore = Math.max(0, job.attemptsStarted - job.attemptsMade - 1);
    await job.moveToDelayed(Date.now() + Math.min(LONGEST_DELAY_MS, FIRST_DELAY_MS * 2 ** delaysBefore), token);
    throw new DelayedError();
  }

  return { gateFor, waitInPlace, park };
}
