/**
 * Real scrape backends for end-to-end tests: Prometheus and VictoriaMetrics
 * from Debian (scripts/setup.d/30-prometheus.sh), each started by the test on
 * 127.0.0.1 with a free port and temporary storage, waited for until ready,
 * and stopped (process killed by its pid, storage removed) by `stop()` or, if
 * the test process dies first, by an exit hook.
 *
 * Both scrape the given targets every `scrapeIntervalMs` and answer the
 * Prometheus HTTP API (`/api/v1/query`, `/api/v1/series`, `/api/v1/targets`).
 * VictoriaMetrics runs with `-search.latencyOffset=1s` (its 30 s default hides
 * fresh samples) and a scrape config without `evaluation_interval` (its strict
 * parser rejects it).
 *
 * @example
 * const prom = await startPrometheus({ targets: ['127.0.0.1:9464'] });
 * after(() => prom.stop());
 * await prom.waitFor(async () => (await prom.query('up')).length === 1);
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type BackendKind = 'prometheus' | 'victoria-metrics';

export interface BackendOptions {
  /** `host:port` targets scraped by one job named `loggerhead`. */
  targets: readonly string[];
  /** @default 1000 */
  scrapeIntervalMs?: number;
  /** How long to wait for readiness. @default 30000 */
  readyTimeoutMs?: number;
}

/** One sample vector element or matrix series of a query answer. */
export interface Series {
  metric: Record<string, string>;
  /** Instant vectors: [seconds, "value"]. */
  value?: [number, string];
  /** Range vectors (matrix): every raw sample. */
  values?: Array<[number, string]>;
}

export interface Backend {
  kind: BackendKind;
  /** `http://127.0.0.1:port` */
  url: string;
  /**
   * Runs an instant query (at `timeS`, seconds since the epoch, when given) and
   * returns the vector or matrix; throws with the backend's error otherwise.
   * `step` is passed on as the query's step (Grafana sends its interval there;
   * MetricsQL uses it for implicit subqueries such as `rate((expr)[1h])`).
   */
  query(expr: string, timeS?: number, step?: string): Promise<Series[]>;
  /** Series matching a selector, with their label sets. */
  series(match: string): Promise<Array<Record<string, string>>>;
  /** Health of each scrape target as the backend reports it (`up` / `down`, with its last error). */
  targets(): Promise<Array<{ scrapeUrl: string; health: string; lastError: string }>>;
  /** Polls `check` every 250 ms until it returns true; throws with `what` after `timeoutMs`. */
  waitFor(check: () => Promise<boolean>, what: string, timeoutMs?: number): Promise<void>;
  /** Kills the process, waits for it to exit and removes its storage. Idempotent. */
  stop(): Promise<void>;
}

const running = new Set<{ child: ChildProcess; dir: string }>();
let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const r of running) {
      try {
        r.child.kill('SIGKILL');
      } catch {
        // Already gone.
      }
      rmSync(r.dir, { recursive: true, force: true });
    }
  });
}

/** A port that was free a moment ago (listen on 0, read it, close). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Fails with the reason when a backend binary is missing. */
export function requireBinary(name: string): void {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  if (found.status !== 0) {
    throw new Error(
      `${name} is not installed: run 'sudo bash scripts/setup.d/30-prometheus.sh --test' (Debian packages prometheus, victoria-metrics)`,
    );
  }
}

function scrapeConfig(options: BackendOptions, withEvaluationInterval: boolean): string {
  const interval = `${options.scrapeIntervalMs ?? 1000}ms`;
  const global = withEvaluationInterval
    ? `{ scrape_interval: ${interval}, scrape_timeout: ${interval}, evaluation_interval: ${interval} }`
    : `{ scrape_interval: ${interval}, scrape_timeout: ${interval} }`;
  const targets = options.targets.map((t) => `'${t}'`).join(', ');
  return `global: ${global}\nscrape_configs:\n  - job_name: loggerhead\n    static_configs: [ { targets: [${targets}] } ]\n`;
}

