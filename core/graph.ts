/**
 * The pipeline graph: type-checks the signals along every pipeline (before
 * anything is created) and instantiates the components in dependency order.
 *
 * As in the Collector, a receiver or exporter is one instance however many
 * pipelines list it (a receiver fans out to each of its pipelines; an exporter
 * takes the data of all of them), while processors get one instance per
 * pipeline.
 */
import type { Component, ComponentKind, CreateSettings, Factory } from './component.ts';
import type { ComponentSpec, PipelineConfig, PipelineSpec } from './config/load.ts';
import type { ConfigIssue, Position } from './config/issues.ts';
import { fanout } from './fanout.ts';
import type { Consumer, SignalType } from './signals.ts';

/** One component instance of the graph. */
export interface GraphNode {
  kind: ComponentKind;
  /** Id as written in pipeline.yaml. */
  id: string;
  /** The pipeline of a processor instance; undefined for shared receivers and exporters. */
  pipeline?: string;
  spec: ComponentSpec;
}

/** `exporter "otlp"` or `processor "batch" in pipeline "links"`. */
export function describeGraphNode(node: Pick<GraphNode, 'kind' | 'id' | 'pipeline'>): string {
  const where = node.pipeline === undefined ? '' : ` in pipeline "${node.pipeline}"`;
  return `${node.kind} "${node.id}"${where}`;
}

/** A component failed to be created or started; the message names it. */
export class ComponentError extends Error {
  readonly node: GraphNode;
  readonly action: 'create' | 'start';
  constructor(node: GraphNode, action: 'create' | 'start', cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(`failed to ${action} ${describeGraphNode(node)}: ${reason}`, { cause });
    this.name = 'ComponentError';
    this.node = node;
    this.action = action;
  }

  /**
   * A create failure as a config issue: create functions check what a schema
   * cannot (such as a value that depends on another), so their errors are
   * configuration mistakes, placed at the component's declaration.
   */
  toIssue(): ConfigIssue {
    const reason = this.cause instanceof Error ? this.cause.message : String(this.cause);
    const issue: ConfigIssue = { path: `${this.node.kind}s::${this.node.id}`, message: reason };
    if (this.node.spec.position !== undefined) issue.position = this.node.spec.position;
    return issue;
  }
}

function signalIssue(path: string, message: string, position: Position | undefined): ConfigIssue {
  return position === undefined ? { path, message } : { path, message, position };
}

function specsOf(
  config: PipelineConfig,
  kind: ComponentKind,
  pipeline: PipelineSpec,
): ComponentSpec[] | undefined {
  const list =
    kind === 'receiver'
      ? pipeline.receivers
      : kind === 'processor'
        ? pipeline.processors
        : pipeline.exporters;
  const out: ComponentSpec[] = [];
  for (const ref of list) {
    const spec = config.components[kind].get(ref.id);
    if (spec === undefined) return undefined;
    out.push(spec);
  }
  return out;
}

/**
 * Checks that the signals along each pipeline fit: every receiver emits the
 * same signal, each processor takes what comes before it, each exporter takes
 * what reaches it. Pipelines with unresolved references are skipped (those are
 * reported already).
 */
export function checkPipelineSignals(config: PipelineConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const pipeline of config.pipelines) {
    const receivers = specsOf(config, 'receiver', pipeline);
    const processors = specsOf(config, 'processor', pipeline);
    const exporters = specsOf(config, 'exporter', pipeline);
    if (receivers === undefined || processors === undefined || exporters === undefined) continue;
    const first = receivers[0];
    if (first === undefined || first.factory.kind !== 'receiver') continue;
    const base = `service::pipelines::${pipeline.name}`;
    let signal: SignalType = first.factory.output;
    let source = `receiver "${pipeline.receivers[0]?.id}"`;
    receivers.forEach((spec, i) => {
      const factory = spec.factory as Factory;
      if (factory.kind === 'receiver' && factory.output !== signal) {
        const ref = pipeline.receivers[i];
        issues.push(
          signalIssue(
            `${base}::receivers`,
            `receiver "${ref?.id}" emits ${factory.output}, but ${source} emits ${signal}: the receivers of a pipeline must emit the same signal`,
            ref?.position,
          ),
        );
      }
    });
    const consumers = [
      ...processors.map((spec, i) => ({ spec, ref: pipeline.processors[i], section: 'processors' })),
      ...exporters.map((spec, i) => ({ spec, ref: pipeline.exporters[i], section: 'exporters' })),
    ];
    for (const { spec, ref, section } of consumers) {
      const factory = spec.factory as Factory;
      if (factory.kind === 'receiver') continue;
      if (factory.input !== signal) {
        issues.push(
          signalIssue(
            `${base}::${section}`,
            `${factory.kind} "${ref?.id}" takes ${factory.input}, but ${source} emits ${signal}`,
            ref?.position,
          ),
        );
      }
      // What a processor emits is what the next one and the exporters take.
      if (factory.kind === 'processor') {
        signal = factory.output;
        source = `processor "${ref?.id}"`;
      }
    }
  }
  return issues;
}

