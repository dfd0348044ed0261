/**
 * The real agent (`loggerhead run`) in a pod's place: no kubeconfig, the
 * in-cluster config. The agent runs in a private mount namespace (unshare)
 * whose /run is a fresh tmpfs, as a container's, holding only the service
 * account directory the kubelet would mount:
 * /var/run/secrets/kubernetes.io/serviceaccount is a read-only bind mount of a
 * test directory with `token`, `ca.crt` and `namespace` (the host's path is
 * never touched). `KUBERNETES_SERVICE_HOST=127.0.0.1` and
 * `KUBERNETES_SERVICE_PORT` name the API emulator, served over HTTPS with a
 * certificate for the IP 127.0.0.1 signed by the test's CA (a real API server
 * certificate names the Service IP in-cluster clients dial the same way), and
 * expecting the token as a bearer token.
 *
 * - Modes `kubernetes` and `auto`: the agent says it runs in Kubernetes mode
 *   (log and `loggerhead_processor_mode`), every informer watches, the
 *   emulator saw the token on every request, and a connection between two
 *   network namespaces playing pods comes out on /metrics named by the
 *   emulator's Deployments with exact bytes.
 * - `loadKubeConfig` in the same mounts takes the server from the environment
 *   it is given (not process.env), the CA and the token from the files.
 * - Failures, each naming its cause: a token the API refuses (401: the agent
 *   keeps running, logs it, counts it, informers in backoff), no token file
 *   (exit 1 naming the file, in both modes), a CA that did not sign the
 *   server's certificate (the TLS verification error is logged, no request
 *   reaches the API).
 *
 * Needs root, unshare and mount (util-linux, scripts/setup.d/46-mount-tools.sh),
 * openssl; fails with the reason otherwise. Addresses: 10.214.0.0/16; namespaces `lhk-*`.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { copyFileSync, lstatSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WATCHED_RESOURCES } from '../../processors/k8s_attributes/kubernetes.ts';
import {
  agentPipeline,
  agentReady,
  killAgents,
  privateMounts,
  runAgent,
  sampleSum,
} from '../support/agent.ts';
import type { Agent } from '../support/agent.ts';
import { KubeApiEmulator } from '../support/k8s-emulator.ts';
import { ClusterBuilder } from '../support/k8s-fixtures.ts';
import type { Topology } from '../support/netns.ts';
import { freePort } from '../support/otelcol.ts';
import { randomTopology } from '../support/pipeline.ts';
import { runClient, spawnServer } from '../support/tcpexact.ts';
import type { ServerProcess } from '../support/tcpexact.ts';
import { makeTestPki } from '../support/tls.ts';
import type { TestPki } from '../support/tls.ts';
import { until, untilValue } from '../support/wait.ts';

const SERVICE_ACCOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * Run in the private mount namespace before the agent: $1 the directory to mount as the service
 * account, $2 the API port; then the agent's command.
 */
const POD_MOUNTS = [
  'set -e',
  'mount -t tmpfs -o mode=0755 lhk-pod-run /run',
  `mkdir -p ${SERVICE_ACCOUNT}`,
  `mount --bind -o ro "$1" ${SERVICE_ACCOUNT}`,
  'export KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT="$2"',
  'shift 2',
  'exec "$@"',
].join('\n');

function requireTools(): void {
  for (const tool of ['unshare', 'mount']) {
    try {
      execFileSync(tool, ['--version'], { stdio: 'pipe' });
    } catch (e) {
      throw new Error(`${tool} is needed to mount the service account privately (util-linux, mount)`, {
        cause: e,
      });
    }
  }
  if (process.getuid?.() !== 0) throw new Error('needs root: mount namespaces and eBPF');
}

/** The service account path as the host sees it: it must be the same before and after the tests. */
function hostServiceAccount(): string {
  try {
    const st = lstatSync(SERVICE_ACCOUNT);
    return `dev ${st.dev} inode ${st.ino}`;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? 'unreadable';
  }
}

/**
 * The command prefix that runs the rest of a command line as in a pod: in a private mount namespace where
 * POD_MOUNTS puts service-account directory `dir` in place, with `KUBERNETES_SERVICE_PORT` `port`.
 */
function inPodMounts(dir: string, port: number): string[] {
  return privateMounts(POD_MOUNTS, dir, String(port));
}

/**
 * The agent's pipeline: `ebpf_socket` on the namespaces of `inodes` (other jobs on this machine fill a
 * table of every namespace), `k8s_attributes` in `mode` without a kubeconfig, `prometheus` on `port`.
 */
