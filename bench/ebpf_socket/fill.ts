/**
 * Share of new sockets the kernel socket table drops (does not track) when it
 * is already filled to 50, 75 or 90 % by open sockets, at the receiver's
 * default size (65536 entries).
 *
 *   npx node bench/ebpf_socket/fill.ts [--fill 50,75,90] [--layout burst,scattered] [--seconds 6]
 *     [--table 65536]
 *
 * A socket takes the entry its cookie names (cookie mod size), else one of 7
 * entries drawn for it (bpf/socket_tracker.bpf.c); with all 8 taken it is
 * dropped (`loggerhead.receiver.map.full_drops{map="sockets"}`). For each
 * layout and fill level, in a network namespace of its own that the receiver
 * alone covers (other jobs' sockets stay out of its table):
 * - the real receiver starts with a fresh table;
 * - `holdconns` opens connections whose sockets (both ends) fill the table to
 *   the level, and holds them: `burst`, all at once (consecutive cookies: one
 *   long run of direct entries), or `scattered`, in batches of 1,000 with a
 *   second of new connections between them (the cookies move on by several
 *   table sizes, so the held entries are spread over the table, as when
 *   long-lived connections accumulate among short ones);
 * - the taken entries are counted in the map itself (the fill);
 * - `connblast` makes new connections for `--seconds` (64 B each way, one
 *   connection per request), several times the table size in new sockets, so
 *   that their cookies name every entry of the table several times over;
 * - the result is drops / (tracked + drops) among the sockets created while
 *   the connections were held, from the receiver's own counters.
 * Printed beside it: fill^8, the drop rate if the 8 entries a socket may take
 * were each taken with probability `fill`, independently.
 *
 * Needs root, gcc and connblast (scripts/setup.d/10-net-tools.sh --test); the
 * receiver runs from the sources (no build needed). About 3 minutes.
 */
import { execFileSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import koffi from 'koffi';
import { createTopology } from '../../test/support/netns.ts';
import { testSettings } from '../../test/support/settings.ts';
import { runConnblastClient, startConnblastServer } from '../tools/connblast.ts';
import { startReceiver } from './in-process.ts';

const { values: args } = parseArgs({
  options: {
    fill: { type: 'string', default: '50,75,90' },
    seconds: { type: 'string', default: '6' },
    table: { type: 'string', default: '65536' },
    layout: { type: 'string', default: 'burst,scattered' },
  },
});
const LEVELS = args.fill.split(',').map(Number);
const SECONDS = Number(args.seconds);
const TABLE = Number(args.table);
const LAYOUTS = args.layout.split(',') as Layout[];
for (const l of LAYOUTS) if (l !== 'burst' && l !== 'scattered') throw new Error(`--layout: unknown ${l}`);
for (const l of LEVELS)
  if (!(l > 0 && l < 100)) throw new Error(`--fill: ${l} is not a percentage in (0, 100)`);
if (!Number.isInteger(SECONDS) || SECONDS < 1) throw new Error('--seconds must be a whole number >= 1');
if (!Number.isInteger(TABLE) || TABLE < 16) throw new Error('--table must be a whole number >= 16');

const HERE = new URL('.', import.meta.url).pathname;
const TOOL_DIR = new URL('../../.cache/bench/', import.meta.url).pathname;
mkdirSync(TOOL_DIR, { recursive: true });
const HOLDCONNS = `${TOOL_DIR}holdconns-fill`;
execFileSync('gcc', ['-O2', '-Wall', '-o', HOLDCONNS, `${HERE}holdconns.c`]);
/** Connections per holdconns process: 2 × 9,000 descriptors fit the usual open-file limit. */
const PER_HOLDER = 9000;

const topo = await createTopology({
  prefix: 'lhc',
  hosts: ['a'],
  subnet4: '10.207.1.0/24',
  subnet6: 'fd00:207::100/120',
});

type Layout = 'burst' | 'scattered';

interface Result {
  fill: number;
  layout: Layout;
  /** Sockets in the table when the new connections start. */
  held: number;
  /** Of the held sockets, those the table dropped while they were opened. */
  heldDropped: number;
  /** Entries taken (non-zero cookie) in the table when the new connections start, and after. */
  occupiedBefore: number;
  occupiedAfter: number;
  tracked: number;
  created: number;
  dropped: number;
  connectionsPerSecond: number;
}

function counter(
  settings: ReturnType<typeof testSettings>,
  name: string,
  attrs: Record<string, string>,
): number {
  const m = settings.registry.collect().find((x) => x.name === name);
  return (m?.points ?? [])
    .filter((p) => Object.entries(attrs).every(([k, v]) => p.attributes[k] === v))
    .reduce((sum, p) => sum + p.value, 0);
}

/** Connections per batch when the held sockets are opened scattered: their entries form runs of about twice that. */
const SCATTER_BATCH = 1000;

const libbpf = koffi.load('libbpf.so.1');
const lookup = libbpf.func('int bpf_map_lookup_elem(int fd, const void *key, _Out_ void *value)');

/** Entries of the socket table with a non-zero cookie, read from the map (found by its shape in fdinfo). */
function occupied(): number {
  const fds = readdirSync('/proc/self/fdinfo').filter((fd) => {
    try {
      const info = readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
      return (
        /^map_type:\s+2$/m.test(info) &&
        /^value_size:\s+80$/m.test(info) &&
        new RegExp(`^max_entries:\\s+${TABLE}$`, 'm').test(info)
      );
    } catch {
      return false;
    }
  });
  if (fds.length !== 1) throw new Error(`${fds.length} socket tables of ${TABLE} entries in this process`);
  const fd = Number(fds[0]);
  const key = Buffer.alloc(4);
  const value = Buffer.alloc(80);
  let n = 0;
  for (let i = 0; i < TABLE; i++) {
    key.writeUInt32LE(i);
    if (lookup(fd, key, value) !== 0) throw new Error(`lookup of entry ${i} failed`);
    if (value.readBigUInt64LE(0) !== 0n) n++;
  }
  return n;
}

async function measure(fill: number, layout: Layout): Promise<Result> {
  const settings = testSettings('ebpf_socket');
  const receiver = await startReceiver(settings, topo.host('a').netns, TABLE);
  const holders: ChildProcess[] = [];
  const server = await startConnblastServer(topo.host('a'), { bind: '127.0.0.1' });
  const churn = (seconds: number) =>
    runConnblastClient(topo.host('a'), { host: '127.0.0.1', port: server.port, seconds });
  /** Opens and holds `n` more connections. */
  const hold = async (n: number): Promise<void> => {
    for (let left = n; left > 0;) {
      const count = Math.min(left, PER_HOLDER);
      left -= count;
      const child = topo.host('a').spawn(HOLDCONNS, [String(count), '1', String(holders.length)], {
        stdio: ['pipe', 'pipe', 'inherit'],
      });
      holders.push(child);
      const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
      if ((await lines.next()).done === true) throw new Error('holdconns failed');
    }
  };
  try {
    const target = Math.floor(((fill / 100) * TABLE) / 2) * 2;
    let held = 0;
    if (layout === 'burst') {
      await hold(target / 2);
      held = (await receiver.poll()).openSockets;
    } else {
      // Batches of held connections with a second of new connections between them: the cookies move
      // on by several table sizes in all, so the held sockets' entries end up spread over the table.
      while (held < target) {
        await hold(Math.min(SCATTER_BATCH, Math.ceil((target - held) / 2)));
        await churn(1);
        held = (await receiver.poll()).openSockets;
      }
    }
    const occupiedBefore = occupied();
    const drops0 = counter(settings, 'loggerhead.receiver.map.full_drops', { map: 'sockets' });
    const created0 = counter(settings, 'loggerhead.receiver.sockets', { event: 'created' });
    const load = await churn(SECONDS);
    // Let the last connections close (a socket leaves the table at CLOSE).
    await new Promise((done) => setTimeout(done, 500));
    const tracked = (await receiver.poll()).openSockets;
    const occupiedAfter = occupied();
    return {
      fill,
      layout,
      held,
      heldDropped: drops0,
      occupiedBefore,
      occupiedAfter,
      tracked,
      created: counter(settings, 'loggerhead.receiver.sockets', { event: 'created' }) - created0,
      dropped: counter(settings, 'loggerhead.receiver.map.full_drops', { map: 'sockets' }) - drops0,
      connectionsPerSecond: load.connectionsPerSecond,
    };
  } finally {
    await server.stop();
    for (const h of holders) {
      h.stdin!.end();
      if (h.exitCode === null) await once(h, 'close');
    }
    await receiver.shutdown();
  }
}

const results: Result[] = [];
try {
  for (const layout of LAYOUTS) {
    for (const fill of LEVELS) {
      const r = await measure(fill, layout);
      results.push(r);
      process.stdout.write(`${JSON.stringify(r)}\n`);
    }
  }
} finally {
  await topo.destroy();
}

const load = os
  .loadavg()
  .map((x) => x.toFixed(2))
  .join(' ');
process.stdout.write(
  `\nsocket table of ${TABLE} entries, new sockets during ${SECONDS} s of connblast (load ${load})\n`,
);
process.stdout.write(
  'layout      fill   held (drops while filling)    new sockets   dropped   drop rate   fill^8\n',
);
for (const r of results) {
  const total = r.created + r.dropped;
  const fill = r.held / TABLE;
  process.stdout.write(
    `${r.layout.padEnd(12)}${`${(100 * fill).toFixed(1)} %`.padEnd(9)}${`${r.held} (${r.heldDropped})`.padEnd(30)}` +
      `${String(total).padEnd(14)}${String(r.dropped).padEnd(10)}` +
      `${((100 * r.dropped) / total).toFixed(2).padStart(7)} %  ${(100 * fill ** 8).toFixed(2).padStart(6)} %\n`,
  );
}
