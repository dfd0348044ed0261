/**
 * The `otlp` exporter factory: config schema, validation into exporter
 * options, and creation. See README.md beside this file.
 */
import { readFileSync } from 'node:fs';
import type { ExporterFactory } from '../../core/component.ts';
import type { OtlpExporterOptions } from './exporter.ts';
import { agentResourceAttributes, OtlpExporter } from './exporter.ts';
import type { Temporality } from './snapshot.ts';
import type { OtlpProtocol, TransportOptions } from './transport.ts';

/** The validated YAML config (durations in ms, keys as written). */
export interface OtlpExporterConfig {
  endpoint: string;
  protocol: OtlpProtocol;
  headers: Record<string, string>;
  tls: { insecure: boolean; ca_file: string; cert_file: string; key_file: string };
  compression: 'gzip' | 'none';
  timeout: number;
  interval: number;
  temporality: Temporality;
  max_links_per_request: number;
  retry: { initial_interval: number; max_interval: number };
}

/** Requests in flight at once per snapshot; a snapshot of N links has ceil(N / max_links_per_request). */
const MAX_CONCURRENT_REQUESTS = 1024;

/**
 * Turns `endpoint` into the URL the official exporter wants.
 *
 * - `host:port` gets `https://`, or `http://` with `tls.insecure: true`.
 * - A URL keeps its scheme (`http://` means plaintext whatever `tls.insecure` says).
 * - For `http/protobuf`, an empty path becomes `/v1/metrics`.
 *
 * @example
 * endpointUrl('collector:4318', 'http/protobuf', true); // 'http://collector:4318/v1/metrics'
 */
export function endpointUrl(endpoint: string, protocol: OtlpProtocol, insecure: boolean): string {
  const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint);
  const raw = hasScheme ? endpoint : `${insecure ? 'http' : 'https'}://${endpoint}`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch (e) {
    throw new Error(`otlp: endpoint ${JSON.stringify(endpoint)} is not host:port or a URL`, { cause: e });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(
      `otlp: endpoint ${JSON.stringify(endpoint)} must use http:// or https://, not ${url.protocol}//`,
    );
  }
  if (url.port === '' && !hasScheme) {
    throw new Error(
      `otlp: endpoint ${JSON.stringify(endpoint)} has no port (expected host:port, e.g. collector:4317)`,
    );
  }
  if (protocol === 'grpc') {
    if (url.pathname !== '/' && url.pathname !== '') {
      throw new Error(`otlp: a gRPC endpoint has no path, got ${JSON.stringify(endpoint)}`);
    }
    return `${url.protocol}//${url.host}`;
  }
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/v1/metrics';
  return url.toString();
}

function readPem(field: string, path: string): Buffer | undefined {
  if (path === '') return undefined;
  try {
    return readFileSync(path);
  } catch (e) {
    throw new Error(`otlp: tls.${field} ${JSON.stringify(path)} cannot be read: ${(e as Error).message}`, {
      cause: e,
    });
  }
}

/** Validates the config into exporter options; throws naming the field and value. */
export function exporterOptions(config: OtlpExporterConfig): OtlpExporterOptions {
  const url = endpointUrl(config.endpoint, config.protocol, config.tls.insecure);
  if ((config.tls.cert_file === '') !== (config.tls.key_file === '')) {
    throw new Error('otlp: tls.cert_file and tls.key_file go together (client certificate and its key)');
  }
  if (config.retry.max_interval < config.retry.initial_interval) {
    throw new Error(
      `otlp: retry.max_interval (${config.retry.max_interval} ms) is below retry.initial_interval (${config.retry.initial_interval} ms)`,
    );
  }
  const transport: TransportOptions = {
    protocol: config.protocol,
    url,
    headers: config.headers,
    compression: config.compression,
    timeoutMs: config.timeout,
    concurrency: MAX_CONCURRENT_REQUESTS,
  };
  if (url.startsWith('https:')) {
    const ca = readPem('ca_file', config.tls.ca_file);
    const cert = readPem('cert_file', config.tls.cert_file);
    const key = readPem('key_file', config.tls.key_file);
    if (ca !== undefined) transport.ca = ca;
    if (cert !== undefined) transport.cert = cert;
    if (key !== undefined) transport.key = key;
  }
  return {
    transport,
    intervalMs: config.interval,
    temporality: config.temporality,
    maxLinksPerRequest: config.max_links_per_request,
    retryInitialMs: config.retry.initial_interval,
    retryMaxMs: config.retry.max_interval,
    resourceAttributes: agentResourceAttributes(),
  };
}

export const otlpExporterFactory: ExporterFactory<OtlpExporterConfig, 'links'> = {
  kind: 'exporter',
  type: 'otlp',
  stability: 'alpha',
  description: 'Pushes the link metrics and self-telemetry to an OTLP backend over gRPC or HTTP/protobuf',
  input: 'links',
  configSchema: {
    type: 'object',
    description: 'otlp exporter settings',
    required: ['endpoint'],
    fields: {
      endpoint: {
        type: 'string',
        description: 'host:port (TLS unless tls.insecure) or http(s)://host:port[/path]',
      },
      protocol: {
        type: 'string',
        description: 'grpc (port 4317) or http/protobuf (port 4318, path /v1/metrics)',
        enum: ['grpc', 'http/protobuf'],
        default: 'grpc',
      },
      headers: {
        type: 'map',
        description: 'Extra request headers (gRPC metadata), e.g. authorization',
        values: { type: 'string', description: 'header value' },
        default: {},
      },
      tls: {
        type: 'object',
        description: 'Transport security',
        fields: {
          insecure: {
            type: 'boolean',
            description: 'Plaintext for an endpoint without scheme (an http:// URL is always plaintext)',
            default: false,
          },
          ca_file: { type: 'string', description: 'PEM CA bundle to verify the server', default: '' },
          cert_file: { type: 'string', description: 'PEM client certificate (mutual TLS)', default: '' },
          key_file: { type: 'string', description: 'PEM key of the client certificate', default: '' },
        },
      },
      compression: {
        type: 'string',
        description: 'Request compression (gzip costs about 8 ms of CPU per 1k links, measured)',
        enum: ['gzip', 'none'],
        default: 'none',
      },
      timeout: { type: 'duration', description: 'Deadline of one request', default: '10s', minMs: 1 },
      interval: { type: 'duration', description: 'Time between two exports', default: '10s', minMs: 1 },
      temporality: {
        type: 'string',
        description: 'Aggregation temporality of the sums and histograms',
        enum: ['cumulative', 'delta'],
        default: 'cumulative',
      },
      max_links_per_request: {
        type: 'integer',
        description: 'Links per request (1000 links are about 2.6 MB, under the 4 MiB gRPC default limit)',
        default: 1000,
        min: 1,
      },
      retry: {
        type: 'object',
        description: 'Backoff after a retryable failure (doubles, ±20 % jitter)',
        fields: {
          initial_interval: { type: 'duration', description: 'First retry delay', default: '1s', minMs: 1 },
          max_interval: { type: 'duration', description: 'Longest retry delay', default: '30s', minMs: 1 },
        },
      },
    },
  },
  create: (settings, config) => new OtlpExporter(settings, exporterOptions(config)),
};
