"""Echo load for bench/echo.ts: C connections to 127.0.0.1:PORT, each sending M messages of 64
bytes one at a time (the next once the whole upper-cased reply is back), all C at once on one
epoll loop. Connections open one by one, with a round trip on every 4th (the example servers
listen with a backlog of 5, and SYNs past it wait for the kernel's 1 s retry). Prints 'ready'
once all are open, waits for a line on stdin, runs, prints 'done SECONDS MESSAGES', and closes.
Run: python3 bench/echo_client.py PORT C M"""
import select
import socket
import sys
import time

MESSAGE = b'hello, echo server! ' * 3 + b'abcd'  # 64 bytes
REPLY = MESSAGE.upper()


def round_trip(sock):
    sock.sendall(MESSAGE)
    got = b''
    while len(got) < len(REPLY):
        chunk = sock.recv(4096)
        if not chunk:
            sys.exit('echo_client: connection closed by the server')
        got += chunk
    if got != REPLY:
        sys.exit(f'echo_client: wrong reply {got!r}')


def main():
    port, c, m = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    conns = []
    for i in range(c):
        sock = socket.create_connection(('127.0.0.1', port), timeout=10)
        conns.append(sock)
        if i % 4 == 3 or i == c - 1:
            round_trip(sock)  # the server has accepted this one, and so every earlier one
    print('ready', flush=True)
    sys.stdin.readline()
    ep = select.epoll()
    left = {}  # fd -> [socket, messages left, bytes of the reply received]
    start = time.perf_counter()
    for sock in conns:
        sock.setblocking(False)
        ep.register(sock.fileno(), select.EPOLLIN)
        left[sock.fileno()] = [sock, m, 0]
        sock.send(MESSAGE)
    done = 0
    while left:
        for fd, _ in ep.poll():
            state = left[fd]
            data = state[0].recv(4096)
            if not data:
                sys.exit('echo_client: connection closed by the server')
            state[2] += len(data)
            if state[2] < len(REPLY):
                continue
            state[2] = 0
            state[1] -= 1
            done += 1
            if state[1] == 0:
                ep.unregister(fd)
                del left[fd]
            else:
                state[0].send(MESSAGE)
    elapsed = time.perf_counter() - start
    print(f'done {elapsed:.6f} {done}', flush=True)
    for sock in conns:
        sock.close()


if __name__ == '__main__':
    main()
