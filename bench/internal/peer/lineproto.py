# The line protocol of peer's Python drivers, which the Go side (script.go)
# puts in front of each driver's source: serve(handle) writes "ready", then
# answers each line of stdin with "ok" and the numbers handle(words)
# returns, or "err <message>" if it raises, until EOF.
import sys


def serve(handle):
    out = sys.stdout
    out.write("ready\n")
    out.flush()
    while True:
        line = sys.stdin.readline()
        if not line:
            return
        try:
            words = line.split()
            if not words:
                raise ValueError("empty command")
            reply = "ok " + " ".join(str(v) for v in handle(words)) + "\n"
        except Exception as e:  # reported to the Go side, which decides
            reply = "err %s\n" % " ".join(str(e).split())
        out.write(reply)
        out.flush()
