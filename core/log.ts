/**
 * Logger implementation: one JSON object per line (the default), or a readable
 * `time level msg key=value` line when writing to a terminal.
 */
import type { LogFields, Logger, LogLevel } from './logger.ts';

const LEVEL_ORDER: Readonly<Record<LogLevel, number>> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFormat = 'json' | 'text';

export interface LoggerOptions {
  /** Lowest level written. @default 'info' */
  level?: LogLevel;
  /** @default 'json' */
  format?: LogFormat;
  /** Where lines go. @default process.stderr */
  write?: (line: string) => void;
  /** Clock, for tests. @default Date.now */
  now?: () => number;
}

/** Serialises a field value for JSON; errors become their message (and cause). */
function plain(value: unknown): unknown {
  if (value instanceof Error) {
    const out: Record<string, unknown> = { message: value.message, name: value.name };
    if (value.cause !== undefined) out.cause = plain(value.cause);
    return out;
  }
  if (typeof value === 'bigint') return value.toString();
  return value;
}

function textValue(value: unknown): string {
  const v = plain(value);
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return s !== undefined && /[\s="]/.test(s) ? JSON.stringify(s) : String(s);
}

class LineLogger implements Logger {
  private readonly minLevel: number;
  private readonly format: LogFormat;
  private readonly write: (line: string) => void;
  private readonly now: () => number;
  private readonly bound: LogFields;
  private readonly options: LoggerOptions;

  constructor(options: LoggerOptions, bound: LogFields) {
    this.minLevel = LEVEL_ORDER[options.level ?? 'info'];
    this.format = options.format ?? 'json';
    this.write = options.write ?? ((line) => process.stderr.write(line));
    this.now = options.now ?? Date.now;
    this.bound = bound;
    this.options = options;
  }

  private log(level: LogLevel, msg: string, fields?: LogFields): void {
    if (LEVEL_ORDER[level] < this.minLevel) return;
    const time = new Date(this.now()).toISOString();
    const all: LogFields = { ...this.bound, ...fields };
    if (this.format === 'json') {
      const record: Record<string, unknown> = { time, level, msg };
      for (const [k, v] of Object.entries(all)) record[k] = plain(v);
      this.write(JSON.stringify(record) + '\n');
      return;
    }
    const parts = [time.slice(11, 23), level.toUpperCase().padEnd(5), msg];
    for (const [k, v] of Object.entries(all)) parts.push(`${k}=${textValue(v)}`);
    this.write(parts.join(' ') + '\n');
  }

  debug(msg: string, fields?: LogFields): void {
    this.log('debug', msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.log('info', msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.log('warn', msg, fields);
  }
  error(msg: string, fields?: LogFields): void {
    this.log('error', msg, fields);
  }
  child(fields: LogFields): Logger {
    return new LineLogger(this.options, { ...this.bound, ...fields });
  }
}

/**
 * Creates a logger.
 *
 * @example
 * const log = createLogger({ format: 'text' }).child({ component: 'ebpf_socket' });
 * log.info('attached', { hooks: 4 });
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  return new LineLogger(options, {});
}
