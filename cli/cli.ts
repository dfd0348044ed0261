/**
 * The `loggerhead` command: parses arguments, loads the config and runs,
 * validates or lists components. Returns an exit code; only `main.ts` exits.
 */
import { existsSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Factory } from '../core/component.ts';
import { ConfigError, formatIssue } from '../core/config/issues.ts';
import type { PipelineConfig } from '../core/config/load.ts';
import { loadPipelineConfig } from '../core/config/load.ts';
import type { LogFormat } from '../core/log.ts';
import { createLogger } from '../core/log.ts';
import type { LogLevel } from '../core/logger.ts';
import { checkCreate, ComponentError } from '../core/graph.ts';
import { Registry } from '../core/registry.ts';
import { Service } from '../core/service.ts';
import { TelemetryRegistry } from '../core/telemetry-registry.ts';
import { formatComponents } from './components-text.ts';
import { packageInfo } from './package-root.ts';
import { whereToLook } from './where.ts';

/** Exit codes. */
export const EXIT_OK = 0;
export const EXIT_RUNTIME = 1;
export const EXIT_USAGE = 2;

/** Everything the CLI touches outside itself. */
export interface CliEnvironment {
  /** The component factories, loaded only by the commands that need them (importing them takes a while). */
  loadFactories: () => Promise<readonly Factory[]>;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Whether stderr is a terminal (text logs by default). */
  stderrIsTTY: boolean;
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  /** Calls `handler` on SIGTERM and SIGINT (each time). */
  onSignal: (handler: (signal: string) => void) => void;
  /** Shutdown deadline. @default 4000 */
  shutdownTimeoutMillis?: number;
}

export const USAGE = `Usage: loggerhead <command> [options]

Commands:
  run          run the pipeline until SIGTERM or SIGINT
  validate     check the configuration and exit; nothing is started
  components   list the built-in components, their signals and settings

Options:
  -c, --config FILE        the pipeline config (default: ./pipeline.yaml if present, else the built-in one)
      --log-level LEVEL    debug, info, warn or error (default: service.telemetry.logs.level, else info)
      --log-format FORMAT  json or text (default: text on a terminal, else json)
  -h, --help               print this help
  -v, --version            print the version

Exit codes: 0 success, 1 runtime failure, 2 configuration or usage error.
`;

const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];
const FORMATS: readonly LogFormat[] = ['json', 'text'];

/** A wrong command line: printed with the usage, exit 2. */
class UsageError extends Error {}

/** No config to run: printed alone, exit 2. */
class NoConfigError extends Error {}

const COMMANDS = ['run', 'validate', 'components'] as const;
type Command = (typeof COMMANDS)[number];

interface Options {
  /** Undefined when none was given (fine with --help or --version). */
  command: Command | undefined;
  config: string | undefined;
  logLevel: LogLevel | undefined;
  logFormat: LogFormat | undefined;
  help: boolean;
  version: boolean;
}

function parseOptions(argv: readonly string[]): Options {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        config: { type: 'string', short: 'c' },
        'log-level': { type: 'string' },
        'log-format': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    });
  } catch (error) {
    // node:util's messages go on with advice about `--` that does not apply here.
    throw new UsageError((error as Error).message.split('. ')[0] ?? '');
  }
  const { values, positionals } = parsed;
  if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}"`);
  const command = positionals[0];
  if (command !== undefined && !COMMANDS.includes(command as Command)) {
    throw new UsageError(`unknown command "${command}"`);
  }
  const level = values['log-level'];
  if (level !== undefined && !LEVELS.includes(level as LogLevel)) {
    throw new UsageError(`--log-level must be one of ${LEVELS.join(', ')}, got "${level}"`);
  }
  const format = values['log-format'];
  if (format !== undefined && !FORMATS.includes(format as LogFormat)) {
    throw new UsageError(`--log-format must be one of ${FORMATS.join(', ')}, got "${format}"`);
  }
  return {
    command: command as Command | undefined,
    config: values.config,
    logLevel: level as LogLevel | undefined,
    logFormat: format as LogFormat | undefined,
    help: values.help === true,
    version: values.version === true,
  };
}

interface ConfigSource {
  /** Path to read. */
  path: string;
  /** Name shown in messages: as given, or relative to the working directory. */
  file: string;
  builtin: boolean;
}

function findConfig(option: string | undefined, cwd: string, root: string): ConfigSource {
  if (option !== undefined) return { path: resolve(cwd, option), file: option, builtin: false };
  const local = join(cwd, 'pipeline.yaml');
  if (existsSync(local)) return { path: local, file: 'pipeline.yaml', builtin: false };
  const builtin = join(root, 'pipeline.yaml');
  if (existsSync(builtin)) {
    const shown = relative(cwd, builtin);
    return { path: builtin, file: shown.startsWith('..') ? builtin : shown, builtin: true };
  }
  throw new NoConfigError(
    `no configuration: no --config given, no pipeline.yaml in the working directory (${cwd}), and no built-in default (${builtin})`,
  );
}

