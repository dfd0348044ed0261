/**
 * The `ebpf_socket` receiver inside the real agent (`loggerhead run`, the
 * process a user starts), on the real kernel:
 * - a missing requirement stops it at start-up with exit 1 and a message that
 *   names what is missing and how to fix it: not root (no capabilities), root
 *   without CAP_BPF and CAP_PERFMON, no kernel BTF (a mount namespace hides
 *   /sys/kernel/btf), a kernel too old (setarch --uname-2.6 makes uname report
 *   2.6.x);
 * - a full socket table is counted on the Prometheus endpoint, logged once,
 *   and the agent keeps counting exact bytes.
 *
 * Needs root, setpriv and setarch (util-linux), unshare; fails with the reason
 * otherwise.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import koffi from 'koffi';
import {
  agentPipeline,
  agentReady,
  killAgents,
  privateMounts,
  runAgent,
  sampleSum,
} from '../support/agent.ts';
import type { AgentOptions } from '../support/agent.ts';
import { createTopology } from '../support/netns.ts';
import type { Topology } from '../support/netns.ts';
import { freePort } from '../support/otelcol.ts';
import { runClient, spawnHold, spawnServer } from '../support/tcpexact.ts';
import type { HoldProcess, ServerProcess } from '../support/tcpexact.ts';
import { untilValue } from '../support/wait.ts';

const AGENT: AgentOptions = { tmpPrefix: 'lhC-agent-', args: ['--log-format', 'text'] };

after(killAgents);

/** Runs the agent behind `wrapper` and expects it to refuse to start: exit 1, `expected` in its output. */
async function refusesToStart(wrapper: string[], expected: RegExp[]): Promise<string> {
  if (!existsSync(wrapper[0]!)) throw new Error(`${wrapper[0]} is missing (Debian util-linux)`);
  const agent = runAgent(agentPipeline(['poll_interval: 1s'], await freePort()), { ...AGENT, wrapper });
  const code = await agent.exited();
  const output = agent.output();
  assert.equal(code, 1, output);
  for (const re of expected) assert.match(output, re);
  assert.match(output, /ERROR loggerhead failed to start error=.*ebpf_socket cannot start: /);
  assert.doesNotMatch(output, /\n\s+at /, 'no stack trace');
  assert.doesNotMatch(output, /ebpf_socket started/, 'nothing was loaded');
  return output;
}

describe('loggerhead run: a missing requirement is exit 1 with a message that says how to fix it', () => {
  it('not root: no capabilities at all', async () => {
    // CAP_SYS_ADMIN is named too when the user can see other network namespaces (processes of its own).
    await refusesToStart(
      ['/usr/bin/setpriv', '--reuid', '65534', '--regid', '65534', '--clear-groups', '--no-new-privs'],
      [
        /missing capabilities CAP_BPF, CAP_PERFMON(, CAP_SYS_ADMIN)? \(effective set 0x0\): run as root, or grant CAP_BPF and CAP_PERFMON/,
      ],
    );
  });

  it('root without CAP_BPF and CAP_PERFMON', async () => {
    const drop = '-bpf,-perfmon';
    const output = await refusesToStart(
      ['/usr/bin/setpriv', `--inh-caps=${drop}`, `--bounding-set=${drop}`, '--no-new-privs'],
      [/missing capabilities CAP_BPF, CAP_PERFMON \(effective set 0x[0-9a-f]+\): run as root, or grant/],
    );
    assert.doesNotMatch(output, /CAP_SYS_ADMIN,|CAP_PERFMON, CAP_SYS_ADMIN/, 'CAP_SYS_ADMIN is held');
  });

  it('no kernel BTF', async () => {
    // A private mount namespace with an empty /sys/kernel/btf: the agent sees no vmlinux.
    await refusesToStart(privateMounts('mount -t tmpfs lhC-nobtf /sys/kernel/btf && exec "$@"'), [
      /no kernel BTF: \/sys\/kernel\/btf\/vmlinux does not exist; boot a kernel built with CONFIG_DEBUG_INFO_BTF=y/,
    ]);
  });

  it('a kernel that is too old', async () => {
    // UNAME26 personality: uname reports this kernel as 2.6.x.
    await refusesToStart(
      ['/usr/bin/setarch', '--uname-2.6'],
      [/kernel 2\.6\.\d+\S* is too old: ebpf_socket needs Linux 5\.12 or newer .*; upgrade the node kernel/],
    );
  });
});

