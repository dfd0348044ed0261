/** Reading a component's self-telemetry in tests (the registry of `testSettings()`). */
import type { TestSettings } from './settings.ts';

/**
 * The counter `name`'s point whose attributes include `attributes`; 0 when
 * there is none yet (a counter never incremented).
 *
 * @example counterValue(settings, 'loggerhead.exporter.failed_requests', { 'error.type': 'timeout' })
 */
export function counterValue(
  settings: TestSettings,
  name: string,
  attributes: Record<string, string> = {},
): number {
  const metric = settings.registry.collect().find((m) => m.name === name);
  const point = metric?.points.find((p) =>
    Object.entries(attributes).every(([k, v]) => p.attributes[k] === v),
  );
  return point?.value ?? 0;
}

/** The first point of the gauge `name`, or undefined when it has none. */
export function gaugeValue(settings: TestSettings, name: string): number | undefined {
  return settings.registry.collect().find((m) => m.name === name)?.points[0]?.value;
}
