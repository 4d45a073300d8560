/**
 * The fault-free model's rules for resource packages and usage settlement, from the text of
 * issue 20 alone (not from src/): loading packages, and settling usage records against own
 * packages, the master's packages, allocated coupons, the master's unallocated coupon balances and
 * pay-as-you-go. Quantities are millionths and money cents, both BigInt-exact where they multiply.
 */
import type { ModelHistory, ModelState } from './ledger-model.js';

export interface ModelPackage {
  enterpriseId: string;
  /** Null: the master's own package, shared with members whose sharing is on. */
  owner: string | null;
  product: string;
  unit: string;
  quantityMicros: bigint;
  remainingMicros: bigint;
  consumedMicros: bigint;
  validFrom: number;
  validUntil: number;
  /** Order of first issue across the whole run (publication order, then batch order). */
  issueOrder: number;
  issuedBy: string;
}

export type ModelLineSource = 'own_package' | 'master_package' | 'member_coupon' | 'master_coupon' | 'payg';

/** One line of a settlement: a package drawn on (quantity), a coupon paid from or pay-as-you-go (amount). */
export interface ModelLine {
  source: ModelLineSource;
  benefitId: string | null;
  quantityMicros: bigint | null;
  amountCents: number | null;
}

export interface ModelRecord {
  enterpriseId: string;
  recordId: string;
  memberId: string;
  product: string;
  quantityMicros: bigint;
  amountCents: number;
  usedAt: number;
  coveredMicros: bigint;
  uncoveredMicros: bigint;
  pricedCents: number;
  couponCents: number;
  paygCents: number;
  settledBy: string;
  lines: ModelLine[];
}

/** What the per-kind rules need from the operation being applied (see `modelFaultFree`). */
export interface ModelContext {
  state: ModelState;
  operationId: string;
  enterpriseId: string;
  isMember(memberId: string): boolean;
  eachUnique<T>(items: T[], key: (item: T) => string, apply: (item: T) => void): void;
  reject(reason: string): void;
  settle(outcome: 'applied' | 'unchanged', history: ModelHistory | null): void;
}

const MICROS = 1_000_000n;
const DAY_MS = 86_400_000;

/** "1.5" → 1_500_000n: a decimal string with at most six fraction digits, in millionths. */
export function micros(quantity: string): bigint {
  const [whole = '0', fraction = ''] = quantity.split('.');
  return BigInt(whole) * MICROS + BigInt(fraction.padEnd(6, '0'));
}

function cents(amount: string): number {
  const [whole = '0', fraction = ''] = amount.split('.');
  return Number(whole) * 100 + Number(fraction.padEnd(2, '0'));
}

/** `amount × part ÷ whole` rounded half-up to the cent: ⌊(2·amount·part + whole) ÷ 2·whole⌋. */
export function priceHalfUp(amountCents: number, partMicros: bigint, wholeMicros: bigint): number {
  return Number((2n * BigInt(amountCents) * partMicros + wholeMicros) / (2n * wholeMicros));
}

const recordKey = (enterpriseId: string, recordId: string) => `${enterpriseId} ${recordId}`;
const validAt = (window: { validFrom: number; validUntil: number }, at: number) =>
  window.validFrom <= at && at < window.validUntil;

/** packages.issue: same id and same terms → unchanged; the id otherwise taken → package_exists. */
export function issuePackages(ctx: ModelContext, packages: any[]): void {
  const { state, enterpriseId } = ctx;
  ctx.eachUnique(
    packages,
    (p) => p.packageId as string,
    (p) => {
      const terms = {
        owner: p.owner === 'master' ? null : (p.owner as string),
        product: p.product as string,
        unit: p.unit as string,
        quantityMicros: micros(p.quantity),
        validFrom: Date.parse(p.validFrom),
        validUntil: Date.parse(p.validUntil),
      };
      const existing = state.packages.get(p.packageId);
      const row: ModelHistory = { table: 'package', packageId: p.packageId };
      if (existing) {
        const same =
          existing.enterpriseId === enterpriseId &&
          existing.owner === terms.owner &&
          existing.product === terms.product &&
          existing.unit === terms.unit &&
          existing.quantityMicros === terms.quantityMicros &&
          existing.validFrom === terms.validFrom &&
          existing.validUntil === terms.validUntil;
        return same ? ctx.settle('unchanged', row) : ctx.reject('package_exists');
      }
      if (terms.owner !== null && !ctx.isMember(terms.owner)) return ctx.reject('not_a_member');
      state.packages.set(p.packageId, {
        ...terms,
        enterpriseId,
        remainingMicros: terms.quantityMicros,
        consumedMicros: 0n,
        issueOrder: (state.issued += 1),
        issuedBy: ctx.operationId,
      });
      ctx.settle('applied', row);
    },
  );
}

/** usage.settle: each record once, in batch order, each drawing on what the ones before it left. */
export function settleUsage(ctx: ModelContext, records: any[]): void {
  const { state, enterpriseId } = ctx;
  ctx.eachUnique(
    records,
    (r) => r.recordId as string,
    (r) => {
      const item = {
        memberId: r.memberId as string,
        product: r.product as string,
        quantityMicros: micros(r.quantity),
        amountCents: cents(r.amount),
        usedAt: Date.parse(r.usedAt),
      };
      const existing = state.records.get(recordKey(enterpriseId, r.recordId));
      if (existing) {
        const same =
          existing.memberId === item.memberId &&
          existing.product === item.product &&
          existing.quantityMicros === item.quantityMicros &&
          existing.amountCents === item.amountCents &&
          existing.usedAt === item.usedAt;
        if (!same) return ctx.reject('record_conflict');
        return ctx.settle('unchanged', usageRow(existing));
      }
      if (!ctx.isMember(item.memberId)) return ctx.reject('not_a_member');
      const record = settleOne(state, { ...item, enterpriseId, recordId: r.recordId, settledBy: ctx.operationId });
      state.records.set(recordKey(enterpriseId, r.recordId), record);
      ctx.settle('applied', usageRow(record));
    },
  );
}

