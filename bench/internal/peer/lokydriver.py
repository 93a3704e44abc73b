# Driver for peer.Loky: times loky's reusable executor on request, as its
# users run it (get_reusable_executor, submit, map).
#
# loky is imported as the standalone package, else as the copy joblib
# vendors (Debian's python3-joblib). With argv[1] == "probe" it prints
# "<loky version> <module> <python version>" and exits 0 (1, with the
# reason on stderr, when neither imports). Otherwise, once loky is
# imported, it serves the line protocol (lineproto.py, put in front of
# this source) with these commands:
#   spawn W      time get_reusable_executor(max_workers=W) and its first
#                submit(noop).result(), from no executor; shut down after
#   submit N W   time N sequential submit(noop, i).result() round trips
#   map N W C    time list(executor.map(noop, range(N), chunksize=C))
#   crash W K    submit a task that ends its worker with os._exit(3), then
#                K tasks sleeping 200 ms; time from that submit until a
#                submit(noop) made once the crash was reported has its
#                result (the executor respawned), and count how many of
#                the K failed
# A command other than spawn first warms the executor of W workers
# (outside the time). Each is answered "ok <nanoseconds>" (crash: "ok
# <nanoseconds> <failed>"), measured with time.perf_counter_ns. On EOF it
# shuts the executor down, killing its workers, and
# exits 0; loky's resource tracker process leaves once it reads EOF.
import os
import sys
import time

# python -c puts the working directory first on the path, where a file
# named loky.py would shadow loky.
if sys.path and sys.path[0] == "":
    del sys.path[0]

try:
    import loky

    MODULE = "loky"
except ImportError:
    try:
        from joblib.externals import loky

        MODULE = "joblib.externals.loky"
    except ImportError:
        loky = None
        MODULE = ""


def noop(x):
    return x


def die(_):
    os._exit(3)


def nap(ms):
    time.sleep(ms / 1000)
    return ms


# ARGS names each command's numbers, in order.
ARGS = {"spawn": ("W",), "submit": ("N", "W"), "map": ("N", "W", "C"), "crash": ("W", "K")}


class Driver:
    def __init__(self):
        self.warm = None  # (executor, workers) last warmed

    def executor(self, workers):
        ex = loky.get_reusable_executor(max_workers=workers)
        if self.warm != (ex, workers):
            # Every worker up and past its imports before anything is timed.
            list(ex.map(noop, range(4 * workers)))
            self.warm = (ex, workers)
        return ex

    def shutdown(self):
        self.warm = None
        ex = loky.get_reusable_executor()
        ex.shutdown(wait=True, kill_workers=True)


    def run(self, cmd, args):
        if cmd == "spawn":
            (w,) = args
            self.shutdown()
            start = time.perf_counter_ns()
            ex = loky.get_reusable_executor(max_workers=w)
            ex.submit(noop, 0).result()
            d = time.perf_counter_ns() - start
            self.shutdown()
            return (d,)
        if cmd == "submit":
            n, w = args
            ex = self.executor(w)
            start = time.perf_counter_ns()
            for i in range(n):
                ex.submit(noop, i).result()
            return (time.perf_counter_ns() - start,)
        if cmd == "map":
            n, w, c = args
            if c < 1:
                raise ValueError("chunksize %d, want >= 1" % c)
            ex = self.executor(w)
            start = time.perf_counter_ns()
            for _ in ex.map(noop, range(n), chunksize=c):
                pass
            return (time.perf_counter_ns() - start,)
        if cmd == "crash":
            w, k = args
            ex = self.executor(w)
            start = time.perf_counter_ns()
            crashed = ex.submit(die, 0)
            others = [ex.submit(nap, 200) for _ in range(k)]
            try:
                crashed.result()
                raise RuntimeError("the task that exits its worker returned")
            except loky.BrokenProcessPool:  # TerminatedWorkerError is one
                pass
            ex = loky.get_reusable_executor(max_workers=w)
            ex.submit(noop, 0).result()
            d = time.perf_counter_ns() - start
            failed = 0
            for f in others:
                try:
                    f.result()
                except loky.BrokenProcessPool:
                    failed += 1
            return (d, failed)
        raise ValueError("unknown command %r" % cmd)  # not in ARGS


def main():
    if loky is None:
        sys.stderr.write("neither loky nor joblib.externals.loky imports\n")
        sys.exit(1)
    if sys.argv[1:] == ["probe"]:
        print(loky.__version__, MODULE, sys.version.split()[0])
        return
    driver = Driver()

    def handle(words):
        args = [int(a) for a in words[1:]]
        if any(a < 0 for a in args):
            raise ValueError("negative argument in %r" % " ".join(words))
        names = ARGS.get(words[0])
        if names is None:
            raise ValueError("unknown command %r" % words[0])
        if len(args) != len(names):
            raise ValueError("want '%s %s', got %r" % (words[0], " ".join(names), " ".join(words)))
        if args[names.index("W")] < 1:
            raise ValueError("want at least one worker, got %r" % " ".join(words))
        return driver.run(words[0], args)

    try:
        serve(handle)  # lineproto.py
    finally:
        driver.shutdown()


if __name__ == "__main__":
    main()
