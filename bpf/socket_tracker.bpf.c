// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * loggerhead socket tracker: exact per-socket TCP byte counters.
 *
 * - Per-socket state lives in a preallocated table (`socks`), one entry per
 *   tracked socket, found by its cookie among TABLE_PROBES entries. Taking an entry
 *   is a compare-and-swap: a new connection costs no allocation and no lock,
 *   which is what the connection rate is sensitive to.
 * - tp_btf/inet_sock_set_state starts tracking (SYN_SENT: client, in connect()
 *   so the pid is the caller's; LISTEN->SYN_RECV: server child) and, at CLOSE,
 *   folds the socket's final delta into the per-link `links` table and frees
 *   the entry.
 * - tp_btf/sock_recv_length fills the pid of sockets that did not get one at
 *   creation (servers), from the first receive syscall.
 * - tp_btf/tcp_destroy_sock folds a tracked socket that never reached CLOSE.
 * - iter/tcp adopts sockets that existed before start-up, with baselines.
 * - iter/bpf_map_elem over the table reads every tracked socket's live
 *   counters at poll time and writes a record only for sockets that are new
 *   or changed.
 *
 * Counters: tx = bytes_sent - bytes_retrans; rx = bytes_received - 1 once the
 * peer's FIN was consumed (SOCK_DONE).
 */
#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "socket_tracker.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile struct tracker_config cfg = {
	.table_size = 65536,
	.out_capacity = 16384,
	.filter_netns = 0,
	.include_loopback = 1,
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct sock_state);
} socks SEC(".maps");

/* Shared, with atomic adds: a per-CPU table would multiply its memory by the number of CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, struct link_key);
	__type(value, struct link_value);
} links SEC(".maps");

/* Cookies of reported sockets that closed since the last poll -> their start_ns. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 131072);
	__type(key, __u64);
	__type(value, __u64);
} gone SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tracker_stats);
} stats SEC(".maps");

/* Records of new or changed sockets from the table iterator; userspace maps it read-only. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct sock_record);
} out SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct out_state);
} out_len SEC(".maps");

/*
 * Local ports of server sockets whose listener was created with listen(fd, 0):
 * one bit per port, any namespace. Children of other listeners are recognised
 * by the backlog they inherit (sk_max_ack_backlog != 0); these have none, so
 * the receive hook checks this bit before it looks a socket up. A client whose
 * port shares a bit only costs one lookup more.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} zero_backlog_ports SEC(".maps");

/* Listeners with a zero backlog seen by the tcp iterator at adoption: (netns, port) -> 1. */
struct listener_key {
	__u32 netns;
	__u32 port;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096);
	__type(key, struct listener_key);
	__type(value, __u8);
} zero_backlog_listeners SEC(".maps");

