/**
 * The attribute set of a link point (see the metrics README), shared by every
 * exporter so that OTLP attributes and Prometheus labels name the same things.
 * Prometheus label names are these keys with dots turned into underscores.
 */
import type { Identity, Link } from '../../core/signals.ts';

/** Attribute keys of every link point, in the order exporters write them. */
export const LINK_ATTRIBUTE_KEYS = [
  'client.workload.name',
  'client.workload.kind',
  'client.k8s.namespace.name',
  'server.workload.name',
  'server.workload.kind',
  'server.k8s.namespace.name',
  'server.port',
  'network.transport',
  'network.type',
  'link.observer',
] as const;

export type LinkAttributeKey = (typeof LINK_ATTRIBUTE_KEYS)[number];

/** An attribute value: `server.port` is an integer (as in the OTel semantic conventions), the rest strings. */
export type LinkAttributeValue = string | number;

/** The extra attribute of `loggerhead.link.bytes`. */
export const DIRECTION_ATTRIBUTE = 'direction';
export type Direction = 'client_to_server' | 'server_to_client';

/** The extra attribute of `loggerhead.link.connections`. */
export const EVENT_ATTRIBUTE = 'event';
export type ConnectionEvent = 'opened' | 'closed' | 'failed';

/**
 * The attributes of one link as ordered [key, value] pairs. A namespace that is
 * '' (hosts, externals, processes) is omitted rather than sent empty.
 *
 * @example
 * linkAttributeEntries(link);
 * // [['client.workload.name', 'checkout'], ['client.workload.kind', 'Deployment'], ...,
 * //  ['server.port', 8080], ['network.transport', 'tcp'], ['network.type', 'ipv4'], ['link.observer', 'client']]
 */
export function linkAttributeEntries(link: Link): Array<[LinkAttributeKey, LinkAttributeValue]> {
  const out: Array<[LinkAttributeKey, LinkAttributeValue]> = [];
  pushIdentity(out, 'client', link.client);
  pushIdentity(out, 'server', link.server);
  out.push(['server.port', link.serverPort]);
  out.push(['network.transport', link.transport]);
  out.push(['network.type', link.networkType]);
  out.push(['link.observer', link.observer]);
  return out;
}

/** The same attributes as a plain object (insertion-ordered like `linkAttributeEntries`). */
export function linkAttributes(link: Link): Record<string, LinkAttributeValue> {
  return Object.fromEntries(linkAttributeEntries(link));
}

function pushIdentity(
  out: Array<[LinkAttributeKey, LinkAttributeValue]>,
  side: 'client' | 'server',
  identity: Identity,
): void {
  out.push([`${side}.workload.name`, identity.name]);
  out.push([`${side}.workload.kind`, identity.kind]);
  if (identity.namespace !== '') out.push([`${side}.k8s.namespace.name`, identity.namespace]);
}
