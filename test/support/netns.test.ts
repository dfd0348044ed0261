/**
 * Tests of the namespace topologies, on the real kernel (root). Run:
 * `npx node --test test/support/netns.test.ts`
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { once } from 'node:events';
import { connect } from 'node:net';
import { after, describe, test } from 'node:test';
import { createTopology, netnsInode, RECORD_DIR, sweepStale } from './netns.ts';
import type { NetnsHost, Topology } from './netns.ts';

const NODE = process.execPath;
const NETNS_TS = new URL('./netns.ts', import.meta.url).pathname;

/** Starts a one-line TCP server inside `host` that answers "hello from <name>" and closes. */
async function helloServer(host: NetnsHost, bind: string): Promise<number> {
  const script =
    `const s=require('node:net').createServer(c=>c.end('hello from ${host.name}'));` +
    `s.listen(0,process.argv[1],()=>console.log(s.address().port))`;
  const child = host.spawn(NODE, ['-e', script, bind], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  return Number(line.toString().trim());
}

/** Connects from `client` (inside its namespace) and returns what the server said. */
async function fetchFrom(client: NetnsHost, addr: string, port: number): Promise<string> {
  const script =
    `const c=require('node:net').connect(Number(process.argv[2]),process.argv[1]);let b='';` +
    `c.on('data',d=>b+=d).on('end',()=>process.stdout.write(b))`;
  const { stdout } = await client.exec(NODE, ['-e', script, addr, String(port)], { timeoutMs: 10_000 });
  return stdout;
}

/** Whether a user with no special rights can execute `path` (o+x on the file and every directory above). */
function reachableByOthers(path: string): boolean {
  for (let p = path; ; p = dirname(p)) {
    if ((statSync(p).mode & 0o001) === 0) return false;
    if (p === '/') return true;
  }
}

function netnsList(): string {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
}

void describe('netns topologies (real kernel, needs root)', () => {
  void test('a pair joins two hosts by one veth, IPv4 and IPv6 usable at once', async () => {
    const topo = await createTopology({ prefix: 'lht', hosts: ['client', 'server'] });
    after(() => topo.destroy());
    assert.equal(topo.layout, 'pair');
    assert.equal(topo.root, undefined);
    const client = topo.host('client');
    const server = topo.host('server');
    assert.match(server.netns, /^lht-[0-9a-f]{6}-server$/);
    const link = await server.exec('readlink', ['/proc/self/ns/net']);
    assert.equal(link.stdout.trim(), `net:[${server.inode}]`);
    assert.notEqual(client.inode, server.inode);
    const addrs = JSON.parse(
      (await server.exec('ip', ['-j', 'addr', 'show', 'dev', 'eth0'])).stdout,
    ) as Array<{
      addr_info: Array<{ local: string; tentative?: boolean }>;
    }>;
    const locals = addrs[0]!.addr_info.map((a) => a.local);
    assert.ok(locals.includes(server.addr4) && locals.includes(server.addr6), locals.join(' '));
    const ours = addrs[0]!.addr_info.filter((a) => a.local === server.addr6);
    assert.ok(ours.length === 1 && ours[0]!.tentative !== true, 'the IPv6 address does not wait for DAD');
    const route = await client.exec('ip', ['route', 'get', server.addr4]);
    assert.match(route.stdout, /dev eth0/);
    const port = await helloServer(server, '::');
    assert.equal(await fetchFrom(client, server.addr4, port), 'hello from server');
    assert.equal(await fetchFrom(client, server.addr6, port), 'hello from server');
    const noDefault = await client.exec('ip', ['route', 'show', 'default']);
    assert.equal(noDefault.stdout.trim(), '', 'hosts have no default route');
  });

  void test('a bridge joins N hosts and the root link reaches every one', async () => {
    const topo = await createTopology({ prefix: 'lht', hosts: ['a', 'b', 'c'], rootLink: true });
    after(() => topo.destroy());
    assert.equal(topo.layout, 'bridge');
    assert.ok(topo.root !== undefined);
    assert.ok(topo.root.ifname.length <= 15);
    const ports = new Map<string, number>();
    for (const h of topo.hosts) ports.set(h.name, await helloServer(h, '::'));
    for (const h of topo.hosts) {
      const route = execFileSync('ip', ['route', 'get', h.addr6], { encoding: 'utf8' });
      assert.match(route, new RegExp(`dev ${topo.root.ifname}\\b`));
      for (const addr of [h.addr4, h.addr6]) {
        const got = await new Promise<string>((resolve, reject) => {
          let buf = '';
          connect(ports.get(h.name)!, addr)
            .on('data', (d) => (buf += String(d)))
            .on('end', () => resolve(buf))
            .on('error', reject);
        });
        assert.equal(got, `hello from ${h.name}`);
      }
    }
    assert.equal(await fetchFrom(topo.host('a'), topo.host('c').addr4, ports.get('c')!), 'hello from c');
    assert.equal(await fetchFrom(topo.host('c'), topo.host('b').addr6, ports.get('b')!), 'hello from b');
  });

  void test('destroy is idempotent, kills spawned processes and removes namespaces, root veth and record', async () => {
    const topo = await createTopology({ prefix: 'lht', hosts: ['solo'], rootLink: true });
    const child = topo.host('solo').spawn('sleep', ['300']);
    const rootIf = topo.root!.ifname;
    assert.ok(existsSync(`/sys/class/net/${rootIf}`));
    assert.ok(existsSync(`${RECORD_DIR}/${topo.id}.json`));
    await topo.destroy();
    await topo.destroy();
    assert.equal(child.signalCode, 'SIGKILL');
    assert.ok(!netnsList().includes(topo.id), netnsList());
    assert.ok(!existsSync(`/sys/class/net/${rootIf}`));
    assert.ok(!existsSync(`${RECORD_DIR}/${topo.id}.json`));
  });

  void test('a subnet routed elsewhere is refused with the reason', async () => {
    const first = await createTopology({ prefix: 'lht', hosts: ['one'], rootLink: true });
    after(() => first.destroy());
    await assert.rejects(
      createTopology({ prefix: 'lht', hosts: ['two'], rootLink: true, subnet4: first.subnet4 }),
      /subnet .* is already routed in the root namespace .*dev lht[0-9a-f]{6}r/,
    );
    assert.equal(netnsList().match(/lht-[0-9a-f]{6}-two/), null, 'the refused topology left nothing');
    await assert.rejects(
      createTopology({ prefix: 'lht', hosts: ['three'], rootLink: true, subnet4: '127.0.0.0/24' }),
      /subnet 127.0.0.0\/24 is already routed in the root namespace \(ip route get 127.0.0.2: dev lo\)/,
    );
  });

  void test('the exit hook removes topologies a process forgot to destroy', async () => {
    const script = `import { createTopology } from ${JSON.stringify(NETNS_TS)};
      const t = await createTopology({ prefix: 'lht', hosts: ['x', 'y'] });
      console.log(t.id);`;
    const out = execFileSync(NODE, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    const id = out.trim();
    assert.match(id, /^lht-[0-9a-f]{6}$/);
    assert.ok(!netnsList().includes(id), netnsList());
  });

  void test('sweepStale removes the topologies of a dead owner, and only those', async () => {
    const mine = await createTopology({ prefix: 'lht', hosts: ['keep'] });
    after(() => mine.destroy());
    const script = `import { createTopology } from ${JSON.stringify(NETNS_TS)};
      const t = await createTopology({ prefix: 'lht', hosts: ['x'], rootLink: true });
      console.log(JSON.stringify({ id: t.id, rootIf: t.root.ifname }));
      setInterval(() => {}, 1000);`;
    const child = spawn(NODE, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const [line] = (await once(child.stdout, 'data')) as [Buffer];
    const { id, rootIf } = JSON.parse(line.toString()) as { id: string; rootIf: string };
    child.kill('SIGKILL'); // no exit hook runs
    await once(child, 'close');
    assert.ok(netnsList().includes(`${id}-x`), 'left behind by the killed owner');
    const removed = await sweepStale('lht');
    assert.ok(removed.includes(`${id}-x`), removed.join(' '));
    assert.ok(!netnsList().includes(id));
    assert.ok(!existsSync(`/sys/class/net/${rootIf}`));
    assert.ok(netnsList().includes(mine.host('keep').netns), 'a live owner keeps its topology');
  });

  void test('a record-less namespace of the prefix is swept; other prefixes are not', async () => {
    execFileSync('ip', ['netns', 'add', 'lht-abcdef-orphan']);
    execFileSync('ip', ['netns', 'add', 'lhtz-abcdef-other']);
    after(() => execFileSync('ip', ['netns', 'del', 'lhtz-abcdef-other']));
    const removed = await sweepStale('lht');
    assert.ok(removed.includes('lht-abcdef-orphan'));
    assert.ok(netnsList().includes('lhtz-abcdef-other'));
  });

  void test('shape installs a tbf qdisc on the host interface and unshape removes it', async () => {
    const topo: Topology = await createTopology({ prefix: 'lht', hosts: ['a', 'b'] });
    after(() => topo.destroy());
    const a = topo.host('a');
    await a.shape({ rateKbit: 8000, burstBytes: 4000, limitBytes: 6000 });
    const shown = (await a.exec('tc', ['qdisc', 'show', 'dev', 'eth0'])).stdout;
    assert.match(shown, /tbf .*rate 8Mbit burst 4000b/);
    await a.unshape();
    assert.doesNotMatch((await a.exec('tc', ['qdisc', 'show', 'dev', 'eth0'])).stdout, /tbf/);
    await assert.rejects(a.shape({ rateKbit: 0 }), /rateKbit must be a positive integer, got 0/);
    await assert.rejects(
      a.shape({ direction: 'ingress', rateKbit: 1000 }),
      /shaping a on ingress needs the bridge layout/,
    );
  });

  void test('ingress shaping puts the tbf on the bridge port toward the host', async () => {
    const topo = await createTopology({ prefix: 'lht', hosts: ['a', 'b'], bridge: true });
    after(() => topo.destroy());
    await topo.host('b').shape({ direction: 'ingress', rateKbit: 1000 });
    const sw = `${topo.id}-sw`;
    const port1 = execFileSync('tc', ['-n', sw, 'qdisc', 'show', 'dev', 'p1'], { encoding: 'utf8' });
    assert.match(port1, /tbf .*rate 1Mbit burst 16Kb/);
    const port0 = execFileSync('tc', ['-n', sw, 'qdisc', 'show', 'dev', 'p0'], { encoding: 'utf8' });
    assert.doesNotMatch(port0, /tbf/);
    assert.doesNotMatch((await topo.host('b').exec('tc', ['qdisc', 'show', 'dev', 'eth0'])).stdout, /tbf/);
    await topo.host('b').unshape('ingress');
    assert.doesNotMatch(
      execFileSync('tc', ['-n', sw, 'qdisc', 'show', 'dev', 'p1'], { encoding: 'utf8' }),
      /tbf/,
    );
  });

  void test('bad options fail with the field and value', async () => {
    await assert.rejects(createTopology({ prefix: 'LH', hosts: ['a'] }), /prefix "LH" must match/);
    await assert.rejects(createTopology({ prefix: 'lht', hosts: ['a', 'a'] }), /host name "a" appears twice/);
    await assert.rejects(
      createTopology({ prefix: 'lht', hosts: ['a', 'b', 'c'], bridge: false }),
      /bridge: false joins exactly 2 hosts/,
    );
    await assert.rejects(
      createTopology({ prefix: 'lht', hosts: ['a'], subnet4: '10.201.0.1/24' }),
      /subnet4 "10.201.0.1\/24" has host bits set/,
    );
    await assert.rejects(
      createTopology({ prefix: 'lht', hosts: ['a', 'b'], subnet6: 'fd00:201::/126' }),
      /prefix length in 64..124/,
    );
  });

  void test('the inode helper matches the namespace of a process inside it', async () => {
    const topo = await createTopology({ prefix: 'lht', hosts: ['a'] });
    after(() => topo.destroy());
    const child = topo.host('a').spawn('sleep', ['30']);
    await once(child, 'spawn');
    // `ip netns exec` enters the namespace, then execs the command in place: same pid, now `sleep`.
    while (readFileSync(`/proc/${child.pid}/comm`, 'utf8').trim() !== 'sleep') {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const link = execFileSync('readlink', [`/proc/${child.pid}/ns/net`], { encoding: 'utf8' }).trim();
    assert.equal(link, `net:[${netnsInode(topo.host('a').netns)}]`);
  });

  void test('a non-root process is told why it cannot create namespaces', () => {
    // uid 65534 may not reach this checkout (e.g. under /root): give it its own copies in a temp dir.
    // netns.ts imports node built-ins only, so it runs alone.
    const dir = mkdtempSync('/tmp/lht-nonroot-');
    after(() => rmSync(dir, { recursive: true, force: true }));
    chmodSync(dir, 0o755);
    copyFileSync(NETNS_TS, `${dir}/netns.ts`);
    writeFileSync(
      `${dir}/main.mjs`,
      `import { createTopology } from './netns.ts';
      await createTopology({ prefix: 'lht', hosts: ['a'] }).catch((e) => { console.log(e.message); });`,
    );
    let node = NODE;
    if (!reachableByOthers(NODE)) {
      node = `${dir}/node`;
      copyFileSync(NODE, node);
      chmodSync(node, 0o755);
    }
    const out = execFileSync(node, [`${dir}/main.mjs`], { encoding: 'utf8', uid: 65534, gid: 65534 });
    assert.match(out, /needs root, but this process runs as uid 65534/);
  });
});
