"""Idle keep-alive client for bench/idle.ts: opens N connections to 127.0.0.1:PORT and holds them.

Every 500th connection (and the last) sends one GET and reads the whole response before more are
opened: the accept queue is FIFO, so an answer means the server has accepted every earlier
connection too, and at most 500 wait in the queue (node:http's backlog is 511). Prints 'ready'
once all N are open and accepted, then holds them until stdin closes.
Run: python3 bench/idle_client.py PORT N"""
import socket
import sys

RESPONSE_END = b'Hello, world!'


def request(sock, port):
    sock.sendall(f'GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n'.encode())
    got = b''
    while not got.endswith(RESPONSE_END):
        chunk = sock.recv(4096)
        if not chunk:
            sys.exit(f'idle_client: connection closed after {len(got)} bytes: {got!r}')
        got += chunk


def main():
    port, n = int(sys.argv[1]), int(sys.argv[2])
    conns = []
    for i in range(n):
        sock = socket.create_connection(('127.0.0.1', port), timeout=10)
        conns.append(sock)
        if (i + 1) % 500 == 0 or i + 1 == n:
            request(sock, port)
    print('ready', flush=True)
    sys.stdin.read()  # hold every connection until the parent closes our stdin
    for sock in conns:
        sock.close()


if __name__ == '__main__':
    main()
