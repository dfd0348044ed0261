import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LineCounter, parseDocument } from 'yaml';
import type { ConfigIssue } from './issues.ts';
import { formatIssue } from './issues.ts';
import type { ObjectSchema } from './schema.ts';
import { validateConfig } from './validate.ts';

const schema: ObjectSchema = {
  type: 'object',
  description: 'everything',
  required: ['endpoint'],
  fields: {
    endpoint: {
      type: 'string',
      description: 'where',
      pattern: /[a-z0-9.]*:\d+/,
      patternName: 'host:port',
    },
    protocol: { type: 'string', description: 'how', enum: ['grpc', 'http/protobuf'], default: 'grpc' },
    retries: { type: 'integer', description: 'tries', min: 0, max: 10, default: 3 },
    ratio: { type: 'number', description: 'share', min: 0, max: 1, default: 0.5 },
    insecure: { type: 'boolean', description: 'tls off', default: false },
    interval: { type: 'duration', description: 'every', default: '5s', minMs: 100, maxMs: 3_600_000 },
    buffer: { type: 'bytes', description: 'size', default: '16MiB', min: 4096, max: 1024 ** 3 },
    tags: { type: 'list', description: 'tags', items: { type: 'string', description: 'tag' }, default: [] },
    headers: { type: 'map', description: 'headers', values: { type: 'string', description: 'value' } },
    tls: {
      type: 'object',
      description: 'tls',
      fields: {
        ca_file: { type: 'string', description: 'ca' },
        min_version: { type: 'string', description: 'v', enum: ['1.2', '1.3'], default: '1.2' },
      },
    },
  },
};

function check(yaml: string): { value: Record<string, unknown>; lines: string[] } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(yaml, { lineCounter });
  assert.deepEqual(doc.errors, []);
  const { value, issues } = validateConfig(doc.contents, schema, { path: 'exporters::x', lineCounter, doc });
  return { value, lines: issues.map((i: ConfigIssue) => formatIssue('f.yaml', i)) };
}

test('defaults are merged under user values and units converted', () => {
  const { value, lines } = check('endpoint: collector:4317\nretries: 0\ninterval: 1m30s\nbuffer: 64KiB\n');
  assert.deepEqual(lines, []);
  assert.deepEqual(value, {
    endpoint: 'collector:4317',
    protocol: 'grpc',
    retries: 0,
    ratio: 0.5,
    insecure: false,
    interval: 90_000,
    buffer: 65_536,
    tags: [],
    tls: { min_version: '1.2' },
  });
});

test('nested objects, lists, maps and plain byte counts validate', () => {
  const { value, lines } = check(
    'endpoint: a:1\ntags: [x, y]\nheaders: {Authorization: token}\ntls: {ca_file: /ca.pem}\nbuffer: 8192\n',
  );
  assert.deepEqual(lines, []);
  assert.deepEqual(value.tags, ['x', 'y']);
  assert.deepEqual(value.headers, { Authorization: 'token' });
  assert.deepEqual(value.tls, { ca_file: '/ca.pem', min_version: '1.2' });
  assert.equal(value.buffer, 8192);
});

test('null values take the default', () => {
  const { value, lines } = check('endpoint: a:1\nretries:\ntls:\n');
  assert.deepEqual(lines, []);
  assert.equal(value.retries, 3);
  assert.deepEqual(value.tls, { min_version: '1.2' });
});

test('every problem is reported with its path, position and value', () => {
  const yaml = [
    'endpoint: 4317', // 1
    'protocol: grcp', // 2
    'retries: 11', // 3
    'ratio: -0.5', // 4
    'insecure: yes', // 5
    'interval: 50ms', // 6
    'buffer: 16mb', // 7
    'tags: x', // 8
    'headers: {a: 1, b: [c]}', // 9
    'tls: {ca_fle: /x, min_version: 1.3}', // 10
    'timeout: 5s', // 11
    '',
  ].join('\n');
  assert.deepEqual(check(yaml).lines, [
    'f.yaml:1:11: exporters::x::endpoint: expected a string, got number 4317',
    'f.yaml:2:11: exporters::x::protocol: invalid value "grcp": must be one of grpc, http/protobuf; did you mean "grpc"?',
    'f.yaml:3:10: exporters::x::retries: 11 is too large: the maximum is 10',
    'f.yaml:4:8: exporters::x::ratio: -0.5 is too small: the minimum is 0',
    'f.yaml:5:11: exporters::x::insecure: expected true or false, got "yes"',
    'f.yaml:6:11: exporters::x::interval: duration "50ms" is too short: the minimum is 100ms',
    'f.yaml:7:9: exporters::x::buffer: invalid size "16mb": expected a whole number of bytes or a size such as "64KiB", "16MiB" or "1GB"',
    'f.yaml:8:7: exporters::x::tags: expected a list, got "x"',
    'f.yaml:9:14: exporters::x::headers::a: expected a string, got number 1',
    'f.yaml:9:20: exporters::x::headers::b: expected a string, got a list',
    'f.yaml:10:7: exporters::x::tls::ca_fle: unknown key "ca_fle"; did you mean "ca_file"?',
    'f.yaml:10:32: exporters::x::tls::min_version: expected a string, got number 1.3',
    'f.yaml:11:1: exporters::x::timeout: unknown key "timeout" (valid keys: endpoint, protocol, retries, ratio, insecure, interval, buffer, tags, headers, tls)',
  ]);
});

test('a missing required key is reported at the object', () => {
  assert.deepEqual(check('retries: 1\n').lines, [
    'f.yaml:1:1: exporters::x::endpoint: missing required key "endpoint"',
  ]);
});

test('patterns, duration and size maxima, and non-map objects', () => {
  assert.deepEqual(check('endpoint: "no port"\ninterval: 2h\nbuffer: 2GiB\ntls: [1]\n').lines, [
    'f.yaml:1:11: exporters::x::endpoint: invalid value "no port": expected host:port',
    'f.yaml:2:11: exporters::x::interval: duration "2h" is too long: the maximum is 1h',
    'f.yaml:3:9: exporters::x::buffer: size "2GiB" (2147483648 bytes) is too large: the maximum is 1073741824 bytes',
    'f.yaml:4:6: exporters::x::tls: expected a map, got a list',
  ]);
  assert.deepEqual(check('endpoint: a:1\ninterval: 5\nbuffer: 100\n').lines, [
    'f.yaml:2:11: exporters::x::interval: invalid duration 5: expected a number and a unit (ns, us, ms, s, m, h) such as "500ms", "5s" or "1m30s"',
    'f.yaml:3:9: exporters::x::buffer: size 100 bytes is too small: the minimum is 4096 bytes',
  ]);
});

test('aliases resolve to their anchors', () => {
  const { value, lines } = check('endpoint: &ep a:1\ntags: [*ep]\n');
  assert.deepEqual(lines, []);
  assert.deepEqual(value.tags, ['a:1']);
});

test('an absent config is the defaults, and a bad default is reported without a position', () => {
  const bad: ObjectSchema = {
    type: 'object',
    description: 'x',
    fields: { every: { type: 'duration', description: 'x', default: '5 s' } },
  };
  assert.deepEqual(validateConfig(undefined, bad, { path: 'receivers::r' }).issues, [
    {
      path: 'receivers::r::every',
      message:
        'invalid duration "5 s": expected a number and a unit (ns, us, ms, s, m, h) such as "500ms", "5s" or "1m30s"',
    },
  ]);
});
