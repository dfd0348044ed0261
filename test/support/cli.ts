/** Runs the built `loggerhead` binary (bin/loggerhead.js -> dist/) in a child process, for CLI tests. */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = fileURLToPath(new URL('../../bin/loggerhead.js', import.meta.url));
const FAKES = fileURLToPath(new URL('./register-fakes.mjs', import.meta.url));
const BUILT_MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** Preload test-only factories (fake_sockets, fake_links receivers; fake_linker processor). */
  fakes?: boolean;
  /** Node binary. @default process.execPath */
  node?: string;
}

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Starts the binary; fails with the reason if dist/ was not built. */
export function spawnLoggerhead(args: readonly string[], options: RunOptions = {}): ChildProcess {
  assert.ok(existsSync(BUILT_MAIN), `${BUILT_MAIN} is missing: run \`npm run build\` (npm test does) first`);
  const preload = options.fakes === true ? ['--import', FAKES] : [];
  return spawn(options.node ?? process.execPath, [...preload, BIN, ...args], {
    cwd: options.cwd ?? REPO_ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Collects a child's output and waits for it to exit. */
export function finished(child: ChildProcess): Promise<Finished> {
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Runs the binary to completion. */
export function runLoggerhead(args: readonly string[], options: RunOptions = {}): Promise<Finished> {
  return finished(spawnLoggerhead(args, options));
}
