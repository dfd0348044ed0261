/**
 * Writers for the two scrape formats: the Prometheus text format 0.0.4 and
 * OpenMetrics 1.0. Pure: they turn families and samples into text chunks and
 * never touch the network.
 *
 * Differences handled here:
 * - OpenMetrics names a counter family without `_total` in `# TYPE`, adds
 *   `# UNIT` when the family name ends with its unit, a `_created` sample per
 *   counter or histogram series, escapes `"` in `# HELP` and ends with `# EOF`.
 * - Text 0.0.4 names the counter family with `_total`, has no `_created` and no
 *   terminator.
 */
import type { InstrumentType, PrometheusNames } from '../common/naming.ts';

export type ExpositionFormat = 'text' | 'openmetrics';

export const CONTENT_TYPES: Readonly<Record<ExpositionFormat, string>> = {
  text: 'text/plain; version=0.0.4; charset=utf-8',
  openmetrics: 'application/openmetrics-text; version=1.0.0; charset=utf-8',
};

/**
 * Picks the format for an `Accept` header: OpenMetrics 1.0 when the client
 * prefers it (by q-value, ties going to OpenMetrics), text 0.0.4 otherwise.
 *
 * @example
 * negotiateFormat('application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5'); // 'openmetrics'
 * negotiateFormat(undefined); // 'text'
 */
export function negotiateFormat(accept: string | undefined): ExpositionFormat {
  if (accept === undefined || accept === '') return 'text';
  let openMetricsQ = 0;
  let textQ = 0;
  for (const part of accept.split(',')) {
    const [rawType, ...rawParams] = part.split(';');
    const type = (rawType ?? '').trim().toLowerCase();
    let q = 1;
    let version: string | undefined;
    for (const param of rawParams) {
      const eq = param.indexOf('=');
      if (eq < 0) continue;
      const key = param.slice(0, eq).trim().toLowerCase();
      const value = param
        .slice(eq + 1)
        .trim()
        .replace(/^"(.*)"$/, '$1');
      if (key === 'q') q = Number(value);
      else if (key === 'version') version = value;
    }
    if (!(q > 0)) continue;
    if (type === 'application/openmetrics-text' && (version === undefined || version === '1.0.0')) {
      openMetricsQ = Math.max(openMetricsQ, q);
    } else if (type === 'text/plain' || type === '*/*' || type === 'text/*') {
      textQ = Math.max(textQ, q);
    }
  }
  return openMetricsQ > 0 && openMetricsQ >= textQ ? 'openmetrics' : 'text';
}

