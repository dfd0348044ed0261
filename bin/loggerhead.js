#!/usr/bin/env node
// Starts the loggerhead CLI (dist/cli/main.js, built by `npm ci` / `npm run build`).
// It needs Node >= 22.19. Plain JavaScript that any Node runs: on an older Node
// (such as Debian's Node 20) it re-runs itself with the Node 24 that `npm ci`
// installs into node_modules/node, forwarding arguments, signals and exit status.
// `loggerhead run` runs with the V8 flags of V8_FLAGS and the environment of ENV:
// when Node was started without them (flags neither on its command line nor in
// NODE_OPTIONS, variables unset), the process replaces itself (execve: same pid,
// so signals and exit status are the agent's own) with the same command plus
// those flags and variables.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MINIMUM = [22, 19];
const [major, minor] = process.versions.node.split('.').map(Number);
const supported = major > MINIMUM[0] || (major === MINIMUM[0] && minor >= MINIMUM[1]);
const self = fileURLToPath(import.meta.url);

/**
 * V8's young generation at most 4 MiB per semi-space: V8 grows it to 64 MiB when a poll makes 100k
 * objects or a Kubernetes list is parsed, and keeps the pages. At 100k open sockets, and at 150,000
 * pods, the agent's RSS is about a third lower; 2 MiB promotes so much that the Kubernetes sync takes
 * twice as long (receivers/ebpf_socket/README.md, "Memory"; processors/k8s_attributes/README.md).
 */
const V8_FLAGS = ['--max-semi-space-size=4'];

/**
 * Environment `loggerhead run` starts with, unless already set: glibc's malloc keeps at most 2 arenas
 * (the main one and one for every other thread). With one arena per thread (up to 8 per core), the
 * threads Node runs (libuv, V8's platform workers) each keep their own freed pages: at 100k open
 * sockets RSS is about 5 MB higher (receivers/ebpf_socket/README.md, "Memory"). glibc reads it only
 * at process start, hence here.
 */
const ENV = { MALLOC_ARENA_MAX: '2' };

/** `--max_semi_space_size=8` -> `--max-semi-space-size` (V8 takes either spelling). */
function flagName(arg) {
  return arg.split('=')[0].replaceAll('_', '-');
}

/** The flags of V8_FLAGS this Node was not given, by its command line or NODE_OPTIONS. */
function missingFlags() {
  const given = new Set(
    [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].map(flagName),
  );
  return V8_FLAGS.filter((flag) => !given.has(flagName(flag)));
}

/** The variables of ENV this process was not started with. */
function missingEnv() {
  return Object.fromEntries(Object.entries(ENV).filter(([name]) => process.env[name] === undefined));
}

function bundledNode() {
  try {
    const manifest = createRequire(import.meta.url).resolve('node/package.json');
    const binary = join(dirname(manifest), 'bin', 'node');
    return existsSync(binary) ? binary : undefined;
  } catch {
    return undefined;
  }
}

if (supported) {
  const main = new URL('../dist/cli/main.js', import.meta.url);
  if (!existsSync(fileURLToPath(main))) {
    console.error(
      `loggerhead: ${fileURLToPath(main)} is missing; build it with \`npm run build\` (npm ci does it)`,
    );
    process.exit(1);
  }
  const running = process.argv.slice(2).includes('run');
  const missing = running ? missingFlags() : [];
  const env = running ? missingEnv() : {};
  if (missing.length > 0 || Object.keys(env).length > 0) {
    const args = [...missing, ...process.execArgv, self, ...process.argv.slice(2)];
    try {
      process.execve(process.execPath, [process.execPath, ...args], { ...process.env, ...env });
    } catch (error) {
      const what = [...missing, ...Object.entries(env).map(([k, v]) => `${k}=${v}`)].join(' ');
      console.error(`loggerhead: cannot re-run Node with ${what} (${error.message}); running without`);
    }
  }
  await import(main.href);
} else {
  const node = bundledNode();
  if (node === undefined) {
    console.error(
      `loggerhead: needs Node >= ${MINIMUM.join('.')} (this is ${process.version}), ` +
        "and the package's own Node 24 (node_modules/node) is not installed; run `npm ci`",
    );
    process.exit(1);
  }
  // Imported here only: the agent itself never spawns a process (about 1.4 MB of RSS saved).
  const { spawn } = await import('node:child_process');
  const child = spawn(node, [...missingFlags(), ...process.execArgv, self, ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, ...missingEnv() },
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => child.kill(signal));
  }
  child.on('error', (error) => {
    console.error(`loggerhead: cannot start ${node}: ${error.message}`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => {
    if (signal !== null) {
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    } else {
      process.exit(code ?? 1);
    }
  });
}
