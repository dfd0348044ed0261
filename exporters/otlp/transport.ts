/**
 * Sends encoded OTLP requests: over gRPC with `@grpc/grpc-js` directly (the
 * encoded bytes handed to the channel as they are), over HTTP/protobuf with
 * the official OpenTelemetry JS transport (`otlp-exporter-base`: the same
 * agent, TLS, compression, timeout and bounded retry as the SDK's
 * OTLPMetricExporter, with our serializer plugged in), and classifies their
 * errors into retryable or not, after the OTLP specification.
 */
import type { ServiceError } from '@grpc/grpc-js';
import { Client, Metadata, credentials } from '@grpc/grpc-js';
import { ExportResultCode } from '@opentelemetry/core';
import type { PartialSuccess } from './protobuf.ts';
import { readPartialSuccess } from './protobuf.ts';
import type { CompressionAlgorithm, IOtlpExportDelegate } from '@opentelemetry/otlp-exporter-base';
import {
  convertLegacyHttpOptions,
  createOtlpHttpExportDelegate,
} from '@opentelemetry/otlp-exporter-base/node-http';

type Compression = CompressionAlgorithm;

export type OtlpProtocol = 'grpc' | 'http/protobuf';

export interface TransportOptions {
  protocol: OtlpProtocol;
  /** Full URL: `http(s)://host:port` for gRPC, `http(s)://host:port/v1/metrics` for HTTP. */
  url: string;
  headers: Readonly<Record<string, string>>;
  compression: 'gzip' | 'none';
  timeoutMs: number;
  /** PEM contents; only used with an `https` URL. */
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** Most requests in flight at once. */
  concurrency: number;
}

/** Why an export failed, as counted in self-telemetry and logged on state changes. */
export class ExportError extends Error {
  /** Short machine-readable kind: a gRPC status name, `http_<status>`, a socket error code... */
  readonly errorType: string;
  /** True when the OTLP spec says to retry (UNAVAILABLE, 429/502/503/504, connection refused...). */
  readonly retryable: boolean;

  constructor(message: string, errorType: string, retryable: boolean, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'ExportError';
    this.errorType = errorType;
    this.retryable = retryable;
  }
}

/** gRPC status codes, by number (grpc-js `status`). */
const GRPC_STATUS_NAMES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
] as const;

/** Retryable gRPC codes in the OTLP specification. */
const GRPC_RETRYABLE = new Set([
  'CANCELLED',
  'DEADLINE_EXCEEDED',
  'RESOURCE_EXHAUSTED',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNAVAILABLE',
  'DATA_LOSS',
]);

const NETWORK_RETRYABLE = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENOTFOUND',
  'ENETUNREACH',
  'EHOSTUNREACH',
]);

/**
 * Classifies an error of the official exporters.
 *
 * - gRPC errors carry a numeric `code` and `metadata`: retryable per the OTLP spec list.
 * - HTTP errors carry the status as `code`: the exporter reports retryable statuses
 *   (429/502/503/504) after its own bounded retries without a code, so a code here is final.
 * - Socket errors carry a string `code` (`ECONNREFUSED`...).
 * - Anything else (timeouts, "retryable status") is retryable.
 *
 * @example
 * classifyExportError(Object.assign(new Error('x'), { code: 14, metadata: {} })).errorType; // 'UNAVAILABLE'
 */
export function classifyExportError(error: unknown): ExportError {
  if (error instanceof ExportError) return error;
  const e = error as { code?: unknown; metadata?: unknown; message?: unknown } | undefined;
  const message = typeof e?.message === 'string' ? e.message : String(error);
  if (typeof e?.code === 'number' && e.metadata !== undefined) {
    const name = GRPC_STATUS_NAMES[e.code] ?? `grpc_${e.code}`;
    return new ExportError(message, name, GRPC_RETRYABLE.has(name), error);
  }
  if (typeof e?.code === 'number') {
    const retryable = e.code === 429 || e.code === 502 || e.code === 503 || e.code === 504;
    return new ExportError(`HTTP ${e.code}: ${message}`, `http_${e.code}`, retryable, error);
  }
  if (typeof e?.code === 'string') {
    return new ExportError(
      message,
      e.code,
      NETWORK_RETRYABLE.has(e.code) || !e.code.startsWith('ERR_'),
      error,
    );
  }
  if (/timed? ?out|deadline/i.test(message)) return new ExportError(message, 'timeout', true, error);
  return new ExportError(message, 'retryable_status', true, error);
}

/** Sends one encoded request; resolves when the backend accepted it, rejects with an `ExportError`. */
export interface MetricsSender {
  /** Resolves with what the backend said it refused (0 points when it took everything). */
  send(body: Uint8Array): Promise<PartialSuccess>;
  shutdown(): Promise<void>;
}

/** A request already encoded. */
interface EncodedRequest {
  body: Uint8Array;
}

