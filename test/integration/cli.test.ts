import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, memberIds, startHarness } from '../support/harness.js';

let h: Harness;
let dir: string;
beforeAll(async () => {
  h = await startHarness('cli');
  dir = await mkdtemp(join(tmpdir(), 'benefits-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await h?.close();
});

const bin = new URL('../../bin/benefits.mjs', import.meta.url).pathname;

/** Runs the real `benefits` command, output not a terminal, against this file's database and queues. */
function cli(
  ...args: Array<string | Record<string, string>>
): Promise<{ code: number; stdout: string; stderr: string }> {
  const extra = typeof args.at(-1) === 'object' ? (args.pop() as Record<string, string>) : {};
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin, ...(args as string[])],
      {
        env: {
          ...process.env,
          DATABASE_URL: h.config.databaseUrl,
          REDIS_URL: h.config.redisUrl,
          QUEUE_PREFIX: h.config.queuePrefix,
          QUEUE_BACKEND: h.config.queueBackend,
          ...extra,
        },
        timeout: 60_000,
      },
      (error, stdout, stderr) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('benefits publish', () => {
  it('streams a CSV into an operation, waits for the last chunk and prints the counts', async () => {
    const ids = memberIds('cli', 1500);
    const csv = join(dir, 'members.csv');
    await writeFile(csv, `memberId\n${ids.join('\n')}\n`);
    const assoc = await cli(
      'publish',
      '--kind',
      'members.associate',
      '--enterprise',
      'E-cli',
      '--file',
      csv,
      '--operation-id',
      'cli-assoc',
      '--wait',
    );
    expect(assoc.code).toBe(0);
    expect(assoc.stdout).toMatch(/status\s+completed/);
    expect(assoc.stdout).toMatch(/applied=1500/);
    expect(assoc.stderr).toMatch(/applying: \d+\/15/);

    const set = await cli(
      'publish',
      '--kind',
      'sharing.set',
      '--enterprise',
      'E-cli',
      '--enabled',
      'true',
      '--file',
      csv,
      '--wait',
      '--json',
    );
    expect(set.code).toBe(0);
    const view = JSON.parse(set.stdout.trim().split('\n').at(-1)!);
    expect(view).toMatchObject({
      status: 'completed',
      counts: { applied: 1500 },
      progress: { chunksTotal: 15, itemsDone: 1500 },
    });

    // Streamed and whole payloads share one fingerprint: the same operation over HTTP is no conflict.
    const again = await h.request('POST', '/v1/operations', {
      operationId: 'cli-assoc',
      kind: 'members.associate',
      enterpriseId: 'E-cli',
      memberIds: ids,
    });
    expect(again.status).toBe(200);
  });

  it('publishes coupon allocations from NDJSON, and lists rejections', async () => {
    await h.waitForOperation(
      await h.publish({ kind: 'members.associate', enterpriseId: 'E-cpn', memberIds: ['n-1', 'n-2'] }),
    );
    await h.waitForOperation(
      await h.publish({
        kind: 'coupons.issue',
        enterpriseId: 'E-cpn',
        coupons: [
          {
            couponId: 'C-cli',
            faceValue: '10.00',
            allocationMode: 'multiple',
            validFrom: '2020-01-01T00:00:00Z',
            validUntil: '2099-01-01T00:00:00Z',
            products: ['ecs'],
          },
        ],
      }),
    );
    const file = join(dir, 'allocations.ndjson');
    await writeFile(
      file,
      [
        '{"memberId":"n-1","amount":"7.50"}',
        '{"memberId":"n-2","amount":"7.50"}',
        '{"memberId":"ghost","amount":"1.00"}',
      ].join('\n'),
    );
    const publishArgs = [
      'publish',
      '--kind',
      'coupons.allocate',
      '--enterprise',
      'E-cpn',
      '--coupon',
      'C-cli',
      '--file',
      file,
      '--operation-id',
      'cli-alloc',
      '--wait',
    ];
    const run = await cli(...publishArgs);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/status\s+completed_with_rejections/);
    expect(run.stdout).toMatch(/insufficient_balance=1 not_a_member=1|not_a_member=1 insufficient_balance=1/);
    // Published again: the same operation, now judged strictly.
    const strict = await cli(...publishArgs, '--strict');
    expect(strict.code).toBe(1);

    const rejections = await cli('rejections', 'cli-alloc');
    expect(rejections.code).toBe(0);
    expect(rejections.stdout.trim().split('\n')).toEqual([
      'position,memberId,couponId,reason',
      '1,n-2,C-cli,insufficient_balance',
      '2,ghost,C-cli,not_a_member',
    ]);
    const status = await cli('status', 'cli-alloc', '--json');
    expect(JSON.parse(status.stdout)).toMatchObject({ operationId: 'cli-alloc', counts: { applied: 1, rejected: 2 } });
  });

  it('issues packages from CSV, settles usage records from CSV and NDJSON, and names their rejections', async () => {
    await h.waitForOperation(
      await h.publish({ kind: 'members.associate', enterpriseId: 'E-use', memberIds: ['u-1', 'u-2'] }),
    );
    const packages = join(dir, 'packages.csv');
    await writeFile(
      packages,
      [
        'packageId,owner,product,unit,quantity,validFrom,validUntil',
        'P-own,u-1,ecs,hour,2.5,2026-01-01T00:00:00Z,2027-01-01T00:00:00Z',
        'P-master,master,ecs,hour,10,2026-01-01T00:00:00Z,2027-01-01T00:00:00Z',
        'P-ghost,ghost,ecs,hour,1,2026-01-01T00:00:00Z,2027-01-01T00:00:00Z',
      ].join('\n'),
    );
    const issued = await cli(
      'publish',
      '--kind',
      'packages.issue',
      '--enterprise',
      'E-use',
      '--file',
      packages,
      '--operation-id',
      'cli-pkg',
      '--wait',
    );
    expect(issued.code).toBe(0);
    expect(issued.stdout).toMatch(/applied=2 .*rejected=1/);
    expect((await cli('rejections', 'cli-pkg')).stdout.trim().split('\n')).toEqual([
      'position,packageId,memberId,reason',
      '2,P-ghost,ghost,not_a_member',
    ]);

    const usage = join(dir, 'usage.csv');
    await writeFile(
      usage,
      [
        'recordId,memberId,product,quantity,amount,usedAt',
        'rec-1,u-1,ecs,2,4.00,2026-06-01T00:00:00Z',
        'rec-2,stranger,ecs,1,1.00,2026-06-01T00:00:00Z',
        'rec-3,u-1,ecs,1.5,3.00,2026-06-01T00:00:00+02:00',
      ].join('\n'),
    );
    const settled = await cli(
      'publish',
      '--kind',
      'usage.settle',
      '--enterprise',
      'E-use',
      '--file',
      usage,
      '--operation-id',
      'cli-use',
      '--wait',
    );
    expect(settled.code).toBe(0);
    expect(settled.stdout).toMatch(/status\s+completed_with_rejections/);
    expect(settled.stdout).toMatch(/applied=2 .*rejected=1/);
    const rejections = await cli('rejections', 'cli-use');
    expect(rejections.stdout.trim().split('\n')).toEqual([
      'position,recordId,memberId,reason',
      '1,rec-2,stranger,not_a_member',
    ]);
    const json = await cli('rejections', 'cli-use', '--json');
    expect(JSON.parse(json.stdout)).toMatchObject({ position: 1, recordId: 'rec-2', memberId: 'stranger' });

    // The same record again from NDJSON: unchanged; other content: a conflict.
    const ndjson = join(dir, 'usage.ndjson');
    await writeFile(
      ndjson,
      [
        '{"recordId":"rec-1","memberId":"u-1","product":"ecs","quantity":"2","amount":"4.00","usedAt":"2026-06-01T00:00:00Z"}',
        '{"recordId":"rec-3","memberId":"u-1","product":"ecs","quantity":"1.5","amount":"3.01","usedAt":"2026-06-01T00:00:00+02:00"}',
      ].join('\n'),
    );
    const again = await cli(
      'publish',
      '--kind',
      'usage.settle',
      '--enterprise',
      'E-use',
      '--file',
      ndjson,
      '--wait',
      '--json',
    );
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout.trim().split('\n').at(-1)!)).toMatchObject({
      counts: { unchanged: 1, rejected: 1 },
      rejectedByReason: { record_conflict: 1 },
    });
    expect((await h.request('GET', '/v1/packages/P-own')).body).toMatchObject({ remaining: '0', consumed: '2.5' });
    // u-1's sharing is off: the rest of rec-3 was priced, the master's package untouched.
    expect((await h.request('GET', '/v1/packages/P-master')).body).toMatchObject({ remaining: '10', consumed: '0' });
  });

  it('refuses a file with a bad line before recording anything', async () => {
    const file = join(dir, 'bad.csv');
    await writeFile(file, 'ok-1\nok-2\nbad member\n');
    const run = await cli(
      'publish',
      '--kind',
      'sharing.set',
      '--enterprise',
      'E-cli',
      '--enabled',
      'false',
      '--file',
      file,
      '--operation-id',
      'cli-bad',
    );
    expect(run.code).toBe(2);
    // The file's own line, a header counting as one, with the offending value.
    expect(run.stderr).toMatch(/^benefits: line 3: "bad member": /m);
    expect(run.stderr).not.toMatch(/\n\s+at /);
    expect((await h.request('GET', '/v1/operations/cli-bad')).status).toBe(404);
    const usage = await cli(
      'publish',
      '--kind',
      'sharing.set',
      '--enterprise',
      'E-cli',
      '--enabled',
      'maybe',
      '--file',
      file,
    );
    expect(usage.code).not.toBe(0);
    expect(usage.stderr).toMatch(/true or false/);
    expect((await cli('status', 'nope')).code).toBe(1);
  });
});