const NEEDS_LABEL_ESCAPE = /[\\"\n]/;

/** Escapes a label value for both formats: backslash, double quote and line feed. */
export function escapeLabelValue(value: string): string {
  if (!NEEDS_LABEL_ESCAPE.test(value)) return value;
  return value.replace(/[\\"\n]/g, (c) => (c === '\\' ? '\\\\' : c === '"' ? '\\"' : '\\n'));
}

function escapeHelp(help: string, format: ExpositionFormat): string {
  return format === 'openmetrics'
    ? escapeLabelValue(help)
    : help.replace(/[\\\n]/g, (c) => (c === '\\' ? '\\\\' : '\\n'));
}

/** A sample value: integers as integers, `NaN`, `+Inf`, `-Inf`, other floats in shortest round-trip form. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

/** A histogram bound as an `le` label value (`1.0` rather than `1` in OpenMetrics, whose floats are canonical). */
export function formatBound(bound: number, format: ExpositionFormat): string {
  if (format === 'openmetrics' && Number.isInteger(bound) && Math.abs(bound) < 1e15) return `${bound}.0`;
  return formatValue(bound);
}

/** A timestamp in ms since the epoch as OpenMetrics seconds (`_created` values). */
export function formatSeconds(ms: number): string {
  return formatValue(ms / 1000);
}

/** 32-bit FNV-1a over the UTF-16 code units, as 8 hex digits: a short tag for truncated values. */
function shortHash(value: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < value.length; i++) {
    h ^= value.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}

/** Size of the Buffers an exposition is written into (and sent as). */
export const CHUNK_BYTES = 1 << 18;

const ASCII_0 = 0x30;
const NEWLINE = 0x0a;

/**
 * Buffers of `CHUNK_BYTES` reused from one chunk of a scrape to the next, so a
 * scrape neither faults in fresh memory nor leaves garbage behind. Keeps at
 * most `maxChunks` free Buffers.
 */
export class ChunkPool {
  private readonly free: Buffer[] = [];
  readonly maxChunks: number;

  /** @param maxChunks Free Buffers kept at most. @default 64 (16 MiB) */
  constructor(maxChunks = 64) {
    this.maxChunks = maxChunks;
  }

  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafe(CHUNK_BYTES);
  }

  /**
   * Returns chunks whose content is no longer needed (sent, or never to be).
   * A chunk may be a view on the start of a pool Buffer; other Buffers are
   * left to the GC.
   */
  give(chunks: readonly Uint8Array[]): void {
    for (const c of chunks) {
      if (this.free.length >= this.maxChunks) return;
      if (c.byteOffset !== 0 || c.buffer.byteLength !== CHUNK_BYTES) continue;
      this.free.push(Buffer.from(c.buffer, 0, CHUNK_BYTES));
    }
  }

  /** Free Buffers held now. */
  get size(): number {
    return this.free.length;
  }
}

export interface ExpositionWriterOptions {
  /**
   * Longest label value written, in UTF-16 code units; longer values are cut
   * and end with `~` and 8 hex digits of a hash of the whole value, so two long
   * values that share a prefix stay distinct series. 0 = no limit.
   */
  maxLabelValueLength: number;
  /**
   * Write OpenMetrics `_created` samples. Prometheus before 2.50 stores them as
   * series of their own (`x_created`), doubling the series of every counter.
   * @default true
   */
  createdLines?: boolean;
  /** Where Buffers come from (fresh ones otherwise); give each chunk back once it is sent. */
  pool?: ChunkPool;
}

/**
 * Writes one exposition straight into UTF-8 Buffers of `CHUNK_BYTES` (a line
 * never spans two), so a scrape sends them as they are. Label sets shared by
 * several samples are encoded once (`encodeLabels`) and copied per sample.
 *
 * @example
 * const w = new ExpositionWriter('text', { maxLabelValueLength: 0 });
 * w.family(prometheusNames('loggerhead.link.bytes', 'By', 'counter'), 'counter', 'Bytes.');
 * w.sample('loggerhead_link_bytes_total', w.labels([['direction', 'client_to_server']]), 42);
 * Buffer.concat(w.finish()).toString(); // '# HELP loggerhead_link_bytes_total Bytes.\n# TYPE ...'
 */
export class ExpositionWriter {
  readonly format: ExpositionFormat;
  private readonly maxLabelValueLength: number;
  private readonly createdLines: boolean;
  private readonly chunks: Buffer[] = [];
  private readonly pool: ChunkPool | undefined;
  private buf: Buffer;
  private pos = 0;
  private readonly families = new Set<string>();
  /** Label values cut to `maxLabelValueLength` so far. */
  truncatedLabelValues = 0;
  /** Samples written so far (`_created`, `_bucket`... lines included). */
  samples = 0;

  /** Whether `_created` samples are written. */
  get writesCreated(): boolean {
    return this.createdLines;
  }

  constructor(format: ExpositionFormat, options: ExpositionWriterOptions) {
    this.format = format;
    this.maxLabelValueLength = options.maxLabelValueLength;
    this.createdLines = format === 'openmetrics' && options.createdLines !== false;
    this.pool = options.pool;
    this.buf = this.newBuffer(CHUNK_BYTES);
  }

  private newBuffer(bytes: number): Buffer {
    return bytes <= CHUNK_BYTES && this.pool !== undefined
      ? this.pool.take()
      : Buffer.allocUnsafe(Math.max(CHUNK_BYTES, bytes));
  }

  /** Makes room for `bytes` more bytes in the current Buffer, starting a new one if needed. */
  private reserve(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    if (this.pos > 0) this.chunks.push(this.buf.subarray(0, this.pos));
    this.buf = this.newBuffer(bytes);
    this.pos = 0;
  }

  private put(text: string): void {
    this.pos += this.buf.write(text, this.pos, 'utf8');
  }

  /** Writes a sample value: non-negative safe integers digit by digit, the rest as `formatValue` spells them. */
  private putValue(value: number): void {
    if (!(Number.isSafeInteger(value) && value >= 0)) {
      this.put(formatValue(value));
      return;
    }
    let digits = 1;
    for (let v = value; v >= 10; v = Math.floor(v / 10)) digits++;
    let at = this.pos + digits - 1;
    let v = value;
    do {
      this.buf[at--] = ASCII_0 + (v % 10);
      v = Math.floor(v / 10);
    } while (v > 0);
    this.pos += digits;
  }

  /**
   * Starts a family: `# HELP`, `# TYPE` (and `# UNIT` in OpenMetrics). Returns
   * false, writing nothing, when a family of that name was already written:
   * the caller must then skip its samples, since a family may appear once.
   */
  family(names: PrometheusNames, type: InstrumentType, help: string): boolean {
    const om = this.format === 'openmetrics';
    const typeName = om || type !== 'counter' ? names.family : names.sample;
    if (this.families.has(names.family)) return false;
    this.families.add(names.family);
    let header = `# HELP ${typeName} ${escapeHelp(help, this.format)}\n# TYPE ${typeName} ${type}\n`;
    if (om && names.unit !== '') header += `# UNIT ${typeName} ${names.unit}\n`;
    this.reserve(Buffer.byteLength(header));
    this.put(header);
    return true;
  }

  /** Formats label pairs as `a="x",b="y"` (no braces), escaping and bounding each value. */
  labels(pairs: Iterable<readonly [string, string]>): string {
    let out = '';
    for (const [name, value] of pairs) {
      out += `${out === '' ? '' : ','}${name}="${this.labelValue(value)}"`;
    }
    return out;
  }

  /** One label value, bounded and escaped. */
  labelValue(value: string): string {
    const max = this.maxLabelValueLength;
    if (max > 0 && value.length > max) {
      this.truncatedLabelValues++;
      let cut = Math.max(0, max - 9);
      const code = value.charCodeAt(cut - 1);
      if (code >= 0xd800 && code <= 0xdbff) cut--;
      value = `${value.slice(0, cut)}~${shortHash(value)}`;
    }
    return escapeLabelValue(value);
  }

  /** Writes `name{labels} value`; `labels` comes from `labels()` ('' for none). */
  sample(name: string, labels: string, value: number): void {
    const line = labels === '' ? `${name} ` : `${name}{${labels}} `;
    this.reserve(Buffer.byteLength(line) + 32);
    this.put(line);
    this.putValue(value);
    this.buf[this.pos++] = NEWLINE;
    this.samples++;
  }

  /**
   * The hot path: writes `head` `labels` `tail` value, where `head` is
   * `name{`, `labels` an encoded label string and `tail` the rest up to the
   * value (`,event="opened"} ` or `} `).
   */
  sampleEncoded(head: Uint8Array, labels: Uint8Array, tail: Uint8Array, value: number): void {
    this.reserve(head.length + labels.length + tail.length + 32);
    this.putSeries(head, labels, tail);
    this.putValue(value);
    this.buf[this.pos++] = NEWLINE;
    this.samples++;
  }

  /** Writes the `_created` sample of a counter or histogram series (OpenMetrics with `createdLines` only; a no-op otherwise). */
  created(family: string, labels: string, startTimeMs: number): void {
    if (!this.createdLines) return;
    const v = formatSeconds(startTimeMs);
    const line = labels === '' ? `${family}_created ${v}\n` : `${family}_created{${labels}} ${v}\n`;
    this.reserve(Buffer.byteLength(line));
    this.put(line);
    this.samples++;
  }

  /** `_created` on the hot path (see `sampleEncoded`); `value` is already formatted. */
  createdEncoded(head: Uint8Array, labels: Uint8Array, tail: Uint8Array, value: Uint8Array): void {
    if (!this.createdLines) return;
    this.reserve(head.length + labels.length + tail.length + value.length + 1);
    this.putSeries(head, labels, tail);
    this.buf.set(value, this.pos);
    this.pos += value.length;
    this.buf[this.pos++] = NEWLINE;
    this.samples++;
  }

  /** Copies `head` `labels` `tail` to the write position; the caller reserved the space. */
  private putSeries(head: Uint8Array, labels: Uint8Array, tail: Uint8Array): void {
    const buf = this.buf;
    let pos = this.pos;
    buf.set(head, pos);
    pos += head.length;
    buf.set(labels, pos);
    pos += labels.length;
    buf.set(tail, pos);
    this.pos = pos + tail.length;
  }

  /** True when at least one chunk is full and can be taken. */
  get hasFilled(): boolean {
    return this.chunks.length > 0;
  }

  /** The full chunks written so far (each ends with a whole line); they are not returned again. */
  takeFilled(): Buffer[] {
    return this.chunks.splice(0, this.chunks.length);
  }

  /** Ends the exposition and returns the chunks not taken yet. */
  finish(): Buffer[] {
    if (this.format === 'openmetrics') {
      this.reserve(6);
      this.put('# EOF\n');
    }
    if (this.pos > 0) this.chunks.push(this.buf.subarray(0, this.pos));
    this.buf = Buffer.alloc(0);
    this.pos = 0;
    return this.chunks;
  }
}