/** A created component and where it sits. */
export interface GraphInstance {
  node: GraphNode;
  component: Component;
}

/**
 * Creates every component used by a pipeline, downstream first.
 *
 * @param config a config that passed validation (signals fit, references resolve).
 * @param settingsFor the create settings of each node (logger and telemetry scoped to it).
 * @param created filled as components are created, so that after a failure the
 *   caller can shut down the ones that were.
 * @returns `created`: instances in start order (the order they are created in):
 *   exporters, then each pipeline's processors from last to first, then
 *   receivers. Shut down in the reverse order.
 * @throws ComponentError when a create function throws.
 */
export function buildGraph(
  config: PipelineConfig,
  settingsFor: (node: GraphNode) => CreateSettings,
  created: GraphInstance[] = [],
): GraphInstance[] {
  const exporterConsumers = new Map<string, Consumer<unknown>>();
  const heads = new Map<string, Consumer<unknown>>();

  const create = <T>(node: GraphNode, make: (settings: CreateSettings) => T): T => {
    try {
      return make(settingsFor(node));
    } catch (error) {
      throw new ComponentError(node, 'create', error);
    }
  };
  const specOf = (kind: ComponentKind, id: string): ComponentSpec => {
    const spec = config.components[kind].get(id);
    if (spec === undefined) throw new Error(`${kind} "${id}" is not configured`);
    return spec;
  };

  for (const pipeline of config.pipelines) {
    for (const ref of pipeline.exporters) {
      if (exporterConsumers.has(ref.id)) continue;
      const spec = specOf('exporter', ref.id);
      const node: GraphNode = { kind: 'exporter', id: ref.id, spec };
      const factory = spec.factory;
      if (factory.kind !== 'exporter') throw new Error(`"${ref.id}" is not an exporter`);
      const component = create(node, (settings) => factory.create(settings, spec.config));
      exporterConsumers.set(ref.id, component);
      created.push({ node, component });
    }
  }
  for (const pipeline of config.pipelines) {
    let next = fanout(pipeline.exporters.map((ref) => exporterConsumers.get(ref.id) as Consumer<unknown>));
    for (const ref of [...pipeline.processors].reverse()) {
      const spec = specOf('processor', ref.id);
      const node: GraphNode = { kind: 'processor', id: ref.id, pipeline: pipeline.name, spec };
      const factory = spec.factory;
      if (factory.kind !== 'processor') throw new Error(`"${ref.id}" is not a processor`);
      const downstream = next;
      const component = create(node, (settings) => factory.create(settings, spec.config, downstream));
      created.push({ node, component });
      next = component;
    }
    heads.set(pipeline.name, next);
  }
  const receiverIds: string[] = [];
  for (const pipeline of config.pipelines) {
    for (const ref of pipeline.receivers) if (!receiverIds.includes(ref.id)) receiverIds.push(ref.id);
  }
  for (const id of receiverIds) {
    const spec = specOf('receiver', id);
    const node: GraphNode = { kind: 'receiver', id, spec };
    const factory = spec.factory;
    if (factory.kind !== 'receiver') throw new Error(`"${id}" is not a receiver`);
    const next = fanout(
      config.pipelines
        .filter((p) => p.receivers.some((r) => r.id === id))
        .map((p) => heads.get(p.name) as Consumer<unknown>),
    );
    const component = create(node, (settings) => factory.create(settings, spec.config, next));
    created.push({ node, component });
  }
  return created;
}

const DISCARD: Consumer<unknown> = { consume: async () => {} };

/**
 * Creates, then shuts down without starting, each component a pipeline uses
 * (processors once per id), to catch what create functions reject. Nothing is
 * started. For `loggerhead validate`.
 *
 * @returns one issue per component whose create function threw.
 */
export async function checkCreate(
  config: PipelineConfig,
  settingsFor: (node: GraphNode) => CreateSettings,
): Promise<ConfigIssue[]> {
  const issues: ConfigIssue[] = [];
  const seen = new Set<string>();
  for (const pipeline of config.pipelines) {
    const refs = [
      ...pipeline.exporters.map((ref) => ['exporter', ref.id] as const),
      ...pipeline.processors.map((ref) => ['processor', ref.id] as const),
      ...pipeline.receivers.map((ref) => ['receiver', ref.id] as const),
    ];
    for (const [kind, id] of refs) {
      if (seen.has(`${kind} ${id}`)) continue;
      seen.add(`${kind} ${id}`);
      const spec = config.components[kind].get(id);
      if (spec === undefined) continue;
      const node: GraphNode = { kind, id, spec };
      const factory = spec.factory;
      let component: Component;
      try {
        const settings = settingsFor(node);
        component =
          factory.kind === 'exporter'
            ? factory.create(settings, spec.config)
            : factory.create(settings, spec.config, DISCARD);
      } catch (error) {
        issues.push(new ComponentError(node, 'create', error).toIssue());
        continue;
      }
      await component.shutdown();
    }
  }
  return issues;
}
