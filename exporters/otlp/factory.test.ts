import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDocument } from 'yaml';
import { validateConfig } from '../../core/config/validate.ts';
import { endpointUrl, exporterOptions, otlpExporterFactory } from './factory.ts';
import { factoryConfig } from '../../test/support/config.ts';
import { agentResourceAttributes } from './exporter.ts';

describe('otlp exporter config', () => {
  it('has the documented defaults', () => {
    assert.deepEqual(factoryConfig(otlpExporterFactory, 'endpoint: collector:4317'), {
      endpoint: 'collector:4317',
      protocol: 'grpc',
      headers: {},
      tls: {
        insecure: false,
        insecure_skip_verify: false,
        server_name_override: '',
        ca_file: '',
        cert_file: '',
        key_file: '',
      },
      compression: 'none',
      timeout: 10_000,
      interval: 10_000,
      temporality: 'cumulative',
      max_links_per_request: 1000,
      retry: { initial_interval: 1000, max_interval: 30_000 },
    });
  });

  it('requires endpoint and rejects unknown protocols', () => {
    const missing = validateConfig(
      parseDocument('protocol: grpc').contents,
      otlpExporterFactory.configSchema,
    );
    assert.ok(missing.issues.some((i) => JSON.stringify(i).includes('endpoint')));
    const bad = validateConfig(
      parseDocument('endpoint: a:1\nprotocol: http/json').contents,
      otlpExporterFactory.configSchema,
    );
    assert.ok(bad.issues.some((i) => JSON.stringify(i).includes('http/json')));
  });

  it('turns endpoints into URLs', () => {
    assert.equal(endpointUrl('collector:4317', 'grpc', false), 'https://collector:4317');
    assert.equal(endpointUrl('collector:4317', 'grpc', true), 'http://collector:4317');
    assert.equal(endpointUrl('http://collector:4317', 'grpc', false), 'http://collector:4317');
    assert.equal(endpointUrl('collector:4318', 'http/protobuf', true), 'http://collector:4318/v1/metrics');
    assert.equal(
      endpointUrl('https://o.example:443/otlp/v1/metrics', 'http/protobuf', false),
      'https://o.example/otlp/v1/metrics',
    );
    assert.throws(() => endpointUrl('collector', 'grpc', true), /has no port/);
    assert.throws(() => endpointUrl('ftp://collector:21', 'grpc', true), /must use http:\/\/ or https:\/\//);
    assert.throws(() => endpointUrl('http://collector:4317/x', 'grpc', true), /gRPC endpoint has no path/);
  });

  it('names the TLS file it cannot read, and pairs cert with key', () => {
    assert.throws(
      () =>
        exporterOptions(
          factoryConfig(otlpExporterFactory, 'endpoint: c:4317\ntls:\n  ca_file: /nonexistent/ca.pem'),
        ),
      /tls\.ca_file "\/nonexistent\/ca\.pem" cannot be read: ENOENT/,
    );
    assert.throws(
      () =>
        exporterOptions(factoryConfig(otlpExporterFactory, 'endpoint: c:4317\ntls:\n  cert_file: /x.pem')),
      /tls\.cert_file "\/x\.pem" is set without tls\.key_file/,
    );
    assert.throws(
      () =>
        exporterOptions(
          factoryConfig(
            otlpExporterFactory,
            'endpoint: c:4317\nretry:\n  initial_interval: 5s\n  max_interval: 1s',
          ),
        ),
      /retry\.max_interval \(1000 ms\) is below retry\.initial_interval \(5000 ms\)/,
    );
  });

  it('sets the resource attributes of the run', () => {
    const a = agentResourceAttributes({ NODE_NAME: 'node-7' });
    assert.equal(a['service.name'], 'loggerhead');
    assert.match(
      a['service.instance.id'] ?? '',
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    assert.equal(a['k8s.node.name'], 'node-7');
    assert.equal(typeof a['host.name'], 'string');
    assert.equal(agentResourceAttributes({ K8S_NODE_NAME: 'k', NODE_NAME: 'n' })['k8s.node.name'], 'k');
    assert.equal(agentResourceAttributes({})['k8s.node.name'], undefined);
    assert.notEqual(agentResourceAttributes({})['service.instance.id'], a['service.instance.id']);
  });
});
