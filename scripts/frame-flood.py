#!/usr/bin/env python3
"""Frame flood: one WebSocket client of the bridge sending frames that complete no command, as fast as TCP takes them.

Measures the bridge's CPU (from /proc/PID/stat) over the run, the frames written and the pongs read back. docs/benchmarks.md,
"Ping and fragment floods at the bridge", has the runs.

usage: frame-flood.py PORT PID KIND SECONDS
  KIND: pings (empty pings, each answered with a pong), fragments (an endless text message of empty fragments),
  none (connected and subscribed, nothing sent: the bridge's own CPU).
"""
import os, socket, sys, threading, time
port, pid, kind, seconds = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
TEXT, CONTINUATION, PING = 0x1, 0x0, 0x9

def frame(opcode, fin, payload=b""):
    # Masked, as a client's frames must be; a zero mask leaves the payload as it is.
    return bytes([(0x80 if fin else 0) | opcode, 0x80 | len(payload)]) + b"\0\0\0\0" + payload

def cpu():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
          b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n\r\n")
head = b""
while b"\r\n\r\n" not in head:
    head += s.recv(4096)
assert head.startswith(b"HTTP/1.1 101"), head
# Subscribed, so that the idle timeout does not close the client; the hello and the status are read below with the rest.
s.sendall(frame(TEXT, True, b'{"type":"subscribe","streams":["a"]}'))
received, stop = [0], threading.Event()

def reader():
    s.settimeout(0.2)
    while not stop.is_set():
        try:
            data = s.recv(1 << 20)
        except socket.timeout:
            continue
        if not data:
            return
        received[0] += data.count(b"\x8a\x00")  # an empty pong (a rough count: payloads are not parsed)

threading.Thread(target=reader, daemon=True).start()
time.sleep(0.5)
unit = frame(PING, True) if kind == "pings" else frame(CONTINUATION, False)
if kind == "fragments":
    s.sendall(frame(TEXT, False))
block, written = unit * 10000, 0
s.settimeout(0.5)
start_cpu, start = cpu(), time.time()
while time.time() - start < seconds:
    if kind == "none":
        time.sleep(0.1)
        continue
    try:
        written += s.send(block)
    except socket.timeout:
        pass
used, elapsed = cpu() - start_cpu, time.time() - start
stop.set()
frames = written // len(unit)
print(f"{kind}: {elapsed:.1f} s, {frames:,} frames written ({frames / elapsed:,.0f}/s), {received[0]:,} pongs, "
      f"bridge CPU {used:.2f} s ({used / elapsed:.0%} of a core)")
