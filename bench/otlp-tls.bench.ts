/**
 * CPU of opening a TLS connection to the OTLP backend, per new sender (a new
 * HTTP agent, or the fresh gRPC channel each retry gets), with the roots an
 * empty `tls.ca_file` uses (the system store plus Node's, about 270).
 *
 *   npx node bench/otlp-tls.bench.ts [--rounds 5] [--warmup 1]
 *
 * Against a real OpenTelemetry Collector with TLS on both receivers
 * (scripts/setup.d/40-otelcol.sh; certificates from test/support/tls.ts), each
 * run creates 10 senders per protocol one after the other, each sending one
 * empty request over its own new connection, and reports this process's CPU
 * per sender. The certificate is not verified (`insecure_skip_verify`: the
 * test CA is not among the roots); the roots are loaded all the same.
 *
 * Baseline: a TLS context built for every sender, what each connection did
 * before the exporter shared one context per configured transport (a copy of
 * the transport options defeats that sharing). Candidate: the shared context.
 */
import { exporterOptions } from '../exporters/otlp/factory.ts';
import type { OtlpProtocol, TransportOptions } from '../exporters/otlp/transport.ts';
import { createSender } from '../exporters/otlp/transport.ts';
import { Otelcol } from '../test/support/otelcol.ts';
import { makeTestPki } from '../test/support/tls.ts';
import { runBench } from './harness.ts';

const SENDERS = 10;
const pki = makeTestPki();
const collector = await Otelcol.start({ tls: { certFile: pki.serverCert, keyFile: pki.serverKey } });

function transport(protocol: OtlpProtocol): TransportOptions {
  return exporterOptions({
    endpoint: `127.0.0.1:${protocol === 'grpc' ? collector.grpcPort : collector.httpPort}`,
    protocol,
    headers: {},
    tls: {
      insecure: false,
      insecure_skip_verify: true,
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
    retry: { initial_interval: 1000, max_interval: 1000 },
  }).transport;
}

const shared = { grpc: transport('grpc'), 'http/protobuf': transport('http/protobuf') };
let shareContext = false;

/** CPU ms per new sender (create, one request over a new connection, shut down). */
async function perSender(protocol: OtlpProtocol): Promise<number> {
  const before = process.cpuUsage();
  for (let i = 0; i < SENDERS; i++) {
    const options = shareContext ? shared[protocol] : { ...shared[protocol] };
    const sender = createSender(options);
    await sender.send(new Uint8Array(0));
    await sender.shutdown();
  }
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000 / SENDERS;
}

try {
  await runBench({
    title: `CPU per new TLS sender to a real Collector, default roots (${SENDERS} senders per protocol and run)`,
    metrics: [
      { name: 'grpc', unit: 'ms CPU/sender', higherIsBetter: false },
      { name: 'http', unit: 'ms CPU/sender', higherIsBetter: false },
    ],
    baseline: {
      name: 'context per sender',
      setup: async () => {
        shareContext = false;
      },
    },
    candidates: [
      {
        name: 'shared context',
        setup: async () => {
          shareContext = true;
        },
      },
    ],
    workload: async () => ({ grpc: await perSender('grpc'), http: await perSender('http/protobuf') }),
  });
} finally {
  await collector.close();
  pki.remove();
}
