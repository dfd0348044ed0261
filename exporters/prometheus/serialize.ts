/**
 * What one scrape shows: the link families of the latest batch, the optional
 * Caretta family, and the agent's self-telemetry, in either format. Pure: a
 * batch and a telemetry snapshot in, UTF-8 Buffers out.
 */
import type { Link, LinkBatch } from '../../core/signals.ts';
import type { TelemetryMetric } from '../../core/telemetry.ts';
import { LINK_ATTRIBUTE_KEYS, linkAttributeEntries } from '../common/attributes.ts';
import type { LinkAttributeKey } from '../common/attributes.ts';
import { LINK_METRICS } from '../common/link-metrics.ts';
import { prometheusLabelName, prometheusNames } from '../common/naming.ts';
import { CARETTA_METRIC, carettaSeries } from './caretta.ts';
import { ExpositionWriter, formatBound, formatSeconds } from './exposition.ts';
import type { ChunkPool } from './exposition.ts';
import type { ExpositionFormat } from './exposition.ts';

export interface SerializeOptions {
  format: ExpositionFormat;
  /** See `ExpositionWriterOptions.maxLabelValueLength`; 0 = no limit. */
  maxLabelValueLength: number;
  /** Adds `caretta_links_observed`. */
  carettaCompatible: boolean;
  /** OpenMetrics `_created` samples (see `ExpositionWriterOptions.createdLines`). @default true */
  createdLines?: boolean;
  /** Reuse Buffers (see `ChunkPool`); give each chunk back once sent. */
  pool?: ChunkPool;
}

/** A whole exposition in memory. */
export interface Exposition extends ExpositionStats {
  /** The exposition, UTF-8, in Buffers of about `CHUNK_BYTES`. */
  chunks: Buffer[];
}

/** `name="` for each link attribute, the first without a leading comma. */
const LABEL_OPENERS: Readonly<Record<LinkAttributeKey, { first: Buffer; next: Buffer }>> = Object.fromEntries(
  LINK_ATTRIBUTE_KEYS.map((k) => [
    k,
    { first: Buffer.from(`${prometheusLabelName(k)}="`), next: Buffer.from(`,${prometheusLabelName(k)}="`) },
  ]),
) as Record<LinkAttributeKey, { first: Buffer; next: Buffer }>;

const ARENA_BYTES = 1 << 20;
const QUOTE = 0x22;

/**
 * The label set of every link, escaped and UTF-8 encoded once, straight into
 * arenas of about 1 MiB, and shared by every sample of the link.
 */
function encodeLinkLabels(writer: ExpositionWriter, links: readonly Link[]): Uint8Array[] {
  const views = new Array<Uint8Array>(links.length);
  let arena = Buffer.allocUnsafe(ARENA_BYTES);
  let at = 0;
  for (let i = 0; i < links.length; i++) {
    const entries = linkAttributeEntries(links[i] as Link);
    const values = entries.map(([, value]) =>
      writer.labelValue(typeof value === 'string' ? value : String(value)),
    );
    let bound = 0;
    for (let e = 0; e < entries.length; e++) {
      bound +=
        LABEL_OPENERS[(entries[e] as [LinkAttributeKey, unknown])[0]].next.length +
        1 +
        3 * (values[e] as string).length;
    }
    if (at + bound > arena.length) {
      arena = Buffer.allocUnsafe(Math.max(ARENA_BYTES, bound));
      at = 0;
    }
    const start = at;
    for (let e = 0; e < entries.length; e++) {
      const opener = LABEL_OPENERS[(entries[e] as [LinkAttributeKey, unknown])[0]];
      const prefix = e === 0 ? opener.first : opener.next;
      arena.set(prefix, at);
      at += prefix.length;
      at += arena.write(values[e] as string, at, 'utf8');
      arena[at++] = QUOTE;
    }
    views[i] = arena.subarray(start, at);
  }
  return views;
}

/** Writes the link families of METRICS.md for every link of the batch, yielding each chunk as it fills. */
function* writeLinks(writer: ExpositionWriter, links: readonly Link[]): Generator<Buffer> {
  const labels = encodeLinkLabels(writer, links);
  let lastCreatedMs = NaN;
  let lastCreated = Buffer.alloc(0);
  const createdValue = (ms: number): Buffer => {
    if (ms !== lastCreatedMs) {
      lastCreatedMs = ms;
      lastCreated = Buffer.from(formatSeconds(ms));
    }
    return lastCreated;
  };
  for (const metric of LINK_METRICS) {
    const names = prometheusNames(metric.name, metric.unit, metric.type);
    writer.family(names, metric.type, metric.description);
    const head = Buffer.from(`${names.sample}{`);
    const createdHead = Buffer.from(`${names.family}_created{`);
    const created = writer.writesCreated && metric.type === 'counter';
    for (const point of metric.points) {
      const extra =
        point.attribute === undefined
          ? ''
          : `,${prometheusLabelName(point.attribute.key)}="${writer.labelValue(point.attribute.value)}"`;
      const tail = Buffer.from(`${extra}} `);
      for (let i = 0; i < links.length; i++) {
        const link = links[i] as Link;
        const linkLabels = labels[i] as Uint8Array;
        writer.sampleEncoded(head, linkLabels, tail, point.value(link));
        if (created) writer.createdEncoded(createdHead, linkLabels, tail, createdValue(link.startTimeMs));
        if (writer.hasFilled) yield* writer.takeFilled();
      }
    }
  }
}

