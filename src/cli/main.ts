import { access, constants, stat } from 'node:fs/promises';
import { Command, InvalidArgumentError, Option } from 'commander';
import { type Config, loadConfig } from '../config.js';
import { resolveClientEnv } from '../runtime/runtime-mode.js';
import { isFinal } from '../domain/operation-status.js';
import { InvalidPayloadError, type ValidationIssue } from '../errors.js';
import { KINDS, kindSpec } from '../kinds/index.js';
import {
  createProducer,
  OPERATION_KINDS,
  type OperationKind,
  type OperationView,
  type Producer,
} from '../producers/index.js';
import { registerHistoryCommands } from './history.command.js';
import { registerKeysCommand } from './keys.command.js';
import type { ItemFileFormat } from '../kinds/kind.js';
import { userStatePath } from '../runtime/embedded-state.js';
import { isListening } from '../runtime/port-probe.js';
import { CliFailure, describeFailure, EXIT } from './failures.js';
import { type FileFormat, formatOf, locateItems, readItems } from './item-files.js';
import { createProgress } from './progress.js';

const seconds = (value: string): number => {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a number of seconds');
  return n;
};

const bool = (value: string): boolean => {
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new InvalidArgumentError('expected true or false');
};

/** The database the last producer opened, to name when it cannot be reached. */
let usedDatabaseUrl: string | undefined;

const NO_SERVICE_FOUND =
  'no servers configured and no running embedded service found (looked for .data/embedded.json here and in ' +
  `parent folders, and ${userStatePath()}): start the service with \`npm start\`, or set DATABASE_URL`;

async function openConfig(): Promise<Config> {
  const env = await resolveClientEnv(process.env);
  if (!env.DATABASE_URL && !(await isListening('127.0.0.1', 5432)))
    throw new CliFailure(EXIT.unavailable, NO_SERVICE_FOUND);
  const config = loadConfig(env);
  usedDatabaseUrl = config.databaseUrl;
  return config;
}

