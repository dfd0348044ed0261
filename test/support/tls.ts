/**
 * Throwaway certificates for TLS tests, made with the openssl command line
 * (installed by scripts/setup.d/40-otelcol.sh): a CA, a server certificate for
 * 127.0.0.1 and localhost (and one for another name, one expired), a client certificate for
 * mutual TLS, and a second, unrelated CA that verifies none of them. EC P-256 keys: a few milliseconds each.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Paths of PEM files. */
export interface TestPki {
  dir: string;
  /** CA certificate that signed `server` and `client`. */
  caCert: string;
  /** A self-signed CA that signed nothing here. */
  otherCaCert: string;
  /** Server certificate (SAN IP:127.0.0.1, DNS:localhost) and its key. */
  serverCert: string;
  serverKey: string;
  /** Server certificate for the same names signed by the other CA, and its key. */
  otherServerCert: string;
  otherServerKey: string;
  /** Server certificate signed by `caCert` for another name only (SAN DNS:collector.invalid), and its key. */
  wrongNameCert: string;
  wrongNameKey: string;
  /** Server certificate signed by `caCert` for 127.0.0.1 and localhost that expired a day ago, and its key. */
  expiredCert: string;
  expiredKey: string;
  /** Client certificate (extendedKeyUsage clientAuth) and its key. */
  clientCert: string;
  clientKey: string;
  /** Removes the directory. */
  remove(): void;
}

function openssl(dir: string, args: readonly string[]): void {
  try {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { code?: string; stderr?: Buffer };
    if (err.code === 'ENOENT') {
      throw new Error(
        'openssl is not installed: run `bash scripts/setup.d/40-otelcol.sh --test` (or apt-get install openssl)',
        { cause: e },
      );
    }
    throw new Error(`openssl ${args.join(' ')} failed: ${err.stderr?.toString() ?? String(e)}`, { cause: e });
  }
}

function newKey(dir: string, name: string): void {
  openssl(dir, ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', name]);
}

function selfSignedCa(dir: string, name: string, subject: string): void {
  newKey(dir, `${name}.key`);
  openssl(dir, [
    'req',
    '-x509',
    '-new',
    '-key',
    `${name}.key`,
    '-subj',
    subject,
    '-days',
    '2',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
    '-out',
    `${name}.pem`,
  ]);
}

function signedLeaf(
  dir: string,
  ca: string,
  name: string,
  subject: string,
  extensions: string,
  days = 2,
): void {
  newKey(dir, `${name}.key`);
  openssl(dir, ['req', '-new', '-key', `${name}.key`, '-subj', subject, '-out', `${name}.csr`]);
  writeFileSync(join(dir, `${name}.ext`), extensions);
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.pem`,
    '-CAkey',
    `${ca}.key`,
    '-CAcreateserial',
    '-days',
    String(days),
    '-extfile',
    `${name}.ext`,
    '-out',
    `${name}.pem`,
  ]);
}

const SERVER_EXT = [
  'basicConstraints=critical,CA:FALSE',
  'keyUsage=critical,digitalSignature',
  'extendedKeyUsage=serverAuth',
  'subjectAltName=IP:127.0.0.1,DNS:localhost',
  '',
].join('\n');

const WRONG_NAME_EXT = SERVER_EXT.replace('IP:127.0.0.1,DNS:localhost', 'DNS:collector.invalid');

const CLIENT_EXT = [
  'basicConstraints=critical,CA:FALSE',
  'keyUsage=critical,digitalSignature',
  'extendedKeyUsage=clientAuth',
  '',
].join('\n');

/** Makes a fresh CA, server and client certificates, and an unrelated CA, in a new temporary directory. */
export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'lho-pki-'));
  try {
    selfSignedCa(dir, 'ca', '/CN=loggerhead test CA');
    selfSignedCa(dir, 'other-ca', '/CN=loggerhead unrelated CA');
    signedLeaf(dir, 'ca', 'server', '/CN=localhost', SERVER_EXT);
    signedLeaf(dir, 'other-ca', 'other-server', '/CN=localhost', SERVER_EXT);
    signedLeaf(dir, 'ca', 'wrong-name', '/CN=collector.invalid', WRONG_NAME_EXT);
    // Valid from now, ending a day before: expired (openssl takes a negative -days).
    signedLeaf(dir, 'ca', 'expired', '/CN=localhost', SERVER_EXT, -1);
    signedLeaf(dir, 'ca', 'client', '/CN=loggerhead agent', CLIENT_EXT);
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    dir,
    caCert: join(dir, 'ca.pem'),
    otherCaCert: join(dir, 'other-ca.pem'),
    serverCert: join(dir, 'server.pem'),
    serverKey: join(dir, 'server.key'),
    otherServerCert: join(dir, 'other-server.pem'),
    otherServerKey: join(dir, 'other-server.key'),
    wrongNameCert: join(dir, 'wrong-name.pem'),
    wrongNameKey: join(dir, 'wrong-name.key'),
    expiredCert: join(dir, 'expired.pem'),
    expiredKey: join(dir, 'expired.key'),
    clientCert: join(dir, 'client.pem'),
    clientKey: join(dir, 'client.key'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