/** Writes `caretta_links_observed` (a gauge, as Caretta publishes it). */
function* writeCaretta(writer: ExpositionWriter, links: readonly Link[]): Generator<Buffer> {
  writer.family(
    { family: CARETTA_METRIC, unit: '', sample: CARETTA_METRIC },
    'gauge',
    'Bytes sent by the observer socket of the link since the agent started (Caretta-compatible: role 1 = client socket, 2 = server socket).',
  );
  for (const series of carettaSeries(links)) {
    writer.sample(CARETTA_METRIC, writer.labels(series.labels), series.value);
    if (writer.hasFilled) yield* writer.takeFilled();
  }
}

/**
 * Label pairs of a telemetry point. Attribute keys that become the same label
 * name (`a.b` and `a_b`) are joined with `;` in key order, as the OTel spec
 * asks; `le` is reserved for histogram buckets and left out of histograms.
 */
function telemetryLabelPairs(
  attributes: Readonly<Record<string, string>>,
  histogram: boolean,
): Array<[string, string]> {
  const keys = Object.keys(attributes).sort();
  const byName = new Map<string, string>();
  for (const key of keys) {
    const name = prometheusLabelName(key);
    if (histogram && name === 'le') continue;
    const value = attributes[key] as string;
    const prior = byName.get(name);
    byName.set(name, prior === undefined ? value : `${prior};${value}`);
  }
  return [...byName];
}

/** Writes self-telemetry families; returns the names of families skipped as duplicates. */
function writeTelemetry(writer: ExpositionWriter, metrics: readonly TelemetryMetric[]): string[] {
  const skipped: string[] = [];
  for (const metric of metrics) {
    const names = prometheusNames(metric.name, metric.unit, metric.type);
    if (!writer.family(names, metric.type, metric.description)) {
      skipped.push(metric.name);
      continue;
    }
    for (const point of metric.points) {
      const histogram = metric.type === 'histogram' && point.histogram !== undefined;
      const labels = writer.labels(telemetryLabelPairs(point.attributes, histogram));
      if (!histogram || point.histogram === undefined) {
        writer.sample(names.sample, labels, point.value);
        if (metric.type === 'counter') writer.created(names.family, labels, metric.startTimeMs);
        continue;
      }
      const bounds = metric.boundaries ?? [];
      const prefix = labels === '' ? '' : `${labels},`;
      const counts = point.histogram.bucketCounts;
      for (let i = 0; i < bounds.length; i++) {
        writer.sample(
          `${names.family}_bucket`,
          `${prefix}le="${formatBound(bounds[i] as number, writer.format)}"`,
          counts[i] ?? 0,
        );
      }
      writer.sample(`${names.family}_bucket`, `${prefix}le="+Inf"`, point.histogram.count);
      writer.sample(`${names.family}_sum`, labels, point.histogram.sum);
      writer.sample(`${names.family}_count`, labels, point.histogram.count);
      writer.created(names.family, labels, metric.startTimeMs);
    }
  }
  return skipped;
}

/** What a scrape wrote, known once its chunks are all taken. */
export interface ExpositionStats {
  /** Sample lines written. */
  samples: number;
  /** Label values cut to the length limit. */
  truncatedLabelValues: number;
  /** Self-telemetry families left out because a family of the same Prometheus name was already written. */
  skippedFamilies: string[];
}

/**
 * Serialises one scrape as it is sent: yields UTF-8 chunks of about
 * `CHUNK_BYTES` (each ends with a whole line) and returns the stats. Work is
 * done as chunks are taken, so a slow scraper holds only a few chunks. The
 * list of links is taken when the first chunk is asked for. `batch` is the
 * latest batch of links (undefined before the first one); `telemetry` a
 * snapshot from `Telemetry.collect()`, or empty when self-telemetry is off.
 */
export function* streamExposition(
  batch: LinkBatch | undefined,
  telemetry: readonly TelemetryMetric[],
  options: SerializeOptions,
): Generator<Buffer, ExpositionStats> {
  const writer = new ExpositionWriter(options.format, {
    maxLabelValueLength: options.maxLabelValueLength,
    createdLines: options.createdLines !== false,
    ...(options.pool === undefined ? {} : { pool: options.pool }),
  });
  const links = [...(batch?.links ?? [])];
  yield* writeLinks(writer, links);
  if (options.carettaCompatible) yield* writeCaretta(writer, links);
  const skippedFamilies = writeTelemetry(writer, telemetry);
  yield* writer.takeFilled();
  yield* writer.finish();
  return { samples: writer.samples, truncatedLabelValues: writer.truncatedLabelValues, skippedFamilies };
}

/** Serialises one scrape into memory at once (see `streamExposition`). */
export function serializeExposition(
  batch: LinkBatch | undefined,
  telemetry: readonly TelemetryMetric[],
  options: SerializeOptions,
): Exposition {
  const chunks: Buffer[] = [];
  const stream = streamExposition(batch, telemetry, options);
  for (;;) {
    const next = stream.next();
    if (next.done === true) return { chunks, ...next.value };
    chunks.push(next.value);
  }
}

/** The whole exposition as one string (tests, small expositions). */
export function expositionText(exposition: Exposition): string {
  return Buffer.concat(exposition.chunks).toString('utf8');
}
