/*
 * connblast: a connection-rate load generator. Every request is a NEW TCP connection: the client
 * connects, sends SIZE bytes, reads SIZE bytes back and the server's FIN, then closes; the server
 * reads SIZE bytes, answers SIZE bytes and closes first (so TIME_WAIT stays on the server side and
 * the client's ephemeral ports are not exhausted). One thread and one epoll loop per side: written
 * in C because a Node client would be the bottleneck, not the kernel path being measured.
 *
 * Built by scripts/setup.d/10-net-tools.sh into /var/cache/loggerhead/bin/connblast; driven from
 * bench/tools/load.ts. Output: one JSON object per line on stdout.
 *
 * Example:
 *   connblast server --bind 127.0.0.1 --port 0 --size 64
 *     {"event":"listening","port":40001,"pid":123}
 *     ... on SIGTERM/SIGINT: {"event":"stopped","accepted":N,"bytesIn":..,"bytesOut":..,"errors":0,"cpuSeconds":..}
 *   connblast client --host 127.0.0.1 --port 40001 --seconds 5 --concurrency 32 --size 64
 *     {"event":"done","connections":N,"failed":0,"seconds":5.000,"connectionsPerSecond":..,
 *      "bytesSent":..,"bytesReceived":..,"cpuSeconds":..,"firstError":""}
 * cpuSeconds is the process's user + system CPU time (getrusage): the kernel work of its sockets,
 * eBPF programs on their hooks included, is mostly charged to it.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SIZE 65536
#define MAX_CONCURRENCY 4096

static volatile sig_atomic_t stop_requested = 0;

static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

static void die(const char *what) {
  fprintf(stderr, "connblast: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void usage(void) {
  fprintf(stderr,
          "usage: connblast server --bind ADDR [--port P] [--size BYTES]\n"
          "       connblast client --host ADDR --port P [--seconds S] [--concurrency C] [--size BYTES]\n");
  exit(2);
}

/* CPU time (user + system) this process used so far, in seconds. */
static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
         (double)ru.ru_stime.tv_usec / 1e6;
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Fills *addr from a numeric IPv4 or IPv6 address; returns its length. */
static socklen_t parse_addr(const char *text, int port, struct sockaddr_storage *addr) {
  memset(addr, 0, sizeof *addr);
  struct sockaddr_in *v4 = (struct sockaddr_in *)addr;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)addr;
  if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    return sizeof *v4;
  }
  if (inet_pton(AF_INET6, text, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    return sizeof *v6;
  }
  fprintf(stderr, "connblast: %s is not a numeric IPv4 or IPv6 address\n", text);
  exit(2);
}

static long parse_long(const char *flag, const char *text, long min, long max) {
  char *end = NULL;
  errno = 0;
  long value = strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || value < min || value > max) {
    fprintf(stderr, "connblast: %s must be an integer in %ld..%ld, got \"%s\"\n", flag, min, max, text);
    exit(2);
  }
  return value;
}

/* ------------------------------------------------------------------------------------------------ */

struct server_conn {
  int fd;
  int got;
};

static int run_server(const char *bind_text, int port, int size) {
  struct sockaddr_storage addr;
  socklen_t len = parse_addr(bind_text, port, &addr);
  int lfd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (lfd < 0) die("socket");
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(lfd, (struct sockaddr *)&addr, len) < 0) die("bind");
  if (listen(lfd, 4096) < 0) die("listen");
  struct sockaddr_storage bound;
  socklen_t blen = sizeof bound;
  if (getsockname(lfd, (struct sockaddr *)&bound, &blen) < 0) die("getsockname");
  int bound_port = ntohs(bound.ss_family == AF_INET ? ((struct sockaddr_in *)&bound)->sin_port
                                                    : ((struct sockaddr_in6 *)&bound)->sin6_port);
  printf("{\"event\":\"listening\",\"port\":%d,\"pid\":%d}\n", bound_port, (int)getpid());
  fflush(stdout);

  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1");
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0) die("epoll_ctl");

  static char buf[MAX_SIZE];
  static char reply[MAX_SIZE];
  memset(reply, 'r', sizeof reply);
  uint64_t accepted = 0, bytes_in = 0, bytes_out = 0, errors = 0;
  struct epoll_event events[256];
  while (!stop_requested) {
    int n = epoll_wait(ep, events, 256, 200);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int i = 0; i < n; i++) {
      struct server_conn *c = events[i].data.ptr;
      if (c == NULL) {
        for (;;) {
          int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (fd < 0) break;
          accepted++;
          c = malloc(sizeof *c);
          if (c == NULL) die("malloc");
          c->fd = fd;
          c->got = 0;
          struct epoll_event cev = {.events = EPOLLIN, .data.ptr = c};
          if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev) < 0) die("epoll_ctl");
        }
        continue;
      }
      ssize_t r = read(c->fd, buf, (size_t)(size - c->got));
      int done = 0;
      if (r > 0) {
        bytes_in += (uint64_t)r;
        c->got += (int)r;
        if (c->got == size) {
          ssize_t w = write(c->fd, reply, (size_t)size);
          if (w == size) bytes_out += (uint64_t)w;
          else errors++;
          done = 1;
        }
      } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        errors++;
        done = 1;
      }
      if (done) {
        close(c->fd); /* closing also removes it from the epoll set */
        free(c);
      }
    }
  }
  printf("{\"event\":\"stopped\",\"accepted\":%llu,\"bytesIn\":%llu,\"bytesOut\":%llu,\"errors\":%llu,"
         "\"cpuSeconds\":%.6f}\n",
         (unsigned long long)accepted, (unsigned long long)bytes_in, (unsigned long long)bytes_out,
         (unsigned long long)errors, cpu_seconds());
  return 0;
}

