/**
 * "Where to look": the URLs a person at a terminal opens once the agent runs —
 * the service map page and the Prometheus metrics of the exporters the
 * pipelines use. Printed by `run` when stderr is a terminal.
 */
import type { PipelineConfig } from '../core/config/load.ts';

/** What each exporter type serves, and where on its endpoint. */
const PAGES: Readonly<Record<string, { what: string; path: string }>> = {
  servicemap: { what: 'service map', path: '/' },
  prometheus: { what: 'metrics', path: '/metrics' },
};

/** `host:port` as a URL a local browser opens: a wildcard or empty host is shown as loopback. */
export function endpointUrl(endpoint: string, path: string): string | undefined {
  const colon = endpoint.lastIndexOf(':');
  const port = endpoint.slice(colon + 1);
  if (colon < 0 || port === '0') return undefined;
  let host = endpoint.slice(0, colon);
  if (host === '' || host === '0.0.0.0' || host === '[::]' || host === '::') host = '127.0.0.1';
  return `http://${host}:${port}${path}`;
}

/** One line per page served by an exporter that a pipeline uses; [] when none. */
export function whereToLook(config: PipelineConfig): string[] {
  const used = new Set(config.pipelines.flatMap((p) => p.exporters.map((e) => e.id)));
  const lines: Array<[number, string]> = [];
  const order = Object.keys(PAGES);
  for (const id of used) {
    const spec = config.components.exporter.get(id);
    const page = spec === undefined ? undefined : PAGES[spec.factory.type];
    const endpoint = (spec?.config as { endpoint?: unknown } | undefined)?.endpoint;
    if (page === undefined || typeof endpoint !== 'string') continue;
    const url = endpointUrl(endpoint, page.path);
    if (url !== undefined)
      lines.push([order.indexOf(spec!.factory.type), `  ${page.what.padEnd(12)} ${url}   (${id})`]);
  }
  // The page first, then the metrics; pipeline order within a type.
  return lines.sort((a, b) => a[0] - b[0]).map(([, line]) => line);
}
