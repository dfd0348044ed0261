/**
 * Loads pipeline.yaml: parses it keeping positions, expands `${env:NAME}`,
 * checks the Collector shape (receivers / processors / exporters / service),
 * validates each component against its factory's schema and type-checks every
 * pipeline, then reports all problems at once.
 */
import { readFileSync } from 'node:fs';
import type { Document, Node, Pair, Scalar } from 'yaml';
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parse, parseDocument, visit } from 'yaml';
import type { ComponentId, ComponentKind, Factory } from '../component.ts';
import { formatComponentId } from '../component.ts';
import { checkPipelineSignals } from '../graph.ts';
import type { LogLevel } from '../logger.ts';
import type { Registry } from '../registry.ts';
import { COMPONENT_TYPE } from '../registry.ts';
import { expandEnv, isWholeReference } from './env.ts';
import type { ConfigIssue, Position } from './issues.ts';
import { ConfigError, sortIssues } from './issues.ts';
import type { ObjectSchema } from './schema.ts';
import { closest } from './suggest.ts';
import { describeNode, unknownKeyMessage, validateConfig } from './validate.ts';

/** One declared component, validated, defaults merged. */
export interface ComponentSpec {
  kind: ComponentKind;
  id: ComponentId;
  factory: Factory;
  config: unknown;
  position?: Position;
}

/** A reference to a component in a pipeline's list. */
export interface ComponentRef {
  id: string;
  position?: Position;
}

export interface PipelineSpec {
  name: string;
  receivers: ComponentRef[];
  processors: ComponentRef[];
  exporters: ComponentRef[];
  position?: Position;
}

export interface PipelineConfig {
  /** Declared components by kind, keyed by id text (`type` or `type/name`). */
  components: Readonly<Record<ComponentKind, ReadonlyMap<string, ComponentSpec>>>;
  pipelines: PipelineSpec[];
  telemetry: { logs: { level?: LogLevel } };
}

export interface LoadOptions {
  /** File name used in messages. */
  file: string;
  /** Environment for `${env:NAME}`. @default process.env */
  env?: Readonly<Record<string, string | undefined>>;
}

const SECTIONS: Readonly<Record<string, ComponentKind>> = {
  receivers: 'receiver',
  processors: 'processor',
  exporters: 'exporter',
};
const TOP_KEYS = ['receivers', 'processors', 'exporters', 'service'];
const SERVICE_KEYS = ['pipelines', 'telemetry'];
const PIPELINE_KEYS = ['receivers', 'processors', 'exporters'];
const NAME_PART = /^[\p{L}\p{N}_.-]+$/u;
const PIPELINE_NAME = /^[A-Za-z][A-Za-z0-9_-]*(?:\/[\p{L}\p{N}_.-]+)?$/u;

const telemetrySchema: ObjectSchema = {
  type: 'object',
  description: 'the agent’s own telemetry',
  fields: {
    logs: {
      type: 'object',
      description: 'the agent’s logs',
      fields: {
        level: {
          type: 'string',
          description: 'lowest level written; the --log-level flag overrides it',
          enum: ['debug', 'info', 'warn', 'error'],
        },
      },
    },
  },
};

/**
 * Parses a component id: `type` or `type/name`.
 *
 * @example
 * parseComponentId('otlp/backup'); // { type: 'otlp', name: 'backup' }
 * parseComponentId('Bad'); // undefined
 */
export function parseComponentId(text: string): ComponentId | undefined {
  const slash = text.indexOf('/');
  const type = slash < 0 ? text : text.slice(0, slash);
  const name = slash < 0 ? '' : text.slice(slash + 1);
  if (!COMPONENT_TYPE.test(type)) return undefined;
  if (slash >= 0 && !NAME_PART.test(name)) return undefined;
  return { type, name };
}

class Loader {
  readonly issues: ConfigIssue[] = [];
  /** Offsets of values whose expansion failed: their other problems would only repeat it. */
  readonly unexpanded = new Set<number>();
  private readonly envIssues = new Set<ConfigIssue>();
  private readonly lineCounter: LineCounter;
  private readonly doc: Document;

  constructor(doc: Document, lineCounter: LineCounter) {
    this.doc = doc;
    this.lineCounter = lineCounter;
  }

  at(node: unknown, fallback?: Position): Position | undefined {
    const offset = (node as Node | undefined)?.range?.[0];
    if (offset === undefined) return fallback;
    const { line, col } = this.lineCounter.linePos(offset);
    return { line, col };
  }

