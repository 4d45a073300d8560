import { pino, type Logger } from 'pino';

export type { Logger };

// Credentials never reach a log line, whatever object a caller logs with its headers.
const REDACTED = ['authorization', 'headers.authorization', 'req.headers.authorization', '*.headers.authorization'];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  const options = { level, base: { service: 'benefits-worker' }, redact: { paths: REDACTED, censor: '[redacted]' } };
  return destination ? pino(options, destination) : pino(options);
}
