import { z } from 'zod';
import { AMOUNT_PATTERN } from '../domain/coupons/money.js';
import { MAX_CHUNKS_PER_JOB } from '../domain/operations/chunk-plan.js';

/**
 * The publishing contract: queue names, job names and payload schemas. A system with only a
 * BullMQ client adds a job named `operation` to `benefits-operations` with a payload that
 * matches `operationSchema`; everything else here is internal to the service.
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
export const couponIdSchema = idSchema('couponId');
const productIdSchema = idSchema('product');

/** A decimal string with at most two fraction digits, greater than zero: "12.50". */
export const amountSchema = z
  .string()
  .regex(AMOUNT_PATTERN, 'amount must be a decimal string with at most two fraction digits, e.g. "12.50"')
  .refine((value) => /[1-9]/.test(value), 'amount must be greater than zero');

const timestampSchema = z.iso.datetime({ offset: true });

const memberIds = z.array(memberIdSchema).min(1);

const base = { operationId: operationIdSchema.optional(), enterpriseId: enterpriseIdSchema };

export const membersAssociateSchema = z.strictObject({ ...base, kind: z.literal('members.associate'), memberIds });
export const membersDissociateSchema = z.strictObject({ ...base, kind: z.literal('members.dissociate'), memberIds });
export const sharingSetDefaultSchema = z.strictObject({
  ...base,
  kind: z.literal('sharing.set-default'),
  shareWithNewMembers: z.boolean(),
});
export const sharingSetSchema = z.strictObject({
  ...base,
  kind: z.literal('sharing.set'),
  enabled: z.boolean(),
  memberIds,
});

export const couponSpecSchema = z
  .strictObject({
    couponId: couponIdSchema,
    faceValue: amountSchema,
    allocationMode: z.enum(['once', 'multiple']),
    validFrom: timestampSchema,
    validUntil: timestampSchema,
    products: z.array(productIdSchema).min(1).max(100),
  })
  .refine((c) => Date.parse(c.validUntil) > Date.parse(c.validFrom), {
    path: ['validUntil'],
    message: 'validUntil must be later than validFrom',
  });
export type CouponSpec = z.infer<typeof couponSpecSchema>;

export const allocationItemSchema = z.strictObject({ memberId: memberIdSchema, amount: amountSchema });
export type AllocationItem = z.infer<typeof allocationItemSchema>;
export const revocationItemSchema = z.strictObject({ memberId: memberIdSchema, amount: amountSchema.optional() });
export type RevocationItem = z.infer<typeof revocationItemSchema>;

export const couponsIssueSchema = z.strictObject({
  ...base,
  kind: z.literal('coupons.issue'),
  coupons: z.array(couponSpecSchema).min(1),
});
export const couponsAllocateSchema = z.strictObject({
  ...base,
  kind: z.literal('coupons.allocate'),
  couponId: couponIdSchema,
  allocations: z.array(allocationItemSchema).min(1),
});
export const couponsRevokeSchema = z.strictObject({
  ...base,
  kind: z.literal('coupons.revoke'),
  couponId: couponIdSchema,
  revocations: z.array(revocationItemSchema).min(1),
});

export const operationSchema = z.discriminatedUnion('kind', [
  membersAssociateSchema,
  membersDissociateSchema,
  sharingSetDefaultSchema,
  sharingSetSchema,
  couponsIssueSchema,
  couponsAllocateSchema,
  couponsRevokeSchema,
]);

/** The field holding each kind's batch; the enterprise switch has none and is one item. */
export const ITEMS_FIELD = {
  'members.associate': 'memberIds',
  'members.dissociate': 'memberIds',
  'sharing.set-default': null,
  'sharing.set': 'memberIds',
  'coupons.issue': 'coupons',
  'coupons.allocate': 'allocations',
  'coupons.revoke': 'revocations',
} as const satisfies Record<z.output<typeof operationSchema>['kind'], string | null>;

export type OperationInput = z.input<typeof operationSchema>;
export type Operation = z.output<typeof operationSchema>;
export type OperationKind = Operation['kind'];
export const OPERATION_KINDS = operationSchema.options.map((o) => o.shape.kind.value) as OperationKind[];

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
  /** Member ids, coupons, allocations or revocations by kind; each applier parses its own. */
  items: z.array(z.unknown()).max(CHUNK_SIZE * MAX_CHUNKS_PER_JOB),
  /** Positions of the items that repeat the key of an earlier item of the batch (`duplicate_item`). */
  repeats: z
    .array(z.number().int().min(0))
    .max(CHUNK_SIZE * MAX_CHUNKS_PER_JOB)
    .optional(),
});
export type ChunkJob = z.infer<typeof chunkJobSchema>;

export const OPERATION_STATUSES = [
  'queued',
  'running',
  'completed',
  'completed_with_rejections',
  'rejected',
  'failed',
  'cancelled',
] as const;
export type OperationStatus = (typeof OPERATION_STATUSES)[number];

export const REJECTION_REASONS = [
  'not_a_member',
  'duplicate_item',
  'associated_elsewhere',
  'unknown_coupon',
  'coupon_exists',
  'coupon_expired',
  'coupon_not_yet_valid',
  'coupon_not_allocatable',
  'insufficient_balance',
  'nothing_to_revoke',
  'amount_exceeds_recoverable',
] as const;
export type RejectionReason = (typeof REJECTION_REASONS)[number];