  /** The issues, minus the ones on a value whose expansion already failed (those are reported once). */
  withoutEchoes(): ConfigIssue[] {
    const failed = new Set<string>();
    for (const offset of this.unexpanded) {
      const { line, col } = this.lineCounter.linePos(offset);
      failed.add(`${line}:${col}`);
    }
    return sortIssues(
      this.issues.filter(
        (i) =>
          i.position === undefined ||
          !failed.has(`${i.position.line}:${i.position.col}`) ||
          this.envIssues.has(i),
      ),
    );
  }

  report(path: string, message: string, position: Position | undefined): void {
    const issue: ConfigIssue = { path, message };
    if (position !== undefined) issue.position = position;
    this.issues.push(issue);
  }

  /** The entries of a map node; reports anything else. Null means empty. */
  entries(
    node: unknown,
    path: string,
    fallback?: Position,
  ): Array<{ key: string; keyNode: Node; value: unknown }> {
    if (isAlias(node)) return this.entries(node.resolve(this.doc), path, fallback);
    if (node === undefined || node === null || (isScalar(node) && node.value === null)) return [];
    if (!isMap(node)) {
      this.report(path, `expected a map, got ${describeNode(node as Node)}`, this.at(node, fallback));
      return [];
    }
    return node.items.map((pair: Pair) => {
      const keyNode = pair.key as Node;
      return { key: isScalar(keyNode) ? String(keyNode.value) : String(keyNode), keyNode, value: pair.value };
    });
  }

  /** Reports keys not in `known`, returns the rest by key. */
  known(
    items: Array<{ key: string; keyNode: Node; value: unknown }>,
    known: readonly string[],
    path: string,
  ): Map<string, { keyNode: Node; value: unknown }> {
    const out = new Map<string, { keyNode: Node; value: unknown }>();
    for (const item of items) {
      if (!known.includes(item.key)) {
        const p = path === '' ? item.key : `${path}::${item.key}`;
        this.report(p, unknownKeyMessage(item.key, known), this.at(item.keyNode));
      } else {
        out.set(item.key, { keyNode: item.keyNode, value: item.value });
      }
    }
    return out;
  }

  /** Reports a key written twice in one map, at the second one. */
  duplicateKeys(): void {
    visit(this.doc, {
      Map: (_key, map, ancestors) => {
        const first = new Map<string, Node>();
        for (const pair of map.items) {
          const keyNode = pair.key as Node;
          const key = isScalar(keyNode) ? String(keyNode.value) : String(keyNode);
          const earlier = first.get(key);
          if (earlier === undefined) {
            first.set(key, keyNode);
            continue;
          }
          const path = [this.pathOf([...ancestors, map], keyNode), key].filter((p) => p !== '').join('::');
          this.report(
            path,
            `duplicate key "${key}" (first at line ${this.at(earlier)?.line})`,
            this.at(keyNode),
          );
        }
      },
    });
  }

  expandEnvironment(env: Readonly<Record<string, string | undefined>>): void {
    visit(this.doc, {
      Scalar: (key, node, ancestors) => {
        if (key === 'key' || typeof node.value !== 'string') return;
        const source = node.value;
        const { value, errors } = expandEnv(source, env);
        for (const error of errors) {
          this.report(this.pathOf(ancestors, node), error, this.at(node));
          this.envIssues.add(this.issues[this.issues.length - 1] as ConfigIssue);
        }
        if (errors.length > 0) this.unexpanded.add(node.range?.[0] ?? -1);
        if (errors.length > 0 || value === source) return;
        (node as Scalar).value = node.type === 'PLAIN' && isWholeReference(source) ? typed(value) : value;
      },
    });
  }

  private pathOf(ancestors: readonly unknown[], node: Node): string {
    const parts: string[] = [];
    ancestors.forEach((ancestor, i) => {
      if (isPair(ancestor)) {
        const k = ancestor.key;
        parts.push(isScalar(k) ? String(k.value) : String(k));
      } else if (isSeq(ancestor)) {
        const child = ancestors[i + 1] ?? node;
        parts.push(String(ancestor.items.indexOf(child as Node)));
      }
    });
    return parts.join('::');
  }

