/**
 * The settlement rules of issue 20 as the bench's hand-written reference applies them, written
 * apart from `src/kinds/usage` (an oracle shares no code with what it checks): the bench plans its
 * data with them, and the reference decides each chunk with them from the rows it read.
 * Quantities in millionths, money in cents, times in epoch milliseconds.
 */

export interface PackageState {
  packageId: string;
  /** Null: the master's package. */
  owner: string | null;
  product: string;
  from: number;
  until: number;
  /** Issue order: only its order matters. */
  seq: number;
  remaining: number;
}

/** A member's unused allocation of a coupon (`member` set) or the coupon's unallocated balance. */
export interface CouponState {
  couponId: string;
  member: string | null;
  products: readonly string[];
  from: number;
  until: number;
  seq: number;
  unused: number;
}

export interface RecordToSettle {
  recordId: string;
  memberId: string;
  product: string;
  quantity: number;
  amount: number;
  usedAt: number;
}

export type Source = 'own_package' | 'master_package' | 'member_coupon' | 'master_coupon' | 'payg';

export interface Line {
  source: Source;
  benefitId: string | null;
  quantity: number | null;
  amount: number | null;
}

export interface Settled {
  record: RecordToSettle;
  lines: Line[];
  covered: number;
  uncovered: number;
  priced: number;
  coupon: number;
  payg: number;
}

const validAt = (pot: { from: number; until: number }, at: number) => pot.from <= at && at < pot.until;

/** `amount × part ÷ quantity` rounded half-up to the cent, in integers. */
export function priceOf(amount: number, part: number, quantity: number): number {
  const twice = 2n * BigInt(amount) * BigInt(part);
  const q = BigInt(quantity);
  return Number((twice + q) / (2n * q));
}

/**
 * What a chunk (or, when planning, a whole enterprise's usage) may draw on, indexed for the
 * rules: each package tier sorted once (its order never changes), the coupon pots by holder.
 * `touched` collects every package and pot drawn on, for the writes.
 */
export class DrawState {
  readonly #tiers = new Map<string, PackageState[]>();
  readonly #coupons = new Map<string, CouponState[]>();
  readonly touchedPackages = new Set<PackageState>();
  readonly touchedCoupons = new Set<CouponState>();

  constructor(packages: Iterable<PackageState>, coupons: Iterable<CouponState>) {
    for (const p of packages) push(this.#tiers, `${p.owner ?? ''}/${p.product}`, p);
    for (const tier of this.#tiers.values()) tier.sort((a, b) => a.until - b.until || a.from - b.from || a.seq - b.seq);
    for (const c of coupons) push(this.#coupons, c.member ?? '', c);
  }

  /**
   * One record, in the order: own packages, the master's when sharing is on (each tier by
   * soonest end, earliest start, first issued), the rest priced half-up and paid from the member's
   * coupons, then the master's balances (soonest end, smallest unused now, oldest), then payg.
   */
  settle(record: RecordToSettle, sharing: boolean): Settled {
    const lines: Line[] = [];
    let need = record.quantity;
    const tiers: [Source, string][] = [['own_package', `${record.memberId}/${record.product}`]];
    if (sharing) tiers.push(['master_package', `/${record.product}`]);
    for (const [source, key] of tiers) {
      for (const pot of this.#tiers.get(key) ?? []) {
        if (need === 0) break;
        if (pot.remaining === 0 || !validAt(pot, record.usedAt)) continue;
        const drawn = Math.min(pot.remaining, need);
        pot.remaining -= drawn;
        need -= drawn;
        this.touchedPackages.add(pot);
        lines.push({ source, benefitId: pot.packageId, quantity: drawn, amount: null });
      }
    }
    const priced = priceOf(record.amount, need, record.quantity);
    let owed = priced;
    for (const [source, holder] of [
      ['member_coupon', record.memberId],
      ['master_coupon', ''],
    ] as const) {
      if (owed === 0) break;
      const usable = (this.#coupons.get(holder) ?? []).filter(
        (c) => c.unused > 0 && validAt(c, record.usedAt) && c.products.includes(record.product),
      );
      usable.sort((a, b) => a.until - b.until || a.unused - b.unused || a.seq - b.seq);
      for (const pot of usable) {
        if (owed === 0) break;
        const paid = Math.min(pot.unused, owed);
        pot.unused -= paid;
        owed -= paid;
        this.touchedCoupons.add(pot);
        lines.push({ source, benefitId: pot.couponId, quantity: null, amount: paid });
      }
    }
    if (owed > 0) lines.push({ source: 'payg', benefitId: null, quantity: null, amount: owed });
    const covered = record.quantity - need;
    return { record, lines, covered, uncovered: need, priced, coupon: priced - owed, payg: owed };
  }
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
