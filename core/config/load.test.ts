import assert from 'node:assert/strict';
import { test } from 'node:test';
import { debugExporterFactory } from '../../exporters/debug/debug.ts';
import {
  fakeConverterFactory,
  fakeSourceFactory,
  recordingExporterFactory,
} from '../../test/support/fake-components.ts';
import { Registry } from '../registry.ts';
import { ConfigError, formatIssue } from './issues.ts';
import type { PipelineConfig } from './load.ts';
import { loadPipelineConfig, parseComponentId, parsePipelineConfig } from './load.ts';

const registry = new Registry([
  fakeSourceFactory('fake_sockets', 'sockets'),
  fakeSourceFactory('fake_links', 'links'),
  fakeConverterFactory('fake_linker', 'sockets'),
  recordingExporterFactory('socket_sink', 'sockets'),
  debugExporterFactory,
]);

function load(yaml: string, env: Record<string, string> = {}): PipelineConfig {
  return parsePipelineConfig(yaml, registry, { file: 'p.yaml', env });
}

function errors(yaml: string, env: Record<string, string> = {}): string[] {
  try {
    load(yaml, env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.issues.map((issue) => formatIssue(error.file, issue));
  }
  assert.fail('expected a ConfigError');
}

const GOOD = `
receivers:
  fake_sockets:
    interval: 250ms
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

test('a valid config loads with defaults merged', () => {
  const config = load(GOOD);
  assert.deepEqual(config.components.receiver.get('fake_sockets')?.config, {
    interval: 250,
    fail_start: '',
    report_error: '',
    shutdown_delay: 0,
    start_delay: 0,
    fail_create: '',
  });
  assert.deepEqual(config.components.exporter.get('debug')?.config, { verbosity: 'basic' });
  assert.deepEqual(
    config.pipelines.map((p) => [
      p.name,
      p.receivers.map((r) => r.id),
      p.processors.map((r) => r.id),
      p.exporters.map((r) => r.id),
    ]),
    [['links', ['fake_sockets'], ['fake_linker'], ['debug']]],
  );
  assert.deepEqual(config.telemetry, { logs: {} });
});

test('the four classic mistakes are all reported, with path and line:col', () => {
  assert.deepEqual(
    errors(`receivers:
  fake_sockets:
    interval: 5 sec
  ebpf_sockt:
processors:
  fake_linker:
exporters:
  debug:
    verbosty: detailed
service:
  pipelines:
    links:
      receivers: [fake_sockets]
      processors: [fake_linker]
      exporters: [debug, otlp/backup]
`),
    [
      'p.yaml:3:15: receivers::fake_sockets::interval: invalid duration "5 sec": expected a number and a unit (ns, us, ms, s, m, h) such as "500ms", "5s" or "1m30s"',
      'p.yaml:4:3: receivers::ebpf_sockt: unknown receiver type "ebpf_sockt" (known receiver types: fake_links, fake_sockets)',
      'p.yaml:9:5: exporters::debug::verbosty: unknown key "verbosty"; did you mean "verbosity"?',
      'p.yaml:15:26: service::pipelines::links::exporters: references exporter "otlp/backup" which is not configured',
    ],
  );
});

test('component ids are type or type/name', () => {
  assert.deepEqual(parseComponentId('otlp'), { type: 'otlp', name: '' });
  assert.deepEqual(parseComponentId('otlp/backup-2.eu'), { type: 'otlp', name: 'backup-2.eu' });
  for (const bad of ['Otlp', 'otlp/', '/x', 'otlp/a/b', '9x', 'ot-lp', 'otlp/a b', '']) {
    assert.equal(parseComponentId(bad), undefined, bad);
  }
});

test('shared receivers and exporters, per-pipeline processors and named instances', () => {
  const config = load(`
receivers:
  fake_sockets:
  fake_sockets/2:
exporters:
  debug:
  debug/detailed:
    verbosity: detailed
  socket_sink:
processors:
  fake_linker:
service:
  pipelines:
    links:
      receivers: [fake_sockets, fake_sockets/2]
      processors: [fake_linker]
      exporters: [debug, debug/detailed]
    links/2:
      receivers: [fake_sockets]
      processors: [fake_linker]
      exporters: [debug]
    raw:
      receivers: [fake_sockets]
      exporters: [socket_sink]
`);
  assert.deepEqual(
    config.pipelines.map((p) => p.name),
    ['links', 'links/2', 'raw'],
  );
  assert.deepEqual(config.components.exporter.get('debug/detailed')?.config, { verbosity: 'detailed' });
  assert.deepEqual(config.components.exporter.get('debug/detailed')?.id, { type: 'debug', name: 'detailed' });
});

test('signals are type-checked along each pipeline', () => {
  assert.deepEqual(
    errors(`
receivers:
  fake_sockets:
  fake_links:
processors:
  fake_linker:
exporters:
  debug:
  socket_sink:
service:
  pipelines:
    a:
      receivers: [fake_sockets]
      exporters: [debug]
    b:
      receivers: [fake_links]
      processors: [fake_linker]
      exporters: [socket_sink]
    c:
      receivers: [fake_sockets, fake_links]
      processors: [fake_linker]
      exporters: [debug]
`),
    [
      'p.yaml:14:19: service::pipelines::a::exporters: exporter "debug" takes links, but receiver "fake_sockets" emits sockets',
      'p.yaml:17:20: service::pipelines::b::processors: processor "fake_linker" takes sockets, but receiver "fake_links" emits links',
      'p.yaml:18:19: service::pipelines::b::exporters: exporter "socket_sink" takes sockets, but processor "fake_linker" emits links',
      'p.yaml:20:33: service::pipelines::c::receivers: receiver "fake_links" emits links, but receiver "fake_sockets" emits sockets: the receivers of a pipeline must emit the same signal',
    ],
  );
});

test('structure errors: unknown sections, ids, pipeline names, lists, duplicates', () => {
  assert.deepEqual(
    errors(`
recievers:
  fake_sockets:
receivers:
  Fake:
  fake_sockets:
exporters:
  socket_sink:
connectors:
service:
  extensions: []
  telemetry:
    logs:
      level: verbose
  pipelines:
    "bad name":
      receivers: [fake_sockets, fake_sockets]
      exporters: debug
      procesors: []
    empty:
      receivers: []
    links:
      receivers: [fake_sockets, 7]
      exporters: [socket_sink]
`),
    [
      'p.yaml:2:1: recievers: unknown key "recievers"; did you mean "receivers"?',
      'p.yaml:5:3: receivers::Fake: invalid receiver id "Fake": expected "type" or "type/name", the type matching ^[a-z][a-z0-9_]*$',
      'p.yaml:9:1: connectors: unknown key "connectors" (valid keys: receivers, processors, exporters, service)',
      'p.yaml:11:3: service::extensions: unknown key "extensions" (valid keys: pipelines, telemetry)',
      'p.yaml:14:14: service::telemetry::logs::level: invalid value "verbose": must be one of debug, info, warn, error',
      'p.yaml:16:5: service::pipelines::bad name: invalid pipeline name "bad name": expected an identifier such as "links" or "links/2"',
      'p.yaml:17:33: service::pipelines::bad name::receivers: references receiver "fake_sockets" more than once',
      'p.yaml:18:18: service::pipelines::bad name::exporters: expected a list of exporter ids, got "debug"',
      'p.yaml:19:7: service::pipelines::bad name::procesors: unknown key "procesors"; did you mean "processors"?',
      'p.yaml:20:5: service::pipelines::empty: must have at least one receiver',
      'p.yaml:20:5: service::pipelines::empty: must have at least one exporter',
      'p.yaml:23:33: service::pipelines::links::receivers: expected a receiver id, got number 7',
    ],
  );
});

test('a config without service, without pipelines, empty, or not YAML', () => {
  assert.deepEqual(errors('exporters:\n  debug:\n'), ['p.yaml:1:1: service: missing required key "service"']);
  assert.deepEqual(errors('service:\n  telemetry:\n'), [
    'p.yaml:1:1: service::pipelines: missing required key "pipelines"',
  ]);
  assert.deepEqual(errors('service:\n  pipelines: {}\n'), [
    'p.yaml:2:3: service::pipelines: must define at least one pipeline',
  ]);
  assert.deepEqual(errors(''), ['p.yaml:1:1: the file is empty: a config needs at least service::pipelines']);
  assert.deepEqual(errors('- a\n- b\n'), ['p.yaml:1:1: expected a map, got a list']);
  assert.deepEqual(errors('service:\n  pipelines:\n    a: [\n'), [
    'p.yaml:4:1: YAML: Flow sequence in block collection must be sufficiently indented and end with a ]',
  ]);
  assert.deepEqual(errors('exporters:\n  debug:\n  debug:\n'), [
    'p.yaml:3:3: exporters::debug: duplicate key "debug" (first at line 2)',
  ]);
  assert.deepEqual(errors('service:\n  pipelines:\n    a: {receivers: [x], receivers: [y]}\n'), [
    'p.yaml:3:25: service::pipelines::a::receivers: duplicate key "receivers" (first at line 3)',
  ]);
});

test('${env:NAME} expands, typed when it is the whole plain value', () => {
  const config = load(
    `
receivers:
  fake_sockets:
    interval: \${env:EVERY}
    fail_start: "\${env:MSG}"
    report_error: $\${env:MSG} costs $$5 \${env:UNSET:-nothing}
exporters:
  debug:
    verbosity: \${env:VERBOSITY}
service:
  pipelines:
    links:
      receivers: [fake_sockets]
      processors:
        - \${env:PROC}
      exporters: [debug]
processors:
  fake_linker:
`,
    { EVERY: '2s', MSG: '42', VERBOSITY: 'detailed', PROC: 'fake_linker' },
  );
  assert.deepEqual(config.components.receiver.get('fake_sockets')?.config, {
    interval: 2000,
    fail_start: '42',
    report_error: '${env:MSG} costs $5 nothing',
    shutdown_delay: 0,
    start_delay: 0,
    fail_create: '',
  });
  assert.equal(
    (config.components.exporter.get('debug')?.config as { verbosity: string }).verbosity,
    'detailed',
  );
  assert.deepEqual(errors('exporters:\n  debug:\n    verbosity: ${env:TEN}\nservice: {}\n', { TEN: '10' }), [
    'p.yaml:3:16: exporters::debug::verbosity: expected a string, got number 10',
    'p.yaml:4:1: service::pipelines: missing required key "pipelines"',
  ]);
});

test('an unset variable is named, with its position', () => {
  assert.deepEqual(
    errors(`
exporters:
  debug:
    verbosity: \${env:LOGGERHEAD_TEST_UNSET}
service:
  pipelines:
    links:
      receivers: [fake_links]
      exporters:
        - \${env:ALSO_UNSET}
receivers:
  fake_links:
`),
    [
      'p.yaml:4:16: exporters::debug::verbosity: environment variable "LOGGERHEAD_TEST_UNSET" is not set (referenced as "${env:LOGGERHEAD_TEST_UNSET}")',
      'p.yaml:10:11: service::pipelines::links::exporters::0: environment variable "ALSO_UNSET" is not set (referenced as "${env:ALSO_UNSET}")',
    ],
  );
});

test('loadPipelineConfig names a file it cannot read', () => {
  assert.throws(
    () => loadPipelineConfig('/nonexistent/pipeline.yaml', registry),
    (error: unknown) =>
      error instanceof ConfigError &&
      error.message === '/nonexistent/pipeline.yaml: cannot read the config: no such file',
  );
});

test('anchors and aliases work for component settings and pipelines', () => {
  const config = load(`
exporters:
  debug: &detailed
    verbosity: detailed
  debug/2: *detailed
receivers:
  fake_links:
service:
  pipelines:
    links: &pipe
      receivers: [fake_links]
      exporters: [debug, debug/2]
    links/2: *pipe
`);
  assert.deepEqual(config.components.exporter.get('debug/2')?.config, { verbosity: 'detailed' });
  assert.deepEqual(
    config.pipelines.map((p) => [p.name, p.exporters.map((r) => r.id)]),
    [
      ['links', ['debug', 'debug/2']],
      ['links/2', ['debug', 'debug/2']],
    ],
  );
});