/* Per CPU: the cookie of the last socket the receive hook handled (its owner needs no second look). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} recv_done SEC(".maps");

/* Network namespace inodes to track when cfg.filter_netns is set. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} netns_filter SEC(".maps");

static __always_inline void stat_add(int idx, __u64 n)
{
	__u32 zero = 0;
	struct tracker_stats *s = bpf_map_lookup_elem(&stats, &zero);

	if (s && idx >= 0 && idx < STAT_COUNT)
		s->v[idx] += n;
}

struct counters {
	__u64 tx;
	__u64 rx;
	__u32 retrans;
	__u32 srtt_us;
};

static __always_inline unsigned long sock_flags_of(struct sock *sk)
{
	if (bpf_core_field_exists(sk->__sk_common.skc_flags))
		return sk->__sk_common.skc_flags;
	return sk->sk_flags;
}

static __always_inline bool read_counters(struct sock *sk, struct counters *c)
{
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
	__u64 received;

	if (!tp)
		return false;
	c->tx = tp->bytes_sent - tp->bytes_retrans;
	received = tp->bytes_received;
	if (received > 0 && (sock_flags_of(sk) & (1UL << bpf_core_enum_value(enum sock_flags, SOCK_DONE))))
		received -= 1;
	c->rx = received;
	c->retrans = tp->total_retrans;
	c->srtt_us = tp->srtt_us >> 3;
	return true;
}

struct endpoints {
	__u8 local[16];
	__u8 remote[16];
	__u16 local_port;
	__u16 remote_port;
	__u8 family;
};

/* Reads both addresses; v4-mapped IPv6 (dual-stack sockets) becomes family 4. */
static __always_inline void read_endpoints(struct sock *sk, struct endpoints *e)
{
	struct sock_common *skc = &sk->__sk_common;
	__u32 *l = (__u32 *)e->local;
	__u32 *r = (__u32 *)e->remote;

	/* inet_sport, not skc_num: the port is released (skc_num = 0) before the CLOSE transition. */
	e->local_port = bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
	e->remote_port = bpf_ntohs(skc->skc_dport);
	if (skc->skc_family == AF_INET) {
		e->family = 4;
		l[0] = skc->skc_rcv_saddr;
		r[0] = skc->skc_daddr;
		return;
	}
	r[0] = skc->skc_v6_daddr.in6_u.u6_addr32[0];
	r[1] = skc->skc_v6_daddr.in6_u.u6_addr32[1];
	r[2] = skc->skc_v6_daddr.in6_u.u6_addr32[2];
	r[3] = skc->skc_v6_daddr.in6_u.u6_addr32[3];
	l[0] = skc->skc_v6_rcv_saddr.in6_u.u6_addr32[0];
	l[1] = skc->skc_v6_rcv_saddr.in6_u.u6_addr32[1];
	l[2] = skc->skc_v6_rcv_saddr.in6_u.u6_addr32[2];
	l[3] = skc->skc_v6_rcv_saddr.in6_u.u6_addr32[3];
	if (r[0] == 0 && r[1] == 0 && r[2] == bpf_htonl(0xffff)) {
		e->family = 4;
		r[0] = r[3];
		r[2] = 0;
		r[3] = 0;
		l[0] = l[3];
		l[1] = 0;
		l[2] = 0;
		l[3] = 0;
		return;
	}
	e->family = 6;
}

static __always_inline bool remote_is_loopback(struct sock *sk)
{
	struct endpoints e = {};

	read_endpoints(sk, &e);
	if (e.family == 4)
		return e.remote[0] == 127;
	return ((__u32 *)e.remote)[0] == 0 && ((__u32 *)e.remote)[1] == 0 && ((__u32 *)e.remote)[2] == 0 &&
	       ((__u32 *)e.remote)[3] == bpf_htonl(1);
}

static __always_inline __u32 netns_of(struct sock *sk)
{
	return sk->__sk_common.skc_net.net->ns.inum;
}

static __always_inline __u64 cgroup_of(struct sock *sk)
{
	return sk->sk_cgrp_data.cgroup->kn->id;
}

static __always_inline bool wanted(struct sock *sk)
{
	__u32 ns;

	if (cfg.filter_netns) {
		ns = netns_of(sk);
		if (!bpf_map_lookup_elem(&netns_filter, &ns))
			return false;
	}
	return true;
}

static __always_inline void mark_zero_backlog_port(__u16 port)
{
	__u32 word = port >> 6;
	__u64 *bits = bpf_map_lookup_elem(&zero_backlog_ports, &word);

	if (bits && !(*bits & (1ULL << (port & 63))))
		__sync_fetch_and_or(bits, 1ULL << (port & 63));
}

static __always_inline bool zero_backlog_port(__u16 port)
{
	__u32 word = port >> 6;
	__u64 *bits = bpf_map_lookup_elem(&zero_backlog_ports, &word);

	return bits && (*bits & (1ULL << (port & 63)));
}

/* The current process: its pid and its name (the thread group leader's comm, not the thread's). */
static __always_inline void set_owner(struct sock_state *st)
{
	struct task_struct *task = bpf_get_current_task_btf();

	st->pid = bpf_get_current_pid_tgid() >> 32;
	bpf_probe_read_kernel(st->comm, sizeof(st->comm), task->group_leader->comm);
}

