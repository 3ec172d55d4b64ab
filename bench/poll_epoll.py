"""Python companion of bench/poll.ts: calls/s of select.epoll().poll(0) on an epoll with N
registered fds (EPOLLIN) of which exactly 1 is ready. The fds are one FIFO holding a byte
plus N-1 opens of an empty FIFO, as in poll.ts. Prints one JSON line on stdout.

Run: python3 bench/poll_epoll.py [--fds 10000] [--seconds 1.5] [--warmup 0.2]
"""
import argparse, json, os, platform, resource, select, shutil, sys, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument('--fds', type=int, default=10000)
ap.add_argument('--seconds', type=float, default=1.5)
ap.add_argument('--warmup', type=float, default=0.2)
args = ap.parse_args()

soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
if soft != resource.RLIM_INFINITY and args.fds + 50 > soft:
    sys.exit(f'poll_epoll.py: --fds {args.fds} does not fit the open-file limit {soft}')

BATCH = 1000


def run(poll, seconds):
    """Calls poll(0) in batches until `seconds` have passed; returns calls per second."""
    calls, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(BATCH):
            if len(poll(0)) != 1:
                sys.exit('poll_epoll.py: epoll.poll(0) did not return exactly 1 event')
        calls += BATCH
        now = time.perf_counter()
        if now >= deadline:
            return calls / (now - start)


tmp = tempfile.mkdtemp(prefix='fdpoll-bench-')
fds = []
try:
    ready_path, idle_path = os.path.join(tmp, 'ready'), os.path.join(tmp, 'idle')
    os.mkfifo(ready_path)
    os.mkfifo(idle_path)
    fds.append(os.open(ready_path, os.O_RDWR | os.O_NONBLOCK))
    os.write(fds[0], b'x')  # never read: stays readable (level-triggered)
    for _ in range(args.fds - 1):
        fds.append(os.open(idle_path, os.O_RDWR | os.O_NONBLOCK))
    with select.epoll() as ep:
        for fd in fds:
            ep.register(fd, select.EPOLLIN)
        run(ep.poll, args.warmup)
        rate = run(ep.poll, args.seconds)
    print(json.dumps({'python': platform.python_version(), 'fds': len(fds), 'calls_per_s': rate}))
finally:
    for fd in fds:
        os.close(fd)
    shutil.rmtree(tmp)
