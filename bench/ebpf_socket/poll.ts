/**
 * Cost of a poll with many open sockets: userspace CPU per poll
 * (process.cpuUsage), agent RSS, and kernel memory of the maps and of the
 * per-socket storage.
 *
 * `holdconns.c` holds N connections (2N tracked sockets) on the loopback of a
 * private namespace; the receiver runs in this process with default settings
 * (max_sockets raised to twice the sockets held). Polls measured:
 * - first: every socket is new (adopted at start-up), all decoded;
 * - idle: nothing changed, the steady state of mostly idle sockets;
 * - all changed: one byte more each way on every connection, three times
 *   with an idle poll in between (the first includes compiling the code
 *   path that updates known sockets).
 * Then the agent alone (`agent.mjs`, a process of its own polling every
 * second) runs for 6 s with the same sockets, changed once more, and reports
 * its RSS.
 *
 *   npm run build && npx node --expose-gc bench/ebpf_socket/poll.ts [--connections 50000]
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import type { SocketBatch } from '../../core/signals.ts';
import { ebpfSocketReceiverFactory } from '../../receivers/ebpf_socket/factory.ts';
import { EbpfSocketReceiver } from '../../receivers/ebpf_socket/receiver.ts';
import { createTopology } from '../../test/support/netns.ts';
import { testHost, testSettings } from '../../test/support/settings.ts';

const { values } = parseArgs({ options: { connections: { type: 'string', default: '50000' } } });
const CONNECTIONS = Number(values.connections);
/** Socket table entries: twice the sockets held, as the receiver's README advises (linear probing). */
const TABLE_SIZE = Math.max(65536, 4 * CONNECTIONS);
const HERE = new URL('.', import.meta.url).pathname;
const TOOL_DIR = new URL('../../.cache/bench/', import.meta.url).pathname;
mkdirSync(TOOL_DIR, { recursive: true });
execFileSync('gcc', ['-O2', '-Wall', '-o', `${TOOL_DIR}holdconns`, `${HERE}holdconns.c`]);

/** Bytes held in the slab caches (sum of objects × object size), from /proc/slabinfo. */
function slabBytes(): number {
  let total = 0;
  for (const line of readFileSync('/proc/slabinfo', 'utf8').split('\n').slice(2)) {
    const f = line.split(/\s+/);
    if (f.length > 4) total += Number(f[1]) * Number(f[3]);
  }
  return total;
}

const topo = await createTopology({
  prefix: 'lhr',
  hosts: ['a', 'b'],
  subnet4: '10.201.251.0/24',
  subnet6: 'fd00:201::fb00/120',
});
// A process may hold 2 × 9,000 sockets under the usual 20,000 open-file limit.
const PER_HOLDER = 9000;
const holders = [];
for (let k = 0; k * PER_HOLDER < CONNECTIONS; k++) {
  const n = Math.min(PER_HOLDER, CONNECTIONS - k * PER_HOLDER);
  const child = topo.host('a').spawn(`${TOOL_DIR}holdconns`, [String(n), '1', String(k)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  holders.push({ child, lines: createInterface({ input: child.stdout! })[Symbol.asyncIterator]() });
}
try {
  for (const h of holders) {
    if ((await h.lines.next()).done === true) throw new Error('holdconns failed');
  }
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const rss0 = process.memoryUsage().rss;
  const slab0 = slabBytes();
  const settings = testSettings('ebpf_socket');
  let kept: SocketBatch | undefined;
  const receiver = ebpfSocketReceiverFactory.create(
    settings,
    {
      poll_interval: 3_600_000,
      max_sockets: TABLE_SIZE,
      max_links: 16384,
      network_namespaces: ['all'],
      include_loopback: true,
    },
    {
      consume: async (batch) => {
        kept = batch;
      },
    },
  );
  if (!(receiver instanceof EbpfSocketReceiver)) throw new Error('unexpected receiver');
  const t0 = performance.now();
  await receiver.start(testHost());
  const startMs = performance.now() - t0;
  const slab1 = slabBytes();
  const measure = async (name: string) => {
    const cpu = process.cpuUsage();
    const wall = performance.now();
    const batch = await receiver.poll();
    const used = process.cpuUsage(cpu);
    return {
      poll: name,
      userCpuMs: Number((used.user / 1000).toFixed(1)),
      systemCpuMs: Number((used.system / 1000).toFixed(1)),
      wallMs: Number((performance.now() - wall).toFixed(1)),
      changedSockets: batch.sockets.length,
      openSockets: batch.openSockets,
    };
  };
  const results = [await measure('first (all new)')];
  gc?.();
  results.push(await measure('idle'));
  results.push(await measure('idle'));
  for (let round = 1; round <= 3; round++) {
    for (const h of holders) h.child.stdin!.write('x\n');
    for (const h of holders) await h.lines.next();
    results.push(await measure(`all changed #${round}`));
    gc?.();
    results.push(await measure('idle'));
  }
  const rss = process.memoryUsage().rss;
  const stats = settings.registry.collect();
  const mapMemory = stats.find((m) => m.name === 'loggerhead.receiver.kernel_map.memory')?.points[0]?.value;
  for (const r of results) process.stdout.write(`${JSON.stringify(r)}\n`);
  process.stdout.write(
    `${JSON.stringify({
      connections: CONNECTIONS,
      startMs: Number(startMs.toFixed(0)),
      rssMiB: Number((rss / 2 ** 20).toFixed(1)),
      rssBeforeReceiverMiB: Number((rss0 / 2 ** 20).toFixed(1)),
      mapMemlockMiB: Number(((mapMemory ?? 0) / 2 ** 20).toFixed(2)),
      slabDeltaAtStartMiB: Number(((slab1 - slab0) / 2 ** 20).toFixed(1)),
      keptBatchSockets: kept?.sockets.length,
    })}\n`,
  );
  await receiver.shutdown();

  const agent = spawn(
    process.execPath,
    [`${HERE}agent.mjs`, '--poll-interval', '1000', '--max-sockets', String(TABLE_SIZE)],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: { ...process.env, NODE_OPTIONS: process.env.AGENT_NODE_OPTIONS ?? '' },
    },
  );
  const agentLines = createInterface({ input: agent.stdout! })[Symbol.asyncIterator]();
  await agentLines.next();
  await new Promise((done) => setTimeout(done, 2500));
  for (const h of holders) h.child.stdin!.write('x\n');
  for (const h of holders) await h.lines.next();
  await new Promise((done) => setTimeout(done, 3500));
  agent.stdin!.end();
  const stopped = await agentLines.next();
  process.stdout.write(`agent process: ${stopped.done === true ? 'no report' : stopped.value}\n`);
} finally {
  for (const h of holders) h.child.stdin!.end();
  await topo.destroy();
}