// Each case starts the real command (node and tsx): under a loaded machine a few take a minute.
describe('benefits failures, by exit code', { timeout: 180_000 }, () => {
  const members = async (name: string, lines: string[]) => {
    const file = join(dir, name);
    await writeFile(file, `${lines.join('\n')}\n`);
    return file;
  };

  it('2: a missing file, an unknown kind, a missing flag; one line each, no stack', async () => {
    const missing = await cli(
      'publish',
      '--kind',
      'members.associate',
      '--enterprise',
      'E1',
      '--file',
      join(dir, 'nope.csv'),
    );
    expect(missing).toMatchObject({ code: 2, stdout: '' });
    expect(missing.stderr).toBe(`benefits: cannot read --file ${join(dir, 'nope.csv')}: no such file\n`);

    const file = await members('flags.csv', ['memberId', 'f-1']);
    const kind = await cli('publish', '--kind', 'members.nope', '--enterprise', 'E1', '--file', file);
    expect(kind.code).toBe(2);
    expect(kind.stderr).toMatch(/--kind <kind>' argument 'members.nope' is invalid/);

    const enabled = await cli('publish', '--kind', 'sharing.set', '--enterprise', 'E1', '--file', file);
    expect(enabled).toMatchObject({ code: 2, stderr: 'benefits: --enabled is required for sharing.set\n' });
    const coupon = await cli('publish', '--kind', 'coupons.allocate', '--enterprise', 'E1', '--file', file);
    expect(coupon).toMatchObject({ code: 2, stderr: 'benefits: --coupon is required for coupons.allocate\n' });
    const noFile = await cli('publish', '--kind', 'members.associate', '--enterprise', 'E1');
    expect(noFile).toMatchObject({ code: 2, stderr: 'benefits: --file is required for members.associate\n' });
    const enterprise = await cli('publish', '--kind', 'members.associate', '--enterprise', 'bad id', '--file', file);
    expect(enterprise.code).toBe(2);
    expect(enterprise.stderr).toMatch(/^benefits: --enterprise "bad id": /m);

    const amounts = await members('amounts.csv', ['memberId,amount', 'a-1,1.00', '', 'a-2,1.005']);
    const amount = await cli(
      'publish',
      '--kind',
      'coupons.allocate',
      '--enterprise',
      'E1',
      '--coupon',
      'C1',
      '--file',
      amounts,
    );
    expect(amount.code).toBe(2);
    expect(amount.stderr).toMatch(/^benefits: line 4: amount "1\.005": /m);
  });

  it('3: PostgreSQL or the queue store unreachable, naming what it tried', async () => {
    const file = await members('reach.csv', ['r-1']);
    const args = ['publish', '--kind', 'members.associate', '--enterprise', 'E1', '--file', file];
    const noPostgres = await cli(...args, { DATABASE_URL: 'postgres://postgres:secret@127.0.0.1:1/none' });
    expect(noPostgres.code).toBe(3);
    expect(noPostgres.stderr).toMatch(
      /PostgreSQL is not reachable at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/none \(ECONNREFUSED\)/,
    );
    if (h.config.queueBackend === 'redis') {
      const noRedis = await cli(...args, { REDIS_URL: 'redis://127.0.0.1:1' });
      expect(noRedis.code).toBe(3);
      expect(noRedis.stderr).toMatch(/Redis is not reachable/);
    }
    expect(`${noPostgres.stderr}`).not.toMatch(/\n\s+at /);
  });

  it('4: --wait timed out, after saying that no chunk moved and naming the queue settings', async () => {
    const file = await members('stalled.csv', ['memberId', 's-1', 's-2']);
    // Published where no worker listens: a wrong prefix, or another schema for the PostgreSQL queues.
    const elsewhere = { QUEUE_PREFIX: `${h.config.queuePrefix}-nobody`, QUEUE_SCHEMA: 'bullmq_nobody' };
    const run = await cli(
      'publish',
      '--kind',
      'members.associate',
      '--enterprise',
      'E-stall',
      '--file',
      file,
      '--operation-id',
      'cli-stall',
      '--wait',
      '--timeout',
      '4',
      '--stall-warning',
      '1',
      elsewhere,
    );
    expect(run.code).toBe(4);
    expect(run.stderr).toMatch(
      /no chunk of cli-stall applied for \d+ s .*QUEUE_BACKEND=(redis, QUEUE_PREFIX|postgres, QUEUE_SCHEMA)=/,
    );
    expect(run.stderr).toMatch(
      /^benefits: --wait timed out after 4 s: operation cli-stall is queued, chunks 0\/1, items 0\/2$/m,
    );
    // The progress knew its totals, and said each final count once.
    expect(run.stderr).not.toMatch(/\/0\b/);
    expect(run.stderr.match(/checking: 2$/gm)).toHaveLength(1);
    expect(run.stderr.match(/publishing: 2\/2 \(100%\)$/gm)).toHaveLength(1);
  });
});
