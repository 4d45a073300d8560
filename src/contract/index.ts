/**
 * The publishing contract, one room for the producers, the workers and the HTTP API alike: the
 * queues and jobs, the operation payloads (derived from the kind registry), their ids and amounts.
 */
export * from './ids.js';
export * from './json-schema.js';
export * from './operation.js';
export * from './queues.js';
