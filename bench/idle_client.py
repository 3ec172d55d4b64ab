"""Idle keep-alive client for bench/idle.ts: opens N connections to 127.0.0.1:PORT and holds them.

Every 500th connection (and the last) sends one GET and reads the whole response before more are
opened: the accept queue is FIFO, so an answer means the server has accepted every earlier
connection too, and at most 500 wait in the queue (node:http's backlog is 511). Prints 'ready'
once all N are open and accepted, then holds them until stdin closes, then closes them with a
reset (SO_LINGER 0) so that no TIME_WAIT sockets stay in the kernel's slab into later runs.
The fd soft limit is raised to the hard limit first, for N near it. Source addresses rotate over
127.0.0.1-8: connect() takes the first free ephemeral port for a (source, destination) pair, and
with over ~14,000 connections from one address to one port it searches thousands per connect.
With a third argument 'echo' it talks to an upper-casing echo server instead (bench/coroutines-idle.ts):
the round trip is b'ping\n', answered b'PING\n', on every 4th connection (the example echo servers
listen with a backlog of 5).
Run: python3 bench/idle_client.py PORT N [echo]"""
import resource
import socket
import struct
import sys

RESPONSE_END = b'Hello, world!'
SOURCES = 8  # source addresses 127.0.0.1 to 127.0.0.8
IP_BIND_ADDRESS_NO_PORT = 24  # <linux/in.h>: bind() leaves the port to connect(); in socket from Python 3.12


def request(sock, port, echo):
    sock.sendall(b'ping\n' if echo else f'GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n'.encode())
    got = b''
    while not got.endswith(b'PING\n' if echo else RESPONSE_END):
        chunk = sock.recv(4096)
        if not chunk:
            sys.exit(f'idle_client: connection closed after {len(got)} bytes: {got!r}')
        got += chunk


def connect(port, i):
    """Connection i, from source address 127.0.0.(1 + i % SOURCES)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
    sock.bind((f'127.0.0.{1 + i % SOURCES}', 0))
    sock.connect(('127.0.0.1', port))
    return sock


def main():
    port, n = int(sys.argv[1]), int(sys.argv[2])
    echo = sys.argv[3:] == ['echo']
    every = 4 if echo else 500
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard != resource.RLIM_INFINITY and n + 20 > hard:
        sys.exit(f'idle_client: {n} connections need {n + 20} fds, above the hard limit {hard}')
    conns = []
    for i in range(n):
        sock = connect(port, i)
        conns.append(sock)
        if (i + 1) % every == 0 or i + 1 == n:
            request(sock, port, echo)
    print('ready', flush=True)
    sys.stdin.read()  # hold every connection until the parent closes our stdin
    linger = struct.pack('ii', 1, 0)
    for sock in conns:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        sock.close()


if __name__ == '__main__':
    main()
