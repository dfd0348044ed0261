/**
 * Validates a YAML node against a config schema: converts durations and sizes,
 * merges defaults under the user's values, and collects every problem with its
 * path and position instead of stopping at the first.
 */
import type { Document, LineCounter, Node } from 'yaml';
import { isAlias, isMap, isScalar, isSeq } from 'yaml';
import { BYTES_HINT, parseBytes } from '../bytes.ts';
import { DURATION_HINT, formatDuration, parseDuration } from '../duration.ts';
import type { ConfigIssue, Position } from './issues.ts';
import { sortIssues } from './issues.ts';
import type { BytesField, DurationField, FieldSchema, ObjectSchema } from './schema.ts';
import { closest } from './suggest.ts';

export interface ValidateOptions {
  /** Path of the node, `::`-separated. @default '' */
  path?: string;
  /** Turns node offsets into line:col. Without it issues carry no position. */
  lineCounter?: LineCounter;
  /** Resolves aliases (`*name`). */
  doc?: Document;
  /** Position used for problems of a value that is absent from the file. */
  position?: Position;
  /** Report required keys that are missing. Off to check only a factory's defaults. @default true */
  checkRequired?: boolean;
}

export interface ValidationResult {
  /** The validated value with defaults merged in; meaningful only when `issues` is empty. */
  value: Record<string, unknown>;
  /** Sorted by position. */
  issues: ConfigIssue[];
}

interface Context {
  checkRequired: boolean;
  lineCounter: LineCounter | undefined;
  doc: Document | undefined;
  issues: ConfigIssue[];
}

function join(path: string, key: string | number): string {
  return path === '' ? String(key) : `${path}::${key}`;
}

function positionOf(ctx: Context, node: Node | undefined, fallback?: Position): Position | undefined {
  const offset = node?.range?.[0];
  if (ctx.lineCounter === undefined || offset === undefined) return fallback;
  const { line, col } = ctx.lineCounter.linePos(offset);
  return { line, col };
}

function report(ctx: Context, path: string, message: string, position: Position | undefined): void {
  const issue: ConfigIssue = { path, message };
  if (position !== undefined) issue.position = position;
  ctx.issues.push(issue);
}

/**
 * The message for a key that is not in `known`, with a suggestion when one is close.
 *
 * @example
 * unknownKeyMessage('verbosty', ['verbosity']); // 'unknown key "verbosty"; did you mean "verbosity"?'
 */
export function unknownKeyMessage(key: string, known: readonly string[]): string {
  const suggestion = closest(key, known);
  if (suggestion !== undefined) return `unknown key "${key}"; did you mean "${suggestion}"?`;
  if (known.length === 0) return `unknown key "${key}": nothing is configurable here`;
  return `unknown key "${key}" (valid keys: ${known.join(', ')})`;
}

/** Describes what the user wrote, for "got ..." messages. */
export function describeNode(node: Node): string {
  if (isMap(node)) return 'a map';
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) {
    const v = node.value;
    if (v === null) return 'nothing (null)';
    if (typeof v === 'string') return JSON.stringify(v);
    if (typeof v === 'number' || typeof v === 'boolean') return `${typeof v} ${String(v)}`;
    return String(v);
  }
  return 'an unsupported YAML value';
}

function resolve(ctx: Context, node: unknown): Node | undefined {
  if (node === undefined || node === null) return undefined;
  if (isAlias(node)) return ctx.doc === undefined ? undefined : (node.resolve(ctx.doc) as Node | undefined);
  return node as Node;
}

function isNull(node: Node | undefined): boolean {
  return node === undefined || (isScalar(node) && node.value === null);
}

function checkDuration(
  ctx: Context,
  schema: DurationField,
  raw: unknown,
  path: string,
  at: Position | undefined,
): number | undefined {
  const ms = typeof raw === 'string' ? parseDuration(raw) : undefined;
  if (ms === undefined) {
    report(ctx, path, `invalid duration ${JSON.stringify(raw)}: ${DURATION_HINT}`, at);
    return undefined;
  }
  if (schema.minMs !== undefined && ms < schema.minMs) {
    report(ctx, path, `duration "${raw}" is too short: the minimum is ${formatDuration(schema.minMs)}`, at);
  } else if (schema.maxMs !== undefined && ms > schema.maxMs) {
    report(ctx, path, `duration "${raw}" is too long: the maximum is ${formatDuration(schema.maxMs)}`, at);
  }
  return ms;
}

