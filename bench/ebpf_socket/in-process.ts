/**
 * The real ebpf_socket receiver (from the sources) in the bench's own process,
 * for benches that drive its polls themselves.
 */
import type { CreateSettings } from '../../core/component.ts';
import type { SocketBatch } from '../../core/signals.ts';
import { ebpfSocketReceiverFactory } from '../../receivers/ebpf_socket/factory.ts';
import { EbpfSocketReceiver } from '../../receivers/ebpf_socket/receiver.ts';
import { testHost } from '../../test/support/settings.ts';
import { Sink } from '../../test/support/sink.ts';

/**
 * Creates and starts a receiver with a socket table of `maxSockets` entries
 * covering the one network namespace `netns` (a name under /run/netns),
 * loopback included. It polls only when called (`poll_interval` 1 h); its
 * batches go to a sink nobody reads. The caller shuts it down.
 */
export async function startReceiver(
  settings: CreateSettings,
  netns: string,
  maxSockets: number,
): Promise<EbpfSocketReceiver> {
  const receiver = ebpfSocketReceiverFactory.create(
    settings,
    {
      poll_interval: 3_600_000,
      max_sockets: maxSockets,
      max_links: 16384,
      network_namespaces: [`/run/netns/${netns}`],
      include_loopback: true,
    },
    new Sink<SocketBatch>(),
  );
  if (!(receiver instanceof EbpfSocketReceiver)) throw new Error('not the ebpf_socket receiver');
  await receiver.start(testHost());
  return receiver;
}
