/**
 * Cost of a poll with many open sockets: userspace CPU per poll
 * (process.cpuUsage), agent RSS, and kernel memory of the maps and of the
 * per-socket storage.
 *
 * `holdconns.c` holds N connections (2N tracked sockets) on the loopback of a
 * private namespace. Three parts, the first two skipped with `--agent-only`:
 *
 * 1. The receiver in this process with default settings (max_sockets raised
 *    to twice the sockets held). Polls measured:
 *    - first: every socket is new (adopted at start-up), all decoded;
 *    - idle: nothing changed, the steady state of mostly idle sockets;
 *    - all changed: one byte more each way on every connection, eight times
 *      with an idle poll in between (the first ones overlap V8's background
 *      work after the first poll: compiling the code path that updates known
 *      sockets).
 *    Each with the CPU of the decoding (userspace, the part that grows with
 *    sockets) and of the poll's thread (user and system, exact), and the
 *    process's user and system CPU (every thread: V8's GC and compiler too;
 *    the split between the two is sampled at clock ticks).
 * 2. The receiver alone (`agent.mjs`, a process of its own polling every
 *    second) for 6 s with the same sockets, changed once more: its RSS.
 * 3. The agent a user runs: `bin/loggerhead.js run` with the default
 *    `pipeline.yaml` (ebpf_socket -> k8s_attributes -> prometheus +
 *    servicemap, ports 0, max_sockets twice the sockets held), in variants
 *    run alternately, `--rounds` times each: per poll of the whole pipeline,
 *    the process's user and system CPU and the garbage collections
 *    (`cpu-probe.mjs`, preloaded), then the RSS after `--polls` polls, half of
 *    them after every connection moved a byte more, and again after
 *    `--idle-polls` more where nothing moved (the receiver lets go of the
 *    rows of a large batch 12 polls later). Default variants:
 *    `no sockets` (the same agent with `include_loopback: false`, so that the
 *    sockets held are not tracked: the baseline) and `agent`. A
 *    `--variant 'NAME:TOKENS'` adds one; tokens are node flags (`--x=y`),
 *    environment variables (`MALLOC_ARENA_MAX=2`), `root=DIR` (another
 *    checkout, built, e.g. `git archive` of an older commit with a
 *    node_modules symlink) or `nosockets`. The sockets are adopted at
 *    start-up (the kernel knows no owner of an adopted client socket); with
 *    `--fresh-sockets` each run opens them after the agent's first poll
 *    instead, so that the agent sees them open and names them by process
 *    (parts 1 and 2 are skipped). `--smaps DIR` saves each agent's
 *    `/proc/PID/smaps` there when its RSS is measured (after `--polls`);
 *    `--heap-snapshot DIR` writes a V8 heap snapshot of each agent there
 *    after its last poll (`--heapsnapshot-signal`: the agent writes it).
 *
 *   npm run build && npx node --expose-gc bench/ebpf_socket/poll.ts [--connections 50000]
 *     [--agent-only] [--fresh-sockets] [--smaps DIR] [--heap-snapshot DIR] [--rounds 2] [--polls 8] [--idle-polls 14] [--variant 'semi2:--max-semi-space-size=2' ...]
 */
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import koffi from 'koffi';
import { parse, stringify } from 'yaml';
import type { SocketBatch } from '../../core/signals.ts';
import { SocketDecoder } from '../../receivers/ebpf_socket/decode.ts';
import { ebpfSocketReceiverFactory } from '../../receivers/ebpf_socket/factory.ts';
import { EbpfSocketReceiver } from '../../receivers/ebpf_socket/receiver.ts';
import { createTopology } from '../../test/support/netns.ts';
import { testHost, testSettings } from '../../test/support/settings.ts';

const { values } = parseArgs({
  options: {
    connections: { type: 'string', default: '50000' },
    'agent-only': { type: 'boolean', default: false },
    rounds: { type: 'string', default: '2' },
    polls: { type: 'string', default: '8' },
    'idle-polls': { type: 'string', default: '14' },
    'fresh-sockets': { type: 'boolean', default: false },
    smaps: { type: 'string' },
    'heap-snapshot': { type: 'string' },
    variant: { type: 'string', multiple: true, default: ['no sockets:nosockets', 'agent:'] },
  },
});
const CONNECTIONS = Number(values.connections);
/** All-changed polls of part 1: the first ones overlap the start-up's major GC and compilations. */
const CHANGED_ROUNDS = 8;
const ROUNDS = Number(values.rounds);
const POLLS = Number(values.polls);
const IDLE_POLLS = Number(values['idle-polls']);
const FRESH = values['fresh-sockets'];
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