function checkBytes(
  ctx: Context,
  schema: BytesField,
  raw: unknown,
  path: string,
  at: Position | undefined,
): number | undefined {
  const bytes =
    typeof raw === 'number'
      ? Number.isSafeInteger(raw) && raw >= 0
        ? raw
        : undefined
      : typeof raw === 'string'
        ? parseBytes(raw)
        : undefined;
  if (bytes === undefined) {
    report(ctx, path, `invalid size ${JSON.stringify(raw)}: ${BYTES_HINT}`, at);
    return undefined;
  }
  const shown =
    typeof raw === 'string' && String(bytes) !== raw ? `"${raw}" (${bytes} bytes)` : `${bytes} bytes`;
  if (schema.min !== undefined && bytes < schema.min) {
    report(ctx, path, `size ${shown} is too small: the minimum is ${schema.min} bytes`, at);
  } else if (schema.max !== undefined && bytes > schema.max) {
    report(ctx, path, `size ${shown} is too large: the maximum is ${schema.max} bytes`, at);
  }
  return bytes;
}

function checkRange(
  ctx: Context,
  value: number,
  min: number | undefined,
  max: number | undefined,
  path: string,
  at: Position | undefined,
): void {
  if (min !== undefined && value < min) report(ctx, path, `${value} is too small: the minimum is ${min}`, at);
  else if (max !== undefined && value > max)
    report(ctx, path, `${value} is too large: the maximum is ${max}`, at);
}

/** The value of an absent field: its default (converted), or undefined. */
function defaultValue(ctx: Context, schema: FieldSchema, path: string, at: Position | undefined): unknown {
  switch (schema.type) {
    case 'object':
      return checkObject(ctx, schema, undefined, path, at);
    case 'duration':
      return schema.default === undefined ? undefined : checkDuration(ctx, schema, schema.default, path, at);
    case 'bytes':
      return schema.default === undefined ? undefined : checkBytes(ctx, schema, schema.default, path, at);
    case 'list':
      return schema.default === undefined ? undefined : [...schema.default];
    case 'map':
      return schema.default === undefined ? undefined : { ...schema.default };
    default:
      return schema.default;
  }
}

function checkObject(
  ctx: Context,
  schema: ObjectSchema,
  node: Node | undefined,
  path: string,
  at: Position | undefined,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const given = new Map<string, Node | undefined>();
  if (!isNull(node)) {
    if (!isMap(node)) {
      report(ctx, path, `expected a map, got ${describeNode(node as Node)}`, positionOf(ctx, node, at));
      return out;
    }
    for (const pair of node.items) {
      const keyNode = resolve(ctx, pair.key);
      const key = isScalar(keyNode) ? String(keyNode.value) : String(keyNode);
      const keyAt = positionOf(ctx, keyNode, at);
      if (!Object.hasOwn(schema.fields, key)) {
        report(ctx, join(path, key), unknownKeyMessage(key, Object.keys(schema.fields)), keyAt);
        continue;
      }
      given.set(key, resolve(ctx, pair.value));
    }
  }
  const objectAt = positionOf(ctx, node, at);
  for (const [key, field] of Object.entries(schema.fields)) {
    const child = given.get(key);
    const value = isNull(child)
      ? defaultValue(ctx, field, join(path, key), objectAt)
      : checkField(ctx, field, child as Node, join(path, key), objectAt);
    if (value !== undefined) out[key] = value;
  }
  for (const key of schema.required ?? []) {
    if (ctx.checkRequired && out[key] === undefined && isNull(given.get(key))) {
      report(ctx, join(path, key), `missing required key "${key}"`, objectAt);
    }
  }
  return out;
}

