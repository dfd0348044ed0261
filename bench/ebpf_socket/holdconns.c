// Holds N open TCP connections (2N sockets) on the loopback of the current
// network namespace, each having moved BYTES bytes each way, until stdin
// closes. Prints {"connections":N} once they are all established; each line
// read from stdin moves BYTES more each way on every connection, then prints
// {"exchanged":N}.
//
//   holdconns N [BYTES] [SOURCE]
//
// Clients bind to 127.0.0.(2 + SOURCE) (ephemeral ports are per source
// address); N is bounded by the open-file limit (2N + a few descriptors).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: holdconns N [BYTES]\n");
		return 2;
	}
	long n = atol(argv[1]);
	int bytes = argc > 2 ? atoi(argv[2]) : 1;
	long source = argc > 3 ? atol(argv[3]) : 0;
	char buf[4096] = { 0 };
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	struct sockaddr_in srv = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1;
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	socklen_t len = sizeof(srv);
	if (bind(lfd, (struct sockaddr *)&srv, len) || listen(lfd, 4096) ||
	    getsockname(lfd, (struct sockaddr *)&srv, &len)) {
		perror("holdconns: listen");
		return 1;
	}
	int *fds = calloc(2 * n, sizeof(int));
	for (long i = 0; i < n; i++) {
		/* 20,000 connections per source address keeps clear of the ephemeral port range's size. */
		struct sockaddr_in src = { .sin_family = AF_INET,
					   .sin_addr.s_addr = htonl(0x7f000002 + source + i / 20000) };
		int c = socket(AF_INET, SOCK_STREAM, 0);
		if (c < 0 || bind(c, (struct sockaddr *)&src, sizeof(src)) ||
		    connect(c, (struct sockaddr *)&srv, sizeof(srv))) {
			perror("holdconns: connect");
			return 1;
		}
		int s = accept(lfd, NULL, NULL);
		if (s < 0) {
			perror("holdconns: accept");
			return 1;
		}
		fds[2 * i] = c;
		fds[2 * i + 1] = s;
		if (bytes > 0) {
			if (write(c, buf, bytes) != bytes || read(s, buf, bytes) != bytes || write(s, buf, bytes) != bytes ||
			    read(c, buf, bytes) != bytes) {
				perror("holdconns: exchange");
				return 1;
			}
		}
	}
	printf("{\"connections\":%ld}\n", n);
	fflush(stdout);
	FILE *in = fdopen(0, "r");
	char line[64];
	while (fgets(line, sizeof(line), in)) {
		for (long i = 0; i < n; i++) {
			int c = fds[2 * i], s = fds[2 * i + 1];
			if (write(c, buf, bytes) != bytes || read(s, buf, bytes) != bytes || write(s, buf, bytes) != bytes ||
			    read(c, buf, bytes) != bytes) {
				perror("holdconns: exchange");
				return 1;
			}
		}
		printf("{\"exchanged\":%ld}\n", n);
		fflush(stdout);
	}
	return 0;
}
