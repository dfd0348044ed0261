/** Component configs for tests, read the way the config loader reads them. */
import assert from 'node:assert/strict';
import { Document, parseDocument } from 'yaml';
import type { ObjectSchema } from '../../core/config/schema.ts';
import { validateConfig } from '../../core/config/validate.ts';

/**
 * A config validated against the factory's schema, defaults filled in: `source`
 * is YAML text, or the values as they would be written in YAML (durations as
 * '300ms'). Any issue fails the test, listed.
 *
 * @example const config = factoryConfig(otlpExporterFactory, 'endpoint: 127.0.0.1:4317');
 * @example const config = factoryConfig(servicemapExporterFactory, { refresh_interval: '300ms' });
 */
export function factoryConfig<C>(
  factory: { configSchema: ObjectSchema; readonly _config?: C },
  source: string | object,
): C {
  const node = typeof source === 'string' ? parseDocument(source).contents : new Document(source).contents;
  const { value, issues } = validateConfig(node, factory.configSchema);
  assert.deepEqual(issues, []);
  return value as unknown as C;
}