function checkField(
  ctx: Context,
  schema: FieldSchema,
  node: Node,
  path: string,
  parentAt: Position | undefined,
): unknown {
  const at = positionOf(ctx, node, parentAt);
  if (schema.type === 'object') return checkObject(ctx, schema, node, path, parentAt);
  if (schema.type === 'list') {
    if (!isSeq(node)) {
      report(ctx, path, `expected a list, got ${describeNode(node)}`, at);
      return undefined;
    }
    return node.items.map((item, i) => {
      const child = resolve(ctx, item);
      if (child === undefined || (isScalar(child) && child.value === null)) {
        report(ctx, join(path, i), 'expected a value, got nothing (null)', positionOf(ctx, child, at));
        return undefined;
      }
      return checkField(ctx, schema.items, child, join(path, i), at);
    });
  }
  if (schema.type === 'map') {
    if (!isMap(node)) {
      report(ctx, path, `expected a map, got ${describeNode(node)}`, at);
      return undefined;
    }
    const out: Record<string, unknown> = {};
    for (const pair of node.items) {
      const keyNode = resolve(ctx, pair.key);
      const key = isScalar(keyNode) ? String(keyNode.value) : String(keyNode);
      const child = resolve(ctx, pair.value);
      if (child === undefined || (isScalar(child) && child.value === null)) {
        report(ctx, join(path, key), 'expected a value, got nothing (null)', positionOf(ctx, keyNode, at));
        continue;
      }
      out[key] = checkField(ctx, schema.values, child, join(path, key), at);
    }
    return out;
  }
  if (!isScalar(node)) {
    report(ctx, path, `expected ${expectation(schema)}, got ${describeNode(node)}`, at);
    return undefined;
  }
  const raw = node.value;
  switch (schema.type) {
    case 'string': {
      if (typeof raw !== 'string') {
        report(ctx, path, `expected a string, got ${describeNode(node)}`, at);
        return undefined;
      }
      if (schema.enum !== undefined && !schema.enum.includes(raw)) {
        const suggestion = closest(raw, schema.enum);
        const hint = suggestion === undefined ? '' : `; did you mean "${suggestion}"?`;
        report(ctx, path, `invalid value "${raw}": must be one of ${schema.enum.join(', ')}${hint}`, at);
      } else if (
        schema.pattern !== undefined &&
        !new RegExp(`^(?:${schema.pattern.source})$`, schema.pattern.flags).test(raw)
      ) {
        const expected = schema.patternName ?? `a string matching ${schema.pattern}`;
        report(ctx, path, `invalid value "${raw}": expected ${expected}`, at);
      }
      return raw;
    }
    case 'integer':
    case 'number': {
      if (typeof raw !== 'number' || (schema.type === 'integer' && !Number.isInteger(raw))) {
        report(ctx, path, `expected ${expectation(schema)}, got ${describeNode(node)}`, at);
        return undefined;
      }
      checkRange(ctx, raw, schema.min, schema.max, path, at);
      return raw;
    }
    case 'boolean':
      if (typeof raw !== 'boolean') {
        report(ctx, path, `expected true or false, got ${describeNode(node)}`, at);
        return undefined;
      }
      return raw;
    case 'duration':
      return checkDuration(ctx, schema, raw, path, at);
    case 'bytes':
      return checkBytes(ctx, schema, raw, path, at);
  }
}

function expectation(schema: FieldSchema): string {
  switch (schema.type) {
    case 'integer':
      return 'an integer';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'true or false';
    case 'duration':
      return 'a duration such as "5s"';
    case 'bytes':
      return 'a size such as "16MiB"';
    case 'string':
      return 'a string';
    case 'list':
      return 'a list';
    default:
      return 'a map';
  }
}

/**
 * Validates `node` (a YAML map, or absent for "all defaults") against `schema`.
 *
 * @example
 * const { value, issues } = validateConfig(undefined, debugExporterFactory.configSchema);
 * // value: { verbosity: 'basic' }, issues: []
 */
export function validateConfig(
  node: Node | null | undefined,
  schema: ObjectSchema,
  options: ValidateOptions = {},
): ValidationResult {
  const ctx: Context = {
    checkRequired: options.checkRequired ?? true,
    lineCounter: options.lineCounter,
    doc: options.doc,
    issues: [],
  };
  const value = checkObject(ctx, schema, resolve(ctx, node), options.path ?? '', options.position);
  return { value, issues: sortIssues(ctx.issues) };
}
