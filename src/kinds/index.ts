import type { z } from 'zod';
import type { KindSpec } from './kind.js';
import { couponsAllocate } from './coupons/allocate.kind.js';
import { couponsIssue } from './coupons/issue.kind.js';
import { couponsRevoke } from './coupons/revoke.kind.js';
import { membersAssociate } from './members/associate.kind.js';
import { membersDissociate } from './members/dissociate.kind.js';
import { packagesIssue } from './packages/issue.kind.js';
import { sharingSetDefault } from './sharing/set-default.kind.js';
import { sharingSet } from './sharing/sharing-set.kind.js';
import { usageSettle } from './usage/settle.kind.js';

/**
 * Every operation kind, once: the contract's union and JSON Schema, the workers' dispatch, the
 * CLI's file formats and the HTTP validation are all derived from this list.
 */
export const KINDS = [
  membersAssociate,
  membersDissociate,
  sharingSetDefault,
  sharingSet,
  couponsIssue,
  couponsAllocate,
  couponsRevoke,
  packagesIssue,
  usageSettle,
] as const;

export type OperationKind = (typeof KINDS)[number]['kind'];

/** A kind's spec where its item type does not matter: items are checked by its schema. */
export type AnyKindSpec = KindSpec<OperationKind, z.ZodObject, unknown>;

const byKind = new Map<string, AnyKindSpec>(KINDS.map((spec) => [spec.kind, spec]));

/** The spec of a kind by its name; undefined for a name no kind has (a raw job's, a stored operation's). */
export function kindSpec(kind: string): AnyKindSpec | undefined {
  return byKind.get(kind);
}

export const OPERATION_KINDS = KINDS.map((spec) => spec.kind) as OperationKind[];