/*
 * The entries a socket may occupy, in probe order: first the one its cookie
 * names directly (cookie mod size: the sockets a CPU creates one after the
 * other get consecutive cookies, so their entries are neighbours, already in
 * the cache and the TLB: a random entry of a table this size costs a cache and
 * a TLB miss each time a socket is claimed or folded), then TABLE_PROBES - 1
 * entries drawn independently for each probe and cookie (a 64-bit mix of the
 * cookie and the probe number). Independent, not a fixed pattern: sockets
 * opened together and held (a burst of long-lived connections) take one long
 * run of direct entries, which consecutive fallback entries would run into;
 * and fallback entries at a fixed stride from a hashed position are linear
 * probing in another order, whose taken entries cluster along the stride: at
 * 75 % fill that dropped 27-36 % of new sockets instead of the 10 % (0.75^8)
 * of independent probes (bench/ebpf_socket/fill.ts).
 */
static __always_inline __u32 direct_slot(__u64 cookie)
{
	return (__u32)(cookie % cfg.table_size);
}

/* Fallback entry `probe` (1 .. TABLE_PROBES - 1) of a cookie: splitmix64 of cookie + probe x golden ratio. */
static __always_inline __u32 spread_slot(__u64 cookie, int probe)
{
	__u64 x = cookie + (__u64)probe * 0x9E3779B97F4A7C15ULL;

	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
	x ^= x >> 31;
	return (__u32)((x >> 32) % cfg.table_size);
}

/* The entry of the socket with this cookie, or NULL. */
static __always_inline struct sock_state *find_state(__u64 cookie)
{
	__u32 slot = direct_slot(cookie);
	struct sock_state *st;

	for (int i = 0; i < TABLE_PROBES; i++) {
		if (i > 0)
			slot = spread_slot(cookie, i);
		st = bpf_map_lookup_elem(&socks, &slot);
		if (st && st->cookie == cookie)
			return st;
	}
	return NULL;
}

/* Takes a free entry for `cookie` (compare-and-swap), or NULL (counted) when the probed entries are taken. */
static __always_inline struct sock_state *claim_state(__u64 cookie, struct sock *sk)
{
	__u32 slot = direct_slot(cookie);
	struct sock_state *st;

	for (int i = 0; i < TABLE_PROBES; i++) {
		if (i > 0)
			slot = spread_slot(cookie, i);
		st = bpf_map_lookup_elem(&socks, &slot);
		if (st && st->cookie == 0 && __sync_val_compare_and_swap(&st->cookie, 0, cookie) == 0) {
			st->flags = 0;
			st->rep_hash = 0;
			st->pass_mark = 0;
			st->pid = 0;
			__builtin_memset(st->comm, 0, sizeof(st->comm));
			st->sk = (__u64)sk;
			return st;
		}
	}
	stat_add(STAT_SOCKETS_FULL, 1);
	return NULL;
}

/* Starts tracking a socket at its creation (client connect or server child). */
static __always_inline void track_new(struct sock *sk, __u8 role)
{
	struct sock_state *st;
	struct counters c = {};
	__u64 cookie;

	if (!wanted(sk))
		return;
	if (!cfg.include_loopback && role == ROLE_CLIENT && remote_is_loopback(sk))
		return;
	/* Not tracked yet: a socket's previous incarnation (connect after AF_UNSPEC) freed its entry at CLOSE. */
	cookie = bpf_get_socket_cookie(sk);
	st = claim_state(cookie, sk);
	if (!st)
		return;
	/*
	 * A server child starts from zero; a client may be a reconnect after
	 * connect(AF_UNSPEC), which keeps the socket: take its counters as baseline.
	 */
	if (role == ROLE_CLIENT)
		read_counters(sk, &c);
	st->start_ns = bpf_ktime_get_ns();
	st->base_tx = c.tx;
	st->base_rx = c.rx;
	st->base_retrans = c.retrans;
	st->role = role;
	if (role == ROLE_CLIENT)
		set_owner(st);
	else if (sk->sk_max_ack_backlog == 0)
		/* A child of a listen(fd, 0) listener: let the receive hook find it (its port is the listener's). */
		mark_zero_backlog_port(sk->__sk_common.skc_num);
	stat_add(STAT_CREATED, 1);
}

/* Frees an entry whose final counters are folded (or that the configuration excludes). */
static __always_inline void release_state(struct sock_state *st)
{
	st->sk = 0;
	__sync_lock_test_and_set(&st->cookie, 0);
}

