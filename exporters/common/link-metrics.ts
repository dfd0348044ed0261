/**
 * The link metric family, described once for every exporter: OTel name, type,
 * unit, meaning, and the points each link contributes (with the extra
 * attribute that tells them apart).
 */
import type { Link } from '../../core/signals.ts';
import { DIRECTION_ATTRIBUTE, EVENT_ATTRIBUTE } from './attributes.ts';

export interface LinkMetricPoint {
  /** The extra attribute of this point (`direction`, `event`), when the metric has one. */
  attribute?: { key: string; value: string };
  /** Reads the point's value from a link. */
  value(link: Link): number;
}

export interface LinkMetric {
  /** OTel name. */
  name: string;
  /** `counter` = monotonic cumulative Sum starting at `Link.startTimeMs`; `gauge` = last value. */
  type: 'counter' | 'gauge';
  /** UCUM unit. */
  unit: string;
  description: string;
  points: readonly LinkMetricPoint[];
}

export const LINK_METRICS: readonly LinkMetric[] = [
  {
    name: 'loggerhead.link.bytes',
    type: 'counter',
    unit: 'By',
    description:
      'TCP payload bytes carried by the link since the agent started (retransmissions excluded), per direction, as counted by the observer socket.',
    points: [
      {
        attribute: { key: DIRECTION_ATTRIBUTE, value: 'client_to_server' },
        value: (l) => l.bytesClientToServer,
      },
      {
        attribute: { key: DIRECTION_ATTRIBUTE, value: 'server_to_client' },
        value: (l) => l.bytesServerToClient,
      },
    ],
  },
  {
    name: 'loggerhead.link.connections',
    type: 'counter',
    unit: '{connection}',
    description:
      'TCP connections of the link since the agent started: opened (established), closed (after being established), failed (never established).',
    points: [
      { attribute: { key: EVENT_ATTRIBUTE, value: 'opened' }, value: (l) => l.connectionsOpened },
      { attribute: { key: EVENT_ATTRIBUTE, value: 'closed' }, value: (l) => l.connectionsClosed },
      { attribute: { key: EVENT_ATTRIBUTE, value: 'failed' }, value: (l) => l.connectionsFailed },
    ],
  },
  {
    name: 'loggerhead.link.active_connections',
    type: 'gauge',
    unit: '{connection}',
    description: 'TCP connections of the link open at the last poll.',
    points: [{ value: (l) => l.activeConnections }],
  },
  {
    name: 'loggerhead.link.retransmits',
    type: 'counter',
    unit: '{segment}',
    description: 'TCP segments retransmitted by the observer sockets of the link since the agent started.',
    points: [{ value: (l) => l.retransSegs }],
  },
];
