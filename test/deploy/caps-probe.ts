/**
 * The `ebpf_socket` receiver as a child process, so that caps.test.ts can run
 * it with a reduced capability set (setpriv) while the test itself keeps root
 * to build the network namespaces.
 *
 * Usage: node caps-probe.ts CONFIG_JSON NETNS_INODES_JSON
 *   Starts the receiver with CONFIG_JSON over its defaults. Prints
 *   `{"event":"started","effectiveCaps":"<hex>"}`, then, for each `poll` line on stdin, one JSON line
 *   with the batch's open sockets and closed totals in the given namespaces.
 *   A start failure prints `{"event":"failed","message":...}` and exits 1.
 */
import { createInterface } from 'node:readline';
import { readFileSync } from 'node:fs';
import type { SocketBatch } from '../../core/signals.ts';
import { socketRows } from '../../core/socket-columns.ts';
import { ebpfSocketReceiverFactory } from '../../receivers/ebpf_socket/factory.ts';
import type { EbpfSocketConfig } from '../../receivers/ebpf_socket/factory.ts';
import { EbpfSocketReceiver } from '../../receivers/ebpf_socket/receiver.ts';
import { testHost, testSettings } from '../support/settings.ts';
import { Sink } from '../support/sink.ts';

const DEFAULTS: EbpfSocketConfig = {
  poll_interval: 3_600_000,
  max_sockets: 65536,
  max_links: 16384,
  network_namespaces: ['all'],
  include_loopback: false,
};

function print(line: unknown): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

const config = { ...DEFAULTS, ...(JSON.parse(process.argv[2] ?? '{}') as Partial<EbpfSocketConfig>) };
const inodes = new Set(JSON.parse(process.argv[3] ?? '[]') as number[]);
const capEff = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '';

const settings = testSettings('ebpf_socket');
const receiver = ebpfSocketReceiverFactory.create(settings, config, new Sink<SocketBatch>());
if (!(receiver instanceof EbpfSocketReceiver)) throw new Error('ebpf_socket factory returned another class');
try {
  await receiver.start(testHost());
} catch (error) {
  print({
    event: 'failed',
    message: error instanceof Error ? error.message : String(error),
    effectiveCaps: capEff,
  });
  process.exit(1);
}
print({ event: 'started', effectiveCaps: capEff });

for await (const line of createInterface({ input: process.stdin })) {
  if (line !== 'poll') continue;
  const batch = await receiver.poll();
  print({
    event: 'batch',
    sockets: socketRows(batch.sockets).filter((s) => inodes.has(s.netns)),
    closed: batch.closed.filter((c) => inodes.has(c.netns)),
  });
}
await receiver.shutdown();