describe('loggerhead run with a full socket table', { concurrency: false }, () => {
  let topo: Topology;
  let server: ServerProcess;
  const holds: HoldProcess[] = [];

  before(async () => {
    const n = randomInt(1, 250);
    topo = await createTopology({
      prefix: 'lhc',
      hosts: ['client', 'server'],
      subnet4: `10.206.${n}.0/24`,
      subnet6: `fd00:206::${n.toString(16)}00/120`,
    });
    server = await spawnServer(topo.host('server'), { host: '::' });
  });
  after(async () => {
    for (const h of holds) await h.close().catch(() => undefined);
    await server?.stop();
    await topo?.destroy();
  });

  it('counts the drops on /metrics, logs them once, and keeps counting exact bytes', async () => {
    const client = topo.host('client');
    const srv = topo.host('server');
    const port = await freePort();
    const agent = runAgent(
      agentPipeline(
        [
          'poll_interval: 200ms',
          'max_sockets: 16',
          `network_namespaces: [/run/netns/${client.netns}, /run/netns/${srv.netns}]`,
        ],
        port,
      ),
      AGENT,
    );
    const metrics = async (): Promise<string> => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    try {
      await agentReady(agent, port);
      // 12 held connections are 24 sockets (both ends are in covered namespaces) for 16 entries.
      for (let i = 0; i < 12; i++) {
        holds.push(await spawnHold(client, { host: srv.addr4, port: server.port, send: 10, recv: 10 }));
      }
      const drops = await untilValue(
        async () => {
          const n = sampleSum(await metrics(), 'loggerhead_receiver_map_full_drops_total', ['map="sockets"']);
          return n !== undefined && n >= 24 - 16 ? n : undefined;
        },
        'drops on /metrics',
        20_000,
        100,
      );
      const tracked = sampleSum(await metrics(), 'loggerhead_receiver_sockets_tracked', []);
      assert.equal(tracked, 16, 'the table is full');
      const fill = sampleSum(await metrics(), 'loggerhead_receiver_map_fill', ['map="sockets"']);
      assert.equal(fill, 1);

      for (const h of holds.splice(0)) await h.close();
      await untilValue(
        async () =>
          sampleSum(await metrics(), 'loggerhead_receiver_sockets_tracked', []) === 0 ? true : undefined,
        'the table emptied',
        20_000,
        100,
      );
      // Still running and counting: a new connection's bytes are exact on /metrics.
      const bytes = (text: string, direction: string): number =>
        sampleSum(text, 'loggerhead_link_bytes_total', [
          `server_port="${server.port}"`,
          'link_observer="client"',
          `direction="${direction}"`,
        ]) ?? 0;
      const before = await metrics();
      const report = await runClient(client, {
        mode: 'once',
        host: srv.addr4,
        port: server.port,
        send: 31_337,
        recv: 73_313,
      });
      const c2s0 = bytes(before, 'client_to_server');
      const s2c0 = bytes(before, 'server_to_client');
      await untilValue(
        async () => {
          const text = await metrics();
          return bytes(text, 'client_to_server') - c2s0 === report.bytesSent &&
            bytes(text, 'server_to_client') - s2c0 === report.bytesReceived
            ? true
            : undefined;
        },
        'the new connection on /metrics',
        20_000,
        100,
      ).catch((e: Error) => {
        throw new Error(`${e.message}: sent ${report.bytesSent}, received ${report.bytesReceived}`);
      });
      const last = await metrics();
      assert.equal(
        sampleSum(last, 'loggerhead_receiver_map_full_drops_total', ['map="sockets"']),
        drops,
        'no drop since the table emptied',
      );
      const warnings = agent.output().match(/WARN +kernel table full/g) ?? [];
      assert.equal(warnings.length, 1, `logged exactly once:\n${agent.output()}`);
      assert.equal(agent.child.exitCode, null, 'still running');
    } finally {
      agent.child.kill('SIGTERM');
    }
    assert.equal(await agent.exited(), 0, agent.output());
  });
});

