import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDocument } from 'yaml';
import { validateConfig } from '../../core/config/validate.ts';
import type { SocketBatch } from '../../core/signals.ts';
import { testHost, testSettings } from '../../test/support/settings.ts';
import { Sink } from '../../test/support/sink.ts';
import { ebpfSocketReceiverFactory } from './factory.ts';
import type { EbpfSocketConfig } from './factory.ts';
import { RequirementError } from './preflight.ts';
import { EbpfSocketReceiver } from './receiver.ts';

const DEFAULTS: EbpfSocketConfig = {
  poll_interval: 5000,
  max_sockets: 65536,
  max_links: 16384,
  network_namespaces: ['all'],
  include_loopback: true,
};

describe('ebpf_socket factory', () => {
  it('has the documented defaults', () => {
    const { value, issues } = validateConfig(undefined, ebpfSocketReceiverFactory.configSchema);
    assert.deepEqual(issues, []);
    assert.deepEqual(value, DEFAULTS);
    assert.equal(ebpfSocketReceiverFactory.type, 'ebpf_socket');
    assert.equal(ebpfSocketReceiverFactory.output, 'sockets');
  });

  it('rejects bad values with their path', () => {
    const doc = parseDocument(
      'poll_interval: 10ms\nmax_sockets: 3\nnetwork_namespaces: [all, relative/path]\n',
    );
    const { issues } = validateConfig(doc.contents, ebpfSocketReceiverFactory.configSchema);
    const paths = issues.map((i) => i.path).sort();
    assert.deepEqual(paths, ['max_sockets', 'network_namespaces::1', 'poll_interval']);
  });
});

describe('ebpf_socket lifecycle', () => {
  it('shuts down without a start, twice', async () => {
    const r = ebpfSocketReceiverFactory.create(
      testSettings('ebpf_socket'),
      DEFAULTS,
      new Sink<SocketBatch>(),
    );
    await r.shutdown();
    await r.shutdown();
  });

  it('rejects start with the missing requirements named, and loads nothing', async () => {
    const r = new EbpfSocketReceiver(testSettings('ebpf_socket'), DEFAULTS, new Sink<SocketBatch>(), {
      systemFacts: () => ({ release: '5.4.0', effectiveCaps: 0n, btf: null }),
    });
    await assert.rejects(
      r.start(testHost()),
      (e: unknown) =>
        e instanceof RequirementError &&
        /kernel 5\.4\.0 is too old/.test(e.message) &&
        /missing capabilities CAP_BPF, CAP_PERFMON/.test(e.message) &&
        /no kernel BTF/.test(e.message),
    );
    await assert.rejects(r.poll(), /poll before start/);
    await r.shutdown();
  });

  it('rejects `all` combined with other namespaces', async () => {
    const r = ebpfSocketReceiverFactory.create(
      testSettings('ebpf_socket'),
      { ...DEFAULTS, network_namespaces: ['all', '/proc/self/ns/net'] },
      new Sink<SocketBatch>(),
    );
    await assert.rejects(r.start(testHost()), /`all` cannot be combined with other entries/);
  });
});
