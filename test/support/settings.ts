/** CreateSettings for tests: a logger that records its lines and a fresh telemetry registry. */
import type { ComponentId, CreateSettings, Host } from '../../core/component.ts';
import { formatComponentId } from '../../core/component.ts';
import { createLogger } from '../../core/log.ts';
import { TelemetryRegistry } from '../../core/telemetry-registry.ts';

export interface TestSettings extends CreateSettings {
  /** Every JSON log line written, parsed. */
  logs: Array<Record<string, unknown>>;
  registry: TelemetryRegistry;
}

/** Settings for one component instance named `type` or `type/name`. */
export function testSettings(idText: string, options: { echo?: boolean } = {}): TestSettings {
  const slash = idText.indexOf('/');
  const id: ComponentId =
    slash < 0 ? { type: idText, name: '' } : { type: idText.slice(0, slash), name: idText.slice(slash + 1) };
  const logs: Array<Record<string, unknown>> = [];
  const logger = createLogger({
    level: 'debug',
    write: (line) => {
      logs.push(JSON.parse(line) as Record<string, unknown>);
      if (options.echo === true) process.stderr.write(line);
    },
  }).child({ component: formatComponentId(id) });
  const registry = new TelemetryRegistry();
  return {
    id,
    logger,
    telemetry: registry.scoped({ 'component.id': formatComponentId(id) }),
    logs,
    registry,
  };
}

/** A host that records reported errors. */
export function testHost(): Host & { errors: Error[] } {
  const errors: Error[] = [];
  return { errors, reportError: (e) => errors.push(e) };
}
