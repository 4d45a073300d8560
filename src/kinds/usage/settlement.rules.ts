import { pricePart } from '../../domain/money.js';
import { type OutcomeCounts, type Rejection, separateDuplicates } from '../../domain/outcomes.js';

/** A usage record as settlement takes it: quantities in millionths, money in cents. */
export interface UsageItem {
  recordId: string;
  memberId: string;
  product: string;
  quantityMicros: number;
  amountCents: number;
  usedAt: Date;
}

/** A package that may cover usage. `ownerMemberId` null: the master's. */
export interface PackagePot {
  packageId: string;
  ownerMemberId: string | null;
  product: string;
  validFrom: Date;
  validUntil: Date;
  issuedSeq: number;
  remainingMicros: number;
}

/** Money a record may be paid from: a member's unused allocation of a coupon, or (member null) its unallocated balance. */
export interface CouponPot {
  couponId: string;
  memberId: string | null;
  products: readonly string[];
  validFrom: Date;
  validUntil: Date;
  issuedSeq: number;
  unusedCents: number;
}

export type LineSource = 'own_package' | 'master_package' | 'member_coupon' | 'master_coupon' | 'payg';

export interface SettlementLine {
  source: LineSource;
  /** The package or coupon drawn on; null for pay-as-you-go. */
  benefitId: string | null;
  quantityMicros: number | null;
  amountCents: number | null;
}

export interface Settlement extends UsageItem {
  position: number;
  lines: SettlementLine[];
  coveredMicros: number;
  uncoveredMicros: number;
  pricedCents: number;
  couponCents: number;
  paygCents: number;
}

export interface SettledRecord {
  memberId: string;
  product: string;
  quantityMicros: number;
  amountCents: number;
  usedAt: Date;
}

export interface SettlementState {
  /** Records of the chunk already settled, by record id (by this or any operation). */
  settled: ReadonlyMap<string, SettledRecord>;
  /** The members named, associated with the enterprise, and whether their sharing is on. */
  members: ReadonlyMap<string, { sharingEnabled: boolean }>;
  packages: readonly PackagePot[];
  coupons: readonly CouponPot[];
  /** Records this operation already accounted for in another chunk. */
  seenInOperation: ReadonlySet<string>;
  repeats?: ReadonlySet<number>;
}

export interface SettlementDecision {
  settlements: Settlement[];
  /** Records settled before with the same content: a history row, nothing drawn. */
  unchanged: { position: number; recordId: string; memberId: string }[];
  rejections: Rejection[];
  /** Every package drawn on, with what it has left. */
  packages: Map<string, { read: number; remaining: number }>;
  /** Every coupon pot drawn on (`couponKey`), with what it has left. */
  coupons: Map<string, { pot: CouponPot; read: number; unused: number }>;
  counts: OutcomeCounts;
}

export const couponKey = (pot: { couponId: string; memberId: string | null }) =>
  `${pot.couponId}/${pot.memberId ?? ''}`;

const validAt = (pot: { validFrom: Date; validUntil: Date }, at: number) =>
  pot.validFrom.getTime() <= at && at < pot.validUntil.getTime();

/** Within a tier: soonest `validUntil`, then earliest `validFrom`, then first issued. */
export function packageOrder(a: PackagePot, b: PackagePot): number {
  return (
    a.validUntil.getTime() - b.validUntil.getTime() ||
    a.validFrom.getTime() - b.validFrom.getTime() ||
    a.issuedSeq - b.issuedSeq
  );
}

/** Soonest `validUntil`, then the smallest unused balance (as it stands now), then the oldest. */
export function couponOrder(a: CouponPot, b: CouponPot, unused: (pot: CouponPot) => number): number {
  return a.validUntil.getTime() - b.validUntil.getTime() || unused(a) - unused(b) || a.issuedSeq - b.issuedSeq;
}

export const sameRecord = (item: UsageItem, settled: SettledRecord) =>
  item.memberId === settled.memberId &&
  item.product === settled.product &&
  item.quantityMicros === settled.quantityMicros &&
  item.amountCents === settled.amountCents &&
  item.usedAt.getTime() === settled.usedAt.getTime();

/**
 * Settles usage records one by one, in batch order, each drawing on what the ones before it left:
 * 1. the member's own packages for the product valid at `usedAt`, then the master's when the
 *    member's sharing is on (each tier in `packageOrder`; a package never goes below zero);
 * 2. the uncovered part priced `amount × uncovered ÷ quantity`, half-up to the cent (`pricePart`);
 * 3. that money from the member's allocations of coupons for the product valid at `usedAt`, then
 *    from the master's unallocated balances (`couponOrder`);
 * 4. the rest pay-as-you-go.
 * A record settled before is `unchanged` with the same content and `record_conflict` with other;
 * a member not associated with the enterprise is `not_a_member`.
 */