const usageRow = (record: ModelRecord): ModelHistory => ({
  table: 'usage',
  recordId: record.recordId,
  memberId: record.memberId,
  settledBy: record.settledBy,
});

type NewRecord = Pick<
  ModelRecord,
  'enterpriseId' | 'recordId' | 'memberId' | 'product' | 'quantityMicros' | 'amountCents' | 'usedAt' | 'settledBy'
>;

function settleOne(state: ModelState, item: NewRecord): ModelRecord {
  const lines: ModelLine[] = [];
  const sharing = state.members.get(item.memberId)!.sharingEnabled;
  let need = item.quantityMicros;
  // 1–2. Own packages, then the master's when sharing is on; soonest expiry, earliest start, first issued.
  const tiers: [ModelLineSource, string | null][] = [['own_package', item.memberId]];
  if (sharing) tiers.push(['master_package', null]);
  for (const [source, owner] of tiers) {
    const usable = [...state.packages.entries()]
      .filter(
        ([, p]) =>
          p.enterpriseId === item.enterpriseId &&
          p.owner === owner &&
          p.product === item.product &&
          p.remainingMicros > 0n &&
          validAt(p, item.usedAt),
      )
      .sort(([, a], [, b]) => a.validUntil - b.validUntil || a.validFrom - b.validFrom || a.issueOrder - b.issueOrder);
    for (const [packageId, p] of usable) {
      if (need === 0n) break;
      const drawn = p.remainingMicros < need ? p.remainingMicros : need;
      p.remainingMicros -= drawn;
      p.consumedMicros += drawn;
      need -= drawn;
      lines.push({ source, benefitId: packageId, quantityMicros: drawn, amountCents: null });
      if (source === 'master_package') {
        const key = `${item.enterpriseId} ${item.memberId}`;
        state.masterDraws.set(key, Math.max(state.masterDraws.get(key) ?? -Infinity, item.usedAt));
      }
    }
  }
  // 3. The uncovered part, priced pro rata, half-up to the cent.
  const pricedCents = priceHalfUp(item.amountCents, need, item.quantityMicros);
  let owed = pricedCents;
  // 4–5. The member's allocations, then the master's unallocated balances: soonest expiry, then the
  // smallest unused balance as it stands now, then the coupon issued first.
  const coupons = [...state.coupons.entries()].filter(
    ([, c]) => c.enterpriseId === item.enterpriseId && c.products.includes(item.product) && validAt(c, item.usedAt),
  );
  const pots: [ModelLineSource, { couponId: string; issueOrder: number; validUntil: number; pot: Pot }[]][] = [
    [
      'member_coupon',
      coupons.flatMap(([couponId, c]) => {
        const holding = state.holdings.get(`${couponId} ${item.memberId}`);
        if (!holding) return [];
        const pot: Pot = {
          get unused() {
            return holding.unusedCents;
          },
          spend(n) {
            holding.unusedCents -= n;
            holding.spentCents += n;
          },
        };
        return [{ couponId, issueOrder: c.issueOrder, validUntil: c.validUntil, pot }];
      }),
    ],
    [
      'master_coupon',
      coupons.map(([couponId, c]) => ({
        couponId,
        issueOrder: c.issueOrder,
        validUntil: c.validUntil,
        pot: {
          get unused() {
            return c.balanceCents;
          },
          spend(n: number) {
            c.balanceCents -= n;
            c.spentCents += n;
          },
        },
      })),
    ],
  ];
  for (const [source, candidates] of pots) {
    const usable = candidates
      .filter((c) => c.pot.unused > 0)
      .sort((a, b) => a.validUntil - b.validUntil || a.pot.unused - b.pot.unused || a.issueOrder - b.issueOrder);
    for (const { couponId, pot } of usable) {
      if (owed === 0) break;
      const paid = Math.min(pot.unused, owed);
      pot.spend(paid);
      owed -= paid;
      lines.push({ source, benefitId: couponId, quantityMicros: null, amountCents: paid });
    }
  }
  // 6. The rest: pay-as-you-go.
  if (owed > 0) lines.push({ source: 'payg', benefitId: null, quantityMicros: null, amountCents: owed });
  return {
    ...item,
    coveredMicros: item.quantityMicros - need,
    uncoveredMicros: need,
    pricedCents,
    couponCents: pricedCents - owed,
    paygCents: owed,
    lines,
  };
}

interface Pot {
  readonly unused: number;
  spend(cents: number): void;
}

/**
 * Whether disabling `memberId`'s sharing now may leave it in arrears: it drew on the master's
 * packages for usage at or after `lookbackDays` days before `now`.
 */
export function drewOnMasterLately(
  state: ModelState,
  enterpriseId: string,
  memberId: string,
  now: number,
  lookbackDays: number,
): boolean {
  const last = state.masterDraws.get(`${enterpriseId} ${memberId}`);
  return last !== undefined && last >= now - lookbackDays * DAY_MS;
}
