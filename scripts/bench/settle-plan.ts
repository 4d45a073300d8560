import { type CouponState, DrawState, type PackageState, type RecordToSettle, type Settled } from './settle-rules.js';

/**
 * The data of the settlement bench (issue 20, "Speed on hot rows"): usage records of a few
 * enterprises' members, every chunk of an enterprise drawing on the same 20 master packages and
 * 50 coupons. Deterministic (a seeded generator), so every round and every side settles the same
 * records against the same state, and sized from a dry run of the rules (`settle-rules.ts`) so
 * that the master packages run out part-way through, about a third of the records reach the
 * coupons, and the coupons in turn run out, leaving the later ones pay-as-you-go.
 */

const MASTER_PACKAGES_PER_PRODUCT = 10;
const COUPONS = 50;
/** Coupons 0..ALLOCATED-1 are allocated to members too; every coupon keeps some master balance. */
const ALLOCATED = 30;
const PRODUCTS = [
  { product: 'obs.traffic', unit: 'GB', centsPerUnit: 85 },
  { product: 'ecs.hours', unit: 'hour', centsPerUnit: 230 },
] as const;
/** What the coupons may name: the two products used, and two never used (the product filter must skip them). */
const COUPON_PRODUCTS = [
  ['obs.traffic'],
  ['ecs.hours'],
  ['obs.traffic', 'ecs.hours'],
  ['rds.storage'],
  ['cdn.requests', 'ecs.hours', 'obs.traffic'],
];
/**
 * Shares of the demand the benefits are sized to (the coupons' from a dry run), tuned for the mix
 * above: of 200,000 records, about 16% draw on a master package (all 20 run out), 33% reach the
 * coupons, 25% are paid from them and 8% end pay-as-you-go. Coupon money equal to what the records
 * price is not all spendable: products and windows keep some of it out of reach.
 */
const OWN_SHARE = 0.8;
const MASTER_SHARE = 0.3;
const COUPON_SHARE = 1.0;

const DAY = 86_400_000;
/** Usage spans 30 days from here; packages and coupons start and end around it. */
const T0 = Date.UTC(2026, 4, 1);

export interface BenchRecord extends RecordToSettle {
  /** As published: quantity and amount as decimal strings, usedAt ISO. */
  wire: { recordId: string; memberId: string; product: string; quantity: string; amount: string; usedAt: string };
}

export interface EnterprisePlan {
  enterpriseId: string;
  members: { memberId: string; sharing: boolean }[];
  packages: (PackageState & { unit: string; quantity: number })[];
  coupons: (CouponState & { face: number })[];
  /** Member pots of `coupons`, with what was allocated. */
  holdings: CouponState[];
  records: BenchRecord[];
}

export interface SettlePlan {
  records: number;
  members: number;
  enterprises: EnterprisePlan[];
}

export interface SettleOperation {
  enterpriseId: string;
  records: BenchRecord[];
}

/** mulberry32: small, seeded, good enough to spread usage. */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const share = (total: number, parts: number, i: number) => Math.floor(total / parts) + (i < total % parts ? 1 : 0);
const pad = (n: number, width: number) => String(n).padStart(width, '0');

function formatQuantity(micros: number): string {
  const fraction = pad(micros % 1_000_000, 6).replace(/0+$/, '');
  return `${Math.trunc(micros / 1_000_000)}${fraction ? `.${fraction}` : ''}`;
}
const formatMoney = (cents: number) => `${Math.trunc(cents / 100)}.${pad(cents % 100, 2)}`;

/**
 * `records` usage records over `members` members of `enterprises` enterprises (split evenly), each
 * enterprise with its own master packages and coupons, half its members sharing.
 */
export function planSettlement(records: number, members: number, enterprises: number): SettlePlan {
  return {
    records,
    members,
    enterprises: Array.from({ length: enterprises }, (_, e) =>
      planEnterprise(e, share(records, enterprises, e), share(members, enterprises, e)),
    ),
  };
}

function planEnterprise(e: number, recordCount: number, memberCount: number): EnterprisePlan {
  const random = generator(20_000 + e);
  const enterpriseId = `E-settle-${e}`;
  const members = Array.from({ length: memberCount }, (_, j) => ({
    memberId: `sm-${e}-${pad(j, 5)}`,
    sharing: j % 2 === 0,
  }));
  const records: BenchRecord[] = Array.from({ length: recordCount }, (_, i) => {
    const member = members[Math.floor(random() * memberCount)]!;
    const { product, centsPerUnit } = PRODUCTS[random() < 2 / 3 ? 0 : 1];
    const quantity = 1_000 + Math.floor(random() * 4_999_000);
    const amount = Math.max(1, Math.round((quantity * centsPerUnit) / 1_000_000));
    const usedAt = T0 + Math.floor(random() * 30 * 86_400) * 1_000;
    const recordId = `u-${e}-${pad(i, 7)}`;
    return {
      recordId,
      memberId: member.memberId,
      product,
      quantity,
      amount,
      usedAt,
      wire: {
        recordId,
        memberId: member.memberId,
        product,
        quantity: formatQuantity(quantity),
        amount: formatMoney(amount),
        usedAt: new Date(usedAt).toISOString(),
      },
    };
  });
  const plan: EnterprisePlan = { enterpriseId, members, packages: [], coupons: [], holdings: [], records };
  planPackages(plan, e);
  planCoupons(plan, e, random);
  return plan;
}

