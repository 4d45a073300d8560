/**
 * What a fault-free run ends with, computed from the published payloads alone: the rules of the
 * README applied one operation at a time, in publication order, one item at a time. Written
 * independently of src/ on purpose, so the reliability tests do not check the service against itself.
 */

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
}

export interface ModelHolding {
  allocatedCents: number;
  revokedCents: number;
  unusedCents: number;
}

export interface ModelCounts {
  applied: number;
  unchanged: number;
  rejected: number;
  rejectedByReason: Record<string, number>;
}

export interface ModelState {
  members: Map<string, ModelMember>;
  /** share-with-new-members, for enterprises whose switch was set. */
  enterprises: Map<string, boolean>;
  coupons: Map<string, ModelCoupon>;
  /** Keyed `${couponId} ${memberId}`. */
  holdings: Map<string, ModelHolding>;
  counts: Map<string, ModelCounts>;
}

/** The items of an operation and the key each is identified by (member, or coupon when issuing). */
export function itemKeys(payload: Record<string, any>): string[] {
  switch (payload.kind) {
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
    default:
      throw new Error(`unknown kind ${String(payload.kind)}`);
  }
}

export function cents(amount: string): number {
  const [whole = '0', fraction = ''] = amount.split('.');
  return Number(whole) * 100 + Number(fraction.padEnd(2, '0'));
}

/** Applies `operations` (already in publication order) to an empty world. */
export function modelFaultFree(operations: readonly PublishedOperation[], now = Date.now()): ModelState {
  const state: ModelState = {
    members: new Map(),
    enterprises: new Map(),
    coupons: new Map(),
    holdings: new Map(),
    counts: new Map(),
  };
  for (const { operationId, payload } of operations) {
    const counts: ModelCounts = { applied: 0, unchanged: 0, rejected: 0, rejectedByReason: {} };
    const reject = (reason: string) => {
      counts.rejected += 1;
      counts.rejectedByReason[reason] = (counts.rejectedByReason[reason] ?? 0) + 1;
    };
    const enterpriseId = payload.enterpriseId as string;
    const isMember = (memberId: string) => state.members.get(memberId)?.enterpriseId === enterpriseId;
    const seen = new Set<string>();
    // Every item after the first of the same key is a duplicate; the first one gets the rule.
    const eachUnique = <T>(items: T[], key: (item: T) => string, apply: (item: T) => void) => {
      for (const item of items) {
        if (seen.has(key(item))) reject('duplicate_item');
        else {
          seen.add(key(item));
          apply(item);
        }
      }
    };
    switch (payload.kind) {
      case 'members.associate':
        eachUnique(payload.memberIds as string[], String, (memberId) => {
          const current = state.members.get(memberId);
          if (current?.enterpriseId && current.enterpriseId !== enterpriseId) reject('associated_elsewhere');
          else if (current?.enterpriseId === enterpriseId) counts.unchanged += 1;
          else {
            state.members.set(memberId, { enterpriseId, sharingEnabled: state.enterprises.get(enterpriseId) ?? false });
            counts.applied += 1;
          }
        });
        break;
      case 'members.dissociate':
        eachUnique(payload.memberIds as string[], String, (memberId) => {
          if (!isMember(memberId)) return reject('not_a_member');
          state.members.set(memberId, { enterpriseId: null, sharingEnabled: false });
          counts.applied += 1;
        });
        break;
      case 'sharing.set':
        eachUnique(payload.memberIds as string[], String, (memberId) => {
          if (!isMember(memberId)) return reject('not_a_member');
          const member = state.members.get(memberId)!;
          if (member.sharingEnabled === payload.enabled) counts.unchanged += 1;
          else counts.applied += 1;
          member.sharingEnabled = payload.enabled as boolean;
        });
        break;
      case 'sharing.set-default':
        if ((state.enterprises.get(enterpriseId) ?? false) === payload.shareWithNewMembers) counts.unchanged += 1;
        else counts.applied += 1;
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
            if (!existing) {
              state.coupons.set(c.couponId, {
                ...terms,
                balanceCents: terms.faceValueCents,
                allocationOperationId: null,
              });
              counts.applied += 1;
            } else if (
              existing.enterpriseId === enterpriseId &&
              existing.faceValueCents === terms.faceValueCents &&
              existing.allocationMode === terms.allocationMode &&
              existing.validFrom === terms.validFrom &&
              existing.validUntil === terms.validUntil &&
              existing.products.join('\n') === terms.products.join('\n')
            ) {
              counts.unchanged += 1;
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
            const holding = state.holdings.get(key) ?? { allocatedCents: 0, revokedCents: 0, unusedCents: 0 };
            holding.allocatedCents += amount;
            holding.unusedCents += amount;
            state.holdings.set(key, holding);
            coupon!.balanceCents -= amount;
            counts.applied += 1;
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
            counts.applied += 1;
          },
        );
        break;
      }
      default:
        throw new Error(`unknown kind ${String(payload.kind)}`);
    }
    state.counts.set(operationId, counts);
  }
  return state;
}
