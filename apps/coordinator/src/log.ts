import { pino } from 'pino';
import type { LogLevel } from './config.js';

/** Structured log: a message plus fields (run, round, client ids). */
export interface Log {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/** Human-readable lines on stderr: `time level message key=value ...`. */
export function consoleLog(level: LogLevel, sink: (line: string) => void = (l) => process.stderr.write(l + '\n')): Log {
  const at = (lvl: Exclude<LogLevel, 'silent'>) => (msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[lvl] < ORDER[level]) return;
    const kv = fields
      ? Object.entries(fields)
          .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
          .join(' ')
      : '';
    sink(`${new Date().toISOString()} ${lvl.padEnd(5)} ${msg}${kv ? ' ' + kv : ''}`);
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export const silentLog: Log = { debug() {}, info() {}, warn() {}, error() {} };

export type LogFormat = 'json' | 'pretty';
export const LOG_FORMATS: readonly LogFormat[] = ['json', 'pretty'];

/**
 * Structured JSON lines (pino) on stderr, one object per event with the fields the engine
 * passes (`run`, `round`, `client`, ...): what log shippers and `jq` want.
 */
export function jsonLog(level: LogLevel, fd = 2): Log {
  if (level === 'silent') return silentLog;
  const logger = pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ dest: fd, sync: true }));
  return {
    debug: (msg, fields) => logger.debug(fields ?? {}, msg),
    info: (msg, fields) => logger.info(fields ?? {}, msg),
    warn: (msg, fields) => logger.warn(fields ?? {}, msg),
    error: (msg, fields) => logger.error(fields ?? {}, msg),
  };
}

/** `pretty` for people at a terminal, `json` for machines. */
export function createLog(level: LogLevel, format: LogFormat): Log {
  return format === 'json' ? jsonLog(level) : consoleLog(level);
}
