import { CommanderError, InvalidArgumentError } from 'commander';
import { ConfigError } from '../config.js';
import { IdempotencyConflictError, InvalidPayloadError } from '../errors.js';
import { QueueUnavailableError } from '../queue/connections.js';
import { FileLineError } from './item-files.js';

/** Exit codes a migration script can branch on; the README lists them. */
export const EXIT = { ok: 0, notCompleted: 1, invalid: 2, unavailable: 3, timedOut: 4 } as const;

/** A failure the CLI has already put in words, with its exit code. */
export class CliFailure extends Error {
  override name = 'CliFailure';
  constructor(
    readonly exitCode: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

// Node's and PostgreSQL's codes for a server that is not there, or not the service's database.
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ECONNRESET',
  'EAI_AGAIN',
]);
const NOT_THE_SERVICE = new Set(['3D000', '28P01', '28000', '57P03']);

function errorCode(error: unknown): string | undefined {
  const { code, errors } = error as { code?: unknown; errors?: unknown[] };
  if (typeof code === 'string') return code;
  return Array.isArray(errors) ? errorCode(errors[0]) : undefined;
}

/** DATABASE_URL without its password, to name in a message. */
export function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable DATABASE_URL)';
  }
}

/**
 * Every failure as an exit code and one plain message (`message` null: commander printed it).
 * `databaseUrl` is the database the command used, to name when it cannot be reached.
 */
export function describeFailure(error: unknown, databaseUrl?: string): { exitCode: number; message: string | null } {
  if (error instanceof CliFailure) return { exitCode: error.exitCode, message: error.message };
  if (error instanceof CommanderError) {
    const shown = ['commander.helpDisplayed', 'commander.help', 'commander.version'].includes(error.code);
    return { exitCode: shown ? EXIT.ok : EXIT.invalid, message: null };
  }
  if (error instanceof InvalidPayloadError) {
    return {
      exitCode: EXIT.invalid,
      message: error.issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('\n'),
    };
  }
  if (
    error instanceof FileLineError ||
    error instanceof InvalidArgumentError ||
    error instanceof IdempotencyConflictError ||
    error instanceof ConfigError
  ) {
    return { exitCode: EXIT.invalid, message: error.message };
  }
  if (error instanceof QueueUnavailableError) return { exitCode: EXIT.unavailable, message: error.message };
  const code = errorCode(error);
  const where = databaseUrl ? ` at ${withoutPassword(databaseUrl)}` : '';
  if (code && UNREACHABLE_CODES.has(code)) {
    return { exitCode: EXIT.unavailable, message: `PostgreSQL is not reachable${where} (${code}); set DATABASE_URL` };
  }
  if (code && NOT_THE_SERVICE.has(code)) {
    return { exitCode: EXIT.unavailable, message: `PostgreSQL${where} refused: ${(error as Error).message}` };
  }
  if (code === '42P01') {
    return {
      exitCode: EXIT.unavailable,
      message: `the database${where} has no benefits tables: point DATABASE_URL at the service's database, or run \`npm run migrate\``,
    };
  }
  return { exitCode: EXIT.notCompleted, message: error instanceof Error ? error.message : String(error) };
}