/*
 * Adds a socket's final delta to its link, queues its cookie if userspace
 * knows it, frees its entry. The caller set SF_CLOSED on the entry (`old`:
 * the flags before); `failed`: the connection never reached ESTABLISHED.
 */
static __always_inline void fold_state(struct sock_state *st, __u64 cookie, __u32 old, struct counters *c,
				       struct endpoints *e, __u32 netns, __u64 cgroup_id, bool failed)
{
	struct link_value zero = {}, *v;
	struct link_key key = {};
	__u64 tx, rx, c2s, s2c;

	tx = c->tx - st->base_tx;
	rx = c->rx - st->base_rx;
	key.family = e->family;
	key.observer = st->role;
	key.netns = netns;
	key.cgroup_id = cgroup_id;
	__builtin_memcpy(key.comm, st->comm, sizeof(key.comm));
	if (st->role == ROLE_CLIENT) {
		__builtin_memcpy(key.client_addr, e->local, 16);
		__builtin_memcpy(key.server_addr, e->remote, 16);
		key.server_port = e->remote_port;
	} else {
		__builtin_memcpy(key.client_addr, e->remote, 16);
		__builtin_memcpy(key.server_addr, e->local, 16);
		key.server_port = e->local_port;
	}

	v = bpf_map_lookup_elem(&links, &key);
	if (!v) {
		bpf_map_update_elem(&links, &key, &zero, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&links, &key);
	}
	if (v) {
		/* Locked adds are the expensive part: none for the counters that did not move (retransmits, mostly). */
		c2s = st->role == ROLE_CLIENT ? tx : rx;
		s2c = st->role == ROLE_CLIENT ? rx : tx;
		if (c2s)
			__sync_fetch_and_add(&v->bytes_c2s, c2s);
		if (s2c)
			__sync_fetch_and_add(&v->bytes_s2c, s2c);
		if (failed)
			__sync_fetch_and_add(&v->failed, 1);
		else
			__sync_fetch_and_add(&v->closed, 1);
		if (c->retrans != st->base_retrans)
			__sync_fetch_and_add(&v->retrans, c->retrans - st->base_retrans);
	} else {
		stat_add(STAT_LINKS_FULL, 1);
		stat_add(STAT_LOST_BYTES, tx + rx);
	}

	if (old & SF_REPORTED) {
		if (bpf_map_update_elem(&gone, &cookie, &st->start_ns, BPF_ANY))
			stat_add(STAT_GONE_FULL, 1);
	}
	release_state(st);
	stat_add(STAT_CLOSED, 1);
}

