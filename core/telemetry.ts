/**
 * Self-telemetry: the agent's own counters and gauges (polls, poll duration,
 * map fill, drops, watch state, export errors...). Components record into it;
 * exporters read it with `collect()` and publish it beside the links.
 *
 * Names are OTel style, dot-separated and prefixed `loggerhead.`
 * (e.g. `loggerhead.receiver.polls`); units are UCUM (`1`, `By`, `s`, `ms`).
 */

export type TelemetryAttributes = Readonly<Record<string, string>>;

export interface InstrumentOptions {
  description: string;
  /** UCUM unit, e.g. `1`, `By`, `s`. */
  unit: string;
}

/** A monotonic counter. */
export interface Counter {
  /** Adds a non-negative value. */
  add(value: number, attributes?: TelemetryAttributes): void;
}

/** A gauge holding the last value set per attribute set. */
export interface Gauge {
  set(value: number, attributes?: TelemetryAttributes): void;
}

/** A histogram of durations or sizes. */
export interface Histogram {
  record(value: number, attributes?: TelemetryAttributes): void;
}

export interface TelemetryPoint {
  attributes: TelemetryAttributes;
  /** For counters and gauges. */
  value: number;
  /** For histograms: count, sum and cumulative bucket counts for `boundaries` (plus +Inf last). */
  histogram?: { count: number; sum: number; bucketCounts: readonly number[] };
}

export interface TelemetryMetric {
  name: string;
  description: string;
  unit: string;
  type: 'counter' | 'gauge' | 'histogram';
  /** Histogram bucket upper bounds. */
  boundaries?: readonly number[];
  /** Start of the cumulative values, ms since the epoch. */
  startTimeMs: number;
  points: readonly TelemetryPoint[];
}

/** Where components record self-telemetry. Instruments with the same name are shared. */
export interface Telemetry {
  counter(name: string, options: InstrumentOptions): Counter;
  gauge(name: string, options: InstrumentOptions): Gauge;
  histogram(name: string, options: InstrumentOptions & { boundaries: readonly number[] }): Histogram;
  /** Registers a callback that sets gauge values at collection time. */
  observeGauge(
    name: string,
    options: InstrumentOptions,
    callback: () => Iterable<{ value: number; attributes?: TelemetryAttributes }>,
  ): void;
  /** Snapshot of every instrument of the agent (not only this scope's). */
  collect(): TelemetryMetric[];
}