  components(
    sections: Map<string, { keyNode: Node; value: unknown }>,
    registry: Registry,
  ): PipelineConfig['components'] {
    const out: Record<ComponentKind, Map<string, ComponentSpec>> = {
      receiver: new Map(),
      processor: new Map(),
      exporter: new Map(),
    };
    for (const [section, kind] of Object.entries(SECTIONS)) {
      const entry = sections.get(section);
      if (entry === undefined) continue;
      for (const { key, keyNode, value } of this.entries(entry.value, section, this.at(entry.keyNode))) {
        const path = `${section}::${key}`;
        const position = this.at(keyNode);
        const id = parseComponentId(key);
        if (id === undefined) {
          this.report(
            path,
            `invalid ${kind} id "${key}": expected "type" or "type/name", the type matching ${COMPONENT_TYPE.source}`,
            position,
          );
          continue;
        }
        const factory = registry.get(kind, id.type);
        if (factory === undefined) {
          const known = registry.types(kind);
          const suggestion = closest(id.type, known);
          const hint =
            suggestion !== undefined
              ? `; did you mean "${suggestion}"?`
              : known.length === 0
                ? ` (no ${kind} types are built in)`
                : ` (known ${kind} types: ${known.join(', ')})`;
          this.report(path, `unknown ${kind} type "${id.type}"${hint}`, position);
          continue;
        }
        const result = validateConfig(value as Node | null, factory.configSchema, {
          path,
          lineCounter: this.lineCounter,
          doc: this.doc,
          ...(position === undefined ? {} : { position }),
        });
        this.issues.push(...result.issues);
        const spec: ComponentSpec = { kind, id, factory, config: result.value };
        if (position !== undefined) spec.position = position;
        out[kind].set(formatComponentId(id), spec);
      }
    }
    return out;
  }

  /** Ids of every declared component (valid or not), to tell "undeclared" from "declared but broken". */
  declared(sections: Map<string, { keyNode: Node; value: unknown }>): Record<ComponentKind, Set<string>> {
    const out: Record<ComponentKind, Set<string>> = {
      receiver: new Set(),
      processor: new Set(),
      exporter: new Set(),
    };
    for (const [section, kind] of Object.entries(SECTIONS)) {
      const node = sections.get(section)?.value;
      if (!isMap(node)) continue;
      for (const pair of node.items)
        out[kind].add(isScalar(pair.key) ? String(pair.key.value) : String(pair.key));
    }
    return out;
  }

  pipelines(
    node: { keyNode: Node; value: unknown } | undefined,
    servicePosition: Position | undefined,
    declared: Record<ComponentKind, Set<string>>,
  ): PipelineSpec[] {
    if (node === undefined) {
      this.report('service::pipelines', 'missing required key "pipelines"', servicePosition);
      return [];
    }
    const items = this.entries(node.value, 'service::pipelines', this.at(node.keyNode));
    if (items.length === 0 && (isMap(node.value) || isNullNode(node.value))) {
      this.report('service::pipelines', 'must define at least one pipeline', this.at(node.keyNode));
    }
    const out: PipelineSpec[] = [];
    for (const { key: name, keyNode, value } of items) {
      const path = `service::pipelines::${name}`;
      const position = this.at(keyNode);
      if (!PIPELINE_NAME.test(name)) {
        this.report(
          path,
          `invalid pipeline name "${name}": expected an identifier such as "links" or "links/2"`,
          position,
        );
      }
      const lists = this.known(this.entries(value, path, position), PIPELINE_KEYS, path);
      const spec: PipelineSpec = {
        name,
        receivers: this.refs(lists.get('receivers'), `${path}::receivers`, 'receiver', declared.receiver),
        processors: this.refs(
          lists.get('processors'),
          `${path}::processors`,
          'processor',
          declared.processor,
        ),
        exporters: this.refs(lists.get('exporters'), `${path}::exporters`, 'exporter', declared.exporter),
      };
      if (position !== undefined) spec.position = position;
      for (const kind of ['receiver', 'exporter'] as const) {
        const list = lists.get(`${kind}s`)?.value;
        if (list === undefined || isNullNode(list) || (isSeq(list) && list.items.length === 0)) {
          this.report(path, `must have at least one ${kind}`, position);
        }
      }
      out.push(spec);
    }
    return out;
  }

