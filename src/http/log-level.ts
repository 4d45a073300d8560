import type { LogLevel } from 'fastify';

const SEVERITY: Record<LogLevel, number> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
  silent: Infinity,
};

const isLevel = (level: string): level is LogLevel => level in SEVERITY;

/**
 * The configured level, raised to `minimum` when it is chattier: for routes polled or scraped
 * every few seconds, whose request lines would drown the rest, without ever making a quieter
 * configuration (error, silent) louder.
 */
export function atLeast(configured: string, minimum: 'warn' | 'error'): LogLevel {
  return isLevel(configured) && SEVERITY[configured] >= SEVERITY[minimum] ? configured : minimum;
}
