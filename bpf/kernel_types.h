/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The few kernel types socket_tracker.bpf.c reads, written by hand for CO-RE.
 *
 * Every struct carries preserve_access_index (the pragma below), so clang records a relocation
 * for each field access and libbpf rewrites the offsets against the running
 * kernel's BTF at load time. Only the fields we read are declared; their
 * order and the absence of the others do not matter. This keeps the build
 * independent of the build machine's kernel (no generated vmlinux.h).
 */
#ifndef LOGGERHEAD_KERNEL_TYPES_H
#define LOGGERHEAD_KERNEL_TYPES_H

typedef signed char __s8;
typedef unsigned char __u8;
typedef short __s16;
typedef unsigned short __u16;
typedef int __s32;
typedef unsigned int __u32;
typedef long long __s64;
typedef unsigned long long __u64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef _Bool bool;
#define true 1
#define false 0

/* UAPI constants (include/uapi/linux/bpf.h); stable ABI. */
enum bpf_map_type {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
};
enum {
	BPF_ANY = 0,
	BPF_NOEXIST = 1,
};
enum {
	BPF_F_NO_PREALLOC = 1,
	BPF_F_MMAPABLE = 1024,
};

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6

/* include/net/tcp_states.h; stable ABI (exposed through /proc/net/tcp). */
enum {
	TCP_ESTABLISHED = 1,
	TCP_SYN_SENT = 2,
	TCP_SYN_RECV = 3,
	TCP_FIN_WAIT1 = 4,
	TCP_FIN_WAIT2 = 5,
	TCP_TIME_WAIT = 6,
	TCP_CLOSE = 7,
	TCP_CLOSE_WAIT = 8,
	TCP_LAST_ACK = 9,
	TCP_LISTEN = 10,
	TCP_CLOSING = 11,
	TCP_NEW_SYN_RECV = 12,
};

/* Relocated by name with bpf_core_enum_value(): only the enumerator names matter. */
enum sock_flags {
	SOCK_DEAD = 0,
	SOCK_DONE = 1,
};

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

struct in6_addr {
	union {
		__u8 u6_addr8[16];
		__be32 u6_addr32[4];
	} in6_u;
};

struct ns_common {
	unsigned int inum;
};

struct net {
	struct ns_common ns;
};

typedef struct {
	struct net *net;
} possible_net_t;

typedef struct {
	__s64 counter;
} atomic64_t;

struct kernfs_node {
	__u64 id;
};

struct cgroup {
	struct kernfs_node *kn;
};

struct sock_cgroup_data {
	struct cgroup *cgroup;
};

struct sock_common {
	union {
		struct {
			__be32 skc_daddr;
			__be32 skc_rcv_saddr;
		};
	};
	union {
		struct {
			__be16 skc_dport;
			__u16 skc_num;
		};
	};
	unsigned short skc_family;
	volatile unsigned char skc_state;
	atomic64_t skc_cookie;
	possible_net_t skc_net;
	unsigned long skc_flags; /* recent kernels; older ones have sock.sk_flags */
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
};

struct sock {
	struct sock_common __sk_common;
	unsigned long sk_flags; /* older kernels; recent ones have sock_common.skc_flags */
	__u16 sk_protocol;
	__u32 sk_max_ack_backlog;
	struct sock_cgroup_data sk_cgrp_data;
};

struct inet_sock {
	__be16 inet_sport;
};

struct task_struct {
	struct task_struct *group_leader;
	char comm[16];
};

struct tcp_sock {
	__u64 bytes_sent;
	__u64 bytes_received;
	__u64 bytes_retrans;
	__u32 total_retrans;
	__u32 srtt_us;
};

struct bpf_map;
struct seq_file;

struct bpf_iter_meta {
	struct seq_file *seq;
	__u64 session_id;
	__u64 seq_num;
};

struct bpf_iter__tcp {
	struct bpf_iter_meta *meta;
	struct sock_common *sk_common;
	__u32 uid;
};

struct bpf_iter__bpf_map_elem {
	struct bpf_iter_meta *meta;
	struct bpf_map *map;
	void *key;
	void *value;
};

#pragma clang attribute pop

/* Declared by bpf_helper_defs.h's prototypes; never dereferenced here. */
struct pt_regs;

#endif
