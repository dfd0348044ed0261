/**
 * The `otlp` exporter factory: config schema, validation into exporter
 * options, and creation. See README.md beside this file.
 */
import type * as NodeCrypto from 'node:crypto';
import type { KeyObject, X509Certificate } from 'node:crypto';
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
  tls: {
    insecure: boolean;
    insecure_skip_verify: boolean;
    server_name_override: string;
    ca_file: string;
    cert_file: string;
    key_file: string;
  };
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

/**
 * Node's `crypto` (and `tls`, in `defaultRoots`) are loaded by the first config
 * that needs them, not with the built-in factories: the default pipeline has
 * no otlp exporter and does without them.
 */
function nodeCrypto(): typeof NodeCrypto {
  return process.getBuiltinModule('node:crypto');
}

function readTlsFile(field: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new Error(`otlp: tls.${field} ${JSON.stringify(path)} cannot be read: ${(e as Error).message}`, {
      cause: e,
    });
  }
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** The certificates of a PEM file, parsed; throws naming the field when there is none or one is broken. */
function readCertificates(field: string, path: string): { pem: Buffer; certificates: X509Certificate[] } {
  const { X509Certificate: Certificate } = nodeCrypto();
  const pem = readTlsFile(field, path);
  const blocks = pem.toString('latin1').match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) {
    throw new Error(
      `otlp: tls.${field} ${JSON.stringify(path)} holds no PEM certificate (expected "-----BEGIN CERTIFICATE-----" blocks)`,
    );
  }
  const certificates = blocks.map((block, i) => {
    try {
      return new Certificate(block);
    } catch (e) {
      throw new Error(
        `otlp: tls.${field} ${JSON.stringify(path)}: certificate ${i + 1} of ${blocks.length} cannot be parsed: ${(e as Error).message}`,
        { cause: e },
      );
    }
  });
  return { pem, certificates };
}

function readPrivateKey(path: string): { pem: Buffer; key: KeyObject } {
  const pem = readTlsFile('key_file', path);
  const unusable = (reason: string, cause?: unknown): Error =>
    new Error(
      `otlp: tls.key_file ${JSON.stringify(path)} holds no usable PEM private key: ${reason}`,
      cause === undefined ? undefined : { cause },
    );
  const text = pem.toString('latin1');
  if (text.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----') || text.includes('Proc-Type: 4,ENCRYPTED')) {
    throw unusable('it is encrypted (a passphrase-protected key is not supported)');
  }
  try {
    return { pem, key: nodeCrypto().createPrivateKey(pem) };
  } catch (e) {
    throw unusable((e as Error).message, e);
  }
}

/**
 * The CA roots used when `tls.ca_file` is empty: Node's own (its bundled
 * Mozilla list, plus NODE_EXTRA_CA_CERTS) and the operating system's trust
 * store (`/etc/ssl/certs`, or SSL_CERT_FILE / SSL_CERT_DIR), as a Collector
 * written in Go uses.
 */
function defaultRoots(): Buffer {
  const { getCACertificates } = process.getBuiltinModule('node:tls');
  const roots = new Set([...getCACertificates('default'), ...getCACertificates('system')]);
  return Buffer.from([...roots].join('\n'));
}

/** The TLS part of the transport options for an `https` URL, every file read and checked. */
function tlsOptions(tls: OtlpExporterConfig['tls']): Partial<TransportOptions> {
  const out: Partial<TransportOptions> = {};
  if (tls.ca_file !== '') {
    out.ca = readCertificates('ca_file', tls.ca_file).pem;
    out.caSource = `tls.ca_file ${JSON.stringify(tls.ca_file)}`;
  } else {
    out.ca = defaultRoots();
    out.caSource = 'the system and Node CA roots (tls.ca_file is empty)';
  }
  if (tls.cert_file !== '') {
    const { pem: cert, certificates } = readCertificates('cert_file', tls.cert_file);
    const { pem: key, key: privateKey } = readPrivateKey(tls.key_file);
    if (!(certificates[0] as X509Certificate).checkPrivateKey(privateKey)) {
      throw new Error(
        `otlp: tls.key_file ${JSON.stringify(tls.key_file)} is not the key of the certificate in tls.cert_file ${JSON.stringify(tls.cert_file)}`,
      );
    }
    out.cert = cert;
    out.key = key;
  }
  if (tls.insecure_skip_verify) out.insecureSkipVerify = true;
  if (tls.server_name_override !== '') out.serverName = tls.server_name_override;
  return out;
}