function printConfigError(env: CliEnvironment, error: ConfigError): void {
  const lines = error.issues.map((issue) => formatIssue(error.file, issue));
  const count = error.issues.length === 1 ? '1 error' : `${error.issues.length} errors`;
  env.stderr(`${lines.join('\n')}\nloggerhead: ${error.file} is invalid: ${count}\n`);
}

async function run(
  env: CliEnvironment,
  options: Options,
  registry: Registry,
  version: string,
): Promise<number> {
  const source = findConfig(options.config, env.cwd, packageInfo().root);
  const config: PipelineConfig = loadPipelineConfig(source.path, registry, {
    file: source.file,
    env: env.env,
  });
  const logger = createLogger({
    level: options.logLevel ?? config.telemetry.logs.level ?? 'info',
    format: options.logFormat ?? (env.stderrIsTTY ? 'text' : 'json'),
    write: env.stderr,
  });
  let signalled: string | undefined;
  let onStop: (signal: string) => void = (signal) => {
    signalled = signal;
  };
  env.onSignal((signal) => {
    if (signalled !== undefined) return;
    signalled = signal;
    onStop(signal);
  });
  logger.info('loggerhead starting', {
    version,
    config: source.file,
    builtin_config: source.builtin,
    pid: process.pid,
  });
  const service = new Service({
    config,
    logger,
    telemetry: new TelemetryRegistry(),
    shutdownTimeoutMillis: env.shutdownTimeoutMillis ?? 4000,
  });
  // Components unref their timers and a signal handler does not hold the event loop open:
  // this timer keeps the process alive until a signal asks it to stop.
  const keepAlive = setInterval(() => {}, 60_000);
  try {
    const stop = new Promise<string>((resolveSignal) => {
      if (signalled !== undefined) resolveSignal(signalled);
      else onStop = resolveSignal;
    });
    // A signal during a slow start-up stops it too: shutdown is safe at any time.
    const first = await Promise.race([
      service.start().then(
        () => ({ started: true as const }),
        (error: unknown) => ({ failed: error as Error }),
      ),
      stop.then((signal) => ({ signal })),
    ]);
    if ('failed' in first) {
      await service.shutdown();
      if (first.failed instanceof ComponentError && first.failed.action === 'create') {
        printConfigError(env, new ConfigError(source.file, [first.failed.toIssue()]));
        return EXIT_USAGE;
      }
      logger.error('loggerhead failed to start', { error: first.failed.message });
      return EXIT_RUNTIME;
    }
    const look = env.stderrIsTTY && 'started' in first ? whereToLook(config) : [];
    if (look.length > 0)
      env.stderr(`\nloggerhead is running; open:\n${look.join('\n')}\nCtrl-C stops it.\n\n`);
    const signal = 'signal' in first ? first.signal : await stop;
    logger.info('received signal, shutting down', { signal });
    const errors = await service.shutdown();
    if (errors.length > 0) {
      logger.error('shutdown finished with errors', { errors: errors.map((e) => e.message) });
      return EXIT_RUNTIME;
    }
  } finally {
    clearInterval(keepAlive);
  }
  return EXIT_OK;
}

/**
 * Runs the CLI with `argv` (without the node and script paths).
 *
 * @returns the exit code.
 */
export async function runCli(argv: readonly string[], env: CliEnvironment): Promise<number> {
  const { version } = packageInfo();
  try {
    const options = parseOptions(argv);
    if (options.help) {
      env.stdout(USAGE);
      return EXIT_OK;
    }
    if (options.version) {
      env.stdout(`loggerhead ${version}\n`);
      return EXIT_OK;
    }
    if (options.command === undefined) throw new UsageError('missing command');
    const registry = new Registry(await env.loadFactories());
    switch (options.command) {
      case 'run':
        return await run(env, options, registry, version);
      case 'validate': {
        const source = findConfig(options.config, env.cwd, packageInfo().root);
        const config = loadPipelineConfig(source.path, registry, { file: source.file, env: env.env });
        const telemetry = new TelemetryRegistry();
        const silent = createLogger({ write: () => {} });
        const issues = await checkCreate(config, (node) => ({
          id: node.spec.id,
          logger: silent,
          telemetry: telemetry.scoped({ 'component.id': node.id, 'component.kind': node.kind }),
        }));
        if (issues.length > 0) throw new ConfigError(source.file, issues);
        const names = config.pipelines.map((p) => p.name).join(', ');
        env.stdout(`${source.file}: valid (pipelines: ${names})\n`);
        return EXIT_OK;
      }
      case 'components':
        env.stdout(formatComponents(registry.all()));
        return EXIT_OK;
    }
  } catch (error) {
    if (error instanceof UsageError) {
      env.stderr(`loggerhead: ${error.message}\n\n${USAGE}`);
      return EXIT_USAGE;
    }
    if (error instanceof NoConfigError) {
      env.stderr(`loggerhead: ${error.message}\n`);
      return EXIT_USAGE;
    }
    if (error instanceof ConfigError) {
      printConfigError(env, error);
      return EXIT_USAGE;
    }
    throw error;
  }
}