/**
 * Own packages for four members in five, 80% of what each uses of each product (a quarter of them
 * ending a third of the way in), then 10 master packages per product for 30% of what the sharing
 * members use: the master's run out part-way through, some earlier than others by their windows.
 */
function planPackages(plan: EnterprisePlan, e: number): void {
  const sharing = new Map(plan.members.map((m, j) => [m.memberId, { ...m, j }]));
  const demand = new Map<string, number>();
  const sharedDemand = new Map<string, number>();
  for (const r of plan.records) {
    const key = `${r.memberId}/${r.product}`;
    demand.set(key, (demand.get(key) ?? 0) + r.quantity);
    if (sharing.get(r.memberId)!.sharing) sharedDemand.set(r.product, (sharedDemand.get(r.product) ?? 0) + r.quantity);
  }
  const add = (p: Omit<EnterprisePlan['packages'][number], 'seq' | 'remaining'>) =>
    plan.packages.push({ ...p, seq: plan.packages.length, remaining: p.quantity });
  for (const [key, used] of [...demand].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const [memberId, product] = key.split('/') as [string, string];
    const { j } = sharing.get(memberId)!;
    if (j % 5 === 0) continue;
    add({
      packageId: `sp-${memberId}-${product}`,
      owner: memberId,
      product,
      unit: PRODUCTS.find((p) => p.product === product)!.unit,
      quantity: Math.max(1_000_000, Math.round((used * OWN_SHARE) / 1_000) * 1_000),
      from: T0 - DAY,
      until: T0 + (j % 5 === 4 ? 10 : 45) * DAY,
    });
  }
  for (const { product, unit } of PRODUCTS) {
    const total = (sharedDemand.get(product) ?? 0) * MASTER_SHARE;
    const weights = Array.from({ length: MASTER_PACKAGES_PER_PRODUCT }, (_, k) => 1 + (k % 3));
    const weightSum = weights.reduce((a, b) => a + b, 0);
    for (const [k, w] of weights.entries()) {
      // Four over the whole span (ending a day apart), three over its first half, three over its second.
      const [from, until] =
        k < 4 ? [T0 - DAY, T0 + (30 + k) * DAY] : k < 7 ? [T0 - DAY, T0 + 15 * DAY] : [T0 + 15 * DAY, T0 + 90 * DAY];
      add({
        packageId: `sp-${e}-master-${product}-${k}`,
        owner: null,
        product,
        unit,
        quantity: Math.max(1_000_000, Math.round((total * w) / weightSum / 1_000) * 1_000),
        from,
        until,
      });
    }
  }
}

/**
 * 50 coupons with varied products and windows; two members in three hold an allocation of one of
 * the first 30 (a quarter of them of a second), 1.00 to 5.99; the master balances are sized so that
 * all coupon money together equals what the records would price with no coupons at all.
 */
function planCoupons(plan: EnterprisePlan, e: number, random: () => number): void {
  const windows = [
    [T0 - DAY, T0 + 10 * DAY],
    [T0 - DAY, T0 + 60 * DAY],
    [T0 + 10 * DAY, T0 + 60 * DAY],
    [T0 - DAY, T0 + 20 * DAY],
  ] as const;
  const coupons = Array.from({ length: COUPONS }, (_, k) => {
    const [from, until] = windows[k % windows.length]!;
    return {
      couponId: `sc-${e}-${pad(k, 2)}`,
      products: COUPON_PRODUCTS[k % COUPON_PRODUCTS.length]!,
      from,
      until,
      seq: k,
    };
  });
  for (const [j, m] of plan.members.entries()) {
    if (j % 3 === 0) continue;
    const held = new Set([j % ALLOCATED, ...(j % 4 === 0 ? [(j * 7 + 3) % ALLOCATED] : [])]);
    for (const k of held)
      plan.holdings.push({ ...coupons[k]!, member: m.memberId, unused: 100 + Math.floor(random() * 500) });
  }
  const priced = dryRun(plan, plan.records).totals.priced;
  const held = plan.holdings.reduce((n, h) => n + h.unused, 0);
  const balances = Math.max(COUPONS * 100, Math.round(priced * COUPON_SHARE) - held);
  const weights = coupons.map((_, k) => 1 + (k % 4));
  const weightSum = weights.reduce((a, b) => a + b, 0);
  plan.coupons = coupons.map((c, k) => {
    const unused = Math.max(100, Math.round((balances * weights[k]!) / weightSum));
    const allocated = plan.holdings.filter((h) => h.couponId === c.couponId).reduce((n, h) => n + h.unused, 0);
    return { ...c, member: null, unused, face: unused + allocated };
  });
}

