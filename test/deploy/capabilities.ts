/**
 * The Linux capabilities the agent's container is given, in the order the
 * manifests list them (Kubernetes spelling, without `CAP_`), each with the
 * measured reason. deploy/README.md has the same table; caps.test.ts runs the
 * agent with exactly these and shows each one is needed.
 */
export const AGENT_CAPABILITY_REASONS = {
  BPF: 'create maps, load the programs, read and write the maps (bpf())',
  PERFMON:
    'attach the tp_btf tracepoint programs and the iter/tcp iterator; read kernel socket fields in them',
  SYS_ADMIN:
    'setns() into each pod network namespace, where the iter/tcp iterator adopts sockets that predate the agent',
  SYS_PTRACE:
    'open /proc/<pid>/ns/net of processes in other containers (a ptrace read-access check) to find their namespaces',
} as const;

export type AgentCapability = keyof typeof AGENT_CAPABILITY_REASONS;

export const AGENT_CAPABILITIES = Object.keys(AGENT_CAPABILITY_REASONS) as AgentCapability[];
