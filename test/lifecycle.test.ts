/** Every built-in factory: the shared lifecycle test, its defaults validate, and `loggerhead components` lists it. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { builtinFactories } from '../cli/components.ts';
import { validateConfig } from '../core/config/validate.ts';
import { Registry } from '../core/registry.ts';
import { runLoggerhead } from './support/cli.ts';
import { runLifecycleTests } from './support/lifecycle.ts';

test('the built-in factories form a valid registry, with the debug exporter first', () => {
  const registry = new Registry(builtinFactories);
  assert.equal(builtinFactories[0]?.type, 'debug');
  assert.equal(registry.all().length, builtinFactories.length);
});

for (const factory of builtinFactories) {
  test(`${factory.kind} ${factory.type}: the default config validates (required keys aside)`, () => {
    const { issues } = validateConfig(undefined, factory.configSchema, {
      path: `${factory.kind}s::${factory.type}`,
      checkRequired: false,
    });
    assert.deepEqual(issues, []);
  });
}

test('loggerhead components lists every built-in factory with its kind, stability, signals and settings', async () => {
  const { code, stdout, stderr } = await runLoggerhead(['components']);
  assert.equal(stderr, '');
  assert.equal(code, 0);
  for (const factory of builtinFactories) {
    const signals =
      factory.kind === 'receiver'
        ? `-> ${factory.output}`
        : factory.kind === 'exporter'
          ? `${factory.input} ->`
          : `${factory.input} -> ${factory.output}`;
    const heading = `${factory.kind}s:`;
    const at = stdout.indexOf(
      `\n  ${factory.type}  (${factory.stability}, ${signals})\n`,
      stdout.indexOf(heading),
    );
    assert.ok(at > 0, `${factory.kind} ${factory.type} is listed under ${heading}:\n${stdout}`);
    const lines = stdout.slice(at + 1).split('\n');
    const end = lines.findIndex((line, i) => i > 0 && !line.startsWith('    '));
    const block = lines.slice(0, end).join('\n');
    assert.ok(block.includes(factory.description), `${factory.type}: description`);
    for (const key of Object.keys(factory.configSchema.fields)) {
      assert.match(block, new RegExp(`\\n {6}${key} `), `${factory.type}: setting ${key}`);
    }
  }
});

runLifecycleTests(builtinFactories);
