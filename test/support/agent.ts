/**
 * The real agent as a user starts it (`loggerhead run`), in a child process,
 * for the tests that exercise the whole process: its configuration, its
 * output, its exit code.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { untilValue } from './wait.ts';

const MAIN = new URL('../../cli/main.ts', import.meta.url).pathname;
const running = new Set<ChildProcess>();

export interface Agent {
  child: ChildProcess;
  /** stdout and stderr so far, interleaved as they arrived. */
  output(): string;
  /** Exit code once exited (waits); null when a signal ended it. */
  exited(): Promise<number | null>;
}

export interface AgentOptions {
  /** A command and its arguments the agent runs behind (setpriv, unshare...), or none. */
  wrapper?: readonly string[];
  /** Arguments after `run --config FILE`. */
  args?: readonly string[];
  /** Prefix of the temporary directory holding the configuration (removed once the agent exits). */
  tmpPrefix?: string;
}

/**
 * A command prefix (a `wrapper`) that runs the rest of a command line in a private mount namespace,
 * after `script` (a shell script ending in `exec "$@"`) has changed its mounts; `args` are the
 * script's `$1`, `$2`... before the command.
 *
 * @example privateMounts('mount -t tmpfs x /sys/kernel/btf && exec "$@"')
 */
export function privateMounts(script: string, ...args: string[]): string[] {
  return ['/usr/bin/unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', script, 'sh', ...args];
}

/**
 * Runs `loggerhead run` with `configText` as its configuration file, in a
 * directory of its own (readable by any user: a wrapper may drop to another
 * one), which is also its working directory.
 */
export function runAgent(configText: string, options: AgentOptions = {}): Agent {
  const dir = mkdtempSync(join(tmpdir(), options.tmpPrefix ?? 'lh-agent-'));
  chmodSync(dir, 0o755);
  const config = join(dir, 'pipeline.yaml');
  writeFileSync(config, configText);
  const command = [
    ...(options.wrapper ?? []),
    process.execPath,
    MAIN,
    'run',
    '--config',
    config,
    ...(options.args ?? []),
  ];
  const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
  running.add(child);
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exit = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      running.delete(child);
      rmSync(dir, { recursive: true, force: true });
      resolve(code);
    }),
  );
  return { child, output: () => output, exited: () => exit };
}

/** SIGKILLs every agent still running: for an `after` hook, so that a failed test leaves none behind. */
export function killAgents(): void {
  for (const child of running) child.kill('SIGKILL');
}

/** Resolves once the agent's /readyz on 127.0.0.1:`port` answers 200; the failure carries its output. */
export async function agentReady(
  agent: Agent,
  port: number,
  timeoutMs = 20_000,
  intervalMs = 100,
): Promise<void> {
  await untilValue(
    async () => ((await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200 ? true : undefined),
    '/readyz',
    timeoutMs,
    intervalMs,
  ).catch((e: Error) => {
    throw new Error(`${e.message}; agent output:\n${agent.output()}`, { cause: e });
  });
}

/**
 * A configuration of the agent as a node runs it: `ebpf_socket` (with
 * `receiver`, one YAML line each) -> `k8s_attributes` in `mode` (host by
 * default) without DNS -> `prometheus` on 127.0.0.1:`port`.
 */
export function agentPipeline(
  receiver: readonly string[],
  port: number,
  mode: 'host' | 'auto' | 'kubernetes' = 'host',
): string {
  return [
    'receivers:',
    '  ebpf_socket:',
    ...receiver.map((line) => `    ${line}`),
    'processors:',
    '  k8s_attributes:',
    `    mode: ${mode}`,
    '    dns:',
    '      enabled: false',
    'exporters:',
    '  prometheus:',
    `    endpoint: 127.0.0.1:${port}`,
    'service:',
    '  pipelines:',
    '    links:',
    '      receivers: [ebpf_socket]',
    '      processors: [k8s_attributes]',
    '      exporters: [prometheus]',
    '',
  ].join('\n');
}

/** Sum of the samples of a Prometheus family whose label set matches every `labels` entry; undefined if none. */
export function sampleSum(text: string, family: string, labels: readonly string[]): number | undefined {
  let sum: number | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${family}{`) && !line.startsWith(`${family} `)) continue;
    if (!labels.every((l) => line.includes(l))) continue;
    sum = (sum ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}