/* Folds a closing socket (at CLOSE, or destroyed without it), read under the socket lock. */
static __always_inline void fold(struct sock *sk, int oldstate)
{
	struct endpoints e = {};
	struct counters c = {};
	struct sock_state *st;
	__u64 cookie;
	__u32 old;

	cookie = bpf_get_socket_cookie(sk);
	st = find_state(cookie);
	if (!st)
		return;
	old = __sync_fetch_and_or(&st->flags, SF_CLOSED);
	if (old & SF_CLOSED)
		return;
	read_counters(sk, &c);
	read_endpoints(sk, &e);
	fold_state(st, cookie, old, &c, &e, netns_of(sk), cgroup_of(sk),
		   oldstate == TCP_SYN_SENT || oldstate == TCP_SYN_RECV);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_state, const struct sock *csk, const int oldstate, const int newstate)
{
	struct sock *sk = (struct sock *)csk;
	struct sock_state *st;

	stat_add(STAT_HIT_STATE, 1);
	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	switch (newstate) {
	case TCP_SYN_SENT:
		track_new(sk, ROLE_CLIENT);
		break;
	case TCP_SYN_RECV:
		if (oldstate == TCP_LISTEN)
			track_new(sk, ROLE_SERVER);
		break;
	case TCP_ESTABLISHED:
		/* A server child has its addresses only from here on. */
		if (!cfg.include_loopback && oldstate == TCP_SYN_RECV && remote_is_loopback(sk)) {
			st = find_state(bpf_get_socket_cookie(sk));
			if (st && !(__sync_fetch_and_or(&st->flags, SF_CLOSED) & SF_CLOSED))
				release_state(st);
		}
		break;
	case TCP_CLOSE:
		fold(sk, oldstate);
		break;
	}
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(on_recv, struct sock *sk, int ret, int flags)
{
	struct sock_state *st;
	__u64 cookie, *done;
	__u32 zero = 0;

	stat_add(STAT_HIT_RECV, 1);
	/*
	 * Only server sockets lack an owner (a client got its owner in connect()):
	 * children of a listener keep its backlog, and those of a zero-backlog
	 * listener have their port marked. Skipping the others keeps the table
	 * lookup off most receives.
	 */
	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	if (sk->sk_max_ack_backlog == 0 && !zero_backlog_port(sk->__sk_common.skc_num))
		return 0;
	cookie = bpf_get_socket_cookie(sk);
	/* A stream of receives on one socket (a bulk transfer) needs the table once. */
	done = bpf_map_lookup_elem(&recv_done, &zero);
	if (done && *done == cookie)
		return 0;
	st = find_state(cookie);
	/*
	 * Once reported, the owner is frozen: a closed socket is folded under the
	 * comm userspace last saw it with, so its bytes land in one link key only.
	 */
	if (st && st->pid == 0 && !(st->flags & SF_REPORTED))
		set_owner(st);
	if (done)
		*done = cookie;
	return 0;
}

SEC("tp_btf/tcp_destroy_sock")
int BPF_PROG(on_destroy, struct sock *sk)
{
	int state;

	stat_add(STAT_HIT_DESTROY, 1);
	state = sk->__sk_common.skc_state;
	if (state == TCP_CLOSE)
		return 0;
	if (find_state(bpf_get_socket_cookie(sk))) {
		stat_add(STAT_HIT_DESTROY_FOLD, 1);
		fold(sk, state);
	}
	return 0;
}

SEC("iter/tcp")
int adopt(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct listener_key lkey = {};
	struct sock_state *st;
	struct counters c = {};
	struct tcp_sock *tp;
	struct sock *sk;
	__u8 one = 1;
	__u64 cookie;
	int state;
	bool server;

	if (!skc)
		return 0;
	state = skc->skc_state;
	if (state == TCP_TIME_WAIT || state == TCP_NEW_SYN_RECV || state == TCP_CLOSE)
		return 0;
	tp = bpf_skc_to_tcp_sock(skc);
	if (!tp)
		return 0;
	sk = (struct sock *)tp;
	if (!wanted(sk))
		return 0;
	lkey.netns = netns_of(sk);
	lkey.port = sk->__sk_common.skc_num;
	if (state == TCP_LISTEN) {
		/* The walk visits listeners before the other sockets of the namespace. */
		if (sk->sk_max_ack_backlog == 0) {
			bpf_map_update_elem(&zero_backlog_listeners, &lkey, &one, BPF_ANY);
			mark_zero_backlog_port(lkey.port);
		}
		return 0;
	}
	if (!cfg.include_loopback && remote_is_loopback(sk))
		return 0;
	cookie = bpf_get_socket_cookie(sk);
	if (find_state(cookie))
		return 0;
	/*
	 * The creation transition was missed: a child of a listener keeps the
	 * listener's backlog, or shares its port with a zero-backlog listener
	 * (an outgoing connection never gets a listener's port).
	 */
	server = state != TCP_SYN_SENT &&
		 (sk->sk_max_ack_backlog != 0 || bpf_map_lookup_elem(&zero_backlog_listeners, &lkey));
	st = claim_state(cookie, sk);
	if (!st)
		return 0;
	read_counters(sk, &c);
	st->start_ns = bpf_ktime_get_ns();
	st->base_tx = c.tx;
	st->base_rx = c.rx;
	st->base_retrans = c.retrans;
	st->role = server ? ROLE_SERVER : ROLE_CLIENT;
	st->flags = SF_PREEXISTING;
	stat_add(STAT_ADOPTED, 1);
	return 0;
}

/*
 * What the table iterator compares to decide whether a socket changed since
 * it was last emitted. A collision (2^-32 per change) only delays a report to
 * the socket's next change; closed totals never depend on it.
 */
static __always_inline __u32 change_hash(struct counters *c, __u8 state)
{
	__u64 x = c->tx * 0x9E3779B97F4A7C15ULL ^ c->rx;

	x = (x ^ (x >> 29)) * 0xBF58476D1CE4E5B9ULL ^ (((__u64)c->retrans << 8) | state);
	x = (x ^ (x >> 32)) * 0x94D049BB133111EBULL;
	return (__u32)(x ^ (x >> 32));
}

/* Counters of a socket reached through a stored pointer (probe reads: it may be closing concurrently). */
static __always_inline void probe_counters(struct sock *sk, struct counters *c)
{
	struct tcp_sock *tp = (struct tcp_sock *)sk;
	unsigned long flags;
	__u64 received;

	c->tx = BPF_CORE_READ(tp, bytes_sent) - BPF_CORE_READ(tp, bytes_retrans);
	if (bpf_core_field_exists(sk->__sk_common.skc_flags))
		flags = BPF_CORE_READ(sk, __sk_common.skc_flags);
	else
		flags = BPF_CORE_READ(sk, sk_flags);
	received = BPF_CORE_READ(tp, bytes_received);
	if (received > 0 && (flags & (1UL << bpf_core_enum_value(enum sock_flags, SOCK_DONE))))
		received -= 1;
	c->rx = received;
	c->retrans = BPF_CORE_READ(tp, total_retrans);
	c->srtt_us = BPF_CORE_READ(tp, srtt_us) >> 3;
}

/* Addresses and ports of a socket reached through a stored pointer. */
static __always_inline void probe_endpoints(struct sock *sk, struct endpoints *e)
{
	__u32 *l = (__u32 *)e->local;
	__u32 *r = (__u32 *)e->remote;

	e->local_port = bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
	e->remote_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (BPF_CORE_READ(sk, __sk_common.skc_family) == AF_INET) {
		e->family = 4;
		l[0] = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		r[0] = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		return;
	}
	bpf_probe_read_kernel(e->remote, 16, &sk->__sk_common.skc_v6_daddr);
	bpf_probe_read_kernel(e->local, 16, &sk->__sk_common.skc_v6_rcv_saddr);
	if (r[0] == 0 && r[1] == 0 && r[2] == bpf_htonl(0xffff)) {
		e->family = 4;
		r[0] = r[3];
		r[2] = 0;
		r[3] = 0;
		l[0] = l[3];
		l[1] = 0;
		l[2] = 0;
		l[3] = 0;
		return;
	}
	e->family = 6;
}

/*
 * Frees the entry of a socket whose CLOSE transition was not seen (the
 * kernel skips a program run nested on the same CPU): a tracked socket is
 * folded before it reaches CLOSE and before its memory is freed, so an entry
 * still holding its cookie while the socket is in CLOSE, or while the memory
 * holds another socket, at two polls in a row, was missed. In CLOSE, the memory still holds the
 * final counters (read in `c`): folded exactly, if the cookie still matches
 * after reading them. Otherwise the bytes since the last poll are lost
 * (counted). Without this the entry would stay taken for good.
 */
static __always_inline void reclaim(struct sock_state *st, struct sock *sk, __u64 cookie, bool intact,
				    struct counters *c)
{
	struct endpoints e = {};
	__u64 cgroup_id;
	__u32 old, netns;

	old = __sync_fetch_and_or(&st->flags, SF_CLOSED);
	if (old & SF_CLOSED)
		return;
	if (intact) {
		probe_endpoints(sk, &e);
		netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
		cgroup_id = BPF_CORE_READ(sk, sk_cgrp_data.cgroup, kn, id);
		if (BPF_CORE_READ(sk, __sk_common.skc_cookie.counter) == cookie) {
			/* No RTT sample: the handshake never completed. */
			fold_state(st, cookie, old, c, &e, netns, cgroup_id, c->srtt_us == 0);
			stat_add(STAT_RECLAIMED, 1);
			return;
		}
	}
	if (old & SF_REPORTED) {
		if (bpf_map_update_elem(&gone, &cookie, &st->start_ns, BPF_ANY))
			stat_add(STAT_GONE_FULL, 1);
	}
	release_state(st);
	stat_add(STAT_RECLAIMED_LOST, 1);
}

/*
 * Writes a record into `out` for every tracked socket that is new or changed
 * since it was last written, and 2 bytes to the seq file per record: userspace
 * reads with a size of 2 x out_capacity, so read() returns exactly when `out`
 * is full; it drains `out` and reads on from where the walk stopped. If `out`
 * is ever full anyway, the socket is left for another pass (`more`), which
 * skips by pass_mark what earlier passes of the poll handled.
 */
SEC("iter/bpf_map_elem")
int dump(struct bpf_iter__bpf_map_elem *ctx)
{
	struct sock_state *st = ctx->value;
	struct endpoints e = {};
	struct counters c = {};
	struct out_state *os;
	struct sock_record *r;
	__u32 zero = 0, old, hash, idx;
	__u64 cookie, sk_cookie;
	struct sock *sk;
	__u16 tick = 0;
	__u8 state;

	if (!st)
		return 0;
	cookie = st->cookie;
	sk = (struct sock *)st->sk;
	if (cookie == 0 || !sk || (st->flags & SF_CLOSED))
		return 0;
	os = bpf_map_lookup_elem(&out_len, &zero);
	if (!os)
		return 0;
	if (st->pass_mark == (__u8)os->gen)
		return 0;
	if (os->len >= cfg.out_capacity) {
		/* Left for the next pass without reading the socket: each socket is read once per poll. */
		os->more = 1;
		return 0;
	}
	state = BPF_CORE_READ(sk, __sk_common.skc_state);
	probe_counters(sk, &c);
	sk_cookie = BPF_CORE_READ(sk, __sk_common.skc_cookie.counter);
	/* The entry may have been freed (the socket folded) and taken again while we read. */
	if (st->cookie != cookie) {
		stat_add(STAT_STALE_READS, 1);
		return 0;
	}
	if (sk_cookie != cookie || state == TCP_CLOSE) {
		/*
		 * Reclaimed only when two polls in a row find it so: a client is
		 * claimed in the SYN_SENT tracepoint, just before its state leaves
		 * CLOSE, and a poll may look in between.
		 */
		if (__sync_fetch_and_or(&st->flags, SF_SUSPECT) & SF_SUSPECT)
			reclaim(st, sk, cookie, sk_cookie == cookie, &c);
		else
			st->pass_mark = os->gen; /* not again in a later pass of this poll */
		return 0;
	}
	if (st->flags & SF_SUSPECT)
		__sync_fetch_and_and(&st->flags, ~SF_SUSPECT);
	os->live++;
	hash = change_hash(&c, state);
	if ((st->flags & SF_REPORTED) && hash == st->rep_hash) {
		st->pass_mark = os->gen;
		return 0;
	}
	idx = os->len;
	r = bpf_map_lookup_elem(&out, &idx);
	if (!r) {
		os->more = 1;
		return 0;
	}
	old = __sync_fetch_and_or(&st->flags, SF_REPORTED);
	if ((old & SF_CLOSED) || st->cookie != cookie)
		return 0;
	st->rep_hash = hash;
	st->pass_mark = os->gen;
	os->len = idx + 1;
	bpf_seq_write(ctx->meta->seq, &tick, sizeof(tick));

	probe_endpoints(sk, &e);
	r->cookie = cookie;
	r->start_ns = st->start_ns;
	r->tx = c.tx - st->base_tx;
	r->rx = c.rx - st->base_rx;
	r->base_tx = st->base_tx;
	r->base_rx = st->base_rx;
	r->cgroup_id = BPF_CORE_READ(sk, sk_cgrp_data.cgroup, kn, id);
	__builtin_memcpy(r->local_addr, e.local, 16);
	__builtin_memcpy(r->remote_addr, e.remote, 16);
	r->netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	r->pid = st->pid;
	r->retrans = c.retrans - st->base_retrans;
	r->srtt_us = c.srtt_us;
	r->local_port = e.local_port;
	r->remote_port = e.remote_port;
	r->family = e.family;
	r->role = st->role;
	r->state = state;
	r->flags = old & 0xff;
	__builtin_memcpy(r->comm, st->comm, sizeof(r->comm));
	return 0;
}