  private refs(
    entry: { keyNode: Node; value: unknown } | undefined,
    path: string,
    kind: ComponentKind,
    declared: Set<string>,
  ): ComponentRef[] {
    if (entry === undefined || (isScalar(entry.value) && entry.value.value === null)) return [];
    if (!isSeq(entry.value)) {
      this.report(
        path,
        `expected a list of ${kind} ids, got ${describeNode(entry.value as Node)}`,
        this.at(entry.value),
      );
      return [];
    }
    const out: ComponentRef[] = [];
    const seen = new Set<string>();
    for (const item of entry.value.items) {
      const position = this.at(item, this.at(entry.value));
      if (!isScalar(item) || typeof item.value !== 'string') {
        this.report(path, `expected a ${kind} id, got ${describeNode(item as Node)}`, position);
        continue;
      }
      const id = item.value;
      if (seen.has(id)) {
        this.report(path, `references ${kind} "${id}" more than once`, position);
        continue;
      }
      seen.add(id);
      if (!declared.has(id)) {
        this.report(path, `references ${kind} "${id}" which is not configured`, position);
        continue;
      }
      const ref: ComponentRef = { id };
      if (position !== undefined) ref.position = position;
      out.push(ref);
    }
    return out;
  }
}

/** An absent value or an explicit null (`key:` with nothing after it). */
function isNullNode(node: unknown): boolean {
  return node === null || node === undefined || (isScalar(node) && node.value === null);
}

/** The typed value of a whole-reference expansion: a YAML number or boolean, else the string. */
function typed(value: string): unknown {
  try {
    const parsed: unknown = parse(value);
    return typeof parsed === 'number' || typeof parsed === 'boolean' ? parsed : value;
  } catch {
    return value;
  }
}

/**
 * Parses and validates config text.
 *
 * @throws ConfigError with every problem found, sorted by position.
 */
export function parsePipelineConfig(text: string, registry: Registry, options: LoadOptions): PipelineConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: false });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      options.file,
      doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        const issue: ConfigIssue = {
          path: '',
          message: `YAML: ${(e.message.split('\n')[0] ?? e.code).replace(/ at line \d+, column \d+:?$/, '')}`,
        };
        if (pos !== undefined) issue.position = { line: pos.line, col: pos.col };
        return issue;
      }),
    );
  }
  const loader = new Loader(doc, lineCounter);
  loader.duplicateKeys();
  if (loader.issues.length > 0) throw new ConfigError(options.file, loader.issues);
  loader.expandEnvironment(options.env ?? process.env);
  const rootAt: Position = { line: 1, col: 1 };
  if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) {
    loader.report('', 'the file is empty: a config needs at least service::pipelines', rootAt);
    throw new ConfigError(options.file, loader.issues);
  }
  if (!isMap(doc.contents)) {
    loader.report('', `expected a map, got ${describeNode(doc.contents as Node)}`, rootAt);
    throw new ConfigError(options.file, loader.issues);
  }
  const top = loader.known(loader.entries(doc.contents, '', rootAt), TOP_KEYS, '');
  const components = loader.components(top, registry);
  const declared = loader.declared(top);
  const service = top.get('service');
  let pipelines: PipelineSpec[] = [];
  let telemetry: PipelineConfig['telemetry'] = { logs: {} };
  if (service === undefined) {
    loader.report('service', 'missing required key "service"', loader.at(doc.contents, rootAt));
  } else {
    const serviceAt = loader.at(service.keyNode);
    const keys = loader.known(loader.entries(service.value, 'service', serviceAt), SERVICE_KEYS, 'service');
    pipelines = loader.pipelines(keys.get('pipelines'), serviceAt, declared);
    const telemetryNode = keys.get('telemetry');
    const result = validateConfig((telemetryNode?.value ?? null) as Node | null, telemetrySchema, {
      path: 'service::telemetry',
      lineCounter,
      doc,
      ...(serviceAt === undefined ? {} : { position: serviceAt }),
    });
    loader.issues.push(...result.issues);
    telemetry = result.value as PipelineConfig['telemetry'];
  }
  const config: PipelineConfig = { components, pipelines, telemetry };
  loader.issues.push(...checkPipelineSignals(config));
  if (loader.issues.length > 0) throw new ConfigError(options.file, loader.withoutEchoes());
  return config;
}

/**
 * Reads and validates a config file.
 *
 * @throws ConfigError when the file cannot be read or has any problem.
 */
export function loadPipelineConfig(
  path: string,
  registry: Registry,
  options: Partial<LoadOptions> = {},
): PipelineConfig {
  const file = options.file ?? path;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const reason =
      (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
    throw new ConfigError(file, [{ path: '', message: `cannot read the config: ${reason}` }]);
  }
  return parsePipelineConfig(text, registry, { ...options, file });
}