/** An HTTP field name (RFC 9110 token). */
const HTTP_HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** An HTTP field value: visible characters, spaces and tabs (no CR, LF or NUL). */
const HTTP_HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** A gRPC metadata key once lowercased, and an ASCII (non-binary) value: what grpc-js accepts. */
const GRPC_METADATA_KEY = /^[0-9a-z_.-]+$/;
const GRPC_METADATA_VALUE = /^[\x20-\x7e]*$/;

/** Rejects a header that HTTP or gRPC would refuse at send time, naming it (never showing its value). */
function checkHeaders(headers: Readonly<Record<string, string>>, protocol: OtlpProtocol): void {
  const grpc = protocol === 'grpc';
  for (const [name, value] of Object.entries(headers)) {
    const field = `headers.${name}`;
    if (grpc ? !GRPC_METADATA_KEY.test(name.toLowerCase()) : !HTTP_HEADER_NAME.test(name)) {
      throw new Error(
        grpc
          ? `otlp: header name ${JSON.stringify(name)} is not a valid gRPC metadata key (letters, digits, _ . -)`
          : `otlp: header name ${JSON.stringify(name)} is not a valid HTTP field name (letters, digits and !#$%&'*+.^_\`|~-)`,
      );
    }
    if (!(grpc ? GRPC_METADATA_VALUE : HTTP_HEADER_VALUE).test(value)) {
      throw new Error(
        grpc
          ? `otlp: ${field} has a character not allowed in gRPC metadata (printable ASCII only; the value is not shown)`
          : `otlp: ${field} has a character not allowed in a header value (control characters such as a newline; the value is not shown)`,
      );
    }
    if (grpc && name.toLowerCase().endsWith('-bin')) {
      throw new Error(`otlp: ${field}: gRPC metadata ending in -bin is binary, not supported here`);
    }
    if (grpc && name.toLowerCase().startsWith('grpc-')) {
      throw new Error(`otlp: ${field}: gRPC metadata starting with grpc- is reserved for gRPC itself`);
    }
  }
}

/** Validates the config into exporter options; throws naming the field and value. */
export function exporterOptions(config: OtlpExporterConfig): OtlpExporterOptions {
  const url = endpointUrl(config.endpoint, config.protocol, config.tls.insecure);
  if ((config.tls.cert_file === '') !== (config.tls.key_file === '')) {
    throw new Error(
      config.tls.cert_file === ''
        ? `otlp: tls.key_file ${JSON.stringify(config.tls.key_file)} is set without tls.cert_file (a client certificate needs both)`
        : `otlp: tls.cert_file ${JSON.stringify(config.tls.cert_file)} is set without tls.key_file (a client certificate needs both)`,
    );
  }
  if (url.startsWith('http:')) {
    const tls = config.tls;
    const set = [
      ...(tls.ca_file === '' ? [] : ['tls.ca_file']),
      ...(tls.cert_file === '' ? [] : ['tls.cert_file', 'tls.key_file']),
      ...(tls.insecure_skip_verify ? ['tls.insecure_skip_verify'] : []),
      ...(tls.server_name_override === '' ? [] : ['tls.server_name_override']),
    ];
    if (set.length > 0) {
      const why = /^http:\/\//i.test(config.endpoint) ? 'an http:// URL' : 'tls.insecure: true';
      throw new Error(
        `otlp: ${set.join(', ')} ${set.length === 1 ? 'is' : 'are'} set, but the endpoint ${JSON.stringify(config.endpoint)} is plaintext (${why}): use TLS or remove ${set.length === 1 ? 'it' : 'them'}`,
      );
    }
  }
  checkHeaders(config.headers, config.protocol);
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
  if (url.startsWith('https:')) Object.assign(transport, tlsOptions(config.tls));
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
          insecure_skip_verify: {
            type: 'boolean',
            description:
              'TLS without verifying the server certificate: encrypted, but not authenticated (anyone in the path can read and change what is sent)',
            default: false,
          },
          server_name_override: {
            type: 'string',
            description:
              'Host name to request (SNI) and to verify the server certificate against, instead of the endpoint host',
            default: '',
          },
          ca_file: {
            type: 'string',
            description: 'PEM CA bundle to verify the server (empty: the system and Node CA roots)',
            default: '',
          },
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
