"""A grove wire-protocol peer in Python, written from PROTOCOL.md alone.

Run by TestPythonPeer with a socketpair end as fd 3: it handshakes as the
initiator (offering batches of up to BATCH items, or none when BATCH is 0),
calls "stream" for N items with a window of WINDOW items, grants credit as
it takes them, checks that every item arrives in order (a 16-byte bin whose
first byte is i % 256), whether in Yields or Batches, and that no Batch
exceeds its offer. When METADATA is set, its Call carries the metadata
{"traceparent": METADATA} (the Call's fifth element), and it answers the
Call "metadata" the Go side makes with the metadata that Call carried (or
nil); without it, its Call has the four elements of a peer that predates
metadata. Then it prints one summary line and exits 0. Any fault exits 1
with the reason. Only the standard library: msgpack by hand.
"""
import os
import socket
import struct
import sys

PREFACE = b"\x89GROVE\r\n"


def enc(v):
    if v is None:
        return b"\xc0"
    if v is True:
        return b"\xc3"
    if v is False:
        return b"\xc2"
    if isinstance(v, int):
        if 0 <= v < 128:
            return bytes([v])
        if 0 <= v < 1 << 32:
            return b"\xce" + struct.pack(">I", v)
        return b"\xd3" + struct.pack(">q", v)
    if isinstance(v, str):
        b = v.encode()
        return (bytes([0xA0 | len(b)]) if len(b) < 32 else b"\xd9" + bytes([len(b)])) + b
    if isinstance(v, list):
        return bytes([0x90 | len(v)]) + b"".join(enc(x) for x in v)
    if isinstance(v, dict):
        return bytes([0x80 | len(v)]) + b"".join(enc(k) + enc(x) for k, x in v.items())
    raise TypeError(type(v))


def dec(b, i=0):
    """Returns (value, next offset)."""
    c = b[i]
    i += 1
    if c <= 0x7F:
        return c, i
    if c >= 0xE0:
        return c - 256, i
    if 0x80 <= c <= 0x8F:
        return dec_map(b, i, c & 0x0F)
    if 0x90 <= c <= 0x9F:
        return dec_array(b, i, c & 0x0F)
    if 0xA0 <= c <= 0xBF:
        n = c & 0x1F
        return b[i:i + n].decode(), i + n
    if c == 0xC0:
        return None, i
    if c in (0xC2, 0xC3):
        return c == 0xC3, i
    fixed = {0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q", 0xD0: ">b", 0xD1: ">h", 0xD2: ">i", 0xD3: ">q"}
    if c in fixed:
        f = fixed[c]
        n = struct.calcsize(f)
        return struct.unpack(f, b[i:i + n])[0], i + n
    lens = {0xC4: 1, 0xC5: 2, 0xC6: 4, 0xD9: 1, 0xDA: 2, 0xDB: 4}
    if c in lens:
        k = lens[c]
        n = int.from_bytes(b[i:i + k], "big")
        i += k
        raw = bytes(b[i:i + n])
        return (raw if c in (0xC4, 0xC5, 0xC6) else raw.decode()), i + n
    if c in (0xDC, 0xDD):
        k = 2 if c == 0xDC else 4
        return dec_array(b, i + k, int.from_bytes(b[i:i + k], "big"))
    if c in (0xDE, 0xDF):
        k = 2 if c == 0xDE else 4
        return dec_map(b, i + k, int.from_bytes(b[i:i + k], "big"))
    raise ValueError("msgpack code 0x%02x" % c)


def dec_array(b, i, n):
    out = []
    for _ in range(n):
        v, i = dec(b, i)
        out.append(v)
    return out, i


def dec_map(b, i, n):
    out = {}
    for _ in range(n):
        k, i = dec(b, i)
        out[k], i = dec(b, i)
    return out, i


def read_exact(s, n):
    buf = b""
    while len(buf) < n:
        part = s.recv(n - len(buf))
        if not part:
            raise EOFError("connection closed after %d of %d bytes" % (len(buf), n))
        buf += part
    return buf


def read_frame(s):
    (n,) = struct.unpack(">I", read_exact(s, 4))
    body = read_exact(s, n)
    v, end = dec(body)
    if end != len(body):
        raise ValueError("bytes after the envelope")
    return v


def frame(v):
    body = enc(v)
    return struct.pack(">I", len(body)) + body


def fail(msg):
    print("peer.py: " + msg, file=sys.stderr)
    sys.exit(1)


def answer_metadata(s, call):
    """Returns the metadata the Call carried: its fifth element, if any."""
    if len(call) > 5:
        fail("a Call of %d elements" % len(call))
    md = call[4] if len(call) == 5 else None
    if md is not None and not (isinstance(md, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in md.items())):
        fail("metadata %r is not a map of strings" % (md,))
    s.sendall(frame([6, call[1], md]))
    return True


def main():
    n, window, batch = int(os.environ["N"]), int(os.environ["WINDOW"]), int(os.environ["BATCH"])
    s = socket.socket(fileno=3)
    hello = {"version": 1, "name": "py", "id": "p1", "pid": os.getpid(), "role": "python",
             "initiator": True, "window": window, "max_frame": 1 << 20}
    if batch:
        hello["batch"] = batch
    s.sendall(PREFACE + frame([1, 0, hello]))
    if read_exact(s, 8) != PREFACE:
        fail("no preface")
    theirs = read_frame(s)
    if theirs[0] != 1 or theirs[2].get("version") != 1:
        fail("no Hello: %r" % (theirs,))
    traceparent = os.environ.get("METADATA", "")
    if traceparent:
        s.sendall(frame([2, 1, "stream", n, {"traceparent": traceparent}]))
    else:
        s.sendall(frame([2, 1, "stream", n]))
    nxt, taken, frames, batches, largest, answered = 0, 0, 0, 0, 0, False
    while True:
        m = read_frame(s)
        kind, sid = m[0], m[1]
        if kind == 2 and sid % 2 == 0 and m[2] == "metadata":
            answered = answer_metadata(s, m)
            continue
        if sid != 1:
            fail("message for stream %d" % sid)
        if kind == 4:
            items = [m[2]]
        elif kind == 10:
            if not batch:
                fail("a Batch, although no batches were offered")
            items = m[2]
            if not 1 <= len(items) <= batch:
                fail("a Batch of %d items, offer %d" % (len(items), batch))
            batches += 1
            largest = max(largest, len(items))
        elif kind == 6:
            break
        else:
            fail("unexpected kind %d" % kind)
        frames += 1
        for item in items:
            if not isinstance(item, bytes) or len(item) != 16 or item[0] != nxt % 256:
                fail("item %d: %r" % (nxt, item))
            nxt += 1
        taken += len(items)
        if nxt > n:
            fail("more items than asked for")
        if taken >= max(1, window // 2):
            s.sendall(frame([9, 1, taken]))
            taken = 0
    while traceparent and not answered:
        m = read_frame(s)
        if m[0] != 2 or m[2] != "metadata":
            fail("expected the Call metadata, got %r" % (m,))
        answered = answer_metadata(s, m)
    if nxt != n:
        fail("%d items of %d" % (nxt, n))
    if m[2] != n:
        fail("Return %r" % (m[2],))
    print("items=%d frames=%d batches=%d largest=%d" % (nxt, frames, batches, largest))


main()
