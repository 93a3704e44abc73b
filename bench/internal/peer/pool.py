# Driver for peer.Python: holds a warm multiprocessing.Pool and times pool
# operations on request.
#
# argv[1] is the number of worker processes. Once the pool is created and
# warmed it serves the line protocol (lineproto.py, put in front of this
# source) with these commands:
#   map N    time pool.map(noop, range(N)) with the default chunksize
#   apply N  time N sequential pool.apply(noop, (i,)) round trips
#   spawn W  time a new Pool(W) until its first apply(noop, (0,)) result;
#            the new pool is terminated and joined after that time
# each answered "ok <nanoseconds>" (time.perf_counter_ns). On EOF it
# terminates the pool, joins it and exits 0.
import multiprocessing
import sys
import time


def noop(x):
    return x


def run(ctx, pool, cmd, n):
    if cmd == "map":
        start = time.perf_counter_ns()
        pool.map(noop, range(n))
        return time.perf_counter_ns() - start
    if cmd == "apply":
        start = time.perf_counter_ns()
        for i in range(n):
            pool.apply(noop, (i,))
        return time.perf_counter_ns() - start
    if cmd == "spawn":
        if n < 1:
            raise ValueError("want at least one worker, got %d" % n)
        start = time.perf_counter_ns()
        fresh = ctx.Pool(n)
        try:
            fresh.apply(noop, (0,))
            return time.perf_counter_ns() - start
        finally:
            fresh.terminate()
            fresh.join()
    raise ValueError("unknown command %r" % cmd)


def main():
    workers = int(sys.argv[1])
    try:
        # fork copies __main__, so noop is found by workers even though
        # this script runs from -c.
        ctx = multiprocessing.get_context("fork")
    except ValueError:
        ctx = multiprocessing.get_context()
    pool = ctx.Pool(workers)
    try:
        pool.map(noop, range(4 * workers))

        def handle(words):
            if len(words) != 2:
                raise ValueError("want '<map|apply|spawn> N', got %r" % " ".join(words))
            n = int(words[1])
            if n < 0:
                raise ValueError("negative count %d" % n)
            return (run(ctx, pool, words[0], n),)

        serve(handle)  # lineproto.py
    finally:
        pool.terminate()
        pool.join()


if __name__ == "__main__":
    main()
