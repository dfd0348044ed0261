import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { preflight, RequirementError } from './preflight.ts';
import type { SystemFacts } from './preflight.ts';

const ALL_CAPS = (1n << 40n) - 1n;
const BTF = Buffer.from(
  '\0btf_trace_inet_sock_set_state\0btf_trace_sock_recv_length\0btf_trace_tcp_destroy_sock\0',
);

function facts(over: Partial<SystemFacts> = {}): SystemFacts {
  return { release: '6.18.44-fc', effectiveCaps: ALL_CAPS, btf: BTF, ...over };
}

describe('preflight', () => {
  it('picks every hook the kernel has', () => {
    const plan = preflight(facts(), { otherNamespaces: true });
    assert.deepEqual(plan.programs, ['on_state', 'on_recv', 'on_destroy']);
    assert.deepEqual(plan.missing, []);
    assert.ok(plan.chosen.includes('tp_btf/inet_sock_set_state') && plan.chosen.includes('iter/tcp'));
  });

  it('goes without the optional hooks and says what is lost', () => {
    const plan = preflight(facts({ btf: Buffer.from('\0btf_trace_inet_sock_set_state\0') }), {
      otherNamespaces: false,
    });
    assert.deepEqual(plan.programs, ['on_state']);
    assert.match(plan.missing.join(), /sock_recv_length \(pid and comm of server sockets unavailable\)/);
  });

  it('names missing capabilities and how to grant them', () => {
    assert.throws(
      () => preflight(facts({ effectiveCaps: 0n }), { otherNamespaces: true }),
      (e: unknown) =>
        e instanceof RequirementError &&
        /missing capabilities CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN \(effective set 0x0\): run as root/.test(
          e.message,
        ),
    );
    // CAP_SYS_ADMIN is needed only to enter other namespaces.
    const bpfAndPerfmon = (1n << 39n) | (1n << 38n);
    assert.doesNotThrow(() => preflight(facts({ effectiveCaps: bpfAndPerfmon }), { otherNamespaces: false }));
  });

  it('names a missing BTF', () => {
    assert.throws(
      () => preflight(facts({ btf: null }), { otherNamespaces: false }),
      /no kernel BTF: \/sys\/kernel\/btf\/vmlinux does not exist; boot a kernel built with CONFIG_DEBUG_INFO_BTF=y/,
    );
  });

  it('names a kernel that is too old', () => {
    assert.throws(
      () => preflight(facts({ release: '5.10.0-28-amd64' }), { otherNamespaces: false }),
      /kernel 5\.10\.0-28-amd64 is too old: ebpf_socket needs Linux 5\.12 or newer/,
    );
    assert.doesNotThrow(() => preflight(facts({ release: '5.12.0' }), { otherNamespaces: false }));
  });

  it('reports every problem at once', () => {
    assert.throws(
      () => preflight({ release: '4.19.0', effectiveCaps: 0n, btf: null }, { otherNamespaces: false }),
      (e: unknown) =>
        e instanceof Error &&
        /too old/.test(e.message) &&
        /capabilities/.test(e.message) &&
        /BTF/.test(e.message),
    );
  });

  it('fails when the lifecycle tracepoint is missing', () => {
    assert.throws(
      () =>
        preflight(facts({ btf: Buffer.from('\0btf_trace_tcp_destroy_sock\0') }), { otherNamespaces: false }),
      /the kernel has no inet_sock_set_state tracepoint/,
    );
  });
});
