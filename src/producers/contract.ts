import { z } from 'zod';

/**
 * The publishing contract: queue names, job names and payload schemas. A system with only a
 * BullMQ client adds a job named `operation` to `benefits-operations` with a payload that
 * matches `operationSchema`; everything else here is internal to the service.
 */
export const QUEUES = {
  operations: 'benefits-operations',
  chunks: 'benefits-chunks',
} as const;

export const JOBS = {
  operation: 'operation',
  chunk: 'chunk',
} as const;

export const CHUNK_SIZE = 100;

// Ids end up in BullMQ job ids (no ':') and in logs and URLs: a conservative alphabet keeps
// SQL and script fragments out of the domain tables before they get there.
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@-]*$/;
const idSchema = (what: string) =>
  z
    .string()
    .min(1)
    .max(128)
    .regex(ID_PATTERN, `${what} may contain only letters, digits and . _ @ - and must start with a letter or digit`);

export const operationIdSchema = idSchema('operationId');
export const enterpriseIdSchema = idSchema('enterpriseId');
export const memberIdSchema = idSchema('memberId');

const memberIds = z.array(memberIdSchema).min(1);

const base = { operationId: operationIdSchema.optional(), enterpriseId: enterpriseIdSchema };

export const membersAssociateSchema = z.strictObject({ ...base, kind: z.literal('members.associate'), memberIds });
export const membersDissociateSchema = z.strictObject({ ...base, kind: z.literal('members.dissociate'), memberIds });
export const sharingSetDefaultSchema = z.strictObject({
  ...base,
  kind: z.literal('sharing.set-default'),
  shareWithNewMembers: z.boolean(),
});
export const sharingSetSchema = z.strictObject({ ...base, kind: z.literal('sharing.set'), enabled: z.boolean(), memberIds });

export const operationSchema = z.discriminatedUnion('kind', [
  membersAssociateSchema,
  membersDissociateSchema,
  sharingSetDefaultSchema,
  sharingSetSchema,
]);

export type OperationInput = z.input<typeof operationSchema>;
export type Operation = z.output<typeof operationSchema>;
export type OperationKind = Operation['kind'];
export const OPERATION_KINDS = operationSchema.options.map((o) => o.shape.kind.value) as OperationKind[];

/** Internal: one chunk of at most CHUNK_SIZE items, carrying its own slice of the batch only. */
export const chunkJobSchema = z.strictObject({
  operationId: operationIdSchema,
  chunkIndex: z.number().int().min(0),
  /** Position of the chunk's first item in the batch; rejections are keyed by position. */
  offset: z.number().int().min(0),
  items: z.array(memberIdSchema).max(CHUNK_SIZE),
});
export type ChunkJob = z.infer<typeof chunkJobSchema>;

export const OPERATION_STATUSES = [
  'queued',
  'running',
  'completed',
  'completed_with_rejections',
  'rejected',
  'failed',
] as const;
export type OperationStatus = (typeof OPERATION_STATUSES)[number];

export const REJECTION_REASONS = ['not_a_member', 'duplicate_item', 'associated_elsewhere'] as const;
export type RejectionReason = (typeof REJECTION_REASONS)[number];
