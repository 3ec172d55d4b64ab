/*
 * Native baseline for bench/http.ts: a single-threaded, level-triggered epoll HTTP/1.1
 * keep-alive + pipelining server. Each wakeup drains accept4(); a readable connection gets one
 * recv() into a 64 KiB buffer, its "\r\n\r\n" request terminators are counted (the partial
 * match is kept per fd across reads) and that many copies of the 76-byte response go out in one
 * send(). Build: cc -O2 -o bench/out/epoll-server bench/servers/epoll-server.c; run: PORT=0 ...
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static const char RESPONSE[] =
    "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 13\r\n\r\nHello, world!";
#define RESPONSE_LEN (sizeof RESPONSE - 1) /* 76 bytes */
#define MAX_FDS 65536
#define INBUF 65536
#define MAX_RESPONSES (INBUF / 4 + 1) /* one read holds at most this many terminators */

static unsigned char match[MAX_FDS]; /* per fd: bytes of "\r\n\r\n" matched so far (0-3) */
static char inbuf[INBUF];
static char *outbuf;                 /* MAX_RESPONSES copies of RESPONSE, built once */

static void die(const char *what) {
    perror(what);
    exit(1);
}

/* Accepts every pending connection (the listening socket is non-blocking). */
static void accept_all(int ep, int lfd) {
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) perror("accept4");
            return;
        }
        if (fd >= MAX_FDS) { close(fd); continue; }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        match[fd] = 0;
        struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) { perror("epoll_ctl"); close(fd); }
    }
}

/* Reads once from a readable connection and answers every complete request in it. */
static void serve(int fd) {
    ssize_t got = recv(fd, inbuf, sizeof inbuf, 0);
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    if (got <= 0) { close(fd); return; } /* EOF or error; close() also leaves the epoll set */

    /* Count "\r\n\r\n": state m = matched prefix length. On a mismatch the only prefix that can
       still be under way is a lone "\r", so fall back to 1 for '\r' and 0 otherwise. */
    unsigned m = match[fd], count = 0;
    for (ssize_t i = 0; i < got; i++) {
        char c = inbuf[i];
        if (c == ((m & 1) ? '\n' : '\r')) {
            if (++m == 4) { count++; m = 0; }
        } else {
            m = (c == '\r');
        }
    }
    match[fd] = m;
    if (count == 0) return;

    /* The bench keeps at most pipeline x 76 bytes in flight per connection, far below the socket
       buffer, so a short send never happens in practice; rather than buffer the rest behind
       EPOLLOUT, this server closes the connection and says so (wrk then counts an error). */
    size_t len = count * RESPONSE_LEN;
    ssize_t sent = send(fd, outbuf, len, MSG_NOSIGNAL);
    if (sent != (ssize_t)len) {
        if (sent >= 0 || (errno != EPIPE && errno != ECONNRESET))
            fprintf(stderr, "epoll-server: short send (%zd of %zu bytes), closing fd %d\n", sent, len, fd);
        close(fd);
    }
}

int main(void) {
    const char *port_env = getenv("PORT");
    int port = port_env ? atoi(port_env) : 8080;

    outbuf = malloc(MAX_RESPONSES * RESPONSE_LEN);
    if (!outbuf) die("malloc");
    for (size_t i = 0; i < MAX_RESPONSES; i++) memcpy(outbuf + i * RESPONSE_LEN, RESPONSE, RESPONSE_LEN);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0) die("socket");
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port) };
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0) die("bind");
    if (listen(lfd, SOMAXCONN) < 0) die("listen");
    socklen_t alen = sizeof addr;
    if (getsockname(lfd, (struct sockaddr *)&addr, &alen) < 0) die("getsockname");
    printf("Serving on http://127.0.0.1:%d/\n", ntohs(addr.sin_port));
    fflush(stdout); /* stdout is a pipe under the bench: flush the line now */

    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = lfd };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0) die("epoll_ctl");

    struct epoll_event events[256];
    for (;;) {
        int n = epoll_wait(ep, events, 256, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            if (events[i].data.fd == lfd) accept_all(ep, lfd);
            else serve(events[i].data.fd);
        }
    }
}
