/**
 * In-process implementation of `Telemetry`: one registry per agent, handed to
 * each component as a view scoped by `component.id`.
 */
import type {
  Counter,
  Gauge,
  Histogram,
  InstrumentOptions,
  Telemetry,
  TelemetryAttributes,
  TelemetryMetric,
  TelemetryPoint,
} from './telemetry.ts';

type Kind = TelemetryMetric['type'];

interface Series {
  attributes: TelemetryAttributes;
  value: number;
  count: number;
  sum: number;
  buckets: number[];
}

interface Instrument {
  name: string;
  kind: Kind;
  options: InstrumentOptions;
  boundaries?: readonly number[];
  series: Map<string, Series>;
  observers: Array<{
    scope: TelemetryAttributes;
    callback: () => Iterable<{ value: number; attributes?: TelemetryAttributes }>;
  }>;
}

const NAME = /^[a-z][a-z0-9_.]*$/;

function seriesKey(attributes: TelemetryAttributes): string {
  return JSON.stringify(Object.entries(attributes).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Holds every self-telemetry instrument of the agent. */
export class TelemetryRegistry {
  private readonly instruments = new Map<string, Instrument>();
  private readonly startTimeMs: number;

  constructor(startTimeMs: number = Date.now()) {
    this.startTimeMs = startTimeMs;
  }

  private instrument(name: string, kind: Kind, options: InstrumentOptions, boundaries?: readonly number[]) {
    if (!NAME.test(name)) throw new Error(`telemetry name ${JSON.stringify(name)} must match ${NAME}`);
    const existing = this.instruments.get(name);
    if (existing !== undefined) {
      if (existing.kind !== kind) {
        throw new Error(`telemetry ${name} is already registered as a ${existing.kind}, not a ${kind}`);
      }
      return existing;
    }
    const created: Instrument = { name, kind, options, series: new Map(), observers: [] };
    if (boundaries !== undefined) created.boundaries = [...boundaries];
    this.instruments.set(name, created);
    return created;
  }

  private series(inst: Instrument, attributes: TelemetryAttributes): Series {
    const key = seriesKey(attributes);
    let s = inst.series.get(key);
    if (s === undefined) {
      s = {
        attributes: { ...attributes },
        value: 0,
        count: 0,
        sum: 0,
        buckets: new Array<number>((inst.boundaries?.length ?? 0) + 1).fill(0),
      };
      inst.series.set(key, s);
    }
    return s;
  }

  /** A view whose points all carry `scope` (e.g. `{ 'component.id': 'otlp/backup' }`). */
  scoped(scope: TelemetryAttributes): Telemetry {
    const merge = (a?: TelemetryAttributes): TelemetryAttributes =>
      a === undefined ? scope : { ...a, ...scope };
    return {
      counter: (name, options): Counter => {
        const inst = this.instrument(name, 'counter', options);
        return {
          add: (value, attributes) => {
            if (!(value >= 0))
              throw new Error(`counter ${name}: add(${value}) must be a non-negative number`);
            this.series(inst, merge(attributes)).value += value;
          },
        };
      },
      gauge: (name, options): Gauge => {
        const inst = this.instrument(name, 'gauge', options);
        return {
          set: (value, attributes) => {
            this.series(inst, merge(attributes)).value = value;
          },
        };
      },
      histogram: (name, options): Histogram => {
        const inst = this.instrument(name, 'histogram', options, options.boundaries);
        const bounds = inst.boundaries ?? [];
        return {
          record: (value, attributes) => {
            const s = this.series(inst, merge(attributes));
            s.count += 1;
            s.sum += value;
            let i = 0;
            while (i < bounds.length && value > (bounds[i] as number)) i++;
            for (let j = i; j < s.buckets.length; j++) s.buckets[j] = (s.buckets[j] as number) + 1;
          },
        };
      },
      observeGauge: (name, options, callback) => {
        this.instrument(name, 'gauge', options).observers.push({ scope, callback });
      },
      collect: () => this.collect(),
    };
  }

  /** Snapshot of every instrument, observers called now. A failing observer is skipped. */
  collect(): TelemetryMetric[] {
    const out: TelemetryMetric[] = [];
    for (const inst of this.instruments.values()) {
      const points: TelemetryPoint[] = [];
      for (const s of inst.series.values()) {
        points.push(
          inst.kind === 'histogram'
            ? {
                attributes: s.attributes,
                value: s.sum,
                histogram: { count: s.count, sum: s.sum, bucketCounts: [...s.buckets] },
              }
            : { attributes: s.attributes, value: s.value },
        );
      }
      for (const obs of inst.observers) {
        try {
          for (const p of obs.callback()) {
            points.push({ attributes: { ...p.attributes, ...obs.scope }, value: p.value });
          }
        } catch {
          // An observer that throws contributes no points; the rest still report.
        }
      }
      const metric: TelemetryMetric = {
        name: inst.name,
        description: inst.options.description,
        unit: inst.options.unit,
        type: inst.kind,
        startTimeMs: this.startTimeMs,
        points,
      };
      if (inst.boundaries !== undefined) metric.boundaries = inst.boundaries;
      out.push(metric);
    }
    return out;
  }
}
