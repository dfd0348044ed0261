/**
 * CPU of a poll that finds nothing to report, by socket table size: the cost
 * of walking the table (the `iter/bpf_map_elem` program runs once per entry,
 * taken or free), which the agent pays every `poll_interval` whatever the
 * traffic.
 *
 *   npx node bench/ebpf_socket/table-walk.ts [--tables 65536,262144] [--rounds 2] [--polls 20]
 *
 * For each size, interleaved over `--rounds`: the real receiver (from the
 * sources) covering one empty network namespace of its own, so the table holds
 * nothing; one poll, then `--polls` polls timed with the process's CPU clock
 * (user + system, `process.cpuUsage`); printed per poll, and per table entry.
 *
 * Needs root.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { createTopology } from '../../test/support/netns.ts';
import { testSettings } from '../../test/support/settings.ts';
import { startReceiver } from './in-process.ts';

const { values: args } = parseArgs({
  options: {
    tables: { type: 'string', default: '65536,262144' },
    rounds: { type: 'string', default: '2' },
    polls: { type: 'string', default: '20' },
  },
});
const TABLES = args.tables.split(',').map(Number);
const ROUNDS = Number(args.rounds);
const POLLS = Number(args.polls);
for (const t of TABLES)
  if (!Number.isInteger(t) || t < 16) throw new Error(`--tables: ${t} is not a size >= 16`);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) throw new Error('--rounds must be a whole number >= 1');
if (!Number.isInteger(POLLS) || POLLS < 1) throw new Error('--polls must be a whole number >= 1');

const topo = await createTopology({
  prefix: 'lhc',
  hosts: ['a'],
  subnet4: '10.207.2.0/24',
  subnet6: 'fd00:207::200/120',
});
const load0 = os.loadavg();
const results = new Map<number, number[]>(TABLES.map((t) => [t, []]));
try {
  for (let round = 0; round < ROUNDS; round++) {
    for (const table of TABLES) {
      const receiver = await startReceiver(testSettings('ebpf_socket'), topo.host('a').netns, table);
      try {
        await receiver.poll();
        const cpu0 = process.cpuUsage();
        for (let i = 0; i < POLLS; i++) {
          const batch = await receiver.poll();
          if (batch.openSockets !== 0) throw new Error(`the table holds ${batch.openSockets} sockets`);
        }
        const cpu = process.cpuUsage(cpu0);
        const ms = (cpu.user + cpu.system) / 1000 / POLLS;
        results.get(table)!.push(ms);
        process.stdout.write(
          `${JSON.stringify({ round: round + 1, table, msPerPoll: Number(ms.toFixed(2)) })}\n`,
        );
      } finally {
        await receiver.shutdown();
      }
    }
  }
} finally {
  await topo.destroy();
}
const load = (l: number[]): string => l.map((x) => x.toFixed(2)).join(' ');
process.stdout.write(
  `\nidle poll CPU (user + system), ${POLLS} polls x ${ROUNDS} rounds, load ${load(load0)} before, ${load(os.loadavg())} after\n`,
);
for (const [table, ms] of results) {
  const lo = Math.min(...ms);
  const hi = Math.max(...ms);
  process.stdout.write(
    `${String(table).padEnd(8)} entries: ${lo.toFixed(2)}-${hi.toFixed(2)} ms per poll, ` +
      `${((lo * 1e6) / table).toFixed(0)}-${((hi * 1e6) / table).toFixed(0)} ns per entry\n`,
  );
}
