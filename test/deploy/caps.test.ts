/**
 * The capabilities the DaemonSet grants are the ones the agent needs: the real
 * `ebpf_socket` receiver (test/deploy/caps-probe.ts) runs under `setpriv` with
 * every capability dropped except AGENT_CAPABILITIES, with no_new_privs set as
 * `allowPrivilegeEscalation: false` sets it, and still counts a connection's
 * exact bytes, including a connection it adopts from another network
 * namespace that it finds through /proc/PID/ns/net, as a DaemonSet pod with
 * hostPID finds the pods' namespaces. Without any one of them it fails at
 * start-up with a message that names what is missing. Then the whole agent,
 * `loggerhead run` (ebpf_socket -> k8s_attributes -> prometheus), runs with the
 * same set and serves the connection's exact bytes on /metrics.
 *
 * Needs root (to build the namespaces and to hand out capabilities) and setpriv
 * (util-linux); fails with the reason otherwise.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Interface } from 'node:readline';
import type { ClosedLinkTotals, SocketSample } from '../../core/signals.ts';
import { agentPipeline, agentReady, killAgents, runAgent, sampleSum } from '../support/agent.ts';
import type { Agent } from '../support/agent.ts';
import { createTopology } from '../support/netns.ts';
import type { Topology } from '../support/netns.ts';
import { runClient, spawnHold, spawnServer } from '../support/tcpexact.ts';
import { freePort } from '../support/otelcol.ts';
import type { HoldProcess, ServerProcess } from '../support/tcpexact.ts';
import { untilValue } from '../support/wait.ts';
import { AGENT_CAPABILITIES } from './capabilities.ts';
import type { AgentCapability } from './capabilities.ts';

const SETPRIV = '/usr/bin/setpriv';
const PROBE = join(import.meta.dirname, 'caps-probe.ts');

/** Capability numbers (linux/capability.h) of the ones we grant. */
const CAP_NUMBER: Readonly<Record<AgentCapability, number>> = {
  BPF: 39,
  PERFMON: 38,
  SYS_ADMIN: 21,
  SYS_PTRACE: 19,
};

let topo: Topology;
let server: ServerProcess;
let hold: HoldProcess;
const children = new Set<ChildProcess>();

before(async () => {
  if (!existsSync(SETPRIV)) throw new Error(`${SETPRIV} is missing: run scripts/setup.d/50-deploy-tools.sh`);
  const n = randomInt(1, 250);
  topo = await createTopology({
    prefix: 'lhd',
    hosts: ['client', 'server'],
    subnet4: `10.205.${n}.0/24`,
    subnet6: `fd00:205::${n.toString(16)}00/120`,
  });
  server = await spawnServer(topo.host('server'), { host: '::' });
  // Opened before any agent starts: the agent must adopt it by entering the client's namespace.
  hold = await spawnHold(topo.host('client'), {
    host: topo.host('server').addr4,
    port: server.port,
    send: 111,
    recv: 222,
  });
});

after(async () => {
  for (const c of children) c.kill('SIGKILL');
  killAgents();
  await hold?.close().catch(() => undefined);
  await server?.stop();
  await topo?.destroy();
});

interface Probe {
  started: { event: 'started' | 'failed'; message?: string; effectiveCaps: string };
  poll(): Promise<{ sockets: SocketSample[]; closed: ClosedLinkTotals[] }>;
  stop(): Promise<void>;
}

/** setpriv arguments that leave exactly `caps` in every capability set, with no_new_privs. */
function setprivArgs(caps: readonly AgentCapability[], uid?: number): string[] {
  const list = ['-all', ...caps.map((c) => `+${c.toLowerCase()}`)].join(',');
  const user = uid === undefined ? [] : ['--reuid', String(uid), '--regid', String(uid), '--clear-groups'];
  return [
    ...user,
    '--no-new-privs',
    `--inh-caps=${list}`,
    `--ambient-caps=${list}`,
    `--bounding-set=${list}`,
  ];
}

