/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Layouts shared by socket_tracker.bpf.c and the TypeScript loader
 * (receivers/ebpf_socket/layout.ts). Every struct has explicit padding and a
 * size asserted here and re-checked in TypeScript when the object is loaded.
 * Change both sides together.
 */
#ifndef LOGGERHEAD_SOCKET_TRACKER_H
#define LOGGERHEAD_SOCKET_TRACKER_H

/* Load-time configuration: the `.rodata` section, set before load. */
struct tracker_config {
	__u32 table_size;       /* entries of the socket table (its max_entries): sockets tracked at once */
	__u32 out_capacity;     /* records the `out` array holds (its max_entries) */
	__u8 filter_netns;      /* 1: track only network namespaces listed in the netns_filter map */
	__u8 include_loopback;  /* 0: ignore sockets whose remote address is a loopback address */
	__u8 pad[6];
};
_Static_assert(sizeof(struct tracker_config) == 16, "tracker_config size");

/* Role of a socket in its connection. */
#define ROLE_CLIENT 1
#define ROLE_SERVER 2

/* sock_state.flags and sock_record.flags */
#define SF_PREEXISTING 0x1 /* existed before the tracker started; baselines hold its counters then */
#define SF_REPORTED 0x2    /* emitted to userspace at least once (its close must be reported as gone) */
#define SF_CLOSED 0x4      /* final counters folded into the links table */
#define SF_SUSPECT 0x8     /* a poll found its socket closed or gone: reclaimed if the next poll finds it so again */

/* Entries a socket may occupy: the one its cookie names, then entries drawn independently (socket_tracker.bpf.c). */
#define TABLE_PROBES 8

/*
 * One entry of the socket table: a preallocated array, so that tracking a new
 * socket is a compare-and-swap on a free entry (no allocation, no lock).
 * `cookie` 0 marks a free entry. The socket is read through `sk` only after
 * checking that its own cookie still equals `cookie`.
 */
struct sock_state {
	__u64 cookie;       /* bpf_get_socket_cookie(); 0: free */
	__u64 sk;           /* struct sock * of the tracked socket */
	__u64 start_ns;     /* bpf_ktime_get_ns() at creation or adoption */
	__u64 base_tx;      /* counters when tracking began (non-zero only for adopted or reused sockets) */
	__u64 base_rx;
	__u32 base_retrans;
	__u32 rep_hash;     /* hash of (tx, rx, retransmits, state) last emitted to userspace */
	__u32 pid;
	__u32 flags;        /* SF_*, changed with atomic or */
	__u8 role;
	__u8 pass_mark;     /* out_state.gen of the last iterator pass that handled it */
	__u8 pad[6];
	char comm[16];
};
_Static_assert(sizeof(struct sock_state) == 80, "sock_state size");

/* Fill level of the `out` array, reset by userspace before each iterator pass. */
struct out_state {
	__u32 len;          /* records written */
	__u32 more;         /* 1: some changed sockets did not fit; run another pass */
	__u32 gen;          /* poll generation (1..255): later passes of a poll skip what earlier ones handled */
	__u32 live;         /* tracked sockets seen by this pass */
};
_Static_assert(sizeof(struct out_state) == 16, "out_state size");

/*
 * One open socket, written by the table iterator into the `out` array for
 * each socket that is new or changed since the previous poll. Addresses are network order; IPv4 (and
 * v4-mapped IPv6, normalised) in the first 4 bytes with family 4.
 */
struct sock_record {
	__u64 cookie;
	__u64 start_ns;
	__u64 tx;           /* bytes sent since tracking began, retransmissions excluded */
	__u64 rx;           /* bytes received since tracking began, the peer's FIN excluded */
	__u64 base_tx;
	__u64 base_rx;
	__u64 cgroup_id;
	__u8 local_addr[16];
	__u8 remote_addr[16];
	__u32 netns;
	__u32 pid;
	__u32 retrans;      /* segments retransmitted since tracking began */
	__u32 srtt_us;
	__u16 local_port;   /* host order */
	__u16 remote_port;  /* host order */
	__u8 family;        /* 4 or 6 */
	__u8 role;
	__u8 state;         /* TCP_* */
	__u8 flags;         /* SF_* */
	char comm[16];
};
_Static_assert(sizeof(struct sock_record) == 128, "sock_record size");

/* Key of the kernel-folded totals of closed sockets. */
struct link_key {
	__u8 client_addr[16];
	__u8 server_addr[16];
	__u64 cgroup_id;
	__u32 netns;
	__u16 server_port;  /* host order */
	__u8 family;        /* 4 or 6 */
	__u8 observer;      /* ROLE_* of the observing sockets */
	char comm[16];
};
_Static_assert(sizeof(struct link_key) == 64, "link_key size");

struct link_value {
	__u64 bytes_c2s;
	__u64 bytes_s2c;
	__u64 closed;       /* connections that were established, then closed */
	__u64 failed;       /* connections that closed before ESTABLISHED */
	__u64 retrans;
};
_Static_assert(sizeof(struct link_value) == 40, "link_value size");

/* Per-CPU statistics, one __u64 each, summed by userspace. */
enum tracker_stat {
	STAT_CREATED = 0,       /* sockets tracked from their creation */
	STAT_ADOPTED,           /* pre-existing sockets adopted by the tcp iterator */
	STAT_CLOSED,            /* sockets folded into the links table */
	STAT_SOCKETS_FULL,      /* sockets not tracked: no free entry in the socket table */
	STAT_STALE_READS,       /* poll reads skipped: the socket behind an entry was closing or reused */
	STAT_LINKS_FULL,        /* closed sockets whose totals were lost: links table full */
	STAT_LOST_BYTES,        /* bytes of those */
	STAT_GONE_FULL,         /* closes of reported sockets not queued: gone table full */
	STAT_HIT_STATE,         /* program runs: inet_sock_set_state */
	STAT_HIT_RECV,          /* program runs: sock_recv_length */
	STAT_HIT_DESTROY,       /* program runs: tcp_destroy_sock */
	STAT_HIT_DESTROY_FOLD,  /* sockets folded by tcp_destroy_sock (never reached CLOSE) */
	STAT_RECLAIMED,         /* entries whose CLOSE was missed, folded by a poll with the final counters */
	STAT_RECLAIMED_LOST,    /* entries whose socket was gone when a poll found them: bytes since the last poll lost */
	STAT_COUNT,
};

struct tracker_stats {
	__u64 v[16];
};
_Static_assert(STAT_COUNT <= 16, "tracker_stats too small");
_Static_assert(sizeof(struct tracker_stats) == 128, "tracker_stats size");

#endif