async function launch(
  kind: BackendKind,
  options: BackendOptions,
  argsFor: (port: number, dir: string, configPath: string) => string[],
  readyPath: string,
): Promise<Backend> {
  const binary = kind === 'prometheus' ? 'prometheus' : 'victoria-metrics';
  requireBinary(binary);
  hookExit();
  const dir = mkdtempSync(join(tmpdir(), `lhx-${kind}-`));
  const configPath = join(dir, 'scrape.yml');
  writeFileSync(configPath, scrapeConfig(options, kind === 'prometheus'));
  let lastError = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const child = spawn(binary, argsFor(port, dir, configPath), { stdio: ['ignore', 'ignore', 'pipe'] });
    const entry = { child, dir };
    running.add(entry);
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
    let ready = false;
    let gone = false;
    void exited.then(() => {
      gone = true;
    });
    while (!ready && !gone && Date.now() < deadline) {
      try {
        ready = (await fetch(`${url}${readyPath}`)).ok;
      } catch {
        // Not listening yet.
      }
      if (!ready) await new Promise((r) => setTimeout(r, 50));
    }
    if (ready) return backend(kind, url, child, entry, exited);
    child.kill('SIGKILL');
    await exited;
    running.delete(entry);
    lastError = gone
      ? `exited early: ${stderr.trim().split('\n').slice(-3).join(' | ')}`
      : `not ready at ${url}${readyPath}`;
    if (!/address already in use/.test(stderr)) break;
  }
  rmSync(dir, { recursive: true, force: true });
  throw new Error(`${binary} did not start: ${lastError}`);
}

function backend(
  kind: BackendKind,
  url: string,
  child: ChildProcess,
  entry: { child: ChildProcess; dir: string },
  exited: Promise<number | null>,
): Backend {
  async function api(path: string, params: Record<string, string>): Promise<unknown> {
    const body = new URLSearchParams(params);
    const res = await fetch(`${url}${path}`, {
      method: 'POST',
      body,
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    });
    const json = (await res.json()) as { status: string; data?: unknown; error?: string; errorType?: string };
    if (json.status !== 'success') {
      throw new Error(
        `${kind} ${path} ${JSON.stringify(params)}: ${json.errorType ?? ''} ${json.error ?? res.status}`,
      );
    }
    return json.data;
  }
  let stopped: Promise<void> | undefined;
  return {
    kind,
    url,
    async query(expr, timeS, step) {
      const params: Record<string, string> = { query: expr };
      if (timeS !== undefined) params.time = timeS.toFixed(3);
      if (step !== undefined) params.step = step;
      const data = (await api('/api/v1/query', params)) as { result: Series[] };
      return data.result;
    },
    async series(match) {
      return (await api('/api/v1/series', { 'match[]': match })) as Array<Record<string, string>>;
    },
    async targets() {
      const res = await fetch(`${url}/api/v1/targets`);
      const json = (await res.json()) as {
        data: { activeTargets: Array<{ scrapeUrl: string; health: string; lastError: string }> };
      };
      return json.data.activeTargets.map((t) => ({
        scrapeUrl: t.scrapeUrl,
        health: t.health,
        lastError: t.lastError,
      }));
    },
    async waitFor(check, what, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      let last: unknown;
      while (Date.now() < deadline) {
        try {
          if (await check()) return;
        } catch (error) {
          last = error;
        }
        await new Promise((r) => setTimeout(r, 250));
      }
      throw new Error(
        `${kind}: ${what} not reached within ${timeoutMs} ms${last === undefined ? '' : `: ${String(last)}`}`,
      );
    },
    stop() {
      stopped ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
          await exited;
          clearTimeout(timer);
        }
        running.delete(entry);
        rmSync(entry.dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}

/** Starts Prometheus (2.42 from Debian) scraping `targets`. */
export function startPrometheus(options: BackendOptions): Promise<Backend> {
  return launch(
    'prometheus',
    options,
    (port, dir, config) => [
      `--config.file=${config}`,
      `--web.listen-address=127.0.0.1:${port}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      '--storage.tsdb.retention.time=1h',
      '--log.level=warn',
    ],
    '/-/ready',
  );
}

/** Starts VictoriaMetrics (1.79 from Debian) scraping `targets`. */
export function startVictoriaMetrics(options: BackendOptions): Promise<Backend> {
  return launch(
    'victoria-metrics',
    options,
    (port, dir, config) => [
      `-httpListenAddr=127.0.0.1:${port}`,
      `-storageDataPath=${join(dir, 'data')}`,
      '-retentionPeriod=1d',
      `-promscrape.config=${config}`,
      '-search.latencyOffset=1s',
      '-loggerLevel=WARN',
    ],
    '/health',
  );
}

/** Runs `promtool check metrics` on an exposition; resolves with its output (empty when clean). */
export function promtoolCheckMetrics(exposition: string): { status: number | null; output: string } {
  requireBinary('promtool');
  const result = spawnSync('promtool', ['check', 'metrics'], {
    input: exposition,
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  return { status: result.status, output: `${result.stdout}${result.stderr}`.trim() };
}
