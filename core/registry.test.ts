import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ExporterFactory, Factory, ReceiverFactory } from './component.ts';
import { Registry, RegistryError } from './registry.ts';

function receiver(type: string, extra: Partial<ReceiverFactory> = {}): ReceiverFactory {
  return {
    kind: 'receiver',
    type,
    stability: 'development',
    description: 'test receiver',
    output: 'sockets',
    configSchema: { type: 'object', description: 'none', fields: {} },
    create: () => ({ start: async () => {}, shutdown: async () => {} }),
    ...extra,
  };
}

function exporter(type: string): ExporterFactory {
  return {
    kind: 'exporter',
    type,
    stability: 'beta',
    description: 'test exporter',
    input: 'links',
    configSchema: { type: 'object', description: 'none', fields: {} },
    create: () => ({ start: async () => {}, shutdown: async () => {}, consume: async () => {} }),
  };
}

test('Registry finds factories by kind and type and lists them in order', () => {
  const registry = new Registry([exporter('otlp'), receiver('zeta'), receiver('otlp'), exporter('debug')]);
  assert.equal(registry.get('receiver', 'otlp')?.kind, 'receiver');
  assert.equal(registry.get('exporter', 'otlp')?.kind, 'exporter');
  assert.equal(registry.get('processor', 'otlp'), undefined);
  assert.deepEqual(registry.types('receiver'), ['otlp', 'zeta']);
  assert.deepEqual(registry.types('exporter'), ['debug', 'otlp']);
  assert.deepEqual(
    registry.all().map((f) => `${f.kind}:${f.type}`),
    ['receiver:otlp', 'receiver:zeta', 'exporter:debug', 'exporter:otlp'],
  );
});

test('Registry reports every malformed factory at once', () => {
  const factories: Factory[] = [
    receiver('Bad-Type'),
    receiver('dup'),
    receiver('dup'),
    receiver('9lives'),
    receiver('wrong_signal', { output: 'metrics' as 'sockets' }),
    receiver('bad_default', {
      configSchema: {
        type: 'object',
        description: 'x',
        fields: { poll_interval: { type: 'duration', description: 'x', default: '5 sec' } },
      },
    }),
  ];
  assert.throws(
    () => new Registry(factories),
    (error: unknown) => {
      assert.ok(error instanceof RegistryError);
      assert.deepEqual(error.problems, [
        'receiver type "Bad-Type" must match ^[a-z][a-z0-9_]*$',
        'receiver type "dup" is registered twice',
        'receiver type "9lives" must match ^[a-z][a-z0-9_]*$',
        'receiver "wrong_signal": output "metrics" is not a signal type',
        'receiver "bad_default": default config: poll_interval: invalid duration "5 sec": expected a number and a unit (ns, us, ms, s, m, h) such as "500ms", "5s" or "1m30s"',
      ]);
      return true;
    },
  );
});

test('a required key without a default is not a registry problem', () => {
  const registry = new Registry([
    receiver('needs_endpoint', {
      configSchema: {
        type: 'object',
        description: 'x',
        required: ['endpoint'],
        fields: { endpoint: { type: 'string', description: 'x' } },
      },
    }),
  ]);
  assert.deepEqual(registry.types('receiver'), ['needs_endpoint']);
});
