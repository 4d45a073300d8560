import { PassThrough } from 'node:stream';
import { CommanderError, InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { CliFailure, describeFailure, EXIT, withoutPassword } from '../../src/cli/failures.js';
import { FileLineError } from '../../src/cli/item-files.js';
import { createProgress } from '../../src/cli/progress.js';
import { InvalidPayloadError } from '../../src/errors.js';
import { QueueUnavailableError } from '../../src/queue/connections.js';

const withCode = (code: string, message = code) => Object.assign(new Error(message), { code });

describe('exit codes', () => {
  it('2 for input the command was given, 3 for servers it cannot use, 1 otherwise', () => {
    expect(describeFailure(new FileLineError(3, 'not JSON')).exitCode).toBe(EXIT.invalid);
    expect(describeFailure(new InvalidArgumentError('expected true or false')).exitCode).toBe(EXIT.invalid);
    expect(describeFailure(new InvalidPayloadError([{ path: 'kind', message: 'x' }])).exitCode).toBe(EXIT.invalid);
    expect(describeFailure(new CommanderError(1, 'commander.missingMandatoryOptionValue', 'x'))).toEqual({
      exitCode: EXIT.invalid,
      message: null, // commander said it already
    });
    expect(describeFailure(new CommanderError(0, 'commander.helpDisplayed', '')).exitCode).toBe(EXIT.ok);
    expect(describeFailure(new QueueUnavailableError('Redis is not reachable')).exitCode).toBe(EXIT.unavailable);
    expect(describeFailure(new CliFailure(EXIT.timedOut, 'timed out'))).toEqual({ exitCode: 4, message: 'timed out' });
    expect(describeFailure(new Error('something else'))).toEqual({ exitCode: 1, message: 'something else' });
  });

  it('names the database it could not reach, without its password', () => {
    const refused = new AggregateError([withCode('ECONNREFUSED')], 'connect failed');
    expect(describeFailure(refused, 'postgres://app:s3cret@db:5432/benefits')).toEqual({
      exitCode: EXIT.unavailable,
      message: 'PostgreSQL is not reachable at postgres://app:***@db:5432/benefits (ECONNREFUSED); set DATABASE_URL',
    });
    expect(describeFailure(withCode('42P01', 'relation "operations" does not exist')).message).toMatch(
      /has no benefits tables/,
    );
    expect(describeFailure(withCode('3D000', 'database "x" does not exist')).exitCode).toBe(EXIT.unavailable);
    expect(withoutPassword('not a url')).toBe('(unparsable DATABASE_URL)');
  });
});

describe('progress written to a file or a pipe', () => {
  const capture = () => {
    const stream = new PassThrough() as unknown as NodeJS.WriteStream;
    const lines: string[] = [];
    (stream as unknown as PassThrough).on('data', (chunk: Buffer) =>
      lines.push(
        ...chunk
          .toString()
          .trim()
          .split('\n')
          .map((l) => l.replace(/^\S+ /, '')),
      ),
    );
    return { stream, lines };
  };

  it('counts without a total until it knows one, and prints each final count once', async () => {
    const { stream, lines } = capture();
    const progress = createProgress(stream, 60_000);
    progress.start('checking', null);
    progress.update(1_000_000);
    progress.stop();
    progress.start('publishing', 1_000_000);
    progress.update(1_000_000);
    progress.stop();
    await new Promise((r) => setImmediate(r));
    expect(lines).toEqual(['checking: 1000000', 'publishing: 1000000/1000000 (100%)']);
  });
});