/**
 * The official delegate serializes with this (the bytes as they are) and
 * decodes the response with it right before it calls back for the same
 * request, in the same tick: `last` is read and reset by that callback.
 */
function passThrough(): {
  serializeRequest: (request: EncodedRequest) => Uint8Array;
  deserializeResponse: (data: Uint8Array) => PartialSuccess;
  last: PartialSuccess;
} {
  const serializer = {
    last: { rejectedDataPoints: 0, errorMessage: '' },
    serializeRequest: (request: EncodedRequest): Uint8Array => request.body,
    deserializeResponse: (data: Uint8Array): PartialSuccess => {
      serializer.last = readPartialSuccess(data);
      return serializer.last;
    },
  };
  return serializer;
}

/** The SDK's own exporter metrics are not collected (no meter provider); ours are in exporter.ts. */
const metricsHelper = { name: 'metric_data_point' as const, countItems: (): number => 0 };

function createHttpDelegate(
  options: TransportOptions,
  serializer: ReturnType<typeof passThrough>,
): IOtlpExportDelegate<EncodedRequest> {
  const compression = options.compression as Compression;
  const secure = options.url.startsWith('https:');
  const config = convertLegacyHttpOptions(
    {
      url: options.url,
      headers: { ...options.headers },
      compression,
      timeoutMillis: options.timeoutMs,
      concurrencyLimit: options.concurrency,
      httpAgentOptions: secure
        ? { keepAlive: true, ca: options.ca, cert: options.cert, key: options.key }
        : { keepAlive: true },
    },
    'METRICS',
    'v1/metrics',
    { 'Content-Type': 'application/x-protobuf' },
  );
  return createOtlpHttpExportDelegate(
    config,
    serializer,
    'otlp_http_metric_exporter',
    metricsHelper,
    undefined,
  );
}

const GRPC_EXPORT_PATH = '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export';

/** grpc-js compression algorithm ids (`compression-algorithms.ts`). */
const GRPC_COMPRESSION = { none: 0, gzip: 2 } as const;

/** The request bytes as a Buffer over the same memory (no copy). */
function asBuffer(body: Uint8Array): Buffer {
  return Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

/**
 * A gRPC sender over one grpc-js channel. The encoded request goes to the
 * channel as it is (grpc-js then copies it once into its 5-byte framed message,
 * or compresses it): the SDK's transport copied each request once more before
 * that, and its export delegate added a queue and promise bookkeeping per
 * request.
 */
function createGrpcSender(options: TransportOptions): MetricsSender {
  const url = new URL(options.url);
  const secure = url.protocol === 'https:';
  const port = url.port === '' ? (secure ? '443' : '80') : url.port;
  const client = new Client(
    `${url.hostname}:${port}`,
    secure
      ? credentials.createSsl(options.ca ?? null, options.key ?? null, options.cert ?? null)
      : credentials.createInsecure(),
    {
      'grpc.default_compression_algorithm': GRPC_COMPRESSION[options.compression],
      'grpc.primary_user_agent': 'loggerhead',
    },
  );
  const metadata = new Metadata();
  for (const [k, v] of Object.entries(options.headers)) metadata.set(k, v);
  return {
    send: (body) =>
      new Promise((resolve, reject) => {
        client.makeUnaryRequest<Buffer, PartialSuccess>(
          GRPC_EXPORT_PATH,
          (request) => request,
          readPartialSuccess,
          asBuffer(body),
          metadata,
          { deadline: Date.now() + options.timeoutMs },
          (error: ServiceError | null, partial?: PartialSuccess) => {
            if (error !== null) reject(classifyExportError(error));
            else resolve(partial ?? { rejectedDataPoints: 0, errorMessage: '' });
          },
        );
      }),
    shutdown: () => {
      client.close();
      return Promise.resolve();
    },
  };
}

/**
 * A sender: gRPC over one grpc-js channel, or HTTP/protobuf over one HTTP
 * agent with the SDK's bounded retry of 429/502/503/504 within the timeout.
 *
 * @example
 * const sender = createSender({ protocol: 'grpc', url: 'http://127.0.0.1:4317', headers: {},
 *   compression: 'none', timeoutMs: 10_000, concurrency: 64 });
 * await sender.send(body);
 */
export function createSender(options: TransportOptions): MetricsSender {
  if (options.protocol === 'grpc') return createGrpcSender(options);
  const serializer = passThrough();
  const delegate = createHttpDelegate(options, serializer);
  return {
    send: (body) =>
      new Promise((resolve, reject) => {
        delegate.export({ body }, (result) => {
          // A response without a body was not decoded: `last` is then the reset value.
          const partial = serializer.last;
          serializer.last = { rejectedDataPoints: 0, errorMessage: '' };
          if (result.code === ExportResultCode.SUCCESS) resolve(partial);
          else reject(classifyExportError(result.error ?? new Error('export failed without an error')));
        });
      }),
    shutdown: () => delegate.shutdown(),
  };
}
