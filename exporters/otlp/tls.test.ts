/**
 * TLS and headers settings of the otlp exporter: what `loggerhead validate`
 * refuses (files, pairs, plaintext contradictions, header syntax; file:line:col,
 * exit 2), and how TLS and HTTP failures are worded. The real Collector over
 * TLS is in test/e2e/otlp-tls.test.ts.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BIN, REPO_ROOT, runLoggerhead } from '../../test/support/cli.ts';
import { factoryConfig } from '../../test/support/config.ts';
import type { TestPki } from '../../test/support/tls.ts';
import { makeTestPki } from '../../test/support/tls.ts';
import { exporterOptions, otlpExporterFactory } from './factory.ts';
import { classifyExportError, httpErrorDetail, tlsFailure } from './transport.ts';

describe('otlp TLS and headers settings', () => {
  let pki: TestPki;
  let garbage = '';
  let brokenCert = '';
  let encryptedKey = '';

  before(() => {
    pki = makeTestPki();
    garbage = join(pki.dir, 'garbage.pem');
    writeFileSync(garbage, 'not a certificate\n');
    brokenCert = join(pki.dir, 'broken.pem');
    writeFileSync(brokenCert, '-----BEGIN CERTIFICATE-----\nTUlJQnJva2Vu\n-----END CERTIFICATE-----\n');
    encryptedKey = join(pki.dir, 'encrypted.key');
    execFileSync('openssl', [
      'pkey',
      '-in',
      pki.clientKey,
      '-aes256',
      '-passout',
      'pass:secret',
      '-out',
      encryptedKey,
    ]);
    mkdirSync(join(pki.dir, 'a-directory'));
  });
  after(() => pki?.remove());

  const tls = (lines: string, endpoint = 'collector:4317'): string => `endpoint: ${endpoint}\ntls:\n${lines}`;

  it('reads the CA, client certificate and key into the transport', () => {
    const t = exporterOptions(
      factoryConfig(
        otlpExporterFactory,
        tls(`  ca_file: ${pki.caCert}\n  cert_file: ${pki.clientCert}\n  key_file: ${pki.clientKey}`),
      ),
    ).transport;
    assert.match(String(t.ca), /^-----BEGIN CERTIFICATE-----/);
    assert.match(String(t.cert), /^-----BEGIN CERTIFICATE-----/);
    assert.match(String(t.key), /^-----BEGIN PRIVATE KEY-----/);
    assert.equal(t.caSource, `tls.ca_file ${JSON.stringify(pki.caCert)}`);
    assert.equal(t.insecureSkipVerify, undefined);
  });

  it('uses the system and Node roots when ca_file is empty', () => {
    const t = exporterOptions(factoryConfig(otlpExporterFactory, 'endpoint: collector:4317')).transport;
    const count = String(t.ca).match(/-----BEGIN CERTIFICATE-----/g)?.length ?? 0;
    assert.ok(count > 50, `${count} roots`);
    assert.equal(t.caSource, 'the system and Node CA roots (tls.ca_file is empty)');
  });

  it('refuses unusable TLS files and pairs, naming the field and the path', () => {
    const cases: Array<[string, RegExp]> = [
      [
        `  ca_file: ${join(pki.dir, 'missing.pem')}`,
        /^otlp: tls\.ca_file ".*missing\.pem" cannot be read: ENOENT/,
      ],
      [
        `  ca_file: ${join(pki.dir, 'a-directory')}`,
        /^otlp: tls\.ca_file ".*a-directory" cannot be read: EISDIR/,
      ],
      [
        `  ca_file: ${garbage}`,
        /^otlp: tls\.ca_file ".*garbage\.pem" holds no PEM certificate \(expected "-----BEGIN CERTIFICATE-----" blocks\)$/,
      ],
      [
        `  ca_file: ${brokenCert}`,
        /^otlp: tls\.ca_file ".*broken\.pem": certificate 1 of 1 cannot be parsed: /,
      ],
      [
        `  cert_file: ${garbage}\n  key_file: ${pki.clientKey}`,
        /^otlp: tls\.cert_file ".*garbage\.pem" holds no PEM certificate/,
      ],
      [
        `  cert_file: ${pki.clientCert}\n  key_file: ${garbage}`,
        /^otlp: tls\.key_file ".*garbage\.pem" holds no usable PEM private key: /,
      ],
      [
        `  cert_file: ${pki.clientCert}\n  key_file: ${encryptedKey}`,
        /^otlp: tls\.key_file ".*encrypted\.key" holds no usable PEM private key: it is encrypted \(a passphrase-protected key is not supported\)$/,
      ],
      [
        `  cert_file: ${pki.clientCert}\n  key_file: ${pki.serverKey}`,
        /^otlp: tls\.key_file ".*server\.key" is not the key of the certificate in tls\.cert_file ".*client\.pem"$/,
      ],
      [
        `  key_file: ${pki.clientKey}`,
        /^otlp: tls\.key_file ".*client\.key" is set without tls\.cert_file \(a client certificate needs both\)$/,
      ],
      [
        `  cert_file: ${pki.clientCert}`,
        /^otlp: tls\.cert_file ".*client\.pem" is set without tls\.key_file \(a client certificate needs both\)$/,
      ],
    ];
    for (const [lines, message] of cases) {
      assert.throws(
        () => exporterOptions(factoryConfig(otlpExporterFactory, tls(lines))),
        { message },
        lines,
      );
    }
  });

  it('refuses TLS settings on a plaintext endpoint instead of ignoring them', () => {
    assert.throws(
      () =>
        exporterOptions(
          factoryConfig(otlpExporterFactory, tls(`  insecure: true\n  ca_file: ${pki.caCert}`)),
        ),
      {
        message:
          /^otlp: tls\.ca_file is set, but the endpoint "collector:4317" is plaintext \(tls\.insecure: true\): use TLS or remove it$/,
      },
    );
    assert.throws(
      () =>
        exporterOptions(
          factoryConfig(
            otlpExporterFactory,
            tls(
              `  insecure_skip_verify: true\n  cert_file: ${pki.clientCert}\n  key_file: ${pki.clientKey}`,
              'http://collector:4317',
            ),
          ),
        ),
      {
        message:
          /^otlp: tls\.cert_file, tls\.key_file, tls\.insecure_skip_verify are set, but the endpoint "http:\/\/collector:4317" is plaintext \(an http:\/\/ URL\): use TLS or remove them$/,
      },
    );
    assert.equal(
      exporterOptions(factoryConfig(otlpExporterFactory, tls('  insecure: true'))).transport.url,
      'http://collector:4317',
    );
    assert.equal(
      exporterOptions(factoryConfig(otlpExporterFactory, tls('  insecure_skip_verify: true'))).transport
        .insecureSkipVerify,
      true,
    );
    assert.throws(
      () =>
        exporterOptions(
          factoryConfig(
            otlpExporterFactory,
            tls('  insecure: true\n  server_name_override: collector.example'),
          ),
        ),
      { message: /^otlp: tls\.server_name_override is set, but the endpoint "collector:4317" is plaintext/ },
    );
    assert.equal(
      exporterOptions(factoryConfig(otlpExporterFactory, tls('  server_name_override: collector.example')))
        .transport.serverName,
      'collector.example',
    );
  });

  it('refuses headers that HTTP or gRPC would refuse at send time, without printing the value', () => {
    const headers = (protocol: string, lines: string): string =>
      `endpoint: c:4317\nprotocol: ${protocol}\nheaders:\n${lines}`;
    assert.throws(
      () => exporterOptions(factoryConfig(otlpExporterFactory, headers('http/protobuf', '  "x tenant": a'))),
      {
        message: /^otlp: header name "x tenant" is not a valid HTTP field name/,
      },
    );
    assert.throws(
      () => exporterOptions(factoryConfig(otlpExporterFactory, headers('grpc', '  "x+tenant": a'))),
      {
        message:
          /^otlp: header name "x\+tenant" is not a valid gRPC metadata key \(letters, digits, _ \. -\)$/,
      },
    );
    assert.throws(
      () => exporterOptions(factoryConfig(otlpExporterFactory, headers('grpc', '  x-tenant: "caf\u00e9"'))),
      {
        message:
          'otlp: headers.x-tenant has a character not allowed in gRPC metadata (printable ASCII only; the value is not shown)',
      },
    );
    assert.throws(
      () =>
        exporterOptions(
          factoryConfig(
            otlpExporterFactory,
            headers('http/protobuf', '  authorization: "Bearer s3cret\\nx: y"'),
          ),
        ),
      (e: Error) =>
        /^otlp: headers\.authorization has a character not allowed in a header value/.test(e.message) &&
        !e.message.includes('s3cret'),
    );
    assert.throws(
      () => exporterOptions(factoryConfig(otlpExporterFactory, headers('grpc', '  trace-bin: abc'))),
      {
        message: /headers\.trace-bin: gRPC metadata ending in -bin is binary, not supported here/,
      },
    );
    assert.throws(
      () => exporterOptions(factoryConfig(otlpExporterFactory, headers('grpc', '  grpc-timeout: 1S'))),
      {
        message: /headers\.grpc-timeout: gRPC metadata starting with grpc- is reserved/,
      },
    );
    assert.deepEqual(
      exporterOptions(
        factoryConfig(
          otlpExporterFactory,
          headers('http/protobuf', '  trace-bin: abc\n  X-Scope-OrgID: "t-1"'),
        ),
      ).transport.headers,
      { 'trace-bin': 'abc', 'X-Scope-OrgID': 't-1' },
    );
  });

  it('`loggerhead validate` reports a missing CA, an unusable certificate and a key without certificate at file:line:col, exit 2', async () => {
    const file = join(pki.dir, 'pipeline.yaml');
    writeFileSync(
      file,
      [
        'receivers:',
        '  ebpf_socket:',
        'processors:',
        '  k8s_attributes:',
        '    mode: host',
        'exporters:',
        '  otlp/ca:',
        '    endpoint: collector:4317',
        '    tls:',
        `      ca_file: ${join(pki.dir, 'missing-ca.pem')}`,
        '  otlp/cert:',
        '    endpoint: collector:4317',
        '    tls:',
        `      cert_file: ${garbage}`,
        `      key_file: ${pki.clientKey}`,
        '  otlp/key:',
        '    endpoint: collector:4317',
        '    tls:',
        `      key_file: ${pki.clientKey}`,
        'service:',
        '  pipelines:',
        '    links:',
        '      receivers: [ebpf_socket]',
        '      processors: [k8s_attributes]',
        '      exporters: [otlp/ca, otlp/cert, otlp/key]',
        '',
      ].join('\n'),
    );
    const { code, stdout, stderr } = await runLoggerhead(['validate', '--config', file]);
    assert.equal(stdout, '');
    assert.equal(
      stderr,
      [
        `${file}:7:3: exporters::otlp/ca: otlp: tls.ca_file "${join(pki.dir, 'missing-ca.pem')}" cannot be read: ENOENT: no such file or directory, open '${join(pki.dir, 'missing-ca.pem')}'`,
        `${file}:11:3: exporters::otlp/cert: otlp: tls.cert_file "${garbage}" holds no PEM certificate (expected "-----BEGIN CERTIFICATE-----" blocks)`,
        `${file}:16:3: exporters::otlp/key: otlp: tls.key_file "${pki.clientKey}" is set without tls.cert_file (a client certificate needs both)`,
        `loggerhead: ${file} is invalid: 3 errors`,
        '',
      ].join('\n'),
    );
    assert.equal(code, 2);
  });

  it('`loggerhead validate` run as an unprivileged user names a certificate it may not read (EACCES)', async () => {
    assert.equal(process.getuid?.(), 0, 'this test runs validate as nobody through setpriv: it needs root');
    chmodSync(pki.dir, 0o711);
    const secret = join(pki.dir, 'root-only-ca.pem');
    copyFileSync(pki.caCert, secret);
    chmodSync(secret, 0o600);
    const file = join(pki.dir, 'unprivileged.yaml');
    writeFileSync(
      file,
      [
        'receivers:',
        '  ebpf_socket:',
        'processors:',
        '  k8s_attributes:',
        '    mode: host',
        'exporters:',
        '  otlp:',
        '    endpoint: collector:4317',
        '    tls:',
        `      ca_file: ${secret}`,
        'service:',
        '  pipelines:',
        '    links:',
        '      receivers: [ebpf_socket]',
        '      processors: [k8s_attributes]',
        '      exporters: [otlp]',
        '',
      ].join('\n'),
    );
    chmodSync(file, 0o644);
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(
        'setpriv',
        [
          '--reuid=65534',
          '--regid=65534',
          '--clear-groups',
          '--',
          process.execPath,
          BIN,
          'validate',
          '-c',
          file,
        ],
        { cwd: REPO_ROOT },
        (error, _stdout, stderr) =>
          resolve({ code: error === null ? 0 : (error.code as number | null), stderr }),
      );
    });
    assert.equal(
      stderr,
      `${file}:7:3: exporters::otlp: otlp: tls.ca_file "${secret}" cannot be read: EACCES: permission denied, open '${secret}'\nloggerhead: ${file} is invalid: 1 error\n`,
    );
    assert.equal(code, 2);
  });
});

describe('TLS and HTTP failures in words', () => {
  it('names a rejected server certificate and what it was checked against', () => {
    assert.deepEqual(
      tlsFailure(
        'unable to verify the first certificate; if the root CA is installed locally, try running Node.js with --use-system-ca',
        'tls.ca_file "/etc/ca.pem"',
      ),
      {
        errorType: 'tls_certificate',
        message:
          'TLS certificate verification failed: the server\'s certificate was rejected (it is not trusted by tls.ca_file "/etc/ca.pem"): unable to verify the first certificate',
      },
    );
    assert.equal(
      tlsFailure(
        "Hostname/IP does not match certificate's altnames: IP: 10.0.0.1 is not in the cert's list: ",
      )?.message,
      "TLS certificate verification failed: the server's certificate was rejected (the certificate does not name the endpoint host): Hostname/IP does not match certificate's altnames: IP: 10.0.0.1 is not in the cert's list:",
    );
    assert.equal(
      tlsFailure('certificate has expired')?.message,
      "TLS certificate verification failed: the server's certificate was rejected (the certificate is outside its validity period: check its dates and this host's clock): certificate has expired",
    );
    assert.match(tlsFailure('self-signed certificate')?.message ?? '', /not trusted by the default CA roots/);
  });

  it('unwraps what grpc-js reports for a failed connection', () => {
    const error = Object.assign(
      new Error(
        '14 UNAVAILABLE: No connection established. Last error: Error: self-signed certificate in certificate chain (2026-11-26T23:10:06.971Z). Resolution note: ',
      ),
      { code: 14, metadata: {} },
    );
    const e = classifyExportError(error, 'tls.ca_file "/x"');
    assert.equal(e.errorType, 'tls_certificate');
    assert.equal(e.retryable, true);
    assert.equal(
      e.message,
      'TLS certificate verification failed: the server\'s certificate was rejected (it is not trusted by tls.ca_file "/x"): self-signed certificate in certificate chain',
    );
    // Another status never counts as a TLS failure, whatever its text says.
    const denied = classifyExportError(
      Object.assign(new Error('7 PERMISSION_DENIED: certificate has expired for tenant'), {
        code: 7,
        metadata: {},
      }),
    );
    assert.equal(denied.errorType, 'PERMISSION_DENIED');
  });

  it('names the handshake failures: no TLS on the server, client certificate required or refused', () => {
    const openssl = (alert: string): string =>
      `40AD858EB67F0000:error:0A00045C:SSL routines:ssl3_read_bytes:${alert}:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:918:SSL alert number 116\n`;
    const cases: Array<[string, string]> = [
      [
        'write EPROTO 400DA862277F0000:error:0A00010B:SSL routines:tls_validate_record_header:wrong version number:../deps/openssl/openssl/ssl/record/methods/tlsany_meth.c:77:\n',
        'TLS handshake failed: the server does not speak TLS (a plaintext endpoint needs tls.insecure: true or an http:// URL): wrong version number',
      ],
      [
        openssl('tlsv13 alert certificate required'),
        'TLS handshake failed: the server requires a client certificate (set tls.cert_file and tls.key_file): tlsv13 alert certificate required',
      ],
      [
        openssl('tlsv1 alert unknown ca'),
        'TLS handshake failed: the server refused the client certificate of tls.cert_file (alert "unknown ca": not signed by a CA it trusts): tlsv1 alert unknown ca',
      ],
      [
        openssl('sslv3 alert handshake failure'),
        'TLS handshake failed: the server sent the TLS alert "handshake failure": sslv3 alert handshake failure',
      ],
    ];
    for (const [text, message] of cases) {
      const e = classifyExportError(Object.assign(new Error(text), { code: 'EPROTO' }));
      assert.deepEqual([e.errorType, e.retryable, e.message], ['tls_handshake', true, message]);
    }
    assert.equal(tlsFailure('connect ECONNREFUSED 127.0.0.1:4317'), undefined);
  });

  it('adds what an HTTP error response said', () => {
    // google.rpc.Status{code: 16, message: "..."} as the Collector answers, decoded by the transport as UTF-8.
    const status = Buffer.concat([
      Buffer.from([0x08, 0x10, 0x12, 0x34]),
      Buffer.from('missing or empty authorization header: Authorization'),
    ]).toString('utf8');
    assert.equal(httpErrorDetail(status), 'missing or empty authorization header: Authorization');
    assert.equal(
      httpErrorDetail('Client sent an HTTP request to an HTTPS server.\n'),
      'Client sent an HTTP request to an HTTPS server.',
    );
    assert.equal(httpErrorDetail(''), '');
    assert.equal(httpErrorDetail(undefined), '');
    assert.equal(httpErrorDetail('x'.repeat(400)), `${'x'.repeat(300)}...`);
    const e = classifyExportError(Object.assign(new Error('Unauthorized'), { code: 401, data: status }));
    assert.deepEqual(
      [e.errorType, e.retryable, e.message],
      ['http_401', false, 'HTTP 401: Unauthorized: missing or empty authorization header: Authorization'],
    );
  });
});
