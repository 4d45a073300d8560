/**
 * What a fault-free run ends with, computed from the published payloads alone: the rules of the
 * README applied one operation at a time, in publication order, one item at a time. Written
 * independently of src/ on purpose, so the reliability tests do not check the service against itself:
 * it takes only the list of kinds from there, so that a kind without rules here does not compile.
 */
import type { OperationKind } from '../../src/kinds/index.js';
import {
  drewOnMasterLately,
  issuePackages,
  type ModelContext,
  type ModelPackage,
  type ModelRecord,
  settleUsage,
} from './ledger-model-usage.js';

export type { ModelLine, ModelPackage, ModelRecord } from './ledger-model-usage.js';

export interface PublishedOperation {
  operationId: string;
  /** The operation as published (HTTP body, producer input or raw job data). */
  payload: Record<string, any>;
}

export interface ModelMember {
  enterpriseId: string | null;
  sharingEnabled: boolean;
}

export interface ModelCoupon {
  enterpriseId: string;
  faceValueCents: number;
  balanceCents: number;
  allocationMode: 'once' | 'multiple';
  validFrom: number;
  validUntil: number;
  products: string[];
  allocationOperationId: string | null;
  /** Spent by members straight from the unallocated balance. */
  spentCents: number;
  /** Order of first issue across the run: "the oldest" in the settlement's coupon order. */
  issueOrder: number;
}

export interface ModelHolding {
  allocatedCents: number;
  revokedCents: number;
  unusedCents: number;
  spentCents: number;
}

export interface ModelCounts {
  applied: number;
  unchanged: number;
  rejected: number;
  rejectedByReason: Record<string, number>;
}

/**
 * A history row as the fault-free run writes it (`sharing_history`, `coupon_history`,
 * `package_history` or `usage_history`; a usage row names the operation that settled its record).
 */
export type ModelHistory =
  | {
      table: 'sharing';
      action: string;
      sharingBefore: boolean | null;
      sharingAfter: boolean | null;
      arrearsRisk: boolean;
    }
  | {
      table: 'coupon';
      couponId: string;
      action: string;
      amountCents: number;
      couponBalanceAfterCents: number;
      memberBalanceAfterCents: number | null;
    }
  | { table: 'package'; packageId: string }
  /** The record settled by `settledBy` (this operation when applied): its lines are in `records`. */
  | { table: 'usage'; recordId: string; memberId: string; settledBy: string };

/** What became of one item: applied or unchanged with its history row, or rejected with a reason. */
export type ModelOutcome =
  | { position: number; key: string; outcome: 'applied' | 'unchanged'; history: ModelHistory | null }
  | { position: number; key: string; outcome: 'rejected'; reason: string };

export interface ModelState {
  /** Every item of every operation, by operation, in batch order. */
  outcomes: Map<string, ModelOutcome[]>;
  members: Map<string, ModelMember>;
  /** share-with-new-members, for enterprises whose switch was set. */
  enterprises: Map<string, boolean>;
  coupons: Map<string, ModelCoupon>;
  /** Keyed `${couponId} ${memberId}`. */
  holdings: Map<string, ModelHolding>;
  packages: Map<string, ModelPackage>;
  /** Settled records keyed `${enterpriseId} ${recordId}`, in settlement order. */
  records: Map<string, ModelRecord>;
  /** Latest `usedAt` of a master-package draw, keyed `${enterpriseId} ${memberId}` (arrears). */
  masterDraws: Map<string, number>;
  /** Coupons and packages issued so far: the next one's issue order. */
  issued: number;
  counts: Map<string, ModelCounts>;
}

export interface ModelOptions {
  /** ARREARS_LOOKBACK_DAYS of the service under test. */
  arrearsLookbackDays?: number;
}

/** The items of an operation and the key each is identified by: member, coupon issued, package or record. */
export function itemKeys(payload: Record<string, any>): string[] {
  const kind = payload.kind as OperationKind;
  switch (kind) {
    case 'members.associate':
    case 'members.dissociate':
    case 'sharing.set':
      return payload.memberIds as string[];
    case 'coupons.issue':
      return (payload.coupons as Array<{ couponId: string }>).map((c) => c.couponId);
    case 'coupons.allocate':
      return (payload.allocations as Array<{ memberId: string }>).map((a) => a.memberId);
    case 'coupons.revoke':
      return (payload.revocations as Array<{ memberId: string }>).map((r) => r.memberId);
    case 'sharing.set-default':
      return [];
    case 'packages.issue':
      return (payload.packages as Array<{ packageId: string }>).map((p) => p.packageId);
    case 'usage.settle':
      return (payload.records as Array<{ recordId: string }>).map((r) => r.recordId);
    default:
      return unmodelled(kind);
  }
}

