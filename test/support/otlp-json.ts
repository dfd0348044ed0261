/**
 * OTLP metrics requests in their JSON form (what the Collector's file exporter
 * writes, and what the OpenTelemetry project's generated protobuf code gives
 * for a request body with int64 as strings), and the flat points a test
 * asserts on.
 */
import { createRequire } from 'node:module';

export interface OtlpJsonAnyValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
}
export interface OtlpJsonKeyValue {
  key: string;
  value: OtlpJsonAnyValue;
}
export interface OtlpJsonNumberPoint {
  attributes?: OtlpJsonKeyValue[];
  startTimeUnixNano?: string;
  timeUnixNano?: string;
  asInt?: string;
  asDouble?: number;
  count?: string;
  sum?: number;
  bucketCounts?: string[];
  explicitBounds?: number[];
}
export interface OtlpJsonMetric {
  name: string;
  unit?: string;
  description?: string;
  sum?: { dataPoints?: OtlpJsonNumberPoint[]; aggregationTemporality?: number; isMonotonic?: boolean };
  gauge?: { dataPoints?: OtlpJsonNumberPoint[] };
  histogram?: { dataPoints?: OtlpJsonNumberPoint[]; aggregationTemporality?: number };
}
export interface OtlpJsonRequest {
  resourceMetrics?: Array<{
    resource?: { attributes?: OtlpJsonKeyValue[] };
    scopeMetrics?: Array<{ scope?: { name?: string }; metrics?: OtlpJsonMetric[] }>;
  }>;
}

interface ProtoType {
  decode(buf: Uint8Array): unknown;
  toObject(message: unknown, options: Record<string, unknown>): Record<string, unknown>;
}
const generated = createRequire(import.meta.url)(
  '@opentelemetry/otlp-transformer/build/src/generated/root.js',
) as {
  opentelemetry: { proto: { collector: { metrics: { v1: { ExportMetricsServiceRequest: ProtoType } } } } };
};
const Request = generated.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;

/**
 * A protobuf ExportMetricsServiceRequest body decoded by an independent
 * decoder, the OpenTelemetry project's generated code (int64 as strings,
 * enums as numbers, empty repeated fields as []).
 */
export function decodeMetricsRequest(body: Uint8Array): OtlpJsonRequest {
  return Request.toObject(Request.decode(body), {
    longs: String,
    enums: Number,
    arrays: true,
  }) as unknown as OtlpJsonRequest;
}

function anyValue(v: OtlpJsonAnyValue): string | number | boolean {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.boolValue !== undefined) return v.boolValue;
  return '';
}

/** Key/value attributes as a record: int values as numbers. */
export function attributeValues(
  kvs: OtlpJsonKeyValue[] | undefined,
): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const kv of kvs ?? []) out[kv.key] = anyValue(kv.value);
  return out;
}

/** One data point of a request, flattened with its metric and resource. */
export interface CollectedPoint {
  resource: Record<string, string | number | boolean>;
  scope: string;
  name: string;
  unit: string;
  description: string;
  type: 'sum' | 'gauge' | 'histogram';
  /** 1 delta, 2 cumulative; undefined for gauges. */
  temporality?: number;
  monotonic?: boolean;
  attributes: Record<string, string | number | boolean>;
  startTimeUnixNano: bigint;
  timeUnixNano: bigint;
  /** asInt / asDouble; for histograms the count. */
  value: number;
  /** True when the value came as `asInt`. */
  isInt: boolean;
  histogram?: { count: number; sum: number; bucketCounts: number[]; explicitBounds: number[] };
}

/** Every data point of a request, flattened with its metric and resource, in request order. */
export function requestPoints(request: OtlpJsonRequest): CollectedPoint[] {
  const out: CollectedPoint[] = [];
  for (const rm of request.resourceMetrics ?? []) {
    const resource = attributeValues(rm.resource?.attributes);
    for (const sm of rm.scopeMetrics ?? []) {
      for (const m of sm.metrics ?? []) {
        const base = {
          resource,
          scope: sm.scope?.name ?? '',
          name: m.name,
          unit: m.unit ?? '',
          description: m.description ?? '',
        };
        const kinds: Array<[CollectedPoint['type'], OtlpJsonNumberPoint[] | undefined]> = [
          ['sum', m.sum?.dataPoints],
          ['gauge', m.gauge?.dataPoints],
          ['histogram', m.histogram?.dataPoints],
        ];
        for (const [type, points] of kinds) {
          for (const p of points ?? []) {
            const point: CollectedPoint = {
              ...base,
              type,
              attributes: attributeValues(p.attributes),
              startTimeUnixNano: BigInt(p.startTimeUnixNano ?? '0'),
              timeUnixNano: BigInt(p.timeUnixNano ?? '0'),
              value: p.asInt !== undefined ? Number(p.asInt) : (p.asDouble ?? Number(p.count ?? 0)),
              isInt: p.asInt !== undefined,
            };
            if (type === 'sum') {
              point.temporality = m.sum?.aggregationTemporality ?? 0;
              point.monotonic = m.sum?.isMonotonic ?? false;
            }
            if (type === 'histogram') {
              point.temporality = m.histogram?.aggregationTemporality ?? 0;
              point.histogram = {
                count: Number(p.count ?? 0),
                sum: p.sum ?? 0,
                bucketCounts: (p.bucketCounts ?? []).map(Number),
                explicitBounds: p.explicitBounds ?? [],
              };
            }
            out.push(point);
          }
        }
      }
    }
  }
  return out;
}
