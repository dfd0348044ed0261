// Connection-rate load: one server process and one client process on the
// given address; every request is a new TCP connection that sends PAYLOAD
// bytes each way, then closes. Prints {"connections":N,"seconds":S,"rate":R,
// "cpuUsPerConn":C}, where C is the CPU time (user + system, both processes,
// softirq work included when it ran in their context) per connection: less
// sensitive than the rate to other load on a shared machine.
//
//   connrate ADDR PORT SECONDS [PAYLOAD]
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int full(int fd, char *buf, size_t n, int writing)
{
	size_t done = 0;
	while (done < n) {
		ssize_t r = writing ? write(fd, buf + done, n - done) : read(fd, buf + done, n - done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		done += (size_t)r;
	}
	return 0;
}

static socklen_t parse(const char *addr, int port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, addr, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		return sizeof(*in4);
	}
	if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		return sizeof(*in6);
	}
	fprintf(stderr, "connrate: bad address %s\n", addr);
	exit(2);
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: connrate ADDR PORT SECONDS [PAYLOAD]\n");
		return 2;
	}
	int port = atoi(argv[2]);
	double seconds = atof(argv[3]);
	size_t payload = argc > 4 ? (size_t)atoi(argv[4]) : 64;
	char *buf = calloc(1, payload + 1);
	struct sockaddr_storage ss;
	socklen_t len = parse(argv[1], port, &ss);
	int one = 1;

	int lfd = socket(ss.ss_family, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&ss, len) || listen(lfd, 4096)) {
		perror("connrate: listen");
		return 1;
	}
	pid_t child = fork();
	if (child == 0) {
		for (;;) {
			int c = accept(lfd, NULL, NULL);
			if (c < 0)
				continue;
			if (full(c, buf, payload, 0) == 0)
				full(c, buf, payload, 1);
			close(c);
		}
	}
	close(lfd);
	long n = 0, failed = 0;
	double start = now(), end = start + seconds;
	while (now() < end) {
		int fd = socket(ss.ss_family, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&ss, len) == 0 && full(fd, buf, payload, 1) == 0 &&
		    full(fd, buf, payload, 0) == 0)
			n++;
		else
			failed++;
		close(fd);
	}
	double elapsed = now() - start;
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	struct rusage self, children;
	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &children);
	double cpu_us = (self.ru_utime.tv_sec + self.ru_stime.tv_sec + children.ru_utime.tv_sec +
			 children.ru_stime.tv_sec) * 1e6 +
			self.ru_utime.tv_usec + self.ru_stime.tv_usec + children.ru_utime.tv_usec +
			children.ru_stime.tv_usec;
	printf("{\"connections\":%ld,\"failed\":%ld,\"seconds\":%.3f,\"rate\":%.1f,\"cpuUsPerConn\":%.3f}\n", n,
	       failed, elapsed, n / elapsed, n > 0 ? cpu_us / n : 0);
	return 0;
}
