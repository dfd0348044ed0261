/** Factory of the `k8s_attributes` processor. */
import type { ProcessorFactory } from '../../core/component.ts';
import { K8sAttributesProcessor } from './processor.ts';
import type { K8sAttributesConfig } from './processor.ts';

export type { K8sAttributesConfig } from './processor.ts';

export const k8sAttributesProcessorFactory: ProcessorFactory<K8sAttributesConfig, 'sockets', 'links'> = {
  kind: 'processor',
  type: 'k8s_attributes',
  stability: 'alpha',
  description:
    'Names socket ends (Kubernetes workloads, Services and nodes, or local processes and containers) and aggregates sockets into links',
  input: 'sockets',
  output: 'links',
  configSchema: {
    type: 'object',
    description: 'k8s_attributes processor settings',
    fields: {
      mode: {
        type: 'string',
        description:
          '`kubernetes` (names from the API), `host` (processes, containers, DNS), or `auto`: kubernetes when a cluster answers (in-cluster or kubeconfig), else host',
        enum: ['auto', 'kubernetes', 'host'],
        default: 'auto',
      },
      kubeconfig: {
        type: 'string',
        description:
          'Path of a kubeconfig; empty: in-cluster config when KUBERNETES_SERVICE_HOST is set, else $KUBECONFIG or ~/.kube/config',
        default: '',
      },
      owner_depth: {
        type: 'string',
        description:
          '`workload`: name pods by their top controller (Deployment, CronJob...); `pod`: by the pod itself',
        enum: ['workload', 'pod'],
        default: 'workload',
      },
      dns: {
        type: 'object',
        description: 'Reverse DNS for external addresses (asynchronous: a first sighting is named by its IP)',
        fields: {
          enabled: {
            type: 'boolean',
            description: 'Name external addresses by their PTR record',
            default: true,
          },
          ttl: {
            type: 'duration',
            description: 'How long an answer (a name, or no name) is kept',
            default: '5m',
            minMs: 1000,
          },
          max_entries: {
            type: 'integer',
            description: 'Addresses cached at most (the oldest go first)',
            default: 10000,
            min: 1,
            max: 10_000_000,
          },
          timeout: {
            type: 'duration',
            description: 'Timeout of one query',
            default: '2s',
            minMs: 10,
            maxMs: 60_000,
          },
          max_queue: {
            type: 'integer',
            description:
              'Addresses waiting for a query at most; more are dropped (counted) and retried when seen again',
            default: 1000,
            min: 1,
            max: 1_000_000,
          },
          max_queries_per_second: {
            type: 'integer',
            description:
              'Queries sent per second at most (spaced 1/rate apart); queued addresses wait for their turn',
            default: 50,
            min: 1,
            max: 100_000,
          },
          servers: {
            type: 'list',
            description: 'DNS servers (`ip` or `ip:port`); empty: the system resolvers (/etc/resolv.conf)',
            items: {
              type: 'string',
              description: 'an IP address, optionally with :port ([v6]:port for IPv6)',
              pattern: /[0-9a-fA-F.:[\]]+/,
              patternName: 'ip or ip:port',
            },
            default: [],
          },
        },
      },
      cidr_names: {
        type: 'map',
        description:
          'Names for external address ranges, e.g. `10.20.0.0/16: office`; the longest prefix wins',
        values: { type: 'string', description: 'name given to addresses in the range' },
        default: {},
      },
      link_idle_timeout: {
        type: 'duration',
        description:
          'A link with no open connection and no change for this long is no longer exported; if it comes back, it starts again from zero with a new start time',
        default: '10m',
        minMs: 1000,
      },
      max_links: {
        type: 'integer',
        description:
          'Links kept at most; beyond it new links go to the `_overflow` link (one per observer and network type) and are counted',
        default: 10000,
        min: 1,
        max: 10_000_000,
      },
    },
  },
  create(settings, config, next) {
    return new K8sAttributesProcessor(settings, config, next);
  },
};
