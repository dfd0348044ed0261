/** Factory of the `ebpf_socket` receiver. */
import type { ReceiverFactory } from '../../core/component.ts';
import { EbpfSocketReceiver } from './receiver.ts';
import type { EbpfSocketConfig } from './receiver.ts';

export type { EbpfSocketConfig } from './receiver.ts';

export const ebpfSocketReceiverFactory: ReceiverFactory<EbpfSocketConfig, 'sockets'> = {
  kind: 'receiver',
  type: 'ebpf_socket',
  stability: 'alpha',
  description: 'Exact per-socket TCP byte counters from the kernel (eBPF tracepoints and iterators)',
  output: 'sockets',
  configSchema: {
    type: 'object',
    description: 'ebpf_socket receiver settings',
    fields: {
      poll_interval: {
        type: 'duration',
        description: 'Time between two reads of the kernel tables (one batch of sockets each)',
        default: '5s',
        minMs: 100,
        maxMs: 3_600_000,
      },
      max_sockets: {
        type: 'integer',
        description: 'Open TCP sockets tracked at once; sockets beyond it are counted as drops, not tracked',
        default: 65536,
        min: 16,
        max: 4_194_304,
      },
      max_links: {
        type: 'integer',
        description: 'Link keys of closed-socket totals in the kernel; beyond it totals are lost and counted',
        default: 16384,
        min: 16,
        max: 1_048_576,
      },
      network_namespaces: {
        type: 'list',
        description:
          '`all` (every namespace, present and future), or network namespace paths or inode numbers',
        items: {
          type: 'string',
          description: '`all`, a path such as /run/netns/NAME or /proc/PID/ns/net, or an inode number',
          pattern: /all|\/.+|[0-9]+/,
          patternName: '`all`, an absolute path or an inode number',
        },
        default: ['all'],
      },
      include_loopback: {
        type: 'boolean',
        description: 'Track connections to loopback addresses (127.0.0.0/8, ::1)',
        default: true,
      },
    },
  },
  create(settings, config, next) {
    return new EbpfSocketReceiver(settings, config, next);
  },
};
