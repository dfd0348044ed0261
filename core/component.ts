/**
 * The component model, after the OpenTelemetry Collector's: every component type
 * has a factory (type, stability, config schema, create), and every instance is
 * started and shut down by the service in graph order.
 */
import type { Logger } from './logger.ts';
import type { ObjectSchema } from './config/schema.ts';
import type { Consumer, SignalBatches, SignalType } from './signals.ts';
import type { Telemetry } from './telemetry.ts';

export type ComponentKind = 'receiver' | 'processor' | 'exporter';

/** Maturity of a component, as in the Collector. */
export type Stability = 'development' | 'alpha' | 'beta' | 'stable';

/** Instance id as written in pipeline.yaml: `type` or `type/name`. */
export interface ComponentId {
  type: string;
  /** '' when the id has no `/name` part. */
  name: string;
}

/** Formats an id the way pipeline.yaml writes it. */
export function formatComponentId(id: ComponentId): string {
  return id.name === '' ? id.type : `${id.type}/${id.name}`;
}

/**
 * A running component.
 *
 * - `start` returns quickly; long work goes to the background. A rejection
 *   aborts the whole start-up.
 * - `shutdown` is safe without a prior start and safe to call twice; it stops
 *   background work, flushes what it holds and resolves when done.
 */
export interface Component {
  start(host: Host): Promise<void>;
  shutdown(): Promise<void>;
}

/** What the running service offers a component. */
export interface Host {
  /**
   * Reports a failure after start. The service logs and counts it and keeps the
   * rest of the pipeline serving; the component decides whether to retry.
   */
  reportError(error: Error): void;
}

/** Given to every create function. */
export interface CreateSettings {
  id: ComponentId;
  /** Logger with `component` already bound to the instance id. */
  logger: Logger;
  /** Self-telemetry scoped to this instance (every point carries its `component.id`). */
  telemetry: Telemetry;
}

interface FactoryBase<C> {
  /** Component type: lower_snake_case, equal to its folder name. */
  type: string;
  stability: Stability;
  /** One line for `loggerhead components`. */
  description: string;
  /** Describes and validates the config; its defaults are the default config. */
  configSchema: ObjectSchema;
  /** Phantom marker for the validated config type. */
  readonly _config?: C;
}

export interface ReceiverFactory<C = unknown, O extends SignalType = SignalType> extends FactoryBase<C> {
  kind: 'receiver';
  output: O;
  create(settings: CreateSettings, config: C, next: Consumer<SignalBatches[O]>): Component;
}

export interface ProcessorFactory<
  C = unknown,
  I extends SignalType = SignalType,
  O extends SignalType = SignalType,
> extends FactoryBase<C> {
  kind: 'processor';
  input: I;
  output: O;
  create(
    settings: CreateSettings,
    config: C,
    next: Consumer<SignalBatches[O]>,
  ): Component & Consumer<SignalBatches[I]>;
}

export interface ExporterFactory<C = unknown, I extends SignalType = SignalType> extends FactoryBase<C> {
  kind: 'exporter';
  input: I;
  create(settings: CreateSettings, config: C): Component & Consumer<SignalBatches[I]>;
}

export type Factory = ReceiverFactory<any, any> | ProcessorFactory<any, any, any> | ExporterFactory<any, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
