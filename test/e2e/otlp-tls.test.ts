/**
 * The otlp exporter's TLS and headers against a REAL OpenTelemetry Collector
 * (scripts/setup.d/40-otelcol.sh): both OTLP receivers on TLS with a throwaway
 * CA (test/support/tls.ts) and the bearertokenauth extension, then mutual TLS,
 * then plaintext. Values must arrive exactly; every failure must name its
 * cause in the exporter's log and self-telemetry, and nothing may crash.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Link } from '../../core/signals.ts';
import { OtlpExporter } from '../../exporters/otlp/exporter.ts';
import type { ExportOutcome } from '../../exporters/otlp/exporter.ts';
import { exporterOptions, otlpExporterFactory } from '../../exporters/otlp/factory.ts';
import { finished, spawnLoggerhead } from '../support/cli.ts';
import { factoryConfig } from '../support/config.ts';
import { linkPoints, numberedLink } from '../support/links.ts';
import type { CollectedPoint } from '../support/otelcol.ts';
import { Otelcol } from '../support/otelcol.ts';
import type { TestSettings } from '../support/settings.ts';
import { testHost, testSettings } from '../support/settings.ts';
import { counterValue, gaugeValue } from '../support/telemetry.ts';
import type { TestPki } from '../support/tls.ts';
import { makeTestPki } from '../support/tls.ts';

const TOKEN = 'lho-token-7f3a9c';
const PROTOCOLS = ['grpc', 'http/protobuf'] as const;
type Protocol = (typeof PROTOCOLS)[number];
const START = Date.now() - 60_000;

/** `metric client direction|event` -> value, for the seven points of each link. */
function expected(links: readonly Link[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const l of links) {
    for (const [name, attributes, value] of linkPoints(l)) {
      out.set(`${name} ${l.client.name} ${attributes.direction ?? attributes.event ?? ''}`, value);
    }
  }
  return out;
}

/** What the collector holds for one exporter instance at one batch time, keyed as `expected()`. */
function received(points: readonly CollectedPoint[], instance: string, timeMs: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const p of points) {
    if (p.resource['service.instance.id'] !== instance || !p.name.startsWith('loggerhead.link.')) continue;
    if (p.timeUnixNano !== BigInt(timeMs) * 1_000_000n) continue;
    const extra = String(p.attributes.direction ?? p.attributes.event ?? '');
    out.set(`${p.name} ${String(p.attributes['client.workload.name'])} ${extra}`, p.value);
  }
  return out;
}

function ofInstance(points: readonly CollectedPoint[], instance: string): CollectedPoint[] {
  return points.filter((p) => p.resource['service.instance.id'] === instance);
}

function warnings(settings: TestSettings): Array<Record<string, unknown>> {
  return settings.logs.filter((l) => l.level === 'warn' || l.level === 'error');
}

interface Running {
  exporter: OtlpExporter;
  settings: TestSettings;
  instance: string;
}

