#!/usr/bin/env node
// Starts the loggerhead CLI (dist/cli/main.js, built by `npm ci` / `npm run build`).
// It needs Node >= 22.19. Plain JavaScript that any Node runs: on an older Node
// (such as Debian's Node 20) it re-runs itself with the Node 24 that `npm ci`
// installs into node_modules/node, forwarding arguments, signals and exit status.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MINIMUM = [22, 19];
const [major, minor] = process.versions.node.split('.').map(Number);
const supported = major > MINIMUM[0] || (major === MINIMUM[0] && minor >= MINIMUM[1]);
const self = fileURLToPath(import.meta.url);

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
  const child = spawn(node, [...process.execArgv, self, ...process.argv.slice(2)], { stdio: 'inherit' });
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
