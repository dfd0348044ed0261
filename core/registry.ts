/**
 * The registry of component factories the agent knows, checked once at start-up:
 * every type is lower_snake_case and unique within its kind (a receiver and an
 * exporter may share a type, as `otlp` does in the Collector).
 */
import type {
  ComponentKind,
  ExporterFactory,
  Factory,
  ProcessorFactory,
  ReceiverFactory,
} from './component.ts';
import { validateConfig } from './config/validate.ts';

/** Component types, as in the Collector: lower_snake_case starting with a letter. */
export const COMPONENT_TYPE = /^[a-z][a-z0-9_]*$/;

const SIGNALS = new Set(['sockets', 'links']);

/** Thrown when the factory list itself is broken: a programming error, reported all at once. */
export class RegistryError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`invalid component registry:\n  ${problems.join('\n  ')}`);
    this.name = 'RegistryError';
    this.problems = problems;
  }
}

function signalProblems(factory: Factory): string[] {
  const out: string[] = [];
  const check = (field: 'input' | 'output', value: unknown): void => {
    if (typeof value !== 'string' || !SIGNALS.has(value)) {
      out.push(`${factory.kind} "${factory.type}": ${field} ${JSON.stringify(value)} is not a signal type`);
    }
  };
  if (factory.kind !== 'exporter') check('output', factory.output);
  if (factory.kind !== 'receiver') check('input', factory.input);
  return out;
}

/**
 * Factories by kind and type.
 *
 * @example
 * const registry = new Registry(builtinFactories);
 * registry.get('exporter', 'debug')?.stability; // 'development'
 */
export class Registry {
  private readonly byKind: Readonly<Record<ComponentKind, Map<string, Factory>>> = {
    receiver: new Map(),
    processor: new Map(),
    exporter: new Map(),
  };

  /**
   * @throws RegistryError listing every malformed or duplicate factory, and every
   *   invalid default value (required keys without a default are fine).
   */
  constructor(factories: readonly Factory[]) {
    const problems: string[] = [];
    for (const factory of factories) {
      const map = this.byKind[factory.kind];
      if (map === undefined) {
        problems.push(`factory "${String(factory.type)}": unknown kind ${JSON.stringify(factory.kind)}`);
        continue;
      }
      if (!COMPONENT_TYPE.test(factory.type)) {
        problems.push(
          `${factory.kind} type ${JSON.stringify(factory.type)} must match ${COMPONENT_TYPE.source}`,
        );
        continue;
      }
      if (map.has(factory.type)) {
        problems.push(`${factory.kind} type "${factory.type}" is registered twice`);
        continue;
      }
      problems.push(...signalProblems(factory));
      const defaults = validateConfig(undefined, factory.configSchema, { checkRequired: false });
      for (const issue of defaults.issues) {
        problems.push(`${factory.kind} "${factory.type}": default config: ${issue.path}: ${issue.message}`);
      }
      map.set(factory.type, factory);
    }
    if (problems.length > 0) throw new RegistryError(problems);
  }

  get(kind: 'receiver', type: string): ReceiverFactory<unknown> | undefined;
  get(kind: 'processor', type: string): ProcessorFactory<unknown> | undefined;
  get(kind: 'exporter', type: string): ExporterFactory<unknown> | undefined;
  get(kind: ComponentKind, type: string): Factory | undefined;
  get(kind: ComponentKind, type: string): Factory | undefined {
    return this.byKind[kind].get(type);
  }

  /** Registered types of one kind, sorted. */
  types(kind: ComponentKind): string[] {
    return [...this.byKind[kind].keys()].sort();
  }

  /** Every factory: receivers, then processors, then exporters, each sorted by type. */
  all(): Factory[] {
    const kinds: ComponentKind[] = ['receiver', 'processor', 'exporter'];
    return kinds.flatMap((kind) => this.types(kind).map((type) => this.byKind[kind].get(type) as Factory));
  }
}
