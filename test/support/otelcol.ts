/**
 * A real OpenTelemetry Collector for tests: the binary that
 * `scripts/setup.d/40-otelcol.sh --test` builds with the official builder
 * (otlp receiver -> file exporter), started on 127.0.0.1 with its own ports
 * and a temporary output file, and a parser for what it wrote.
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CollectedPoint, OtlpJsonRequest } from './otlp-json.ts';
import { requestPoints } from './otlp-json.ts';

export type { CollectedPoint } from './otlp-json.ts';

export const OTELCOL_VERSION = 'v0.161.0';
export const OTELCOL_BINARY = `/var/cache/loggerhead/otelcol/${OTELCOL_VERSION}/otelcol-loggerhead`;

/** Collectors started by this process, and their directories: cleaned up if it exits without closing them (a test that threw). */
const running = new Set<ChildProcess>();
const directories = new Set<string>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
  for (const dir of directories) rmSync(dir, { recursive: true, force: true });
});

/** The collector binary, or an error that says how to get it. */
export function otelcolBinary(): string {
  if (!existsSync(OTELCOL_BINARY)) {
    throw new Error(
      `the OpenTelemetry Collector is not built: ${OTELCOL_BINARY} is missing; run 'bash scripts/setup.d/40-otelcol.sh --test' (or scripts/setup.sh --test)`,
    );
  }
  return OTELCOL_BINARY;
}

/** A free TCP port on 127.0.0.1 (bound and released; the collector takes it right after). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port from listen(0)');
  return address.port;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Parses the file exporter's JSON lines (one ExportMetricsServiceRequest per line) into points. */
export function parseCollectorOutput(text: string): CollectedPoint[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .flatMap((line) => requestPoints(JSON.parse(line) as OtlpJsonRequest));
}

export interface OtelcolOptions {
  /** Echo the collector's own log to stderr. */
  echo?: boolean;
  /**
   * `file` (default) writes every request as a JSON line for `points()`;
   * `discard` sends them to the debug exporter at basic verbosity, for benchmarks.
   */
  output?: 'file' | 'discard';
  /**
   * TLS on both receivers with this server certificate and key; with
   * `clientCaFile`, a client certificate signed by it is required (mutual TLS).
   */
  tls?: { certFile: string; keyFile: string; clientCaFile?: string };
  /** Both receivers refuse requests without `authorization: Bearer <token>` (bearertokenauth extension). */
  bearerToken?: string;
}

/** The receiver-side settings of one protocol, as YAML lines under it. */
function receiverSecurity(options: OtelcolOptions): string[] {
  const lines: string[] = [];
  if (options.tls !== undefined) {
    lines.push('        tls:');
    lines.push(`          cert_file: ${JSON.stringify(options.tls.certFile)}`);
    lines.push(`          key_file: ${JSON.stringify(options.tls.keyFile)}`);
    if (options.tls.clientCaFile !== undefined) {
      lines.push(`          client_ca_file: ${JSON.stringify(options.tls.clientCaFile)}`);
    }
  }
  if (options.bearerToken !== undefined) {
    lines.push('        auth:', '          authenticator: bearertokenauth');
  }
  return lines;
}

/** A running collector: otlp receiver (gRPC + HTTP, optionally TLS and a bearer token) on 127.0.0.1 -> file exporter. */
export class Otelcol {
  readonly grpcPort: number;
  readonly httpPort: number;
  readonly dir: string;
  private readonly configPath: string;
  private options: OtelcolOptions;
  private child: ChildProcess | undefined;
  private log = '';
  private readonly parsed: CollectedPoint[] = [];
  private readOffset = 0;
  private partial = '';
  private runs = 0;

  private constructor(grpcPort: number, httpPort: number, options: OtelcolOptions) {
    this.grpcPort = grpcPort;
    this.httpPort = httpPort;
    this.options = options;
    this.dir = mkdtempSync(join(tmpdir(), 'lho-otelcol-'));
    directories.add(this.dir);
    this.configPath = join(this.dir, 'config.yaml');
  }

  /** The file the running (or next) collector process writes: the file exporter truncates its file at start, so each run gets its own. */
  get outputPath(): string {
    return join(this.dir, `metrics-${this.runs}.jsonl`);
  }

  private writeConfig(): void {
    writeFileSync(
      this.configPath,
      [
        ...(this.options.bearerToken === undefined
          ? []
          : ['extensions:', '  bearertokenauth:', `    token: ${JSON.stringify(this.options.bearerToken)}`]),
        'receivers:',
        '  otlp:',
        '    protocols:',
        '      grpc:',
        `        endpoint: 127.0.0.1:${this.grpcPort}`,
        ...receiverSecurity(this.options),
        '      http:',
        `        endpoint: 127.0.0.1:${this.httpPort}`,
        ...receiverSecurity(this.options),
        'exporters:',
        '  file:',
        `    path: ${this.outputPath}`,
        '    flush_interval: 100ms',
        '  debug:',
        '    verbosity: basic',
        'service:',
        ...(this.options.bearerToken === undefined ? [] : ['  extensions: [bearertokenauth]']),
        '  telemetry:',
        '    logs:',
        '      level: warn',
        '    metrics:',
        '      level: none',
        '  pipelines:',
        '    metrics:',
        '      receivers: [otlp]',
        `      exporters: [${this.options.output === 'discard' ? 'debug' : 'file'}]`,
        '',
      ].join('\n'),
    );
  }