const libc = koffi.load('libc.so.6');
const clockGettime = libc.func('int clock_gettime(int clock, _Out_ uint8_t *ts)') as (
  clock: number,
  ts: Buffer,
) => number;
const CLOCK_THREAD_CPUTIME_ID = 3;
const timespec = Buffer.alloc(16);

/**
 * CPU time of the calling thread, user and system, exact to the nanosecond (`getrusage` and
 * `process.cpuUsage` split a poll's time between user and system by sampling at each clock tick,
 * which for a poll of about 100 ms, mostly system time, puts a user figure off by several ms).
 */
function threadCpuNs(): number {
  if (clockGettime(CLOCK_THREAD_CPUTIME_ID, timespec) !== 0) throw new Error('clock_gettime failed');
  return Number(timespec.readBigInt64LE(0)) * 1e9 + Number(timespec.readBigInt64LE(8));
}

const topo = await createTopology({
  prefix: 'lhr',
  hosts: ['a', 'b'],
  subnet4: '10.201.251.0/24',
  subnet6: 'fd00:201::fb00/120',
});
// A process may hold 2 × 9,000 sockets under the usual 20,000 open-file limit.
const PER_HOLDER = 9000;
/** The processes holding the connections: a new set per agent run with `--fresh-sockets`. */
let holders: Array<{ child: ChildProcess; lines: AsyncIterator<string> }> = [];

