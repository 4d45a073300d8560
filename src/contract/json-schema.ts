import { z } from 'zod';
import { operationSchema } from './operation.js';
import { JOBS, QUEUES } from './queues.js';

/**
 * The raw queue contract as JSON Schema, for publishers in other languages. Written to
 * `contract/operation.schema.json` by `npm run contract:json-schema`; a test keeps the file current.
 */
export function operationJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(operationSchema, { target: 'draft-2020-12', io: 'input' }),
    $id: 'https://benefits-worker.local/contract/operation.schema.json',
    title: 'Benefits Management operation',
    description: `Data of a job named "${JOBS.operation}" on the BullMQ queue "${QUEUES.operations}".`,
  };
}