  /** Starts a collector on fresh ports and waits until both receivers accept connections. */
  static async start(options: OtelcolOptions = {}): Promise<Otelcol> {
    otelcolBinary();
    const c = new Otelcol(await freePort(), await freePort(), options);
    await c.resume();
    return c;
  }

  /** `http://127.0.0.1:<grpc port>` (`https://` with TLS) */
  get grpcEndpoint(): string {
    return `${this.scheme}://127.0.0.1:${this.grpcPort}`;
  }

  /** `http://127.0.0.1:<http port>` (`https://` with TLS; the exporter appends /v1/metrics) */
  get httpEndpoint(): string {
    return `${this.scheme}://127.0.0.1:${this.httpPort}`;
  }

  private get scheme(): 'http' | 'https' {
    return this.options.tls === undefined ? 'http' : 'https';
  }

  /** Changes options for the next `resume()` (TLS, token): only while stopped. */
  reconfigure(changes: OtelcolOptions): void {
    if (this.child !== undefined) throw new Error('otelcol: reconfigure() while running; pause() first');
    this.options = { ...this.options, ...changes };
  }

  /** Pid of the running collector, or undefined when stopped. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** (Re)starts the collector process on the same ports and output file. */
  async resume(timeoutMs = 30_000): Promise<void> {
    if (this.child !== undefined) throw new Error('otelcol is already running');
    if (this.runs > 0) {
      this.points();
      this.readOffset = 0;
      this.partial = '';
    }
    this.runs++;
    this.writeConfig();
    const child = spawn(otelcolBinary(), ['--config', `file:${this.configPath}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    running.add(child);
    child.once('exit', () => running.delete(child));
    const onData = (d: Buffer): void => {
      this.log += d.toString();
      if (this.log.length > 1_000_000) this.log = this.log.slice(-500_000);
      if (this.options.echo === true) process.stderr.write(d);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    let exited: string | undefined;
    child.once('exit', (code, signal) => {
      exited = `exited with ${signal ?? code}`;
      if (this.child === child) this.child = undefined;
    });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (exited !== undefined) throw new Error(`otelcol ${exited} during start-up:\n${this.log}`);
      if ((await portOpen(this.grpcPort)) && (await portOpen(this.httpPort))) return;
      if (Date.now() > deadline) {
        throw new Error(
          `otelcol did not open ports ${this.grpcPort}/${this.httpPort} in ${timeoutMs} ms:\n${this.log}`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Stops the collector (SIGTERM, SIGKILL after 10 s); the file exporter flushes on a clean stop. */
  async pause(): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null) {
      this.child = undefined;
      return;
    }
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
    this.child = undefined;
  }

  /** Everything the collector wrote so far, parsed (incrementally: only new lines are read). */
  points(): CollectedPoint[] {
    if (!existsSync(this.outputPath)) return this.parsed;
    const size = statSync(this.outputPath).size;
    if (size < this.readOffset) {
      throw new Error(`otelcol output ${this.outputPath} shrank from ${this.readOffset} to ${size} bytes`);
    }
    if (size === this.readOffset) return this.parsed;
    const fd = openSync(this.outputPath, 'r');
    try {
      const chunk = Buffer.allocUnsafe(size - this.readOffset);
      const n = readSync(fd, chunk, 0, chunk.length, this.readOffset);
      const text = this.partial + chunk.subarray(0, n).toString('utf8');
      this.readOffset += n;
      const lastNewline = text.lastIndexOf('\n');
      this.partial = text.slice(lastNewline + 1);
      for (const p of parseCollectorOutput(text.slice(0, lastNewline + 1))) this.parsed.push(p);
    } finally {
      closeSync(fd);
    }
    return this.parsed;
  }

  /** Polls the output until `predicate` holds; rejects after `timeoutMs` with the collector's log. */
  async waitFor(
    predicate: (points: CollectedPoint[]) => boolean,
    timeoutMs = 20_000,
    what = 'condition',
  ): Promise<CollectedPoint[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const points = this.points();
      if (predicate(points)) return points;
      if (Date.now() > deadline) {
        throw new Error(
          `otelcol: ${what} not met within ${timeoutMs} ms (${points.length} points written); log:\n${this.log}`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** The collector's own log so far. */
  get logText(): string {
    return this.log;
  }

  /** Stops the collector and removes its directory. */
  async close(): Promise<void> {
    await this.pause();
    rmSync(this.dir, { recursive: true, force: true });
    directories.delete(this.dir);
  }
}
