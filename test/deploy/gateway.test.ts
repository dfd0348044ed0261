/**
 * deploy/examples/gateway/collector.yaml with a real OpenTelemetry Collector
 * (core distribution components, built by scripts/setup.d/50-deploy-tools.sh):
 * `validate` accepts it and refuses a typo, and it runs the way the example
 * deploys it, agents -> gateway -> backend: the real `otlp` exporter pushes
 * links to the gateway, which forwards them over OTLP/HTTP to a second real
 * collector (test/support/otelcol.ts), where the values arrive unchanged.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import type { Component } from '../../core/component.ts';
import { validateConfig } from '../../core/config/validate.ts';
import type { Consumer, Link, LinkBatch } from '../../core/signals.ts';
import { otlpExporterFactory } from '../../exporters/otlp/factory.ts';
import type { OtlpExporterConfig } from '../../exporters/otlp/factory.ts';
import { Otelcol, freePort } from '../support/otelcol.ts';
import type { CollectedPoint } from '../support/otelcol.ts';
import { testHost, testSettings } from '../support/settings.ts';
import { DEPLOY, required } from './tools.ts';

const GATEWAY_BINARY = '/var/cache/loggerhead/otelcol-gateway/v0.161.0/otelcol-gateway';
const CONFIG = join(DEPLOY, 'examples', 'gateway', 'collector.yaml');

function gatewayBinary(): string {
  return required(GATEWAY_BINARY, 'the gateway collector (scripts/setup.d/50-deploy-tools.sh --test)');
}

function validate(file: string): { ok: boolean; output: string } {
  try {
    const out = execFileSync(gatewayBinary(), ['validate', '--config', `file:${file}`], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, BACKEND_OTLP_ENDPOINT: 'http://127.0.0.1:4318' },
    });
    return { ok: true, output: out };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    return { ok: false, output: `${err.stdout ?? ''}${err.stderr ?? ''}` };
  }
}

void test('the collector validates the gateway config, and refuses it with a typo', () => {
  assert.deepEqual(validate(CONFIG), { ok: true, output: '' });
  const dir = mkdtempSync(join(tmpdir(), 'lhd-gateway-'));
  try {
    const bad = join(dir, 'collector.yaml');
    writeFileSync(bad, readFileSync(CONFIG, 'utf8').replace('send_batch_size:', 'send_batch_sise:'));
    const result = validate(bad);
    assert.equal(result.ok, false);
    assert.match(result.output, /invalid keys: send_batch_sise/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

let backend: Otelcol | undefined;
let gateway: ChildProcess | undefined;
let gatewayLog = '';
let exporter: (Component & Consumer<LinkBatch>) | undefined;

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (gateway?.exitCode !== null) throw new Error(`the gateway exited: ${gatewayLog}`);
    if (Date.now() > deadline) throw new Error(`the gateway did not listen on ${port}: ${gatewayLog}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

before(async () => {
  backend = await Otelcol.start();
  const grpcPort = await freePort();
  const httpPort = await freePort();
  // The example's config as shipped, with only the listening addresses moved to free local ports.
  gateway = spawn(
    gatewayBinary(),
    [
      '--config',
      `file:${CONFIG}`,
      '--set',
      `receivers::otlp::protocols::grpc::endpoint=127.0.0.1:${grpcPort}`,
      '--set',
      `receivers::otlp::protocols::http::endpoint=127.0.0.1:${httpPort}`,
      '--set',
      'service::telemetry::metrics::level=none',
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, BACKEND_OTLP_ENDPOINT: backend.httpEndpoint },
    },
  );
  gateway.stdout?.on('data', (d: Buffer) => (gatewayLog += d.toString()));
  gateway.stderr?.on('data', (d: Buffer) => (gatewayLog += d.toString()));
  await waitForPort(grpcPort, 30_000);
  const { value, issues } = validateConfig(
    parseDocument(`endpoint: http://127.0.0.1:${grpcPort}\nprotocol: grpc\ninterval: 500ms`).contents,
    otlpExporterFactory.configSchema,
  );
  assert.deepEqual(issues, []);
  exporter = otlpExporterFactory.create(testSettings('otlp'), value as unknown as OtlpExporterConfig);
  await exporter.start(testHost());
});

after(async () => {
  await exporter?.shutdown();
  if (gateway !== undefined && gateway.exitCode === null) {
    gateway.kill('SIGTERM');
    await new Promise((r) => gateway?.once('exit', r));
  }
  await backend?.close();
});

const START_MS = Date.now() - 60_000;

function link(i: number, c2s: number, s2c: number): Link {
  return {
    id: `lhd-gw-${i}`,
    client: { name: `client-${i}`, kind: 'Deployment', namespace: 'shop' },
    server: { name: 'catalog', kind: 'Service', namespace: 'shop' },
    serverPort: 8080,
    transport: 'tcp',
    networkType: 'ipv4',
    observer: 'client',
    bytesClientToServer: c2s,
    bytesServerToClient: s2c,
    connectionsOpened: i + 1,
    connectionsClosed: i,
    connectionsFailed: 0,
    activeConnections: 1,
    retransSegs: 0,
    startTimeMs: START_MS,
    lastActivityMs: START_MS,
  };
}

void test('agents -> gateway -> backend: the links arrive at the backend with their exact values', async () => {
  const links = [link(0, 1111, 22222), link(1, 3333, 44444), link(2, 5555, 66666)];
  const timeMs = Date.now();
  await exporter!.consume({ timeMs, startTimeMs: START_MS, links });
  const bytesAt = (points: CollectedPoint[], client: string, direction: string): number | undefined =>
    points.find(
      (p) =>
        p.name === 'loggerhead.link.bytes' &&
        p.timeUnixNano === BigInt(timeMs) * 1_000_000n &&
        p.attributes['client.workload.name'] === client &&
        p.attributes['direction'] === direction,
    )?.value;
  const points = await backend!.waitFor(
    (p) => links.every((l) => bytesAt(p, l.client.name, 'server_to_client') !== undefined),
    30_000,
    'the links forwarded by the gateway',
  );
  for (const l of links) {
    assert.equal(bytesAt(points, l.client.name, 'client_to_server'), l.bytesClientToServer);
    assert.equal(bytesAt(points, l.client.name, 'server_to_client'), l.bytesServerToClient);
  }
  const forwarded = points.find((p) => p.name === 'loggerhead.link.bytes');
  assert.equal(forwarded?.resource['service.name'], 'loggerhead');
  assert.equal(forwarded?.startTimeUnixNano, BigInt(START_MS) * 1_000_000n);
});