/** The receiver in a child process holding only `caps`, covering the namespaces of `paths`. */
async function startProbe(caps: readonly AgentCapability[], paths: string[], uid?: number): Promise<Probe> {
  const inodes = [topo.host('client').inode, topo.host('server').inode];
  const child = spawn(
    SETPRIV,
    [
      ...setprivArgs(caps, uid),
      '--',
      process.execPath,
      PROBE,
      JSON.stringify({ network_namespaces: paths }),
      JSON.stringify(inodes),
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  children.add(child);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines: Interface = createInterface({ input: child.stdout! });
  const iterator = lines[Symbol.asyncIterator]();
  const next = async (): Promise<Record<string, unknown>> => {
    const r = await iterator.next();
    if (r.done === true) throw new Error(`caps probe exited (${String(child.exitCode)}): ${stderr}`);
    return JSON.parse(r.value as string) as Record<string, unknown>;
  };
  const started = (await next()) as unknown as Probe['started'];
  return {
    started,
    async poll() {
      child.stdin!.write('poll\n');
      return (await next()) as unknown as { sockets: SocketSample[]; closed: ClosedLinkTotals[] };
    },
    async stop() {
      child.stdin!.end();
      if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
      children.delete(child);
    },
  };
}

/** The namespaces as a DaemonSet pod sees the pods' ones: through their processes' /proc entries. */
function procPaths(): string[] {
  return [`/proc/${hold.opened.pid}/ns/net`, `/proc/${server.pid}/ns/net`];
}

function capMask(caps: readonly AgentCapability[]): bigint {
  return caps.reduce((m, c) => m | (1n << BigInt(CAP_NUMBER[c])), 0n);
}

void test(`with only CAP_${AGENT_CAPABILITIES.join(', CAP_')} the receiver counts exact bytes, adopted and new connections`, async () => {
  const probe = await startProbe(AGENT_CAPABILITIES, procPaths());
  try {
    assert.equal(probe.started.event, 'started', probe.started.message);
    assert.equal(
      BigInt(`0x${probe.started.effectiveCaps}`),
      capMask(AGENT_CAPABILITIES),
      'effective set is exactly the granted one',
    );
    await probe.poll();
    // Bytes on the adopted connection after the agent started count; the 16 + 111 before do not.
    const afterStart = await hold.exchange(3000, 7000);
    const report = await runClient(topo.host('client'), {
      mode: 'once',
      host: topo.host('server').addr4,
      port: server.port,
      send: 12345,
      recv: 54321,
    });
    await server.waitForConnections(1);
    const batch = await probe.poll();
    const client = topo.host('client');
    const adopted = batch.sockets.find(
      (s) => s.netns === client.inode && s.localPort === hold.opened.localPorts[0],
    );
    assert.ok(adopted !== undefined, 'the pre-existing connection was adopted in the client namespace');
    assert.deepEqual(
      [adopted.preexisting, adopted.role, adopted.txBytes, adopted.rxBytes],
      [true, 'client', 16 + 3000, afterStart.bytesReceived - hold.opened.bytesReceived],
    );
    const closed = batch.closed.filter(
      (c) => c.netns === client.inode && c.observer === 'client' && c.serverPort === server.port,
    );
    assert.deepEqual(
      closed.map((c) => [c.bytesClientToServer, c.bytesServerToClient, c.connectionsClosed]),
      [[report.bytesSent, report.bytesReceived, 1]],
    );
  } finally {
    await probe.stop();
  }
});

const EXPECTED_FAILURE: Readonly<Record<AgentCapability, RegExp>> = {
  BPF: /CAP_BPF/,
  PERFMON: /CAP_PERFMON/,
  SYS_ADMIN: /CAP_SYS_ADMIN/,
  SYS_PTRACE: /\/proc\/\d+\/ns\/net/,
};

for (const missing of AGENT_CAPABILITIES) {
  void test(`without CAP_${missing} the receiver refuses to start and says why`, async () => {
    const probe = await startProbe(
      AGENT_CAPABILITIES.filter((c) => c !== missing),
      procPaths(),
    );
    try {
      assert.equal(probe.started.event, 'failed', `started without CAP_${missing}`);
      assert.match(probe.started.message ?? '', EXPECTED_FAILURE[missing]);
    } finally {
      await probe.stop();
    }
  });
}

void test('as uid 65534 holding the same capabilities as ambient ones, the receiver counts exact bytes too', async () => {
  // Measured for runAsNonRoot: the agent itself does not need uid 0. Kubernetes cannot hand a
  // non-root container ambient capabilities, though (deploy/README.md, "Why uid 0").
  const probe = await startProbe(AGENT_CAPABILITIES, procPaths(), 65534);
  try {
    assert.equal(probe.started.event, 'started', probe.started.message);
    assert.equal(BigInt(`0x${probe.started.effectiveCaps}`), capMask(AGENT_CAPABILITIES));
    await probe.poll();
    const report = await runClient(topo.host('client'), {
      mode: 'once',
      host: topo.host('server').addr4,
      port: server.port,
      send: 2222,
      recv: 3333,
    });
    const batch = await probe.poll();
    const closed = batch.closed.filter(
      (c) => c.netns === topo.host('client').inode && c.observer === 'client' && c.serverPort === server.port,
    );
    assert.deepEqual(
      closed.map((c) => [c.bytesClientToServer, c.bytesServerToClient, c.connectionsClosed]),
      [[report.bytesSent, report.bytesReceived, 1]],
    );
  } finally {
    await probe.stop();
  }
});

/** The real agent (`loggerhead run`) under setpriv with only `caps`: ebpf_socket -> k8s_attributes -> prometheus. */
function runCappedAgent(caps: readonly AgentCapability[], port: number): Agent {
  return runAgent(
    agentPipeline(['poll_interval: 200ms', `network_namespaces: [${procPaths().join(', ')}]`], port),
    { wrapper: [SETPRIV, ...setprivArgs(caps), '--'], tmpPrefix: 'lhd-agent-' },
  );
}

void test('the real agent (loggerhead run) with only these capabilities serves exact bytes on /metrics', async () => {
  const port = await freePort();
  const agent = runCappedAgent(AGENT_CAPABILITIES, port);
  try {
    await agentReady(agent, port, 20_000, 200);
    const report = await runClient(topo.host('client'), {
      mode: 'once',
      host: topo.host('server').addr4,
      port: server.port,
      send: 7777,
      recv: 9999,
    });
    // Every client-side link to the server, summed: the held connection (adopted, named by its host
    // namespace) has sent nothing since this agent started, the new one exactly what it reports.
    const sample = (text: string, direction: string): number =>
      sampleSum(text, 'loggerhead_link_bytes_total', [
        `server_port="${server.port}"`,
        'link_observer="client"',
        `direction="${direction}"`,
      ]) ?? 0;
    let last = '';
    const [c2s, s2c] = await untilValue(
      async () => {
        const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        last = text
          .split('\n')
          .filter((l) => l.includes(`server_port="${server.port}"`))
          .join('\n');
        const a = sample(text, 'client_to_server');
        const b = sample(text, 'server_to_client');
        return a === report.bytesSent && b === report.bytesReceived ? [a, b] : undefined;
      },
      'the connection on /metrics',
      20_000,
      200,
    ).catch((e: Error) => {
      throw new Error(
        `${e.message}; sent ${report.bytesSent}, received ${report.bytesReceived}; /metrics:\n${last}`,
      );
    });
    assert.deepEqual([c2s, s2c], [report.bytesSent, report.bytesReceived]);
  } finally {
    agent.child.kill('SIGTERM');
  }
  assert.equal(await agent.exited(), 0, agent.output());
});

void test('the real agent without CAP_SYS_ADMIN exits 1 naming it', async () => {
  const agent = runCappedAgent(
    AGENT_CAPABILITIES.filter((c) => c !== 'SYS_ADMIN'),
    await freePort(),
  );
  assert.equal(await agent.exited(), 1);
  assert.match(agent.output(), /CAP_SYS_ADMIN/);
});