async function openProducer(config?: Config): Promise<Producer> {
  config ??= await openConfig();
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

const progressOf = (view: OperationView) =>
  `chunks ${view.progress.chunksDone}/${view.progress.chunksTotal ?? '?'}, items ${view.progress.itemsDone}/${view.progress.itemsTotal}`;

interface WaitOptions {
  timeoutMs: number;
  /** How long without a chunk applied before saying so. */
  stallMs: number;
  config: Config;
}

/** Why no chunk moves, in words an operator can act on: most often workers on another queue store. */
function stallMessage(view: OperationView, seconds: number, config: Config): string {
  const queue =
    config.queueBackend === 'redis'
      ? `QUEUE_BACKEND=redis, QUEUE_PREFIX=${config.queuePrefix}`
      : `QUEUE_BACKEND=postgres, QUEUE_SCHEMA=${config.queueSchema}`;
  const waiting = view.waitingFor.length > 0 ? `; it waits for earlier operation(s) ${view.waitingFor.join(', ')}` : '';
  return (
    `no chunk of ${view.operationId} applied for ${seconds} s (${view.status}, ${progressOf(view)})${waiting}: ` +
    `is a worker running on the same queue store? This command published with ${queue}\n`
  );
}

async function waitWithProgress(producer: Producer, operationId: string, options: WaitOptions): Promise<OperationView> {
  const progress = createProgress();
  const deadline = Date.now() + options.timeoutMs;
  let total: number | null | undefined;
  let done = -1;
  let movedAt = Date.now();
  let warned = false;
  for (;;) {
    const view = await producer.getOperation(operationId);
    if (!view) throw new Error(`operation ${operationId} is not recorded`);
    if (total === undefined || (total === null && view.progress.chunksTotal !== null)) {
      total = view.progress.chunksTotal;
      progress.start('applying', total);
    }
    progress.update(view.progress.chunksDone);
    if (isFinal(view.status)) {
      progress.stop();
      return view;
    }
    if (view.progress.chunksDone !== done) {
      done = view.progress.chunksDone;
      movedAt = Date.now();
      warned = false;
    } else if (!warned && Date.now() - movedAt >= options.stallMs) {
      warned = true;
      process.stderr.write(stallMessage(view, Math.round((Date.now() - movedAt) / 1000), options.config));
    }
    if (Date.now() > deadline) {
      progress.stop();
      throw new CliFailure(
        EXIT.timedOut,
        `--wait timed out after ${options.timeoutMs / 1000} s: operation ${operationId} is ${view.status}, ${progressOf(view)}`,
      );
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
  stallWarning: number;
  json?: boolean;
}

/** The flags that carry an operation's parameters, by payload field. */
const FLAG_OF: Record<string, string> = {
  enterpriseId: '--enterprise',
  operationId: '--operation-id',
  enabled: '--enabled',
  shareWithNewMembers: '--share-with-new-members',
  couponId: '--coupon',
};

type Spec = NonNullable<ReturnType<typeof kindSpec>>;

/** A flag the kind needs and was not given, or one it does not take: named before anything is read. */
function checkFlags(spec: Spec, header: Record<string, unknown>, file: string | undefined): void {
  const shape = spec.schema.shape as Record<string, { safeParse(value: unknown): { success: boolean } }>;
  for (const [field, flag] of Object.entries(FLAG_OF)) {
    const schema = shape[field];
    if (!schema && header[field] !== undefined)
      throw new CliFailure(EXIT.invalid, `${flag} does not apply to ${spec.kind}`);
    if (schema && header[field] === undefined && !schema.safeParse(undefined).success)
      throw new CliFailure(EXIT.invalid, `${flag} is required for ${spec.kind}`);
  }
  if (spec.file && file === undefined) throw new CliFailure(EXIT.invalid, `--file is required for ${spec.kind}`);
  if (!spec.file && file !== undefined) throw new CliFailure(EXIT.invalid, `--file does not apply to ${spec.kind}`);
}

async function checkReadable(file: string): Promise<void> {
  try {
    await access(file, constants.R_OK);
    if (!(await stat(file)).isFile()) throw Object.assign(new Error('not a file'), { code: 'not a file' });
  } catch (error) {
    const { code } = error as NodeJS.ErrnoException;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (code ?? 'unreadable');
    throw new CliFailure(EXIT.invalid, `cannot read --file ${file}: ${why}`);
  }
}

const quoted = (value: unknown) =>
  typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value) ?? 'nothing');

/**
 * A refused payload in the terms the command was given: flags by name, items by their 1-based
 * line in the file (a header counts) with the offending value.
 */
async function explainRefusal(
  error: InvalidPayloadError,
  header: Record<string, unknown>,
  source: { path: string; format: FileFormat; file: ItemFileFormat; field: string } | null,
): Promise<CliFailure> {
  const itemIssue = (issue: ValidationIssue) => {
    const [field, index, ...rest] = issue.path.split('.');
    return source && field === source.field && index !== undefined && /^\d+$/.test(index)
      ? { index: Number(index), rest, message: issue.message }
      : null;
  };
  const indexes = new Set(error.issues.flatMap((issue) => itemIssue(issue)?.index ?? []));
  const located =
    source && indexes.size > 0 ? await locateItems(source.path, source.file, source.format, indexes) : new Map();
  const lines = error.issues.map((issue) => {
    const item = itemIssue(issue);
    if (item) {
      const at = located.get(item.index);
      if (!at) return `item ${item.index + 1}: ${issue.message}`;
      const value = item.rest.reduce<unknown>((v, key) => (v as Record<string, unknown> | undefined)?.[key], at.item);
      return `line ${at.line}: ${item.rest.length ? `${item.rest.join('.')} ` : ''}${quoted(value)}: ${issue.message}`;
    }
    if (source && issue.path === source.field) return `--file ${source.path}: ${issue.message}`;
    const flag = FLAG_OF[issue.path];
    return flag
      ? `${flag} ${quoted(header[issue.path])}: ${issue.message}`
      : `${issue.path || '(operation)'}: ${issue.message}`;
  });
  return new CliFailure(EXIT.invalid, lines.join('\n'), { cause: error });
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
  const spec = kindSpec(flags.kind)!;
  checkFlags(spec, header, flags.file);
  const source =
    spec.file && spec.items && flags.file !== undefined
      ? { path: flags.file, format: formatOf(flags.file, flags.format), file: spec.file, field: spec.items.field }
      : null;
  if (source) await checkReadable(source.path);
  const config = await openConfig();
  const producer = await openProducer(config);
  try {
    let operationId: string;
    try {
      operationId = source
        ? await publishFile(producer, header, source)
        : (await producer.publish(header as never)).operationId;
    } catch (error) {
      throw error instanceof InvalidPayloadError ? await explainRefusal(error, header, source) : error;
    }
    process.stderr.write(`published ${operationId}\n`);
    if (!flags.wait) {
      process.stdout.write(flags.json ? `${JSON.stringify({ operationId })}\n` : `${operationId}\n`);
      return EXIT.ok;
    }
    const view = await waitWithProgress(producer, operationId, {
      timeoutMs: flags.timeout * 1000,
      stallMs: flags.stallWarning * 1000,
      config,
    });
    printView(view, flags.json ?? false);
    return exitCodeFor(view, flags.strict ?? false);
  } finally {
    await producer.close();
  }
}

/** Checks the file (counting its items), then publishes them: two passes, each with its progress. */
async function publishFile(
  producer: Producer,
  header: Record<string, unknown> & { kind: string },
  source: { path: string; format: FileFormat; file: ItemFileFormat },
): Promise<string> {
  const progress = createProgress();
  progress.start('checking', null);
  let checked = 0;
  let enqueued: number | null = null;
  const result = await producer.publishStream(header, () => readItems(source.path, source.file, source.format), {
    source: 'cli',
    onChecked: (n) => {
      checked = n;
      progress.update(n);
    },
    onEnqueued: (n) => {
      if (enqueued === null) {
        progress.stop();
        progress.start('publishing', checked);
        enqueued = 0;
      }
      enqueued += n;
      progress.update(enqueued);
    },
  });
  progress.stop();
  if (!result.created)
    process.stderr.write(`operation ${result.operationId} was already published with this payload\n`);
  return result.operationId;
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
      'Publish and follow Benefits Management operations (bulk migrations). Uses DATABASE_URL, REDIS_URL, ' +
        'QUEUE_PREFIX, QUEUE_BACKEND. Exit codes: 0 done, 1 failed/cancelled/rejected, 2 invalid input, ' +
        '3 PostgreSQL or the queue store unreachable, 4 --wait timed out.',
    )
    .option('--verbose', 'print the stack of an unexpected failure')
    // Commander's errors become exit code 2 in main(), not its own process.exit(1).
    .exitOverride()
    .showHelpAfterError('(add --help for the flags)');
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
    .option('--timeout <seconds>', 'with --wait: give up after this long (exit 4)', seconds, 3_600)
    .option('--stall-warning <seconds>', 'with --wait: say so when no chunk was applied for this long', seconds, 30)
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
    const failure = describeFailure(error, usedDatabaseUrl);
    if (failure.message !== null) process.stderr.write(`benefits: ${failure.message.replace(/\n/g, '\nbenefits: ')}\n`);
    if (argv.includes('--verbose') && error instanceof Error) process.stderr.write(`${error.stack}\n`);
    return failure.exitCode;
  }
  return code;
}