/** Opens the connections (each moves one byte each way) and returns once they are all established. */
async function holdConnections(): Promise<void> {
  for (let k = 0; k * PER_HOLDER < CONNECTIONS; k++) {
    const n = Math.min(PER_HOLDER, CONNECTIONS - k * PER_HOLDER);
    const child = topo.host('a').spawn(`${TOOL_DIR}holdconns`, [String(n), '1', String(k)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    holders.push({ child, lines: createInterface({ input: child.stdout! })[Symbol.asyncIterator]() });
  }
  for (const h of holders) {
    if ((await h.lines.next()).done === true) throw new Error('holdconns failed');
  }
}

/** Closes the connections and waits for the holders to exit. */
async function releaseConnections(): Promise<void> {
  const exits = holders.map((h) => new Promise((done) => h.child.once('exit', done)));
  for (const h of holders) h.child.stdin!.end();
  holders = [];
  await Promise.all(exits);
}

try {
  if (!FRESH) await holdConnections();
  if (!values['agent-only'] && !FRESH) await receiverParts();
  await agentParts();
} finally {
  for (const h of holders) h.child.stdin!.end();
  await topo.destroy();
}

/** Moves one byte more each way on every connection held. */
async function exchange(): Promise<void> {
  for (const h of holders) h.child.stdin!.write('x\n');
  for (const h of holders) await h.lines.next();
}

/** Parts 1 and 2: the receiver in this process, then alone in a process of its own. */
async function receiverParts(): Promise<void> {
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
  // The decoding of the records, timed where the receiver calls it: the userspace work that grows with sockets.
  let decodeNs = 0;
  const decode = SocketDecoder.prototype.decode;
  SocketDecoder.prototype.decode = function timedDecode(this: SocketDecoder, ...args) {
    const t = threadCpuNs();
    decode.apply(this, args);
    decodeNs += threadCpuNs() - t;
  };
  const measure = async (name: string) => {
    const cpu = process.cpuUsage();
    const thread = threadCpuNs();
    decodeNs = 0;
    const wall = performance.now();
    const batch = await receiver.poll();
    const used = process.cpuUsage(cpu);
    return {
      poll: name,
      decodeCpuMs: Number((decodeNs / 1e6).toFixed(1)),
      mainThreadCpuMs: Number(((threadCpuNs() - thread) / 1e6).toFixed(1)),
      userCpuMs: Number((used.user / 1000).toFixed(1)),
      systemCpuMs: Number((used.system / 1000).toFixed(1)),
      wallMs: Number((performance.now() - wall).toFixed(1)),
      changedSockets: batch.sockets.count,
      openSockets: batch.openSockets,
    };
  };
  const results = [await measure('first (all new)')];
  gc?.();
  results.push(await measure('idle'));
  results.push(await measure('idle'));
  for (let round = 1; round <= CHANGED_ROUNDS; round++) {
    await exchange();
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
      keptBatchSockets: kept?.sockets.count,
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
  await exchange();
  await new Promise((done) => setTimeout(done, 3500));
  agent.stdin!.end();
  const stopped = await agentLines.next();
  process.stdout.write(`agent process: ${stopped.done === true ? 'no report' : stopped.value}\n`);
}

interface Variant {
  name: string;
  nodeFlags: string[];
  env: Record<string, string>;
  root: string;
  trackSockets: boolean;
}

function parseVariant(spec: string): Variant {
  const colon = spec.indexOf(':');
  if (colon < 1) throw new Error(`--variant ${spec}: expected NAME:TOKENS`);
  const variant: Variant = {
    name: spec.slice(0, colon),
    nodeFlags: [],
    env: {},
    root: new URL('../../', import.meta.url).pathname,
    trackSockets: true,
  };
  for (const token of spec
    .slice(colon + 1)
    .split(/\s+/)
    .filter((t) => t !== '')) {
    if (token === 'nosockets') variant.trackSockets = false;
    else if (token.startsWith('--')) variant.nodeFlags.push(token);
    else if (token.startsWith('root=')) variant.root = token.slice(5);
    else if (/^[A-Z_][A-Z0-9_]*=/.test(token)) {
      const eq = token.indexOf('=');
      variant.env[token.slice(0, eq)] = token.slice(eq + 1);
    } else throw new Error(`--variant ${spec}: unknown token ${token}`);
  }
  if (!existsSync(join(variant.root, 'dist/cli/main.js'))) {
    throw new Error(`--variant ${spec}: ${variant.root} is not built (dist/cli/main.js missing)`);
  }
  return variant;
}

interface Burst {
  userMs: number;
  systemMs: number;
  wallMs: number;
  gc: Array<{ kind: string; ms: number }>;
  rssMiB: number;
  /** V8 heap after the poll, MiB: resident size per space, `used` and `external`. */
  heap: Record<string, number>;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : (s[(s.length - 1) >> 1]! + s[s.length >> 1]!) / 2;
}

function parseDurationMs(text: string): number {
  const m = /^(\d+)(ms|s)$/.exec(text);
  if (m === null) throw new Error(`pipeline.yaml: poll_interval ${text}: expected e.g. 2s or 500ms`);
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
}

/** The RSS of a process and its parts (kB in /proc), in MiB. */
function memoryOf(pid: number): { rssMiB: number; anonMiB: number; fileMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  const mib = (k: number) => Number((k / 1024).toFixed(1));
  return { rssMiB: mib(kb('VmRSS')), anonMiB: mib(kb('RssAnon')), fileMiB: mib(kb('RssFile')) };
}

/** Has `agent` write a heap snapshot into `dir` (it runs with `--heapsnapshot-signal=SIGUSR2`); waits for it. */
async function heapSnapshot(agent: ChildProcess, dir: string): Promise<void> {
  const snapshots = (): string[] =>
    readdirSync(dir).filter((f) => f.endsWith('.heapsnapshot') && f.includes(`.${agent.pid!}.`));
  agent.kill('SIGUSR2');
  const deadline = Date.now() + 60_000;
  let size = -1;
  for (;;) {
    await new Promise((done) => setTimeout(done, 1000));
    const file = snapshots()[0];
    const now = file === undefined ? -1 : statSync(join(dir, file)).size;
    if (now > 0 && now === size) return;
    if (Date.now() > deadline) throw new Error(`agent ${agent.pid!}: no heap snapshot in ${dir} after 60 s`);
    size = now;
  }
}

/** Part 3: the whole agent, `loggerhead run` with the default pipeline, in each variant. */
async function agentParts(): Promise<void> {
  const variants = values.variant.map(parseVariant);
  const snapshotDir = values['heap-snapshot'];
  if (snapshotDir !== undefined) mkdirSync(snapshotDir, { recursive: true });
  const dir = mkdtempSync(join(tmpdir(), 'lh-poll-bench-'));
  const probe = new URL('./cpu-probe.mjs', import.meta.url).href;
  const defaults = parse(readFileSync(new URL('../../pipeline.yaml', import.meta.url), 'utf8')) as {
    receivers: { ebpf_socket: Record<string, unknown> };
    exporters: Record<string, { endpoint: string }>;
  };
  const pollMs = parseDurationMs(String(defaults.receivers.ebpf_socket.poll_interval));
  const results: Array<{ variant: string; round: number } & Record<string, unknown>> = [];
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      for (const v of variants) {
        const config = structuredClone(defaults);
        config.receivers.ebpf_socket.max_sockets = TABLE_SIZE;
        if (!v.trackSockets) config.receivers.ebpf_socket.include_loopback = false;
        for (const exporter of Object.values(config.exporters)) exporter.endpoint = '127.0.0.1:0';
        const configPath = join(dir, `${round}-${results.length}.yaml`);
        writeFileSync(configPath, stringify(config));
        const probeOut = join(dir, `${round}-${results.length}.probe`);
        writeFileSync(probeOut, '');
        const load = loadavg()[0]!;
        const agent = spawn(
          process.execPath,
          [
            ...v.nodeFlags,
            ...(snapshotDir === undefined
              ? []
              : ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${snapshotDir}`]),
            join(v.root, 'bin/loggerhead.js'),
            'run',
            '--config',
            configPath,
            '--log-format',
            'json',
          ],
          {
            stdio: ['ignore', 'ignore', 'pipe'],
            env: {
              ...process.env,
              ...v.env,
              NODE_OPTIONS: `--import=${probe}`,
              LH_PROBE_OUT: probeOut,
              LH_PROBE_POLL_MS: String(pollMs),
            },
          },
        );
        let stderr = '';
        agent.stderr!.on('data', (d: Buffer) => {
          if (stderr.length < 100_000) stderr += d.toString();
        });
        const exited = new Promise<number | null>((done) => agent.on('exit', (code) => done(code)));
        const bursts = (): Burst[] =>
          readFileSync(probeOut, 'utf8')
            .split('\n')
            .filter((l) => l.startsWith('{"userMs"'))
            .map((l) => JSON.parse(l) as Burst);
        const waitBursts = async (n: number): Promise<void> => {
          const deadline = Date.now() + 120_000;
          while (bursts().length < n) {
            if (agent.exitCode !== null || agent.signalCode !== null || Date.now() > deadline) {
              throw new Error(
                `agent ${v.name}: ${bursts().length} polls seen, wanted ${n}; stderr:\n${stderr}`,
              );
            }
            await new Promise((done) => setTimeout(done, 100));
          }
        };
        // The first poll (every socket new), idle polls, then half the polls after every connection
        // moved one byte more each way.
        if (FRESH) {
          // Connections made while the agent runs, so that it sees them open (named by process).
          await waitBursts(1);
          await holdConnections();
        }
        await waitBursts(1 + POLLS / 2);
        for (let n = 1 + POLLS / 2; n < 1 + POLLS; n += 2) {
          await exchange();
          await waitBursts(n + 2);
        }
        const memory = { ...memoryOf(agent.pid!), heapMiB: bursts().at(-1)!.heap };
        if (values.smaps !== undefined) {
          mkdirSync(values.smaps, { recursive: true });
          const name = `${v.name.replace(/[^A-Za-z0-9_-]+/g, '_')}-${round}.smaps`;
          writeFileSync(join(values.smaps, name), readFileSync(`/proc/${agent.pid!}/smaps`));
        }
        await waitBursts(1 + POLLS + IDLE_POLLS);
        const idleMemory = { ...memoryOf(agent.pid!), heapMiB: bursts().at(-1)!.heap };
        if (snapshotDir !== undefined) await heapSnapshot(agent, snapshotDir);
        agent.kill('SIGTERM');
        const code = await exited;
        if (FRESH) await releaseConnections();
        if (code !== 0) throw new Error(`agent ${v.name} exited ${code}; stderr:\n${stderr}`);
        const all = bursts();
        const steady = all.slice(1);
        const result = {
          variant: v.name,
          round,
          load1: Number(load.toFixed(1)),
          firstPollUserMs: all[0]!.userMs,
          pollUserMs: steady.map((b) => b.userMs),
          pollSystemMs: steady.map((b) => b.systemMs),
          maxPollUserMs: Math.max(...steady.map((b) => b.userMs)),
          medianPollUserMs: median(steady.map((b) => b.userMs)),
          gcPerPoll: steady.map((b) => b.gc.map((g) => `${g.kind[0]}${g.ms}`).join(' ')),
          ...memory,
          rssAfterIdleMiB: idleMemory.rssMiB,
          heapAfterIdleMiB: idleMemory.heapMiB,
        };
        results.push(result);
        process.stdout.write(`${JSON.stringify(result)}\n`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(
    `summary (medians over rounds; load ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')})\n`,
  );
  for (const v of variants) {
    const mine = results.filter((r) => r.variant === v.name);
    process.stdout.write(
      `${JSON.stringify({
        variant: v.name,
        rssMiB: median(mine.map((r) => r.rssMiB as number)),
        rssAfterIdleMiB: median(mine.map((r) => r.rssAfterIdleMiB as number)),
        maxPollUserMs: Math.max(...mine.map((r) => r.maxPollUserMs as number)),
        medianPollUserMs: median(mine.flatMap((r) => r.pollUserMs as number[])),
        medianPollSystemMs: median(mine.flatMap((r) => r.pollSystemMs as number[])),
      })}\n`,
    );
  }
}