/** Every kind of the registry has a case above: a kind added without one does not compile. */
function unmodelled(kind: never): never {
  throw new Error(`the ledger model has no rules for kind ${String(kind)}`);
}

export function cents(amount: string): number {
  const [whole = '0', fraction = ''] = amount.split('.');
  return Number(whole) * 100 + Number(fraction.padEnd(2, '0'));
}

/** Applies `operations` (already in publication order) to an empty world. */
export function modelFaultFree(
  operations: readonly PublishedOperation[],
  now = Date.now(),
  { arrearsLookbackDays = 30 }: ModelOptions = {},
): ModelState {
  const state: ModelState = {
    outcomes: new Map(),
    members: new Map(),
    enterprises: new Map(),
    coupons: new Map(),
    holdings: new Map(),
    packages: new Map(),
    records: new Map(),
    masterDraws: new Map(),
    issued: 0,
    counts: new Map(),
  };
  for (const { operationId, payload } of operations) {
    const counts: ModelCounts = { applied: 0, unchanged: 0, rejected: 0, rejectedByReason: {} };
    const outcomes: ModelOutcome[] = [];
    state.outcomes.set(operationId, outcomes);
    // The item the rules are looking at: each of `reject`, `applied` and `unchanged` settles it.
    let current = { position: 0, key: '' };
    const reject = (reason: string) => {
      counts.rejected += 1;
      counts.rejectedByReason[reason] = (counts.rejectedByReason[reason] ?? 0) + 1;
      outcomes.push({ ...current, outcome: 'rejected', reason });
    };
    const settle = (outcome: 'applied' | 'unchanged', history: ModelHistory | null) => {
      counts[outcome] += 1;
      outcomes.push({ ...current, outcome, history });
    };
    const sharingRow = (
      action: string,
      sharingBefore: boolean | null,
      sharingAfter: boolean | null,
      arrearsRisk = false,
    ): ModelHistory => ({
      table: 'sharing',
      action,
      sharingBefore,
      sharingAfter,
      arrearsRisk,
    });
    const enterpriseId = payload.enterpriseId as string;
    const isMember = (memberId: string) => state.members.get(memberId)?.enterpriseId === enterpriseId;
    const seen = new Set<string>();
    // Every item after the first of the same key is a duplicate; the first one gets the rule.
    const eachUnique = <T>(items: T[], key: (item: T) => string, apply: (item: T) => void) => {
      items.forEach((item, position) => {
        current = { position, key: key(item) };
        if (seen.has(key(item))) reject('duplicate_item');
        else {
          seen.add(key(item));
          apply(item);
        }
      });
    };
    const ledgerRow = (
      action: string,
      amountCents: number,
      couponAfter: number,
      memberAfter: number,
    ): ModelHistory => ({
      table: 'coupon',
      couponId: payload.couponId as string,
      action,
      amountCents,
      couponBalanceAfterCents: couponAfter,
      memberBalanceAfterCents: memberAfter,
    });
    const context = (): ModelContext => ({
      state,
      operationId,
      enterpriseId,
      isMember,
      eachUnique,
      reject,
      settle,
    });
    const kind = payload.kind as OperationKind;
    switch (kind) {
      case 'members.associate':
        eachUnique(payload.memberIds as string[], String, (memberId) => {
          const member = state.members.get(memberId);
          if (member?.enterpriseId && member.enterpriseId !== enterpriseId) reject('associated_elsewhere');
          else if (member?.enterpriseId === enterpriseId)
            settle('unchanged', sharingRow('associate', member.sharingEnabled, member.sharingEnabled));
          else {
            const sharingEnabled = state.enterprises.get(enterpriseId) ?? false;
            state.members.set(memberId, { enterpriseId, sharingEnabled });
            settle('applied', sharingRow('associate', null, sharingEnabled));
          }
        });
        break;
      case 'members.dissociate':
        eachUnique(payload.memberIds as string[], String, (memberId) => {
          if (!isMember(memberId)) return reject('not_a_member');
          const before = state.members.get(memberId)!.sharingEnabled;
          state.members.set(memberId, { enterpriseId: null, sharingEnabled: false });
          settle('applied', sharingRow('dissociate', before, null));
        });
        break;
      case 'sharing.set':
        eachUnique(payload.memberIds as string[], String, (memberId) => {
          if (!isMember(memberId)) return reject('not_a_member');
          const member = state.members.get(memberId)!;
          const outcome = member.sharingEnabled === payload.enabled ? 'unchanged' : 'applied';
          // Disabling a member that drew on the master's packages lately may leave it in arrears.
          const arrearsRisk =
            outcome === 'applied' &&
            !payload.enabled &&
            drewOnMasterLately(state, enterpriseId, memberId, now, arrearsLookbackDays);
          const action = payload.enabled ? 'enable' : 'disable';
          settle(outcome, sharingRow(action, member.sharingEnabled, payload.enabled, arrearsRisk));
          member.sharingEnabled = payload.enabled as boolean;
        });
        break;
      case 'sharing.set-default':
        current = { position: 0, key: enterpriseId };
        settle(
          (state.enterprises.get(enterpriseId) ?? false) === payload.shareWithNewMembers ? 'unchanged' : 'applied',
          null,
        );
        state.enterprises.set(enterpriseId, payload.shareWithNewMembers as boolean);
        break;
      case 'coupons.issue':
        eachUnique(
          payload.coupons as any[],
          (c) => c.couponId,
          (c) => {
            const terms = {
              enterpriseId,
              faceValueCents: cents(c.faceValue),
              allocationMode: c.allocationMode,
              validFrom: Date.parse(c.validFrom),
              validUntil: Date.parse(c.validUntil),
              products: c.products as string[],
            };
            const existing = state.coupons.get(c.couponId);
            const issueRow = (amountCents: number, couponBalanceAfterCents: number): ModelHistory => ({
              table: 'coupon',
              couponId: c.couponId,
              action: 'issue',
              amountCents,
              couponBalanceAfterCents,
              memberBalanceAfterCents: null,
            });
            if (!existing) {
              state.coupons.set(c.couponId, {
                ...terms,
                balanceCents: terms.faceValueCents,
                allocationOperationId: null,
                spentCents: 0,
                issueOrder: (state.issued += 1),
              });
              settle('applied', issueRow(terms.faceValueCents, terms.faceValueCents));
            } else if (
              existing.enterpriseId === enterpriseId &&
              existing.faceValueCents === terms.faceValueCents &&
              existing.allocationMode === terms.allocationMode &&
              existing.validFrom === terms.validFrom &&
              existing.validUntil === terms.validUntil &&
              existing.products.join('\n') === terms.products.join('\n')
            ) {
              settle('unchanged', issueRow(0, existing.balanceCents));
            } else reject('coupon_exists');
          },
        );
        break;
      case 'coupons.allocate': {
        const coupon = state.coupons.get(payload.couponId);
        let problem: string | null = null;
        if (!coupon || coupon.enterpriseId !== enterpriseId) problem = 'unknown_coupon';
        else if (now < coupon.validFrom) problem = 'coupon_not_yet_valid';
        else if (now > coupon.validUntil) problem = 'coupon_expired';
        else if (
          coupon.allocationMode === 'once' &&
          coupon.allocationOperationId &&
          coupon.allocationOperationId !== operationId
        ) {
          problem = 'coupon_not_allocatable';
        }
        if (!problem && coupon!.allocationMode === 'once') coupon!.allocationOperationId = operationId;
        eachUnique(
          payload.allocations as any[],
          (a) => a.memberId,
          (a) => {
            if (problem) return reject(problem);
            const amount = cents(a.amount);
            if (!isMember(a.memberId)) return reject('not_a_member');
            if (amount > coupon!.balanceCents) return reject('insufficient_balance');
            const key = `${payload.couponId} ${a.memberId}`;
            const holding = state.holdings.get(key) ?? {
              allocatedCents: 0,
              revokedCents: 0,
              unusedCents: 0,
              spentCents: 0,
            };
            holding.allocatedCents += amount;
            holding.unusedCents += amount;
            state.holdings.set(key, holding);
            coupon!.balanceCents -= amount;
            settle('applied', ledgerRow('allocate', amount, coupon!.balanceCents, holding.unusedCents));
          },
        );
        break;
      }
      case 'coupons.revoke': {
        const coupon = state.coupons.get(payload.couponId);
        const known = coupon !== undefined && coupon.enterpriseId === enterpriseId;
        eachUnique(
          payload.revocations as any[],
          (r) => r.memberId,
          (r) => {
            if (!known) return reject('unknown_coupon');
            const holding = state.holdings.get(`${payload.couponId} ${r.memberId}`);
            if (!holding && !isMember(r.memberId)) return reject('not_a_member');
            if (!holding || holding.unusedCents === 0) return reject('nothing_to_revoke');
            const amount = r.amount === undefined ? holding.unusedCents : cents(r.amount);
            if (amount > holding.unusedCents) return reject('amount_exceeds_recoverable');
            holding.unusedCents -= amount;
            holding.revokedCents += amount;
            coupon!.balanceCents += amount;
            settle('applied', ledgerRow('revoke', amount, coupon!.balanceCents, holding.unusedCents));
          },
        );
        break;
      }
      case 'packages.issue':
        issuePackages(context(), payload.packages as any[]);
        break;
      case 'usage.settle':
        settleUsage(context(), payload.records as any[]);
        break;
      default:
        unmodelled(kind);
    }
    state.counts.set(operationId, counts);
  }
  return state;
}
