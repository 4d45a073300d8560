import { Command, InvalidArgumentError, Option } from 'commander';
import { loadConfig } from '../config.js';
import { resolveClientEnv } from '../runtime/runtime-mode.js';
import { isFinal } from '../domain/operation-status.js';
import { IdempotencyConflictError, InvalidPayloadError } from '../errors.js';
import { KINDS, kindSpec } from '../kinds/index.js';
import {
  createProducer,
  OPERATION_KINDS,
  type OperationKind,
  type OperationView,
  type Producer,
} from '../producers/index.js';
import { QueueUnavailableError } from '../queue/connections.js';
import { registerHistoryCommands } from './history.command.js';
import { FileLineError, formatOf, readItems } from './item-files.js';
import { registerKeysCommand } from './keys.command.js';
import { createProgress } from './progress.js';

/** Exit codes a migration script can branch on. */
const EXIT = { ok: 0, notCompleted: 1, invalid: 2, unavailable: 3 } as const;

const bool = (value: string): boolean => {
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new InvalidArgumentError('expected true or false');
};

async function openProducer(): Promise<Producer> {
  const config = loadConfig(await resolveClientEnv(process.env));
  return createProducer({
    databaseUrl: config.databaseUrl,
    redisUrl: config.redisUrl,
    queuePrefix: config.queuePrefix,
    queueBackend: config.queueBackend,
    queueSchema: config.queueSchema,
    chunkAttempts: config.chunkAttempts,
    onError: () => {}, // connection trouble surfaces as QueueUnavailableError from publish
  });
}