function agentConfig(mode: 'auto' | 'kubernetes', port: number, inodes: readonly number[]): string {
  const namespaces = `network_namespaces: [${inodes.map((i) => `"${i}"`).join(', ')}]`;
  return agentPipeline(['poll_interval: 200ms', namespaces], port, mode);
}

describe('loggerhead run in a pod: the in-cluster config', { concurrency: false, timeout: 240_000 }, () => {
  const token = randomBytes(24).toString('base64url');
  let pki: TestPki;
  let emulator: KubeApiEmulator;
  let topo: Topology;
  let server: ServerProcess;
  let hostBefore: string;
  const dirs: string[] = [];

  /** A service account directory as the kubelet makes it: `token`, `ca.crt` (of `caFile`) and `namespace`. */
  const serviceAccount = (files: { token?: string; caFile?: string } = {}): string => {
    const dir = mkdtempSync(join(tmpdir(), 'lhk-sa-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'token'), files.token ?? token);
    copyFileSync(files.caFile ?? pki.caCert, join(dir, 'ca.crt'));
    writeFileSync(join(dir, 'namespace'), 'loggerhead');
    return dir;
  };

  const startAgent = (mode: 'auto' | 'kubernetes', dir: string, port: number): Agent =>
    runAgent(agentConfig(mode, port, [topo.host('checkout').inode, topo.host('catalog').inode]), {
      tmpPrefix: 'lhk-agent-',
      args: ['--log-format', 'text'],
      wrapper: inPodMounts(dir, emulator.port),
    });

  const metrics = async (port: number): Promise<string> =>
    (await fetch(`http://127.0.0.1:${port}/metrics`)).text();

  /** Stops a running agent and expects a clean exit. */
  const stop = async (agent: Agent): Promise<void> => {
    assert.equal(agent.child.exitCode, null, `the agent is still running:\n${agent.output()}`);
    agent.child.kill('SIGTERM');
    assert.equal(await agent.exited(), 0, agent.output());
  };

  before(async () => {
    requireTools();
    hostBefore = hostServiceAccount();
    pki = makeTestPki();
    emulator = await KubeApiEmulator.start({
      token,
      tls: { certFile: pki.serverCert, keyFile: pki.serverKey },
    });
    topo = await randomTopology('lhk', ['checkout', 'catalog'], 214);
    server = await spawnServer(topo.host('catalog'), { host: '::' });
    // The agent finds namespaces through /proc/PID/ns/net, as with hostPID in a pod (its /run is its
    // own): a process stays in checkout's.
    const holder = topo.host('checkout').spawn('sleep', ['infinity']);
    await until(() => {
      try {
        return statSync(`/proc/${holder.pid}/ns/net`).ino === topo.host('checkout').inode;
      } catch {
        return false;
      }
    }, 'a process in the checkout namespace');
    const b = new ClusterBuilder();
    b.node('node-a', { internalIP: `${topo.host('catalog').addr4.replace(/\d+$/, '')}200` });
    b.deployment('shop', 'checkout', [topo.host('checkout').addr4]);
    b.deployment('shop', 'catalog', [topo.host('catalog').addr4]);
    b.loadInto(emulator);
  });

  after(async () => {
    killAgents();
    await server?.stop();
    await topo?.destroy();
    await emulator?.stop();
    pki?.remove();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    assert.equal(hostServiceAccount(), hostBefore, `the host's ${SERVICE_ACCOUNT} is as it was`);
  });

  for (const mode of ['kubernetes', 'auto'] as const) {
    it(`mode ${mode}: reaches the API with the service account and names a pod-to-pod connection by its Deployments, exactly`, async () => {
      const port = await freePort();
      const firstRequest = emulator.requests.length;
      const agent = startAgent(mode, serviceAccount(), port);
      await agentReady(agent, port);
      const apiUrl = emulator.url;
      const reason =
        mode === 'auto' ? `mode auto: Kubernetes API found \\(in-cluster, ${apiUrl}\\)` : 'configured';
      assert.match(agent.output(), new RegExp(`resolution mode .*mode=kubernetes reason="?${reason}`));
      await untilValue(
        async () => {
          const text = await metrics(port);
          return WATCHED_RESOURCES.every(
            (r) =>
              sampleSum(text, 'loggerhead_k8s_watch_state', [`resource="${r}"`, 'state="watching"']) === 1,
          )
            ? text
            : undefined;
        },
        'every informer watching on /metrics',
        20_000,
        100,
      ).catch((e: Error) => {
        throw new Error(`${e.message}; agent output:\n${agent.output()}`, { cause: e });
      });
      await until(() => agent.output().includes('kubernetes metadata synced'), 'the synced log line');
      const text = await metrics(port);
      assert.equal(sampleSum(text, 'loggerhead_processor_mode', ['mode="kubernetes"']), 1);
      assert.equal(sampleSum(text, 'loggerhead_k8s_watch_errors_total', []) ?? 0, 0, agent.output());
      assert.match(
        agent.output(),
        new RegExp(`starting kubernetes informers .*server=${apiUrl} resources=10`),
      );

      const seen = emulator.requests.slice(firstRequest);
      for (const r of WATCHED_RESOURCES) {
        assert.ok(
          seen.some((q) => q.resource === r && q.verb === 'list' && q.status === 200),
          `${r} listed`,
        );
        assert.ok(
          seen.some((q) => q.resource === r && q.verb === 'watch'),
          `${r} watched`,
        );
      }
      assert.deepEqual(
        seen.filter((q) => q.token !== token || q.status !== 200).map((q) => [q.path, q.status, q.token]),
        [],
        'every request carried the service account token and was answered 200',
      );

      const connections = 8;
      const catalog = topo.host('catalog');
      const report = await runClient(topo.host('checkout'), {
        mode: 'many',
        host: catalog.addr4,
        port: server.port,
        connections,
        maxSend: 20_000,
        maxRecv: 80_000,
        seed: randomInt(1, 1_000_000),
        concurrency: 2,
      });
      await server.waitForConnections(connections);
      const named = [
        'client_workload_name="checkout"',
        'client_workload_kind="Deployment"',
        'client_k8s_namespace_name="shop"',
        'server_workload_name="catalog"',
        'server_workload_kind="Deployment"',
        'server_k8s_namespace_name="shop"',
        `server_port="${server.port}"`,
      ];
      const bytes = (text: string, observer: string): [number, number] => [
        sampleSum(text, 'loggerhead_link_bytes_total', [
          ...named,
          `link_observer="${observer}"`,
          'direction="client_to_server"',
        ]) ?? 0,
        sampleSum(text, 'loggerhead_link_bytes_total', [
          ...named,
          `link_observer="${observer}"`,
          'direction="server_to_client"',
        ]) ?? 0,
      ];
      const want = [report.bytesSent, report.bytesReceived];
      let last = '';
      await untilValue(
        async () => {
          last = await metrics(port);
          return ['client', 'server'].every((o) => bytes(last, o).join() === want.join()) ? true : undefined;
        },
        `${want.join('/')} bytes from checkout to catalog on both observers`,
        20_000,
        200,
      ).catch((e: Error) => {
        const lines = last.split('\n').filter((l) => l.startsWith('loggerhead_link_bytes_total'));
        throw new Error(`${e.message}; link series:\n${lines.join('\n')}\nagent output:\n${agent.output()}`, {
          cause: e,
        });
      });
      await stop(agent);
    });
  }

  it('loadKubeConfig takes the server from the environment it is given, the token and CA from the mounted files', async () => {
    // In the same pod mounts, with KUBERNETES_SERVICE_* removed from the process environment: only the
    // injected one names a server (client-node's own loadFromCluster would read process.env).
    const script = [
      `import { loadKubeConfig } from ${JSON.stringify(new URL('../../processors/k8s_attributes/kubernetes.ts', import.meta.url).pathname)};`,
      "import { HttpMethod, RequestContext } from '@kubernetes/client-node';",
      "const kc = loadKubeConfig(undefined, { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '6443' });",
      "const ctx = new RequestContext('https://[fd00::1]:6443/api', HttpMethod.GET);",
      'await kc.applySecurityAuthentication(ctx);',
      'const { server, caFile, skipTLSVerify } = kc.getCurrentCluster();',
      'console.log(JSON.stringify({ server, caFile, skipTLSVerify, authorization: ctx.getHeaders().Authorization }));',
    ].join('\n');
    const [command, ...mounts] = inPodMounts(serviceAccount(), emulator.port);
    const out = execFileSync(
      command!,
      [
        ...mounts,
        'env',
        '-u',
        'KUBERNETES_SERVICE_HOST',
        '-u',
        'KUBERNETES_SERVICE_PORT',
        process.execPath,
        '--input-type=module',
        '-e',
        script,
      ],
      {
        cwd: new URL('../..', import.meta.url).pathname,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    assert.deepEqual(JSON.parse(out), {
      server: 'https://[fd00::1]:6443',
      caFile: `${SERVICE_ACCOUNT}/ca.crt`,
      skipTLSVerify: false,
      authorization: `Bearer ${token}`,
    });
  });

  it('a token the API refuses (401): the agent keeps running, logs and counts it, informers in backoff', async () => {
    const port = await freePort();
    const firstRequest = emulator.requests.length;
    const agent = startAgent('kubernetes', serviceAccount({ token: 'revoked-token' }), port);
    await agentReady(agent, port);
    await until(
      () =>
        /kubernetes informer failed; retrying with backoff .*error="?HTTP 401: Unauthorized/.test(
          agent.output(),
        ),
      'the 401 logged',
      20_000,
    ).catch((e: Error) => {
      throw new Error(`${e.message}; agent output:\n${agent.output()}`, { cause: e });
    });
    await untilValue(
      async () => {
        const text = await metrics(port);
        return WATCHED_RESOURCES.every(
          (r) => sampleSum(text, 'loggerhead_k8s_watch_state', [`resource="${r}"`, 'state="backoff"']) === 1,
        )
          ? true
          : undefined;
      },
      'every informer in backoff on /metrics',
      20_000,
      100,
    );
    const text = await metrics(port);
    assert.ok((sampleSum(text, 'loggerhead_k8s_watch_errors_total', []) ?? 0) >= WATCHED_RESOURCES.length);
    const seen = emulator.requests.slice(firstRequest);
    assert.ok(seen.length >= WATCHED_RESOURCES.length);
    assert.deepEqual(
      seen
        .filter((q) => q.token !== 'revoked-token' || q.status !== 401)
        .map((q) => [q.path, q.status, q.token]),
      [],
      'the file token on every request, each refused',
    );
    assert.doesNotMatch(agent.output(), /kubernetes metadata synced/);
    await stop(agent);
  });

  const missingFiles = [
    { mode: 'kubernetes', file: 'token', what: 'service account token' },
    { mode: 'auto', file: 'token', what: 'service account token' },
    { mode: 'kubernetes', file: 'ca.crt', what: 'cluster CA certificate' },
  ] as const;
  for (const { mode, file, what } of missingFiles) {
    it(`mode ${mode}: no ${file} file is exit 1 naming the file, before any request`, async () => {
      const firstRequest = emulator.requests.length;
      const dir = serviceAccount();
      rmSync(join(dir, file));
      const agent = startAgent(mode, dir, await freePort());
      const code = await agent.exited();
      const output = agent.output();
      assert.equal(code, 1, output);
      assert.match(
        output,
        new RegExp(
          `ERROR loggerhead failed to start error=".*cannot load the in-cluster config \\(KUBERNETES_SERVICE_HOST is set, server ${emulator.url}\\): ` +
            `the ${what} ${SERVICE_ACCOUNT}/${file.replace('.', '\\.')} is not readable \\(ENOENT\\): ` +
            'mount the service account \\(automountServiceAccountToken: true\\), or give a kubeconfig"',
        ),
      );
      assert.doesNotMatch(output, /\n\s+at /, 'no stack trace');
      assert.equal(emulator.requests.length, firstRequest, 'no request reached the API');
    });
  }

  it('a CA that did not sign the server certificate: the TLS verification error is logged, no request gets through', async () => {
    const port = await freePort();
    const firstRequest = emulator.requests.length;
    const firstTlsError = emulator.tlsErrors.length;
    const agent = startAgent('kubernetes', serviceAccount({ caFile: pki.otherCaCert }), port);
    await agentReady(agent, port);
    await until(
      () =>
        /kubernetes informer failed; retrying with backoff .*error="?fetch failed \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\)/.test(
          agent.output(),
        ),
      'the TLS error logged',
      20_000,
    ).catch((e: Error) => {
      throw new Error(`${e.message}; agent output:\n${agent.output()}`, { cause: e });
    });
    const text = await metrics(port);
    assert.ok((sampleSum(text, 'loggerhead_k8s_watch_errors_total', []) ?? 0) >= 1);
    assert.equal(emulator.requests.length, firstRequest, 'no request reached the API');
    assert.ok(emulator.tlsErrors.length > firstTlsError, 'the emulator saw the handshakes fail');
    await stop(agent);
  });
});
