"""Python peer for bench/http.ts: select.epoll, edge-triggered, every fd registered once.
accept() and recv() are drained until BlockingIOError; the "\\r\\n\\r\\n" request terminators of
each read are counted (a partial one carries over) and answered in one send().
Run: PORT=0 python3 bench/servers/python-epoll.py"""
import os
import select
import socket
import sys

RESPONSE = b'HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 13\r\n\r\nHello, world!'
TERMINATOR = b'\r\n\r\n'

server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(('127.0.0.1', int(os.environ.get('PORT', 8080))))
server.listen(socket.SOMAXCONN)
server.setblocking(False)
print(f'Serving on http://127.0.0.1:{server.getsockname()[1]}/', flush=True)

ep = select.epoll()
ep.register(server.fileno(), select.EPOLLIN | select.EPOLLET)
connections = {}  # fd -> socket
carry = {}        # fd -> up to 3 bytes that may start a terminator


def close(fd):
    ep.unregister(fd)
    connections.pop(fd).close()
    del carry[fd]


def serve(fd):
    conn = connections[fd]
    while True:
        try:
            data = conn.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            return close(fd)
        if not data:
            return close(fd)
        data = carry[fd] + data
        count = data.count(TERMINATOR)
        last = data.rfind(TERMINATOR)
        carry[fd] = (data[last + 4:] if last >= 0 else data)[-3:]
        if count:
            out = RESPONSE * count
            # never short in this bench (see epoll-server.c); closing makes it visible if it is
            try:
                sent = conn.send(out)
            except OSError:
                sent = -1
            if sent != len(out):
                print(f'python-epoll: short send ({sent} of {len(out)}), closing', file=sys.stderr)
                return close(fd)


while True:
    for fd, event in ep.poll():
        if fd == server.fileno():
            while True:
                try:
                    conn, _ = server.accept()
                except BlockingIOError:
                    break
                conn.setblocking(False)
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                connections[conn.fileno()] = conn
                carry[conn.fileno()] = b''
                ep.register(conn.fileno(), select.EPOLLIN | select.EPOLLET)
        elif fd in connections:
            serve(fd)
