"""asyncio peer of examples/echo-coroutines.ts for bench/echo.ts and bench/coroutines-idle.ts: one
coroutine per connection on asyncio's low-level socket API (loop.sock_accept, loop.sock_recv,
loop.sock_sendall), sending back what it gets, upper-cased. Run: PORT=0 python3 bench/servers/python-asyncio-echo.py"""
import asyncio
import os
import socket


async def handle(loop, conn):
    with conn:
        try:
            while data := await loop.sock_recv(conn, 1024):
                await loop.sock_sendall(conn, data.upper())
        except OSError:
            pass  # a connection error ends this client alone


async def main():
    loop = asyncio.get_running_loop()
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(('127.0.0.1', int(os.environ.get('PORT', 8088))))
    server.listen(1024)
    server.setblocking(False)
    print(f'Serving on tcp://127.0.0.1:{server.getsockname()[1]}', flush=True)
    tasks = set()
    while True:
        try:
            conn, _ = await loop.sock_accept(server)
        except OSError:
            continue  # ECONNABORTED, EMFILE: that client is lost, the server goes on
        task = loop.create_task(handle(loop, conn))
        tasks.add(task)  # asyncio keeps only weak references to tasks
        task.add_done_callback(tasks.discard)


asyncio.run(main())
