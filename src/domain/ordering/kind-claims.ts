import type { OperationKind } from '../../producers/contract.js';
import { type Claim, reads, writes } from './claims.js';

/** What claims are made from: the operation without its items. */
export interface OperationHeader {
  enterpriseId: string;
  params: Record<string, unknown>;
}

/**
 * The claims of one kind of operation: those of the operation as a whole, those of one item, and
 * the classes that stand for every item of an operation too large to claim them one by one.
 *
 * Resources, and why each kind claims what it does (each claim is a row written when the
 * operation is recorded: one per item where one does):
 * - `member/<m>`: which enterprise, if any, the account belongs to. Association reads it (an
 *   account elsewhere is refused) and writes it; dissociation writes it.
 * - `<E>/member/<m>`: the account as a member of E, its sharing switch included. Only E's
 *   operations change it or read it: association, dissociation and `sharing.set` write it,
 *   allocation and revocation read it (`not_a_member`).
 * - `<E>/switch`: share-with-new-members, read by association (the state new members start in).
 * - `coupon/<c>`: a coupon id, which is global (`coupon_exists` across enterprises).
 * - `<E>/coupon/<c>`: E's coupon, its balance and its holdings; allocation and revocation of one
 *   coupon serialise on it.
 */
export interface KindClaims<Item> {
  operation(header: OperationHeader): Claim[];
  item(header: OperationHeader, item: Item): Claim[];
  everyItem(header: OperationHeader): Claim[];
}

const membership = (e: string, m: string) => [writes(`member/${m}`), writes(`${e}/member/${m}`)];
const none = (): Claim[] => [];
const couponOf = (h: OperationHeader) => `${h.enterpriseId}/coupon/${String(h.params.couponId)}`;

const membershipChange: KindClaims<string> = {
  operation: none,
  item: (h, memberId) => membership(h.enterpriseId, memberId),
  everyItem: (h) => [writes('member/*'), writes(`${h.enterpriseId}/member/*`)],
};

const couponLedger: KindClaims<{ memberId: string }> = {
  operation: (h) => [writes(couponOf(h))],
  item: (h, item) => [reads(`${h.enterpriseId}/member/${item.memberId}`)],
  everyItem: (h) => [reads(`${h.enterpriseId}/member/*`)],
};

export const KIND_CLAIMS: { [K in OperationKind]: KindClaims<any> } = {
  'members.associate': {
    ...membershipChange,
    operation: (h) => [reads(`${h.enterpriseId}/switch`)],
  },
  'members.dissociate': membershipChange,
  'sharing.set': {
    operation: none,
    item: (h, memberId: string) => [writes(`${h.enterpriseId}/member/${memberId}`)],
    everyItem: (h) => [writes(`${h.enterpriseId}/member/*`)],
  },
  'sharing.set-default': {
    operation: (h) => [writes(`${h.enterpriseId}/switch`)],
    item: none,
    everyItem: none,
  },
  'coupons.issue': {
    operation: none,
    item: (h, coupon: { couponId: string }) => [
      writes(`coupon/${coupon.couponId}`),
      writes(`${h.enterpriseId}/coupon/${coupon.couponId}`),
    ],
    everyItem: (h) => [writes('coupon/*'), writes(`${h.enterpriseId}/coupon/*`)],
  },
  'coupons.allocate': couponLedger,
  'coupons.revoke': couponLedger,
};