export function decideSettlements(
  items: readonly UsageItem[],
  offset: number,
  state: SettlementState,
): SettlementDecision {
  const { unique, duplicates } = separateDuplicates(
    items.map((i) => i.recordId),
    offset,
    state.seenInOperation,
    state.repeats,
  );
  const rejections: Rejection[] = duplicates.map((d) => ({
    position: d.position,
    memberId: items[d.position - offset]!.memberId,
    recordId: d.memberId!,
    reason: d.reason,
  }));
  const packages = new Map<string, { read: number; remaining: number }>();
  const coupons = new Map<string, { pot: CouponPot; read: number; unused: number }>();
  const remaining = (pot: PackagePot) => packages.get(pot.packageId)?.remaining ?? pot.remainingMicros;
  const unused = (pot: CouponPot) => coupons.get(couponKey(pot))?.unused ?? pot.unusedCents;
  const packageTiers = tiersOf(state.packages, (p) => `${p.ownerMemberId ?? ''}/${p.product}`, packageOrder);
  const couponsByHolder = groupBy(state.coupons, (c) => c.memberId ?? '');

  const settlements: Settlement[] = [];
  const unchanged: SettlementDecision['unchanged'] = [];
  for (const { position } of unique) {
    const item = items[position - offset]!;
    const reject = (reason: Rejection['reason']) =>
      rejections.push({ position, memberId: item.memberId, recordId: item.recordId, reason });
    const settled = state.settled.get(item.recordId);
    if (settled) {
      if (sameRecord(item, settled)) unchanged.push({ position, recordId: item.recordId, memberId: item.memberId });
      else reject('record_conflict');
      continue;
    }
    const member = state.members.get(item.memberId);
    if (!member) {
      reject('not_a_member');
      continue;
    }
    const at = item.usedAt.getTime();
    const lines: SettlementLine[] = [];
    let need = item.quantityMicros;
    const tiers: [LineSource, string][] = [['own_package', `${item.memberId}/${item.product}`]];
    if (member.sharingEnabled) tiers.push(['master_package', `/${item.product}`]);
    for (const [source, tier] of tiers) {
      for (const pot of packageTiers.get(tier) ?? []) {
        if (need === 0) break;
        const left = remaining(pot);
        if (left === 0 || !validAt(pot, at)) continue;
        const drawn = Math.min(left, need);
        need -= drawn;
        packages.set(pot.packageId, { read: pot.remainingMicros, remaining: left - drawn });
        lines.push({ source, benefitId: pot.packageId, quantityMicros: drawn, amountCents: null });
      }
    }
    const pricedCents = pricePart(item.amountCents, need, item.quantityMicros);
    let owed = pricedCents;
    for (const [source, holder] of [
      ['member_coupon', item.memberId],
      ['master_coupon', ''],
    ] as const) {
      if (owed === 0) break;
      const usable = (couponsByHolder.get(holder) ?? []).filter(
        (pot) => unused(pot) > 0 && validAt(pot, at) && pot.products.includes(item.product),
      );
      usable.sort((a, b) => couponOrder(a, b, unused));
      for (const pot of usable) {
        if (owed === 0) break;
        const left = unused(pot);
        const paid = Math.min(left, owed);
        owed -= paid;
        coupons.set(couponKey(pot), { pot, read: pot.unusedCents, unused: left - paid });
        lines.push({ source, benefitId: pot.couponId, quantityMicros: null, amountCents: paid });
      }
    }
    if (owed > 0) lines.push({ source: 'payg', benefitId: null, quantityMicros: null, amountCents: owed });
    settlements.push({
      ...item,
      position,
      lines,
      coveredMicros: item.quantityMicros - need,
      uncoveredMicros: need,
      pricedCents,
      couponCents: pricedCents - owed,
      paygCents: owed,
    });
  }
  rejections.sort((a, b) => a.position - b.position);
  return {
    settlements,
    unchanged,
    rejections,
    packages,
    coupons,
    counts: { applied: settlements.length, unchanged: unchanged.length, superseded: 0, rejected: rejections.length },
  };
}

function groupBy<T>(values: readonly T[], key: (value: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const value of values) {
    const k = key(value);
    const group = groups.get(k);
    if (group) group.push(value);
    else groups.set(k, [value]);
  }
  return groups;
}

function tiersOf<T>(values: readonly T[], key: (value: T) => string, order: (a: T, b: T) => number) {
  const groups = groupBy(values, key);
  for (const group of groups.values()) group.sort(order);
  return groups;
}
