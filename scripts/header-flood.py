#!/usr/bin/env python3
"""Header flood: many connections each sending request headers that never end, against one HTTP service.

Measures what the service holds for them (VmRSS of its process) and whether a normal client is still answered.
docs/benchmarks.md, "Header floods", has the runs and the way the gateway was started for them.

usage: header-flood.py PORT CONNECTIONS HEADER_BYTES PID [PER_ADDRESS]
  Connections come from 127.0.x.y, PER_ADDRESS (200) from each, so a per-address cap of 256 does not refuse them.
  Each sends a POST request line and header lines of 8,020 bytes while under HEADER_BYTES, never the blank line.
"""
import socket
import sys
import time

port, count, header_bytes, pid = (int(a) for a in sys.argv[1:5])
per_address = int(sys.argv[5]) if len(sys.argv) > 5 else 200


def rss_mib():
    try:
        with open(f"/proc/{pid}/status") as status:
            return next(int(line.split()[1]) // 1024 for line in status if line.startswith("VmRSS"))
    except FileNotFoundError:
        return None


print(f"before: {rss_mib()} MiB", flush=True)
sockets = []
for i in range(count):
    address = f"127.0.{1 + i // per_address // 250}.{2 + (i // per_address) % 250}"
    s = socket.socket()
    s.bind((address, 0))
    s.connect(("127.0.0.1", port))
    s.sendall(b"POST /kalman/audio/run HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n")
    sockets.append(s)

line = b"X-Pad-%d: " + b"a" * 8000 + b"\r\n"
sent, n, started = [0] * count, 0, time.time()
while True:
    progress = False
    for i, s in enumerate(sockets):
        if sent[i] + 8020 < header_bytes:
            try:
                s.sendall(line % n)
                n += 1
                sent[i] += 8020
                progress = True
            except OSError:
                sent[i] = header_bytes  # closed by the server (limit reached or connection refused)
    if not progress:
        break
print(f"sent {sum(min(x, header_bytes) for x in sent) // 1024} KiB over {count} connections in {time.time() - started:.1f} s", flush=True)

peak = 0
for _ in range(6):
    time.sleep(2)
    rss = rss_mib()
    if rss is None:
        print("the service's process is gone", flush=True)
        break
    peak = max(peak, rss)
print(f"peak VmRSS: {peak} MiB", flush=True)

try:
    normal = socket.create_connection(("127.0.0.1", port), timeout=10)
    normal.sendall(b"GET /alive HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    print("normal client during the flood:", normal.recv(40).split(b"\r\n")[0] or b"(closed unanswered)")
except OSError as e:
    print("normal client during the flood:", e)

open_count = 0
for s in sockets:
    s.setblocking(False)
    try:
        if s.recv(100):
            pass
    except BlockingIOError:
        open_count += 1
    except OSError:
        pass
print(f"flood connections still open: {open_count}")
