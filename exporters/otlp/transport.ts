/**
 * Sends encoded OTLP requests: over gRPC with `@grpc/grpc-js` directly (the
 * encoded bytes handed to the channel as they are), over HTTP/protobuf with
 * the official OpenTelemetry JS transport (`otlp-exporter-base`: the same
 * agent, TLS, compression, timeout and bounded retry as the SDK's
 * OTLPMetricExporter, with our serializer plugged in), and classifies their
 * errors into retryable or not, after the OTLP specification.
 */
import type { SecureContext } from 'node:tls';
import { createSecureContext } from 'node:tls';
import type { ServiceError } from '@grpc/grpc-js';
import { Client, Metadata, credentials } from '@grpc/grpc-js';
import { ExportResultCode } from '@opentelemetry/core';
import type { PartialSuccess } from './protobuf.ts';
import { LEN, readFields, readPartialSuccess } from './protobuf.ts';
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
  /** Accept any server certificate (`tls.insecure_skip_verify`); only used with an `https` URL. */
  insecureSkipVerify?: boolean;
  /** Name to send as TLS server name and to verify the certificate against, instead of the URL's host. */
  serverName?: string;
  /** Where `ca` came from, for error messages: `tls.ca_file "/path"` or the default roots. */
  caSource?: string;
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
 * A server certificate that failed verification, as OpenSSL and Node word it
 * (X509 verify errors, and Node's host name check).
 */
const CERTIFICATE_REJECTED =
  /unable to verify the first certificate|self[- ]signed certificate|unable to get (?:local )?issuer certificate|certificate has expired|certificate is not yet valid|does not match certificate's altnames|certificate signature failure|invalid CA certificate|certificate (?:has been )?revoked|unsupported certificate purpose|certificate not trusted|certificate rejected/i;

/** Other TLS handshake failures: OpenSSL errors and alerts from the server. */
const HANDSHAKE_FAILED = /SSL routines|wrong version number|(?:tlsv1\d?|sslv3) alert /i;

/** What grpc-js wraps around the socket's error, and a timestamp it may add. */
const GRPC_CONNECT_WRAPPER =
  /^\d+ UNAVAILABLE: No connection established\. Last error: (?:Error(?: \[[A-Z0-9_]+\])?: )?/;
const GRPC_CONNECT_TAIL = /(?: \([0-9T:.Z-]+\))?\.? Resolution note:.*$/s;

/** Node's advice to use the system store: the exporter already adds it when `tls.ca_file` is empty. */
const NODE_SYSTEM_CA_HINT =
  /; if the root CA is installed locally, try running Node\.js with --use-system-ca/;

/**
 * The cause of a TLS failure in words that say what to change, or undefined
 * when `text` (a Node or grpc-js message) is no TLS failure.
 *
 * @example
 * tlsFailure('unable to verify the first certificate', 'tls.ca_file "/etc/ca.pem"')?.errorType; // 'tls_certificate'
 */
export function tlsFailure(
  text: string,
  caSource = 'the default CA roots',
): { errorType: 'tls_certificate' | 'tls_handshake'; message: string } | undefined {
  const certificate = CERTIFICATE_REJECTED.exec(text);
  const socketError = text
    .replace(GRPC_CONNECT_WRAPPER, '')
    .replace(GRPC_CONNECT_TAIL, '')
    .replace(NODE_SYSTEM_CA_HINT, '')
    .trim();
  if (certificate !== null) {
    const what = certificate[0].toLowerCase();
    const detail = what.includes('does not match')
      ? 'the certificate does not name the endpoint host'
      : what.includes('expired') || what.includes('not yet valid')
        ? "the certificate is outside its validity period: check its dates and this host's clock"
        : `it is not trusted by ${caSource}`;
    return {
      errorType: 'tls_certificate',
      message: `TLS certificate verification failed: the server's certificate was rejected (${detail}): ${socketError}`,
    };
  }
  const handshake = HANDSHAKE_FAILED.exec(text);
  if (handshake === null) return undefined;
  const alert = /(?:tlsv1\d?|sslv3) alert ([a-z ]+?)(?::|$)/im.exec(text)?.[1];
  let cause: string;
  if (/wrong version number|packet length too long|http request/i.test(text)) {
    cause = 'the server does not speak TLS (a plaintext endpoint needs tls.insecure: true or an http:// URL)';
  } else if (alert === 'certificate required') {
    cause = 'the server requires a client certificate (set tls.cert_file and tls.key_file)';
  } else if (alert === 'unknown ca' || alert === 'bad certificate' || alert === 'certificate unknown') {
    cause = `the server refused the client certificate of tls.cert_file (alert "${alert}": not signed by a CA it trusts)`;
  } else if (alert !== undefined) {
    cause = `the server sent the TLS alert "${alert}"`;
  } else {
    cause = 'the TLS handshake failed';
  }
  // OpenSSL's own words, without its error-stack prefix and source location.
  const reason = /SSL routines:[^:]*:([^:\n]+)/.exec(socketError)?.[1] ?? socketError.split('\n')[0];
  return { errorType: 'tls_handshake', message: `TLS handshake failed: ${cause}: ${reason}` };
}

/**
 * What an HTTP error response said: the `message` of a google.rpc.Status
 * (protobuf, as the Collector answers) or the text of the body, at most 300
 * characters; '' when there is nothing readable.
 */
export function httpErrorDetail(body: unknown): string {
  if (typeof body !== 'string' || body === '') return '';
  let text = body;
  if (body.charCodeAt(0) === 0x08 || body.charCodeAt(0) === 0x12) {
    // The transport decoded the body as UTF-8; a Status with ASCII text survives that unchanged.
    try {
      let message = '';
      readFields(Buffer.from(body, 'utf8'), (field, wireType, value) => {
        if (field === 2 && wireType === LEN && typeof value !== 'number') {
          message = Buffer.from(value).toString('utf8');
        }
      });
      text = message;
    } catch {
      text = body;
    }
  }
  const printable = text.replace(/[^\x20-\x7e\u00a0-\uffff]+/g, ' ').trim();
  return printable.length > 300 ? `${printable.slice(0, 300)}...` : printable;
}

/**
 * Classifies an error of the official exporters.
 *
 * - TLS failures (a server certificate that failed verification: `tls_certificate`;
 *   a handshake the server refused or a server without TLS: `tls_handshake`) are
 *   recognized in the message, for gRPC (where grpc-js reports them as `UNAVAILABLE`)
 *   and HTTP alike, and retryable: fixing the server needs no agent restart, and a
 *   retry costs one handshake per backoff.
 * - gRPC errors carry a numeric `code` and `metadata`: retryable per the OTLP spec list.
 * - HTTP errors carry the status as `code`: the exporter reports retryable statuses
 *   (429/502/503/504) after its own bounded retries without a code, so a code here is final.
 *   The message carries what the response body said.
 * - Socket errors carry a string `code` (`ECONNREFUSED`...).
 * - Anything else (timeouts, "retryable status") is retryable.
 *
 * @example
 * classifyExportError(Object.assign(new Error('x'), { code: 14, metadata: {} })).errorType; // 'UNAVAILABLE'
 */
export function classifyExportError(error: unknown, caSource?: string): ExportError {
  if (error instanceof ExportError) return error;
  const e = error as { code?: unknown; metadata?: unknown; message?: unknown; data?: unknown } | undefined;
  const message = typeof e?.message === 'string' ? e.message : String(error);
  // grpc-js reports a failed connection as UNAVAILABLE (14) with the socket's error in the message.
  const grpcCode = typeof e?.code === 'number' && e.metadata !== undefined ? e.code : undefined;
  const tls =
    grpcCode === 14 || typeof e?.code === 'string' || e?.code === undefined
      ? tlsFailure(message, caSource)
      : undefined;
  if (tls !== undefined) return new ExportError(tls.message, tls.errorType, true, error);
  if (grpcCode !== undefined) {
    const name = GRPC_STATUS_NAMES[grpcCode] ?? `grpc_${grpcCode}`;
    return new ExportError(message, name, GRPC_RETRYABLE.has(name), error);
  }
  if (typeof e?.code === 'number') {
    const retryable = e.code === 429 || e.code === 502 || e.code === 503 || e.code === 504;
    const detail = httpErrorDetail(e.data);
    return new ExportError(
      `HTTP ${e.code}: ${message}${detail === '' ? '' : `: ${detail}`}`,
      `http_${e.code}`,
      retryable,
      error,
    );
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

const secureContexts = new WeakMap<TransportOptions, SecureContext>();

/**
 * One TLS context per configured transport, shared by its connections and by
 * the fresh gRPC channels of retries: building one parses every CA certificate
 * given, which with the system and Node roots (about 270) cost 15-20 ms of CPU
 * per new connection when each connection built its own.
 */
function secureContextOf(options: TransportOptions): SecureContext {
  let context = secureContexts.get(options);
  if (context === undefined) {
    context = createSecureContext({
      ...(options.ca === undefined ? {} : { ca: options.ca }),
      ...(options.cert === undefined ? {} : { cert: options.cert }),
      ...(options.key === undefined ? {} : { key: options.key }),
    });
    secureContexts.set(options, context);
  }
  return context;
}

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
        ? {
            keepAlive: true,
            secureContext: secureContextOf(options),
            rejectUnauthorized: options.insecureSkipVerify !== true,
            ...(options.serverName === undefined ? {} : { servername: options.serverName }),
          }
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

/** What grpc-js says when a server accepted the connection and closed it before HTTP/2 started. */
const GRPC_CLOSED_BEFORE_HTTP2 = /Last error: Failed to connect\b/;

/**
 * A gRPC failure as an `ExportError`; on a plaintext channel, a connection the
 * server closed before HTTP/2 started (what a TLS server does with plaintext)
 * says what to check.
 */
function grpcExportError(error: ServiceError, secure: boolean, caSource: string | undefined): ExportError {
  const classified = classifyExportError(error, caSource);
  if (
    secure ||
    classified.errorType !== 'UNAVAILABLE' ||
    !GRPC_CLOSED_BEFORE_HTTP2.test(classified.message)
  ) {
    return classified;
  }
  return new ExportError(
    `${classified.message.replace(GRPC_CONNECT_TAIL, '')}: the server closed the connection before HTTP/2 started; if it expects TLS, remove tls.insecure or use an https:// endpoint`,
    classified.errorType,
    classified.retryable,
    error,
  );
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
      ? credentials.createFromSecureContext(secureContextOf(options), {
          rejectUnauthorized: options.insecureSkipVerify !== true,
        })
      : credentials.createInsecure(),
    {
      'grpc.default_compression_algorithm': GRPC_COMPRESSION[options.compression],
      'grpc.primary_user_agent': 'loggerhead',
      ...(secure && options.serverName !== undefined
        ? { 'grpc.ssl_target_name_override': options.serverName }
        : {}),
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
            if (error !== null) reject(grpcExportError(error, secure, options.caSource));
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
          else
            reject(
              classifyExportError(
                result.error ?? new Error('export failed without an error'),
                options.caSource,
              ),
            );
        });
      }),
    shutdown: () => delegate.shutdown(),
  };
}
