/**
 * The running agent: builds the pipeline graph, starts components downstream
 * first (exporters, processors, receivers), and shuts them down upstream first
 * with a deadline, collecting every component's error.
 */
import type { Host } from './component.ts';
import { formatDuration } from './duration.ts';
import type { PipelineConfig } from './config/load.ts';
import type { GraphInstance, GraphNode } from './graph.ts';
import { buildGraph, ComponentError, describeGraphNode } from './graph.ts';
import type { LogFields, Logger } from './logger.ts';
import type { Counter, TelemetryAttributes } from './telemetry.ts';
import type { TelemetryRegistry } from './telemetry-registry.ts';

export interface ServiceOptions {
  config: PipelineConfig;
  logger: Logger;
  telemetry: TelemetryRegistry;
  /** Deadline for the whole shutdown, also used to undo a failed start. @default 4000 */
  shutdownTimeoutMillis?: number;
}

/** Name of the counter of errors components report after start. */
export const COMPONENT_ERRORS = 'loggerhead.component.errors';

function logFields(node: GraphNode): LogFields {
  const fields: LogFields = { component: node.id, kind: node.kind };
  if (node.pipeline !== undefined) fields.pipeline = node.pipeline;
  return fields;
}

function scope(node: GraphNode): TelemetryAttributes {
  const attributes: Record<string, string> = { 'component.id': node.id, 'component.kind': node.kind };
  if (node.pipeline !== undefined) attributes['pipeline.id'] = node.pipeline;
  return attributes;
}

export class Service {
  private readonly config: PipelineConfig;
  private readonly logger: Logger;
  private readonly telemetry: TelemetryRegistry;
  private readonly shutdownTimeoutMillis: number;
  private readonly errors: Counter;
  private readonly instances: GraphInstance[] = [];
  private shutdownDone: Promise<Error[]> | undefined;

  constructor(options: ServiceOptions) {
    this.config = options.config;
    this.logger = options.logger;
    this.telemetry = options.telemetry;
    this.shutdownTimeoutMillis = options.shutdownTimeoutMillis ?? 4000;
    if (!(this.shutdownTimeoutMillis > 0)) {
      throw new Error(`shutdownTimeoutMillis must be greater than 0, got ${this.shutdownTimeoutMillis}`);
    }
    this.errors = options.telemetry.scoped({}).counter(COMPONENT_ERRORS, {
      description: 'Errors reported by components after start; the pipeline keeps running',
      unit: '1',
    });
  }

  /** The components in start order, once created. */
  components(): ReadonlyArray<GraphNode> {
    return this.instances.map((i) => i.node);
  }

  /**
   * Creates and starts every component. If one fails, the ones already created
   * are shut down and the error, naming the component, is thrown. A shutdown
   * during start-up stops it before the next component.
   *
   * @throws ComponentError, or an Error when interrupted by `shutdown()`.
   */
  async start(): Promise<void> {
    if (this.shutdownDone !== undefined) throw new Error('the service was shut down before it started');
    try {
      buildGraph(
        this.config,
        (node) => ({
          id: node.spec.id,
          logger: this.logger.child(logFields(node)),
          telemetry: this.telemetry.scoped(scope(node)),
        }),
        this.instances,
      );
    } catch (error) {
      await this.shutdown();
      throw error;
    }
    for (const instance of this.instances) {
      const { node, component } = instance;
      if (this.shutdownDone !== undefined) throw new Error('start-up interrupted by shutdown');
      this.logger.info('starting component', logFields(node));
      try {
        await component.start(this.hostFor(node));
      } catch (error) {
        const failure = new ComponentError(node, 'start', error);
        if (this.shutdownDone === undefined) {
          this.logger.error('start failed, shutting down what started', { error: failure.message });
        }
        await this.shutdown();
        throw failure;
      }
    }
    if (this.shutdownDone !== undefined) throw new Error('start-up interrupted by shutdown');
    this.logger.info('everything is ready, processing data', {
      pipelines: this.config.pipelines.length,
      components: this.instances.length,
    });
  }

  private hostFor(node: GraphNode): Host {
    const attributes = scope(node);
    const logger = this.logger.child(logFields(node));
    return {
      reportError: (error: Error) => {
        this.errors.add(1, attributes);
        logger.error('component error', { error });
      },
    };
  }

  /**
   * Shuts every created component down, receivers first, exporters last, each
   * within what is left of the deadline. Safe to call twice (the second call
   * waits for the first).
   *
   * @returns every error: rejections and components that missed the deadline.
   */
  shutdown(): Promise<Error[]> {
    this.shutdownDone ??= this.shutdownAll();
    return this.shutdownDone;
  }

  private async shutdownAll(): Promise<Error[]> {
    const deadline = Date.now() + this.shutdownTimeoutMillis;
    const errors: Error[] = [];
    for (const { node, component } of [...this.instances].reverse()) {
      this.logger.info('shutting down component', logFields(node));
      const remaining = Math.max(0, deadline - Date.now());
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), remaining);
      });
      try {
        const result = await Promise.race([component.shutdown().then(() => 'done' as const), timedOut]);
        if (result === 'timeout') {
          const error = new Error(
            `${describeGraphNode(node)} did not shut down within the ${formatDuration(this.shutdownTimeoutMillis)} deadline`,
          );
          errors.push(error);
          this.logger.error('shutdown deadline missed', { ...logFields(node), error: error.message });
        }
      } catch (cause) {
        const reason = cause instanceof Error ? cause.message : String(cause);
        const error = new Error(`${describeGraphNode(node)} failed to shut down: ${reason}`, { cause });
        errors.push(error);
        this.logger.error('shutdown failed', { ...logFields(node), error: error.message });
      } finally {
        clearTimeout(timer);
      }
    }
    this.logger.info('shutdown complete', { errors: errors.length });
    return errors;
  }
}