describe('otlp exporter TLS and headers -> real OpenTelemetry Collector', { timeout: 300_000 }, () => {
  let pki: TestPki;
  /** TLS (server certificate from the test CA) + bearer token on both receivers. */
  let secure: Otelcol;
  const exporters: OtlpExporter[] = [];

  before(async () => {
    pki = makeTestPki();
    secure = await Otelcol.start({
      tls: { certFile: pki.serverCert, keyFile: pki.serverKey },
      bearerToken: TOKEN,
    });
  });

  /** Shuts down the exporters started so far, before their collector goes away (a final flush to a closed port waits out the HTTP transport's retries). */
  async function stopExporters(): Promise<void> {
    for (const e of exporters.splice(0)) await e.shutdown();
  }

  after(async () => {
    await stopExporters();
    await secure?.close();
    pki?.remove();
  });

  function port(collector: Otelcol, protocol: Protocol): number {
    return protocol === 'grpc' ? collector.grpcPort : collector.httpPort;
  }

  /** Creates (through the factory's validation) and starts an exporter; `yaml` gets endpoint and protocol. */
  async function start(name: string, protocol: Protocol, endpoint: string, yaml: string): Promise<Running> {
    const settings = testSettings(`otlp/${name}`);
    const options = exporterOptions(
      factoryConfig(
        otlpExporterFactory,
        `endpoint: ${endpoint}\nprotocol: ${protocol}\ninterval: 1h\n${yaml}`,
      ),
    );
    const exporter = new OtlpExporter(settings, options);
    exporters.push(exporter);
    await exporter.start(testHost());
    return { exporter, settings, instance: String(options.resourceAttributes['service.instance.id']) };
  }

  /** Sends one batch of `links` now; returns the outcome and the batch time. */
  async function sendBatch(r: Running, links: Link[]): Promise<{ outcome: ExportOutcome; timeMs: number }> {
    const timeMs = Date.now();
    await r.exporter.consume({ timeMs, startTimeMs: START, links });
    return { outcome: await r.exporter.exportSnapshot(), timeMs };
  }

  async function assertDelivered(
    collector: Otelcol,
    r: Running,
    links: Link[],
    timeMs: number,
    what: string,
  ): Promise<void> {
    const want = expected(links);
    const points = await collector.waitFor(
      (p) => received(p, r.instance, timeMs).size >= want.size,
      20_000,
      what,
    );
    assert.deepEqual(received(points, r.instance, timeMs), want, `${what}: the values sent, exactly`);
  }

  for (const protocol of PROTOCOLS) {
    const tag = protocol === 'grpc' ? 'grpc' : 'http';

    it(`${protocol}: tls.ca_file + authorization header: the collector holds exactly the values sent`, async () => {
      const r = await start(
        `${tag}_tls`,
        protocol,
        `127.0.0.1:${port(secure, protocol)}`,
        `tls:\n  ca_file: ${pki.caCert}\nheaders:\n  authorization: Bearer ${TOKEN}`,
      );
      const links = Array.from({ length: 12 }, (_, i) => numberedLink(`${tag}-tls`, i, START));
      const { outcome, timeMs } = await sendBatch(r, links);
      assert.equal(outcome.error, undefined, outcome.error?.message);
      await assertDelivered(secure, r, links, timeMs, `${protocol} over TLS`);
      // The name in the certificate works as well as the IP address.
      const byName = await start(
        `${tag}_tls_name`,
        protocol,
        `https://localhost:${port(secure, protocol)}`,
        `tls:\n  ca_file: ${pki.caCert}\nheaders:\n  authorization: Bearer ${TOKEN}`,
      );
      const second = await sendBatch(byName, links);
      assert.equal(second.outcome.error, undefined, second.outcome.error?.message);
      await assertDelivered(secure, byName, links, second.timeMs, `${protocol} over TLS to localhost`);
      assert.deepEqual([...warnings(r.settings), ...warnings(byName.settings)], []);
      assert.equal(gaugeValue(r.settings, 'loggerhead.exporter.backend_up'), 1);
    });

    it(`${protocol}: a wrong CA fails naming certificate verification in the log and telemetry; the right one then delivers`, async () => {
      const links = [numberedLink(`${tag}-wrongca`, 0, START), numberedLink(`${tag}-wrongca`, 1, START)];
      const wrong = await start(
        `${tag}_wrong_ca`,
        protocol,
        `127.0.0.1:${port(secure, protocol)}`,
        `tls:\n  ca_file: ${pki.otherCaCert}\nheaders:\n  authorization: Bearer ${TOKEN}\nretry:\n  initial_interval: 1h\n  max_interval: 1h`,
      );
      for (let attempt = 0; attempt < 2; attempt++) {
        const { outcome } = await sendBatch(wrong, links);
        assert.equal(outcome.error?.errorType, 'tls_certificate');
        assert.equal(outcome.error.retryable, true);
        assert.equal(
          outcome.error.message,
          `TLS certificate verification failed: the server's certificate was rejected (it is not trusted by tls.ca_file ${JSON.stringify(pki.otherCaCert)}): unable to verify the first certificate`,
        );
      }
      const logged = warnings(wrong.settings);
      assert.equal(logged.length, 1, 'one warn line for the failing state, not one per attempt');
      assert.equal(
        logged[0]?.msg,
        'OTLP exports failing; keeping only the latest snapshot until one succeeds',
      );
      assert.equal(logged[0]?.error_type, 'tls_certificate');
      assert.match(String(logged[0]?.error), /certificate verification failed/);
      assert.equal(
        counterValue(wrong.settings, 'loggerhead.exporter.failed_requests', {
          'error.type': 'tls_certificate',
        }),
        2,
      );
      assert.equal(counterValue(wrong.settings, 'loggerhead.exporter.sent_requests'), 0);
      assert.equal(gaugeValue(wrong.settings, 'loggerhead.exporter.backend_up'), 0);
      await wrong.exporter.shutdown();
      assert.equal(ofInstance(secure.points(), wrong.instance).length, 0, 'nothing reached the collector');

      const right = await start(
        `${tag}_right_ca`,
        protocol,
        `127.0.0.1:${port(secure, protocol)}`,
        `tls:\n  ca_file: ${pki.caCert}\nheaders:\n  authorization: Bearer ${TOKEN}`,
      );
      const { outcome, timeMs } = await sendBatch(right, links);
      assert.equal(outcome.error, undefined, outcome.error?.message);
      await assertDelivered(secure, right, links, timeMs, `${protocol} with the right CA`);
    });

    it(`${protocol}: no or a wrong authorization header is refused with the collector's reason, not retried; nothing is stored`, async () => {
      const links = [numberedLink(`${tag}-auth`, 0, START)];
      const cases = [
        ['none', '', /missing or empty authorization header/],
        [
          'wrong',
          `headers:\n  authorization: Bearer not-${TOKEN}`,
          /does not match expected scheme or token/,
        ],
      ] as const;
      for (const [label, headers, reason] of cases) {
        const r = await start(
          `${tag}_auth_${label}`,
          protocol,
          `127.0.0.1:${port(secure, protocol)}`,
          `tls:\n  ca_file: ${pki.caCert}\n${headers}`,
        );
        const { outcome } = await sendBatch(r, links);
        const errorType = protocol === 'grpc' ? 'UNAUTHENTICATED' : 'http_401';
        assert.equal(outcome.error?.errorType, errorType, `${label} header`);
        assert.equal(outcome.error.retryable, false, 'an auth failure waits for the next interval');
        assert.match(outcome.error.message, reason);
        const logged = warnings(r.settings);
        assert.equal(logged.length, 1);
        assert.equal(logged[0]?.error_type, errorType);
        assert.match(String(logged[0]?.error), reason);
        assert.equal(
          counterValue(r.settings, 'loggerhead.exporter.failed_requests', { 'error.type': errorType }),
          1,
        );
        await r.exporter.shutdown();
        assert.equal(ofInstance(secure.points(), r.instance).length, 0, `${label} header: nothing stored`);
      }
    });

    it(`${protocol}: tls.insecure_skip_verify delivers to a server no configured CA trusts; without it the default roots refuse it`, async () => {
      const links = [numberedLink(`${tag}-skip`, 0, START)];
      const strict = await start(
        `${tag}_default_roots`,
        protocol,
        `127.0.0.1:${port(secure, protocol)}`,
        `headers:\n  authorization: Bearer ${TOKEN}`,
      );
      const refused = await sendBatch(strict, links);
      assert.equal(refused.outcome.error?.errorType, 'tls_certificate');
      assert.match(
        refused.outcome.error.message,
        /not trusted by the system and Node CA roots \(tls\.ca_file is empty\)/,
      );
      const skip = await start(
        `${tag}_skip_verify`,
        protocol,
        `127.0.0.1:${port(secure, protocol)}`,
        `tls:\n  insecure_skip_verify: true\nheaders:\n  authorization: Bearer ${TOKEN}`,
      );
      const { outcome, timeMs } = await sendBatch(skip, links);
      assert.equal(outcome.error, undefined, outcome.error?.message);
      await assertDelivered(secure, skip, links, timeMs, `${protocol} with insecure_skip_verify`);
    });
  }

  it('plaintext to the TLS receivers is refused: gRPC says what to check, HTTP gets the 400 or a reset', async () => {
    for (const protocol of PROTOCOLS) {
      const r = await start(
        `${protocol === 'grpc' ? 'grpc' : 'http'}_plain_to_tls`,
        protocol,
        `127.0.0.1:${port(secure, protocol)}`,
        `timeout: 2s\ntls:\n  insecure: true\nheaders:\n  authorization: Bearer ${TOKEN}\nretry:\n  initial_interval: 1h\n  max_interval: 1h`,
      );
      const { outcome } = await sendBatch(r, [numberedLink('plain-to-tls', 0, START)]);
      const error = `${outcome.error?.errorType} ${outcome.error?.message}`;
      if (protocol === 'grpc') {
        assert.equal(
          error,
          'UNAVAILABLE 14 UNAVAILABLE: No connection established. Last error: Failed to connect: the server closed the connection before HTTP/2 started; if it expects TLS, remove tls.insecure or use an https:// endpoint',
        );
      } else {
        // The Collector answers 400 and closes: whether Node reads the answer or hits the reset while
        // still sending depends on timing.
        assert.match(
          error,
          /^(http_400 HTTP 400: Bad Request: Client sent an HTTP request to an HTTPS server\.|ECONNRESET .*)$/,
        );
      }
      await r.exporter.shutdown();
      assert.equal(ofInstance(secure.points(), r.instance).length, 0);
    }
  });

  it('the server certificate fixed while the exporters retry (gRPC and HTTP): they deliver without a restart and log the recovery', async () => {
    await secure.pause();
    secure.reconfigure({ tls: { certFile: pki.otherServerCert, keyFile: pki.otherServerKey } });
    await secure.resume();
    const links = Array.from({ length: 5 }, (_, i) => numberedLink('recover', i, START));
    const running = await Promise.all(
      PROTOCOLS.map((protocol) =>
        start(
          `recover_${protocol === 'grpc' ? 'grpc' : 'http'}`,
          protocol,
          `127.0.0.1:${port(secure, protocol)}`,
          `tls:\n  ca_file: ${pki.caCert}\nheaders:\n  authorization: Bearer ${TOKEN}\nretry:\n  initial_interval: 200ms\n  max_interval: 400ms`,
        ),
      ),
    );
    const timeMs = Date.now();
    for (const r of running) {
      await r.exporter.consume({ timeMs, startTimeMs: START, links });
      const outcome = await r.exporter.exportSnapshot();
      assert.equal(outcome.error?.errorType, 'tls_certificate');
    }
    await secure.pause();
    secure.reconfigure({ tls: { certFile: pki.serverCert, keyFile: pki.serverKey } });
    await secure.resume();
    for (const r of running) {
      await assertDelivered(secure, r, links, timeMs, 'after the certificate fix');
      const logs = r.settings.logs.map((l) => `${String(l.level)} ${String(l.msg)}`);
      assert.deepEqual(
        logs.filter((l) => l.startsWith('warn') || l.includes('succeeding again')),
        [
          'warn OTLP exports failing; keeping only the latest snapshot until one succeeds',
          'info OTLP exports succeeding again',
        ],
      );
      assert.ok(
        counterValue(r.settings, 'loggerhead.exporter.failed_requests', {
          'error.type': 'tls_certificate',
        }) >= 1,
      );
    }
  });

  it('loggerhead run: otlp exporters in pipeline.yaml with tls.ca_file and the token from ${env:OTLP_TOKEN} deliver over gRPC and HTTP; one with a wrong CA logs why, once', async () => {
    const file = join(pki.dir, 'run-tls.yaml');
    writeFileSync(
      file,
      [
        'receivers:',
        '  fake_links:',
        '    interval: 100ms',
        'exporters:',
        '  otlp/cli_grpc:',
        `    endpoint: 127.0.0.1:${secure.grpcPort}`,
        '    interval: 200ms',
        '    tls:',
        `      ca_file: ${pki.caCert}`,
        '    headers:',
        '      authorization: Bearer ${env:OTLP_TOKEN}',
        '  otlp/cli_http:',
        `    endpoint: https://localhost:${secure.httpPort}`,
        '    protocol: http/protobuf',
        '    interval: 200ms',
        '    tls:',
        `      ca_file: ${pki.caCert}`,
        '    headers:',
        '      authorization: Bearer ${env:OTLP_TOKEN}',
        '  otlp/cli_wrong_ca:',
        `    endpoint: 127.0.0.1:${secure.grpcPort}`,
        '    interval: 200ms',
        '    tls:',
        `      ca_file: ${pki.otherCaCert}`,
        '    headers:',
        '      authorization: Bearer ${env:OTLP_TOKEN}',
        'service:',
        '  pipelines:',
        '    links:',
        '      receivers: [fake_links]',
        '      exporters: [otlp/cli_grpc, otlp/cli_http, otlp/cli_wrong_ca]',
        '',
      ].join('\n'),
    );
    const child = spawnLoggerhead(['run', '--config', file, '--log-format', 'json'], {
      fakes: true,
      env: { OTLP_TOKEN: TOKEN },
    });
    const done = finished(child);
    try {
      // The agent's self-telemetry, sent by each exporter with its component.id, proves the path.
      await secure.waitFor(
        (points) =>
          ['otlp/cli_grpc', 'otlp/cli_http'].every((id) =>
            points.some(
              (p) =>
                p.name === 'loggerhead.exporter.sent_requests' &&
                p.attributes['component.id'] === id &&
                p.value >= 1,
            ),
          ),
        20_000,
        'both exporters of the agent delivered',
      );
    } finally {
      child.kill('SIGTERM');
    }
    const { code, stderr } = await done;
    assert.equal(code, 0, stderr);
    // The exporter with the wrong CA says why in the agent's log, once; the pipeline keeps running.
    const problems = stderr
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((l) => l.level === 'warn' || l.level === 'error');
    assert.deepEqual(
      problems.map((l) => [l.component, l.msg, l.error_type, l.error]),
      [
        [
          'otlp/cli_wrong_ca',
          'OTLP exports failing; keeping only the latest snapshot until one succeeds',
          'tls_certificate',
          `TLS certificate verification failed: the server's certificate was rejected (it is not trusted by tls.ca_file ${JSON.stringify(pki.otherCaCert)}): unable to verify the first certificate`,
        ],
      ],
    );
  });

  it('empty tls.ca_file trusts the operating system store (SSL_CERT_FILE holding the test CA, in a child process)', async () => {
    const factory = new URL('../../exporters/otlp/factory.ts', import.meta.url).href;
    const script = `
      import { exporterOptions, otlpExporterFactory } from ${JSON.stringify(factory)};
      import { createSender } from ${JSON.stringify(new URL('../../exporters/otlp/transport.ts', import.meta.url).href)};
      const options = exporterOptions({
        endpoint: '127.0.0.1:${secure.grpcPort}', protocol: 'grpc',
        headers: { authorization: 'Bearer ${TOKEN}' },
        tls: { insecure: false, insecure_skip_verify: false, server_name_override: '', ca_file: '', cert_file: '', key_file: '' },
        compression: 'none', timeout: 5000, interval: 1000, temporality: 'cumulative',
        max_links_per_request: 1000, retry: { initial_interval: 1000, max_interval: 1000 },
      });
      void otlpExporterFactory;
      const sender = createSender(options.transport);
      try { await sender.send(new Uint8Array(0)); console.log('delivered'); }
      catch (e) { console.log(e.errorType + ': ' + e.message); }
      await sender.shutdown();
    `;
    const run = (env: Record<string, string>): Promise<string> =>
      new Promise((resolve, reject) => {
        execFile(
          process.execPath,
          ['--no-warnings', '--input-type=module', '-e', script],
          { env: { ...process.env, ...env }, timeout: 30_000 },
          (error, stdout, stderr) => (error === null ? resolve(stdout.trim()) : reject(new Error(stderr))),
        );
      });
    assert.equal(await run({ SSL_CERT_FILE: pki.caCert }), 'delivered');
    assert.match(await run({ SSL_CERT_FILE: pki.otherCaCert }), /^tls_certificate: /);
  });

  describe('mutual TLS (receiver with client_ca_file)', () => {
    let mtls: Otelcol;
    before(async () => {
      mtls = await Otelcol.start({
        tls: { certFile: pki.serverCert, keyFile: pki.serverKey, clientCaFile: pki.caCert },
      });
    });
    after(async () => {
      await stopExporters();
      await mtls?.close();
    });

    for (const protocol of PROTOCOLS) {
      const tag = protocol === 'grpc' ? 'grpc' : 'http';
      it(`${protocol}: tls.cert_file/key_file deliver exactly; no client certificate or one from another CA is refused, named`, async () => {
        const links = Array.from({ length: 3 }, (_, i) => numberedLink(`${tag}-mtls`, i, START));
        const endpoint = `127.0.0.1:${port(mtls, protocol)}`;
        const ok = await start(
          `${tag}_mtls`,
          protocol,
          endpoint,
          `tls:\n  ca_file: ${pki.caCert}\n  cert_file: ${pki.clientCert}\n  key_file: ${pki.clientKey}`,
        );
        const sent = await sendBatch(ok, links);
        assert.equal(sent.outcome.error, undefined, sent.outcome.error?.message);
        await assertDelivered(mtls, ok, links, sent.timeMs, `${protocol} with a client certificate`);

        const refusals = [
          [
            'no_cert',
            '',
            /the server requires a client certificate \(set tls\.cert_file and tls\.key_file\)/,
          ],
          [
            'other_ca',
            `  cert_file: ${pki.otherServerCert}\n  key_file: ${pki.otherServerKey}\n`,
            /the server refused the client certificate of tls\.cert_file \(alert "(unknown ca|bad certificate)"/,
          ],
        ] as const;
        for (const [label, client, reason] of refusals) {
          const r = await start(
            `${tag}_mtls_${label}`,
            protocol,
            endpoint,
            `tls:\n  ca_file: ${pki.caCert}\n${client}retry:\n  initial_interval: 1h\n  max_interval: 1h`,
          );
          const { outcome } = await sendBatch(r, links);
          assert.equal(outcome.error?.errorType, 'tls_handshake', label);
          assert.match(outcome.error.message, reason);
          const logged = warnings(r.settings);
          assert.equal(logged.length, 1);
          assert.equal(logged[0]?.error_type, 'tls_handshake');
          assert.equal(
            counterValue(r.settings, 'loggerhead.exporter.failed_requests', {
              'error.type': 'tls_handshake',
            }),
            1,
          );
          await r.exporter.shutdown();
          assert.equal(ofInstance(mtls.points(), r.instance).length, 0);
        }
      });
    }
  });

  describe('server certificate for another name', () => {
    let misnamed: Otelcol;
    before(async () => {
      misnamed = await Otelcol.start({ tls: { certFile: pki.wrongNameCert, keyFile: pki.wrongNameKey } });
    });
    after(async () => {
      await stopExporters();
      await misnamed?.close();
    });

    for (const protocol of PROTOCOLS) {
      const tag = protocol === 'grpc' ? 'grpc' : 'http';
      it(`${protocol}: a certificate from the right CA without the endpoint's host is refused, saying so`, async () => {
        const r = await start(
          `${tag}_wrong_name`,
          protocol,
          `127.0.0.1:${port(misnamed, protocol)}`,
          `tls:\n  ca_file: ${pki.caCert}\nretry:\n  initial_interval: 1h\n  max_interval: 1h`,
        );
        const { outcome } = await sendBatch(r, [numberedLink(`${tag}-name`, 0, START)]);
        assert.equal(outcome.error?.errorType, 'tls_certificate');
        assert.equal(
          outcome.error.message,
          "TLS certificate verification failed: the server's certificate was rejected (the certificate does not name the endpoint host): Hostname/IP does not match certificate's altnames: IP: 127.0.0.1 is not in the cert's list:",
        );
        assert.equal(warnings(r.settings)[0]?.error_type, 'tls_certificate');
        await r.exporter.shutdown();
        assert.equal(ofInstance(misnamed.points(), r.instance).length, 0);
      });

      it(`${protocol}: tls.server_name_override with the certificate's name delivers to the IP address`, async () => {
        const r = await start(
          `${tag}_name_override`,
          protocol,
          `127.0.0.1:${port(misnamed, protocol)}`,
          `tls:\n  ca_file: ${pki.caCert}\n  server_name_override: collector.invalid`,
        );
        const links = [numberedLink(`${tag}-override`, 0, START), numberedLink(`${tag}-override`, 1, START)];
        const { outcome, timeMs } = await sendBatch(r, links);
        assert.equal(outcome.error, undefined, outcome.error?.message);
        await assertDelivered(misnamed, r, links, timeMs, `${protocol} with server_name_override`);
      });
    }
  });

  describe('expired server certificate', () => {
    let expired: Otelcol;
    before(async () => {
      expired = await Otelcol.start({ tls: { certFile: pki.expiredCert, keyFile: pki.expiredKey } });
    });
    after(async () => {
      await stopExporters();
      await expired?.close();
    });

    for (const protocol of PROTOCOLS) {
      const tag = protocol === 'grpc' ? 'grpc' : 'http';
      it(`${protocol}: refused, naming the validity period rather than the CA`, async () => {
        const r = await start(
          `${tag}_expired`,
          protocol,
          `127.0.0.1:${port(expired, protocol)}`,
          `tls:\n  ca_file: ${pki.caCert}\nretry:\n  initial_interval: 1h\n  max_interval: 1h`,
        );
        const { outcome } = await sendBatch(r, [numberedLink(`${tag}-expired`, 0, START)]);
        assert.equal(outcome.error?.errorType, 'tls_certificate');
        assert.equal(
          outcome.error.message,
          "TLS certificate verification failed: the server's certificate was rejected (the certificate is outside its validity period: check its dates and this host's clock): certificate has expired",
        );
        await r.exporter.shutdown();
        assert.equal(ofInstance(expired.points(), r.instance).length, 0);
      });
    }
  });

  describe('plaintext collector', () => {
    let plain: Otelcol;
    before(async () => {
      plain = await Otelcol.start();
    });
    after(async () => {
      await stopExporters();
      await plain?.close();
    });

    for (const protocol of PROTOCOLS) {
      const tag = protocol === 'grpc' ? 'grpc' : 'http';
      it(`${protocol}: host:port with tls.insecure: true delivers; without it the exporter says the server does not speak TLS`, async () => {
        const links = [numberedLink(`${tag}-plain`, 0, START), numberedLink(`${tag}-plain`, 1, START)];
        const endpoint = `127.0.0.1:${port(plain, protocol)}`;
        const insecure = await start(`${tag}_insecure`, protocol, endpoint, 'tls:\n  insecure: true');
        const sent = await sendBatch(insecure, links);
        assert.equal(sent.outcome.error, undefined, sent.outcome.error?.message);
        await assertDelivered(plain, insecure, links, sent.timeMs, `${protocol} plaintext`);

        const tls = await start(
          `${tag}_tls_to_plain`,
          protocol,
          endpoint,
          'retry:\n  initial_interval: 1h\n  max_interval: 1h',
        );
        const { outcome } = await sendBatch(tls, links);
        assert.equal(outcome.error?.errorType, 'tls_handshake');
        assert.match(
          outcome.error.message,
          /^TLS handshake failed: the server does not speak TLS \(a plaintext endpoint needs tls\.insecure: true or an http:\/\/ URL\): wrong version number$/,
        );
        await tls.exporter.shutdown();
      });
    }
  });
});