function printView(view: OperationView, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(view)}\n`);
    return;
  }
  const { counts, progress } = view;
  const reasons = Object.entries(view.rejectedByReason)
    .map(([reason, n]) => `${reason}=${n}`)
    .join(' ');
  process.stdout.write(
    [
      `operation  ${view.operationId} (${view.kind})`,
      `status     ${view.status}`,
      `progress   chunks ${progress.chunksDone}/${progress.chunksTotal ?? '?'}, items ${progress.itemsDone}/${progress.itemsTotal}`,
      `counts     applied=${counts.applied} unchanged=${counts.unchanged} superseded=${counts.superseded} rejected=${counts.rejected}${counts.arrearsRisk === undefined ? '' : ` arrearsRisk=${counts.arrearsRisk}`}`,
      ...(reasons ? [`rejected   ${reasons}`] : []),
      '',
    ].join('\n'),
  );
}

async function waitWithProgress(producer: Producer, operationId: string, timeoutMs: number): Promise<OperationView> {
  const progress = createProgress();
  const deadline = Date.now() + timeoutMs;
  let started = false;
  for (;;) {
    const view = await producer.getOperation(operationId);
    if (!view) throw new Error(`operation ${operationId} is not recorded`);
    if (!started) {
      progress.start('applying', view.progress.chunksTotal ?? 0);
      started = true;
    }
    progress.update(view.progress.chunksDone);
    if (isFinal(view.status)) {
      progress.stop();
      return view;
    }
    if (Date.now() > deadline) {
      progress.stop();
      throw new Error(`operation ${operationId} is still ${view.status} after ${timeoutMs / 1000} s`);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

export function exitCodeFor(view: OperationView, strict: boolean): number {
  if (view.status === 'completed') return EXIT.ok;
  if (view.status === 'completed_with_rejections') return strict ? EXIT.notCompleted : EXIT.ok;
  return EXIT.notCompleted;
}

interface PublishFlags {
  kind: OperationKind;
  enterprise: string;
  enabled?: boolean;
  shareWithNewMembers?: boolean;
  coupon?: string;
  file?: string;
  format?: string;
  operationId?: string;
  wait?: boolean;
  strict?: boolean;
  timeout: number;
  json?: boolean;
}

async function publishCommand(flags: PublishFlags): Promise<number> {
  const header: Record<string, unknown> & { kind: string } = {
    kind: flags.kind,
    enterpriseId: flags.enterprise,
    ...(flags.operationId !== undefined && { operationId: flags.operationId }),
    ...(flags.enabled !== undefined && { enabled: flags.enabled }),
    ...(flags.shareWithNewMembers !== undefined && { shareWithNewMembers: flags.shareWithNewMembers }),
    ...(flags.coupon !== undefined && { couponId: flags.coupon }),
  };
  const producer = await openProducer();
  try {
    let operationId: string;
    const spec = kindSpec(flags.kind);
    if (!spec?.file) {
      operationId = (await producer.publish(header as never)).operationId;
    } else {
      if (!flags.file) throw new InvalidArgumentError(`--file is required for ${flags.kind}`);
      const file = flags.file;
      const format = formatOf(file, flags.format);
      const progress = createProgress();
      progress.start('checking', 0);
      let total = 0;
      const itemFile = spec.file;
      const result = await producer.publishStream(header, () => readItems(file, itemFile, format), {
        source: 'cli',
        onChecked: (n) => {
          total = n;
          progress.update(n);
        },
        onEnqueued: (() => {
          let enqueued = 0;
          let begun = false;
          return (n: number) => {
            if (!begun) {
              progress.start('publishing', total);
              begun = true;
            }
            enqueued += n;
            progress.update(enqueued);
          };
        })(),
      });
      progress.stop();
      operationId = result.operationId;
      if (!result.created) process.stderr.write(`operation ${operationId} was already published with this payload\n`);
    }
    process.stderr.write(`published ${operationId}\n`);
    if (!flags.wait) {
      process.stdout.write(flags.json ? `${JSON.stringify({ operationId })}\n` : `${operationId}\n`);
      return EXIT.ok;
    }
    const view = await waitWithProgress(producer, operationId, flags.timeout * 1000);
    printView(view, flags.json ?? false);
    return exitCodeFor(view, flags.strict ?? false);
  } finally {
    await producer.close();
  }
}

async function statusCommand(operationId: string, flags: { json?: boolean }): Promise<number> {
  const producer = await openProducer();
  try {
    const view = await producer.getOperation(operationId);
    if (!view) {
      process.stderr.write(`operation ${operationId} not found\n`);
      return EXIT.notCompleted;
    }
    printView(view, flags.json ?? false);
    return EXIT.ok;
  } finally {
    await producer.close();
  }
}

// A kind without items (sharing.set-default) names none of its own.
const DEFAULT_REJECTION_IDS = ['memberId', 'couponId'] as const;

async function rejectionsCommand(operationId: string, flags: { json?: boolean }): Promise<number> {
  const producer = await openProducer();
  try {
    const view = await producer.getOperation(operationId);
    if (!view) {
      process.stderr.write(`operation ${operationId} not found\n`);
      return EXIT.notCompleted;
    }
    const columns = kindSpec(view.kind)?.file?.rejectedBy ?? DEFAULT_REJECTION_IDS;
    if (!flags.json) process.stdout.write(`position,${columns.join(',')},reason\n`);
    for await (const r of producer.rejections(operationId)) {
      process.stdout.write(
        flags.json
          ? `${JSON.stringify(r)}\n`
          : `${[r.position, ...columns.map((c) => r[c] ?? ''), r.reason].join(',')}\n`,
      );
    }
    return EXIT.ok;
  } finally {
    await producer.close();
  }
}

export function buildProgram(run: (code: number) => void): Command {
  const program = new Command('benefits')
    .description(
      'Publish and follow Benefits Management operations (bulk migrations). Uses DATABASE_URL, REDIS_URL, QUEUE_PREFIX.',
    )
    .showHelpAfterError();
  program
    .command('publish')
    .description(
      'publish an operation; its items (members, coupons, allocations, packages, usage records) are streamed from --file',
    )
    .addOption(new Option('--kind <kind>', 'operation kind').choices(OPERATION_KINDS).makeOptionMandatory())
    .requiredOption('--enterprise <id>', 'enterprise (master account) id')
    .option('--enabled <bool>', 'sharing.set: true to enable, false to disable', bool)
    .option('--share-with-new-members <bool>', 'sharing.set-default: the switch', bool)
    .option('--coupon <id>', 'coupons.allocate / coupons.revoke: the coupon')
    .option(
      '--file <path>',
      `CSV or NDJSON, one item a line; CSV columns: ${KINDS.flatMap((k) => (k.file ? [`${k.kind}: ${k.file.columns}`] : [])).join('; ')}`,
    )
    .addOption(new Option('--format <format>', 'file format (default: by extension)').choices(['csv', 'ndjson']))
    .option('--operation-id <id>', 'idempotency key (generated when absent)')
    .option('--wait', 'follow the operation until its last chunk is applied, then print the counts')
    .option('--strict', 'with --wait: exit 1 when any item was rejected')
    .option('--timeout <seconds>', 'with --wait: give up after this long', (v) => Number.parseInt(v, 10), 3_600)
    .option('--json', 'print JSON')
    .action(async (flags: PublishFlags) => run(await publishCommand(flags)));
  program
    .command('status <operationId>')
    .description('show an operation: status, progress, counts')
    .option('--json', 'print JSON')
    .action(async (operationId: string, flags: { json?: boolean }) => run(await statusCommand(operationId, flags)));
  program
    .command('rejections <operationId>')
    .description('list the rejected items of an operation (CSV, or NDJSON with --json)')
    .option('--json', 'print NDJSON')
    .action(async (operationId: string, flags: { json?: boolean }) => run(await rejectionsCommand(operationId, flags)));
  registerHistoryCommands(program, run);
  registerKeysCommand(program, run);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  let code: number = EXIT.ok;
  try {
    await buildProgram((c) => {
      code = c;
    }).parseAsync(argv);
  } catch (error) {
    if (error instanceof InvalidPayloadError) {
      process.stderr.write(
        `invalid operation:\n${error.issues.map((i) => `  ${i.path || '(root)'}: ${i.message}`).join('\n')}\n`,
      );
      return EXIT.invalid;
    }
    if (
      error instanceof FileLineError ||
      error instanceof InvalidArgumentError ||
      error instanceof IdempotencyConflictError
    ) {
      process.stderr.write(`${error.message}\n`);
      return EXIT.invalid;
    }
    if (error instanceof QueueUnavailableError) {
      process.stderr.write(`${error.message}\n`);
      return EXIT.unavailable;
    }
    throw error;
  }
  return code;
}