export interface SettleTotals {
  records: number;
  lines: number;
  covered: number;
  priced: number;
  coupon: number;
  payg: number;
}

export interface DryRun {
  totals: SettleTotals;
  /** How the records fell, for the log: how many drew on what. */
  mix: { masterPackage: number; reachCoupons: number; coupon: number; payg: number; masterPackagesLeft: number };
}

/** Settles `records` of the enterprise in memory, from its seeded state (copied: the plan stays as seeded). */
function dryRun(plan: EnterprisePlan, records: readonly BenchRecord[]): DryRun {
  const packages = plan.packages.map((p) => ({ ...p }));
  const state = new DrawState(
    packages,
    [...plan.coupons, ...plan.holdings].map((c) => ({ ...c })),
  );
  const sharing = new Map(plan.members.map((m) => [m.memberId, m.sharing]));
  const totals: SettleTotals = { records: 0, lines: 0, covered: 0, priced: 0, coupon: 0, payg: 0 };
  const mix = { masterPackage: 0, reachCoupons: 0, coupon: 0, payg: 0, masterPackagesLeft: 0 };
  for (const record of records) {
    const s: Settled = state.settle(record, sharing.get(record.memberId)!);
    totals.records += 1;
    totals.lines += s.lines.length;
    totals.covered += s.covered;
    totals.priced += s.priced;
    totals.coupon += s.coupon;
    totals.payg += s.payg;
    if (s.lines.some((l) => l.source === 'master_package')) mix.masterPackage += 1;
    if (s.priced > 0) mix.reachCoupons += 1;
    if (s.coupon > 0) mix.coupon += 1;
    if (s.payg > 0) mix.payg += 1;
  }
  mix.masterPackagesLeft = packages.filter((p) => p.owner === null && p.remaining > 0).length;
  return { totals, mix };
}

/**
 * The operations a run publishes for its first `records` records: each enterprise's share of
 * them in batches of `batch`, the enterprises taking turns (E0, E1, ..., E0, ...).
 */
export function operationsOf(plan: SettlePlan, records: number, batch: number): SettleOperation[] {
  const batches = plan.enterprises.map((ep, e) => {
    const mine = ep.records.slice(0, share(records, plan.enterprises.length, e));
    const out: SettleOperation[] = [];
    for (let i = 0; i < mine.length; i += batch)
      out.push({ enterpriseId: ep.enterpriseId, records: mine.slice(i, i + batch) });
    return out;
  });
  const longest = Math.max(...batches.map((b) => b.length));
  return Array.from({ length: longest }, (_, i) => batches.flatMap((b) => (b[i] ? [b[i]] : []))).flat();
}

/** What settling `operations` must come to, by the bench's own rules, summed over the enterprises. */
export function expectedOf(plan: SettlePlan, operations: readonly SettleOperation[]): DryRun {
  const result: DryRun = {
    totals: { records: 0, lines: 0, covered: 0, priced: 0, coupon: 0, payg: 0 },
    mix: { masterPackage: 0, reachCoupons: 0, coupon: 0, payg: 0, masterPackagesLeft: 0 },
  };
  for (const ep of plan.enterprises) {
    const run = dryRun(
      ep,
      operations.filter((o) => o.enterpriseId === ep.enterpriseId).flatMap((o) => o.records),
    );
    for (const k of Object.keys(result.totals) as (keyof SettleTotals)[]) result.totals[k] += run.totals[k];
    for (const k of Object.keys(result.mix) as (keyof DryRun['mix'])[]) result.mix[k] += run.mix[k];
  }
  return result;
}

export const enterpriseIds = (plan: SettlePlan) => plan.enterprises.map((e) => e.enterpriseId);

/** What a run settles: its operations and what they must come to. */
export interface SettleRun {
  operations: SettleOperation[];
  expected: DryRun;
  records: number;
}

export function settleRun(plan: SettlePlan, records: number, batch: number): SettleRun {
  const operations = operationsOf(plan, records, batch);
  return { operations, expected: expectedOf(plan, operations), records };
}
