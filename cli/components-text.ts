/** The text `loggerhead components` prints: every factory, its signals, stability and settings. */
import type { ComponentKind, Factory } from '../core/component.ts';
import type { FieldSchema, ObjectSchema } from '../core/config/schema.ts';

function typeOf(field: FieldSchema): string {
  switch (field.type) {
    case 'string':
      return field.enum !== undefined ? field.enum.join(' | ') : 'string';
    case 'integer':
    case 'number': {
      const range =
        field.min !== undefined || field.max !== undefined ? ` [${field.min ?? ''}..${field.max ?? ''}]` : '';
      return `${field.type}${range}`;
    }
    case 'list':
      return `list of ${typeOf(field.items)}`;
    case 'map':
      return `map of ${typeOf(field.values)}`;
    default:
      return field.type;
  }
}

function defaultOf(field: FieldSchema): string {
  if (field.type === 'object' || field.default === undefined) return '-';
  return typeof field.default === 'string' && field.default !== ''
    ? field.default
    : JSON.stringify(field.default);
}

interface Row {
  key: string;
  type: string;
  default: string;
  description: string;
}

function rows(schema: ObjectSchema, prefix: string): Row[] {
  const out: Row[] = [];
  for (const [key, field] of Object.entries(schema.fields)) {
    const name = `${prefix}${key}`;
    const required = schema.required?.includes(key) === true ? ' (required)' : '';
    if (field.type === 'object') {
      out.push({ key: name, type: 'object', default: '-', description: field.description + required });
      out.push(...rows(field, `${name}.`));
    } else {
      const format =
        field.type === 'string' && field.patternName !== undefined ? ` (format: ${field.patternName})` : '';
      out.push({
        key: name,
        type: typeOf(field),
        default: defaultOf(field),
        description: field.description + format + required,
      });
    }
  }
  return out;
}

function signals(factory: Factory): string {
  if (factory.kind === 'receiver') return `-> ${factory.output}`;
  if (factory.kind === 'exporter') return `${factory.input} ->`;
  return `${factory.input} -> ${factory.output}`;
}

const HEADINGS: Readonly<Record<ComponentKind, string>> = {
  receiver: 'receivers',
  processor: 'processors',
  exporter: 'exporters',
};

/**
 * Formats the component list.
 *
 * @example
 * formatComponents(new Registry(builtinFactories).all());
 * // exporters:
 * //   debug  (development, links ->)
 * //     Logs a summary of every batch of links ...
 */
export function formatComponents(factories: readonly Factory[]): string {
  const lines: string[] = [];
  for (const kind of ['receiver', 'processor', 'exporter'] as const) {
    const ofKind = factories.filter((f) => f.kind === kind);
    if (ofKind.length === 0) continue;
    if (lines.length > 0) lines.push('');
    lines.push(`${HEADINGS[kind]}:`);
    for (const factory of ofKind) {
      lines.push(`  ${factory.type}  (${factory.stability}, ${signals(factory)})`);
      lines.push(`    ${factory.description}`);
      const table = rows(factory.configSchema, '');
      if (table.length === 0) {
        lines.push('    no settings');
        continue;
      }
      const header: Row = { key: 'key', type: 'type', default: 'default', description: 'description' };
      const all = [header, ...table];
      const width = (pick: (r: Row) => string): number => Math.max(...all.map((r) => pick(r).length));
      const wk = width((r) => r.key);
      const wt = width((r) => r.type);
      const wd = width((r) => r.default);
      for (const r of all) {
        lines.push(
          `      ${r.key.padEnd(wk)}  ${r.type.padEnd(wt)}  ${r.default.padEnd(wd)}  ${r.description}`,
        );
      }
    }
  }
  return lines.join('\n') + '\n';
}