/* ------------------------------------------------------------------------------------------------ */

enum client_state { CONNECTING, READING };

struct client_conn {
  int fd;
  enum client_state state;
  int got;
};

struct client_run {
  int ep;
  struct sockaddr_storage addr;
  socklen_t addr_len;
  int size;
  uint64_t connections, failed, bytes_sent, bytes_received;
  char first_error[128];
};

static void record_failure(struct client_run *run, const char *what, int err) {
  run->failed++;
  if (run->first_error[0] == '\0') snprintf(run->first_error, sizeof run->first_error, "%s: %s", what, strerror(err));
}

/* Opens a new connection in slot c; on an immediate failure counts it and leaves fd = -1. */
static void start_conn(struct client_run *run, struct client_conn *c) {
  c->fd = socket(run->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) die("socket");
  c->state = CONNECTING;
  c->got = 0;
  if (connect(c->fd, (struct sockaddr *)&run->addr, run->addr_len) < 0 && errno != EINPROGRESS) {
    record_failure(run, "connect", errno);
    close(c->fd);
    c->fd = -1;
    return;
  }
  struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
  if (epoll_ctl(run->ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) die("epoll_ctl");
}

static int run_client(const char *host, int port, double seconds, int concurrency, int size) {
  struct client_run run = {.size = size};
  run.addr_len = parse_addr(host, port, &run.addr);
  run.ep = epoll_create1(EPOLL_CLOEXEC);
  if (run.ep < 0) die("epoll_create1");
  static char request[MAX_SIZE];
  static char buf[MAX_SIZE + 1];
  memset(request, 'q', sizeof request);
  struct client_conn *conns = calloc((size_t)concurrency, sizeof *conns);
  if (conns == NULL) die("calloc");

  double start = now_seconds();
  double deadline = start + seconds;
  for (int i = 0; i < concurrency; i++) start_conn(&run, &conns[i]);
  struct epoll_event events[MAX_CONCURRENCY];
  double now = start;
  while (!stop_requested && (now = now_seconds()) < deadline) {
    /* Slots whose connect failed at once are retried here. */
    for (int i = 0; i < concurrency; i++) {
      if (conns[i].fd < 0) start_conn(&run, &conns[i]);
    }
    int n = epoll_wait(run.ep, events, concurrency, 50);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int i = 0; i < n; i++) {
      struct client_conn *c = events[i].data.ptr;
      int restart = 0;
      if (c->state == CONNECTING) {
        int err = 0;
        socklen_t elen = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen);
        if (err != 0) {
          record_failure(&run, "connect", err);
          restart = 1;
        } else {
          ssize_t w = write(c->fd, request, (size_t)size);
          if (w != size) {
            record_failure(&run, "write", w < 0 ? errno : EMSGSIZE);
            restart = 1;
          } else {
            run.bytes_sent += (uint64_t)w;
            c->state = READING;
            struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
            if (epoll_ctl(run.ep, EPOLL_CTL_MOD, c->fd, &ev) < 0) die("epoll_ctl");
          }
        }
      } else {
        ssize_t r = read(c->fd, buf, sizeof buf);
        if (r > 0) {
          c->got += (int)r;
          run.bytes_received += (uint64_t)r;
          if (c->got > size) {
            record_failure(&run, "read", EPROTO);
            restart = 1;
          }
        } else if (r == 0) {
          if (c->got == size) run.connections++;
          else record_failure(&run, "short response", EPROTO);
          restart = 1;
        } else if (errno != EAGAIN && errno != EINTR) {
          record_failure(&run, "read", errno);
          restart = 1;
        }
      }
      if (restart) {
        close(c->fd);
        start_conn(&run, c);
      }
    }
  }
  double elapsed = now - start;
  for (int i = 0; i < concurrency; i++) {
    if (conns[i].fd >= 0) close(conns[i].fd);
  }
  printf("{\"event\":\"done\",\"connections\":%llu,\"failed\":%llu,\"seconds\":%.3f,"
         "\"connectionsPerSecond\":%.1f,\"bytesSent\":%llu,\"bytesReceived\":%llu,\"cpuSeconds\":%.6f,"
         "\"firstError\":\"%s\"}\n",
         (unsigned long long)run.connections, (unsigned long long)run.failed, elapsed,
         (double)run.connections / elapsed, (unsigned long long)run.bytes_sent,
         (unsigned long long)run.bytes_received, cpu_seconds(), run.first_error);
  free(conns);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) usage();
  const char *role = argv[1];
  const char *host = NULL;
  int port = -1, concurrency = 16, size = 64;
  double seconds = 5;
  for (int i = 2; i < argc; i += 2) {
    if (i + 1 >= argc) usage();
    const char *flag = argv[i], *value = argv[i + 1];
    if (strcmp(flag, "--bind") == 0 || strcmp(flag, "--host") == 0) host = value;
    else if (strcmp(flag, "--port") == 0) port = (int)parse_long(flag, value, 0, 65535);
    else if (strcmp(flag, "--size") == 0) size = (int)parse_long(flag, value, 1, MAX_SIZE);
    else if (strcmp(flag, "--concurrency") == 0) concurrency = (int)parse_long(flag, value, 1, MAX_CONCURRENCY);
    else if (strcmp(flag, "--seconds") == 0) seconds = (double)parse_long(flag, value, 1, 3600);
    else usage();
  }
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  if (host == NULL) usage();
  if (strcmp(role, "server") == 0) return run_server(host, port < 0 ? 0 : port, size);
  if (strcmp(role, "client") == 0) {
    if (port <= 0) usage();
    return run_client(host, port, seconds, concurrency, size);
  }
  usage();
  return 2;
}