const libc = koffi.load('libc.so.6');
const sys = {
  socket: libc.func('int socket(int domain, int type, int protocol)'),
  connect: libc.func('int connect(int fd, const void *addr, uint32_t len)'),
  send: libc.func('intptr_t send(int fd, const void *buf, size_t len, int flags)'),
  recv: libc.func('intptr_t recv(int fd, _Out_ void *buf, size_t len, int flags)'),
  close: libc.func('int close(int fd)'),
};

/** One request of `n` bytes on a raw descriptor and its `m`-byte answer, without blocking the event loop. */
async function exchange(fd: number, n: number, m: number): Promise<void> {
  assert.equal(Number(sys.send(fd, Buffer.alloc(n, 0x71), n, 0)), n);
  const buf = Buffer.alloc(m);
  let got = 0;
  const deadline = Date.now() + 5000;
  while (got < m) {
    const r = Number(sys.recv(fd, buf, m - got, 0x40 /* MSG_DONTWAIT */));
    if (r > 0) got += r;
    else if (Date.now() > deadline) throw new Error(`recv: ${got} of ${m} bytes after 5 s`);
    else await new Promise((done) => setTimeout(done, 5));
  }
}

describe('loggerhead run with a socket reconnected on the same descriptor', () => {
  it('exports each connection of the socket once (connect AF_UNSPEC, then connect again)', async () => {
    const server = createServer((socket) => {
      let got = 0;
      socket.on('data', (d) => {
        got += d.length;
        if (got === 3000) socket.write(Buffer.alloc(5000, 0x73));
      });
      socket.on('error', () => undefined);
    });
    server.listen({ host: '127.0.0.1', port: 0 });
    await once(server, 'listening');
    after(() => server.close());
    const serverPort = (server.address() as { port: number }).port;
    const port = await freePort();
    const agent = runAgent(
      agentPipeline(['poll_interval: 200ms', `network_namespaces: [/proc/${process.pid}/ns/net]`], port),
      AGENT,
    );
    const addr = Buffer.alloc(16);
    addr.writeUInt16LE(2, 0);
    addr.writeUInt16BE(serverPort, 2);
    addr.set([127, 0, 0, 1], 4);
    const fd = sys.socket(2, 1, 0) as number;
    assert.ok(fd >= 0, 'socket()');
    let open = true;
    try {
      await agentReady(agent, port);
      const bytes = async (): Promise<[number, number]> => {
        const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        const labels = [`server_port="${serverPort}"`, 'link_observer="client"'];
        return [
          sampleSum(text, 'loggerhead_link_bytes_total', [...labels, 'direction="client_to_server"']) ?? 0,
          sampleSum(text, 'loggerhead_link_bytes_total', [...labels, 'direction="server_to_client"']) ?? 0,
        ];
      };
      const reach = (want: [number, number]) =>
        untilValue(
          async () => {
            const got = await bytes();
            return got[0] === want[0] && got[1] === want[1] ? true : undefined;
          },
          `${want.join('/')} bytes on /metrics`,
          20_000,
          100,
        ).catch(async (e: Error) => {
          throw new Error(`${e.message}: last ${(await bytes()).join('/')}`);
        });
      assert.equal(sys.connect(fd, addr, addr.length), 0, 'connect()');
      await exchange(fd, 3000, 5000);
      await reach([3000, 5000]);
      assert.equal(sys.connect(fd, Buffer.alloc(16), 16), 0, 'connect(AF_UNSPEC)');
      assert.equal(sys.connect(fd, addr, addr.length), 0, 'connect() again');
      await exchange(fd, 3000, 5000);
      await reach([6000, 10000]);
      sys.close(fd);
      open = false;
      // Several polls later, the closes folded: still each byte once.
      await new Promise((done) => setTimeout(done, 1000));
      assert.deepEqual(await bytes(), [6000, 10000]);
    } finally {
      if (open) sys.close(fd);
      agent.child.kill('SIGTERM');
    }
    assert.equal(await agent.exited(), 0, agent.output());
  });
});
