/** The built `loggerhead` binary, run in child processes. */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BIN, finished, REPO_ROOT, runLoggerhead, spawnLoggerhead } from '../test/support/cli.ts';
import { debugExporterFactory } from '../exporters/debug/debug.ts';
import { fakeConverterFactory, fakeSourceFactory } from '../test/support/fake-components.ts';
import { until } from '../test/support/wait.ts';
import { runCli, USAGE } from './cli.ts';

const VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string })
  .version;
let dir = '';

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'loggerhead-cli-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** JSON log lines of a run, parsed. */
function logLines(stderr: string): Array<Record<string, unknown>> {
  return stderr
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

const RUNNABLE = `
receivers:
  fake_sockets:
    interval: 50ms
processors:
  fake_linker:
exporters:
  debug:
service:
  pipelines:
    links:
      receivers: [fake_sockets]
      processors: [fake_linker]
      exporters: [debug]
`;

test('--version and --help print to stdout and exit 0', async () => {
  assert.deepEqual(await runLoggerhead(['--version']), {
    code: 0,
    signal: null,
    stdout: `loggerhead ${VERSION}\n`,
    stderr: '',
  });
  assert.deepEqual(await runLoggerhead(['--help']), { code: 0, signal: null, stdout: USAGE, stderr: '' });
});

test('usage errors exit 2 with the reason and the usage', async () => {
  const cases: Array<[string[], string]> = [
    [[], 'loggerhead: missing command'],
    [['serve'], 'loggerhead: unknown command "serve"'],
    [
      ['run', '--log-level', 'loud'],
      'loggerhead: --log-level must be one of debug, info, warn, error, got "loud"',
    ],
    [['run', '--log-format', 'xml'], 'loggerhead: --log-format must be one of json, text, got "xml"'],
    [['run', '--bogus'], "loggerhead: Unknown option '--bogus'"],
    [['validate', 'extra'], 'loggerhead: unexpected argument "extra"'],
  ];
  for (const [args, first] of cases) {
    const { code, stdout, stderr } = await runLoggerhead(args);
    assert.equal(code, 2, args.join(' '));
    assert.equal(stdout, '');
    assert.ok(stderr.startsWith(`${first}\n\n${USAGE.slice(0, 30)}`), `${args.join(' ')}: ${stderr}`);
  }
});

test('validate reports the four classic mistakes exactly, exits 2 and starts nothing', async () => {
  file(
    'bad.yaml',
    `receivers:
  ebpf_socket:
    poll_interval: 5 sec
  ebpf_sockt:
processors:
  k8s_attributes:
exporters:
  prometheus:
    endpont: 127.0.0.1:9464
service:
  pipelines:
    links:
      receivers: [ebpf_socket]
      processors: [k8s_attributes]
      exporters: [prometheus, otlp/backup]
`,
  );
  const { code, stdout, stderr } = await runLoggerhead(['validate', '--config', 'bad.yaml'], { cwd: dir });
  assert.equal(stdout, '');
  assert.equal(
    stderr,
    [
      'bad.yaml:3:20: receivers::ebpf_socket::poll_interval: invalid duration "5 sec": expected a number and a unit (ns, us, ms, s, m, h) such as "500ms", "5s" or "1m30s"',
      'bad.yaml:4:3: receivers::ebpf_sockt: unknown receiver type "ebpf_sockt"; did you mean "ebpf_socket"?',
      'bad.yaml:9:5: exporters::prometheus::endpont: unknown key "endpont"; did you mean "endpoint"?',
      'bad.yaml:15:31: service::pipelines::links::exporters: references exporter "otlp/backup" which is not configured',
      'loggerhead: bad.yaml is invalid: 4 errors',
      '',
    ].join('\n'),
  );
  assert.equal(code, 2);
  const ran = await runLoggerhead(['run', '--config', 'bad.yaml'], { cwd: dir });
  assert.equal(ran.code, 2);
  assert.equal(ran.stderr, stderr, 'run reports the same and starts nothing');
});

test('validate accepts a good config and reads ./pipeline.yaml by default', async () => {
  file('pipeline.yaml', RUNNABLE);
  assert.deepEqual(await runLoggerhead(['validate'], { cwd: dir, fakes: true }), {
    code: 0,
    signal: null,
    stdout: 'pipeline.yaml: valid (pipelines: links)\n',
    stderr: '',
  });
  rmSync(join(dir, 'pipeline.yaml'));
});

const DEFAULT_PIPELINE = join(REPO_ROOT, 'pipeline.yaml');
if (existsSync(DEFAULT_PIPELINE)) {
  test('the default pipeline.yaml validates, explicitly and as the built-in fallback', async () => {
    const explicit = await runLoggerhead(['validate', '--config', DEFAULT_PIPELINE]);
    assert.equal(explicit.stderr, '');
    assert.equal(explicit.code, 0);
    const fallback = await runLoggerhead(['validate'], { cwd: dir });
    assert.equal(fallback.stderr, '');
    assert.equal(fallback.code, 0);
    assert.ok(fallback.stdout.startsWith(`${DEFAULT_PIPELINE}: valid (pipelines: `), fallback.stdout);
  });
} else {
  test('with no pipeline.yaml anywhere, run names every place it looked and exits 2', async () => {
    const { code, stdout, stderr } = await runLoggerhead(['run'], { cwd: dir });
    assert.equal(stdout, '');
    assert.equal(
      stderr,
      `loggerhead: no configuration: no --config given, no pipeline.yaml in the working directory (${dir}), and no built-in default (${DEFAULT_PIPELINE})\n`,
    );
    assert.equal(code, 2);
  });
}

test('an unset environment variable is a config error naming it', async () => {
  file('env.yaml', RUNNABLE.replace('interval: 50ms', 'interval: ${env:LOGGERHEAD_TEST_INTERVAL}'));
  const unset = await runLoggerhead(['validate', '-c', 'env.yaml'], { cwd: dir, fakes: true });
  assert.equal(
    unset.stderr,
    'env.yaml:4:15: receivers::fake_sockets::interval: environment variable "LOGGERHEAD_TEST_INTERVAL" is not set (referenced as "${env:LOGGERHEAD_TEST_INTERVAL}")\nloggerhead: env.yaml is invalid: 1 error\n',
  );
  assert.equal(unset.code, 2);
  const set = await runLoggerhead(['validate', '-c', 'env.yaml'], {
    cwd: dir,
    fakes: true,
    env: { LOGGERHEAD_TEST_INTERVAL: '20ms' },
  });
  assert.equal(set.code, 0, set.stderr);
});

/** Waits until `stderr` of a running child contains `text`; rejects after `timeoutMs`. */
function waitForOutput(
  child: ReturnType<typeof spawnLoggerhead>,
  text: string,
  timeoutMs = 10_000,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(
      () => reject(new Error(`no "${text}" within ${timeoutMs} ms; got:\n${seen}`)),
      timeoutMs,
    );
    child.stderr?.on('data', (chunk: Buffer) => {
      seen += chunk.toString('utf8');
      if (seen.includes(text)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

/** Starts `run`, waits for data to flow, sends SIGTERM, and returns how it ended. */
async function runUntilSigterm(options: { node?: string } = {}) {
  const config = file('run.yaml', RUNNABLE);
  const child = spawnLoggerhead(['run', '--config', config], { fakes: true, ...options });
  const done = finished(child);
  await waitForOutput(child, '"msg":"links"');
  const sentAt = Date.now();
  child.kill('SIGTERM');
  const exited = await Promise.race([
    done,
    new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 5000).unref()),
  ]);
  if (exited === 'timeout') {
    child.kill('SIGKILL');
    assert.fail('loggerhead run did not exit within 5 s of SIGTERM');
  }
  return { ...exited, exitMs: Date.now() - sentAt };
}

test('run starts exporters, processors, receivers in that order; SIGTERM stops them in reverse and exits 0 within 5 s', async () => {
  const { code, signal, stdout, stderr } = await runUntilSigterm();
  assert.equal(signal, null);
  assert.equal(code, 0, stderr);
  assert.equal(stdout, '');
  const logs = logLines(stderr);
  const lifecycle = logs
    .filter((l) =>
      ['starting component', 'shutting down component', 'received signal, shutting down'].includes(
        l.msg as string,
      ),
    )
    .map((l) => [l.msg, l.component ?? l.signal, l.kind]);
  assert.deepEqual(lifecycle, [
    ['starting component', 'debug', 'exporter'],
    ['starting component', 'fake_linker', 'processor'],
    ['starting component', 'fake_sockets', 'receiver'],
    ['received signal, shutting down', 'SIGTERM', undefined],
    ['shutting down component', 'fake_sockets', 'receiver'],
    ['shutting down component', 'fake_linker', 'processor'],
    ['shutting down component', 'debug', 'exporter'],
  ]);
  assert.deepEqual(logs.at(-1), { ...logs.at(-1), level: 'info', msg: 'shutdown complete', errors: 0 });
});

test('a component that fails to start: exit 1 with its message, no stack trace', async () => {
  const config = file(
    'fail.yaml',
    RUNNABLE.replace('interval: 50ms', 'fail_start: "cannot attach tracepoint: permission denied"'),
  );
  const { code, stderr } = await runLoggerhead(['run', '--config', config, '--log-format', 'text'], {
    fakes: true,
  });
  assert.equal(code, 1, stderr);
  assert.match(
    stderr,
    /ERROR loggerhead failed to start error="failed to start receiver \\"fake_sockets\\": cannot attach tracepoint: permission denied"\n$/,
  );
  assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
  assert.match(stderr, /INFO {2}shutting down component component=debug kind=exporter\n/);

  file('quiet.yaml', readFileSync(config, 'utf8') + '  telemetry:\n    logs:\n      level: error\n');
  const quiet = await runLoggerhead(['run', '--config', 'quiet.yaml'], { cwd: dir, fakes: true });
  assert.equal(quiet.code, 1);
  assert.deepEqual(
    logLines(quiet.stderr).map((l) => [l.level, l.msg]),
    [
      ['error', 'start failed, shutting down what started'],
      ['error', 'loggerhead failed to start'],
    ],
    'service.telemetry.logs.level: error leaves only the errors',
  );
  const loud = await runLoggerhead(['run', '--config', 'quiet.yaml', '--log-level', 'debug'], {
    cwd: dir,
    fakes: true,
  });
  assert.ok(
    logLines(loud.stderr).some((l) => l.level === 'debug' && l.msg === 'fake source stopped'),
    '--log-level overrides the config',
  );
});

/** A Node on PATH that is not the project's own (node_modules/.bin): the system's, e.g. Debian's Node 20. */
function systemNode(): string {
  const dirs = (process.env.PATH ?? '')
    .split(delimiter)
    .filter((d) => d !== '' && !d.includes('node_modules'));
  for (const d of dirs) {
    const candidate = join(d, 'node');
    if (existsSync(candidate)) return candidate;
  }
  assert.fail(
    `no node outside node_modules on PATH (${process.env.PATH}): cannot test the bin shim on the system Node`,
  );
}

test('bin/loggerhead.js works on the system Node (re-running itself on Node 24 when that Node is too old)', async () => {
  const node = systemNode();
  const version = execFileSync(node, ['--version'], { encoding: 'utf8' }).trim();
  const result = await runLoggerhead(['--version'], { node });
  assert.deepEqual(result, { code: 0, signal: null, stdout: `loggerhead ${VERSION}\n`, stderr: '' }, version);
  const run = await runUntilSigterm({ node });
  assert.equal(run.code, 0, `${version}: ${run.stderr}`);
  assert.match(run.stderr, /"msg":"shutdown complete","errors":0/);
});

test('bin/loggerhead.js run re-runs Node in place (same pid) with --max-semi-space-size=4 and MALLOC_ARENA_MAX=2, unless NODE_OPTIONS, the command line or the environment sets them', async () => {
  const config = file('flags.yaml', RUNNABLE);
  const cases: Array<[string, Record<string, string>, string[], string[], string]> = [
    // [what, env, node args before bin/loggerhead.js, expected semi-space flags on the command line, expected MALLOC_ARENA_MAX]
    ['default', {}, [], ['--max-semi-space-size=4'], '2'],
    ['NODE_OPTIONS', { NODE_OPTIONS: '--max-semi-space-size=8' }, [], [], '2'],
    ['command line', {}, ['--max_semi_space_size=2'], ['--max_semi_space_size=2'], '2'],
    ['both given', { MALLOC_ARENA_MAX: '4' }, ['--max-semi-space-size=8'], ['--max-semi-space-size=8'], '4'],
  ];
  const FAKES = fileURLToPath(new URL('../test/support/register-fakes.mjs', import.meta.url));
  const { MALLOC_ARENA_MAX: _inherited, ...inherited } = process.env;
  for (const [what, env, nodeArgs, expected, arenas] of cases) {
    const child = spawn(process.execPath, [...nodeArgs, '--import', FAKES, BIN, 'run', '--config', config], {
      env: { ...inherited, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const done = finished(child);
    await waitForOutput(child, '"msg":"links"');
    const argv = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0');
    const environ = readFileSync(`/proc/${child.pid}/environ`, 'utf8').split('\0');
    assert.deepEqual(
      environ.filter((v) => v.startsWith('MALLOC_ARENA_MAX=')),
      [`MALLOC_ARENA_MAX=${arenas}`],
      what,
    );
    child.kill('SIGTERM');
    const { code, stderr } = await done;
    assert.equal(code, 0, `${what}: ${stderr}`);
    assert.deepEqual(
      argv.filter((a) => /^--max[-_]semi[-_]space[-_]size/.test(a)),
      expected,
      `${what}: ${argv.join(' ')}`,
    );
    assert.ok(argv.includes(FAKES), `${what}: --import kept: ${argv.join(' ')}`);
    const starting = logLines(stderr).find((l) => l.msg === 'loggerhead starting');
    assert.equal(starting?.pid, child.pid, `${what}: the agent is the process started`);
  }
});

/**
 * `run` in this process with the fake components and the debug exporter: its stderr so far, the
 * signal handler it subscribed, and its exit code.
 */
function runInProcess(
  args: string[],
  stderrIsTTY: boolean,
): { running: Promise<number>; stderr(): string; stop(): ((signal: string) => void) | undefined } {
  let stderr = '';
  let stop: ((signal: string) => void) | undefined;
  const running = runCli(args, {
    loadFactories: async () => [
      fakeSourceFactory('fake_sockets', 'sockets'),
      fakeConverterFactory('fake_linker', 'sockets'),
      debugExporterFactory,
    ],
    stdout: () => assert.fail('run writes nothing to stdout'),
    stderr: (text) => {
      stderr += text;
    },
    stderrIsTTY,
    env: {},
    cwd: dir,
    onSignal: (handler) => {
      stop = handler;
    },
  });
  return { running, stderr: () => stderr, stop: () => stop };
}

test('in process: text logs on a terminal, SIGINT stops the run, a repeated signal is ignored', async () => {
  const config = file('inproc.yaml', RUNNABLE);
  const run = runInProcess(['run', '--config', config], true);
  await until(() => run.stderr().includes(' links '), 'a links summary line on stderr');
  const stop = run.stop();
  assert.ok(stop !== undefined, 'run subscribed to signals');
  stop('SIGINT');
  stop('SIGINT');
  assert.equal(await run.running, 0);
  const lines = run.stderr().trimEnd().split('\n');
  for (const line of lines) assert.match(line, /^\d\d:\d\d:\d\d\.\d{3} (INFO |DEBUG|WARN |ERROR) \S/);
  assert.equal(lines.filter((l) => l.includes('received signal, shutting down signal=SIGINT')).length, 1);
  assert.match(lines.at(-1) ?? '', /INFO {2}shutdown complete errors=0$/);
});

test('in process: a signal during a slow start-up stops it without waiting for it', async () => {
  const config = file('slow.yaml', RUNNABLE.replace('interval: 50ms', 'start_delay: 1h'));
  const run = runInProcess(['run', '--config', config, '--log-format', 'json'], false);
  await until(() => run.stderr().includes('"component":"fake_sockets"'), 'a fake_sockets log line');
  run.stop()?.('SIGTERM');
  assert.equal(await run.running, 0);
  assert.deepEqual(
    logLines(run.stderr()).map((l) => [l.msg, l.component ?? l.signal ?? null]),
    [
      ['loggerhead starting', null],
      ['starting component', 'debug'],
      ['starting component', 'fake_linker'],
      ['starting component', 'fake_sockets'],
      ['received signal, shutting down', 'SIGTERM'],
      ['shutting down component', 'fake_sockets'],
      ['shutting down component', 'fake_linker'],
      ['shutting down component', 'debug'],
      ['shutdown complete', null],
    ],
  );
});

test('what a create function rejects is a config error: validate and run report it at the component, exit 2', async () => {
  const config = file(
    'create.yaml',
    RUNNABLE.replace('interval: 50ms', 'fail_create: "interval must be a multiple of the kernel tick"'),
  );
  const expected =
    'create.yaml:3:3: receivers::fake_sockets: interval must be a multiple of the kernel tick\nloggerhead: create.yaml is invalid: 1 error\n';
  const validated = await runLoggerhead(['validate', '--config', 'create.yaml'], { cwd: dir, fakes: true });
  assert.deepEqual(validated, { code: 2, signal: null, stdout: '', stderr: expected });
  const ran = await runLoggerhead(['run', '--config', config, '--log-level', 'error'], {
    cwd: dir,
    fakes: true,
  });
  assert.equal(ran.code, 2);
  assert.equal(
    ran.stderr,
    expected
      .replace('create.yaml:', `${config}:`)
      .replace('loggerhead: create.yaml', `loggerhead: ${config}`),
  );
});
