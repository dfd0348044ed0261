/**
 * Start-up checks: what the kernel and the process offer, with a message that
 * names what is missing and how to fix it. Inputs are injectable for tests.
 */
import fs from 'node:fs';
import os from 'node:os';

/** A requirement of the receiver is not met; the message says which and how to fix it. */
export class RequirementError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RequirementError';
  }
}

/** Oldest kernel with every feature the program uses (socket cookies in tracing programs, BPF atomic operations). */
export const MIN_KERNEL: readonly [number, number] = [5, 12];

const CAP_SYS_ADMIN = 21;
const CAP_PERFMON = 38;
const CAP_BPF = 39;

export interface SystemFacts {
  /** Kernel release, e.g. `6.18.44-fc`. */
  release: string;
  /** CapEff from /proc/self/status, as a bigint bit set. */
  effectiveCaps: bigint;
  /** Kernel BTF bytes, or null when /sys/kernel/btf/vmlinux is missing. */
  btf: Buffer | null;
}

export const BTF_PATH = '/sys/kernel/btf/vmlinux';

/** Reads the facts from this machine. */
export function readSystemFacts(): SystemFacts {
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  const cap = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  return {
    release: os.release(),
    effectiveCaps: cap === null ? 0n : BigInt(`0x${cap[1]}`),
    btf: fs.existsSync(BTF_PATH) ? fs.readFileSync(BTF_PATH) : null,
  };
}

/** Tracepoints: which program uses which, and whether it is required. */
export const HOOKS: ReadonlyArray<{
  program: string;
  tracepoint: string;
  required: boolean;
  purpose: string;
}> = [
  {
    program: 'on_state',
    tracepoint: 'inet_sock_set_state',
    required: true,
    purpose: 'socket lifecycle, roles, final counters',
  },
  {
    program: 'on_recv',
    tracepoint: 'sock_recv_length',
    required: false,
    purpose: 'pid and comm of server sockets',
  },
  {
    program: 'on_destroy',
    tracepoint: 'tcp_destroy_sock',
    required: false,
    purpose: 'safety net for sockets destroyed without a CLOSE transition',
  },
];

export interface Plan {
  /** Programs to load. */
  programs: string[];
  /** Human summary of chosen and missing hooks, for the start-up log. */
  chosen: string[];
  missing: string[];
}

function hasCap(caps: bigint, bit: number): boolean {
  return (caps & (1n << BigInt(bit))) !== 0n;
}

/**
 * Checks the requirements and picks the hooks. Throws a RequirementError
 * naming every unmet requirement.
 *
 * @example
 * const plan = preflight(readSystemFacts(), { otherNamespaces: true });
 * // plan.programs: ['on_state', 'on_recv', 'on_destroy']
 */
export function preflight(facts: SystemFacts, needs: { otherNamespaces: boolean }): Plan {
  const problems: string[] = [];
  const version = /^(\d+)\.(\d+)/.exec(facts.release);
  const major = version === null ? 0 : Number(version[1]);
  const minor = version === null ? 0 : Number(version[2]);
  if (major < MIN_KERNEL[0] || (major === MIN_KERNEL[0] && minor < MIN_KERNEL[1])) {
    problems.push(
      `kernel ${facts.release} is too old: ebpf_socket needs Linux ${MIN_KERNEL.join('.')} or newer ` +
        '(socket cookies in BTF tracepoint programs, BPF atomic operations); upgrade the node kernel',
    );
  }
  const missingCaps: string[] = [];
  if (!hasCap(facts.effectiveCaps, CAP_BPF)) missingCaps.push('CAP_BPF');
  if (!hasCap(facts.effectiveCaps, CAP_PERFMON)) missingCaps.push('CAP_PERFMON');
  if (needs.otherNamespaces && !hasCap(facts.effectiveCaps, CAP_SYS_ADMIN)) missingCaps.push('CAP_SYS_ADMIN');
  if (missingCaps.length > 0) {
    problems.push(
      `missing capabilities ${missingCaps.join(', ')} (effective set 0x${facts.effectiveCaps.toString(16)}): ` +
        'run as root, or grant CAP_BPF and CAP_PERFMON' +
        (needs.otherNamespaces ? ', plus CAP_SYS_ADMIN to enter other network namespaces' : '') +
        ' (Kubernetes: securityContext.capabilities.add)',
    );
  }
  if (facts.btf === null) {
    problems.push(
      `no kernel BTF: ${BTF_PATH} does not exist; boot a kernel built with CONFIG_DEBUG_INFO_BTF=y ` +
        '(the default of current Debian, Ubuntu, RHEL and Fedora kernels)',
    );
  }
  const chosen: string[] = [];
  const missing: string[] = [];
  const programs: string[] = [];
  if (facts.btf !== null) {
    for (const hook of HOOKS) {
      if (facts.btf.includes(`btf_trace_${hook.tracepoint}\0`)) {
        programs.push(hook.program);
        chosen.push(`tp_btf/${hook.tracepoint}`);
      } else if (hook.required) {
        problems.push(`the kernel has no ${hook.tracepoint} tracepoint (needed for ${hook.purpose})`);
      } else {
        missing.push(`tp_btf/${hook.tracepoint} (${hook.purpose} unavailable)`);
      }
    }
  }
  if (problems.length > 0) {
    throw new RequirementError(`ebpf_socket cannot start: ${problems.join('; ')}`);
  }
  return { programs, chosen: [...chosen, 'iter/tcp', 'iter/bpf_map_elem'], missing };
}
