#!/usr/bin/env python3
"""Probe flood: connections pipelining GET /alive and reading the answers as fast as they come, against one HTTP service.

Measures the service's CPU (from /proc/PID/stat) over the run, the answers by status, and a normal client's GET /alive
(from 127.0.0.4, once every 200 ms; a failure or a 10 s timeout counts as 10,000 ms). docs/benchmarks.md, "Probe
floods", has the runs and the way the gateway was started for them.

usage: probe-flood.py PORT CONNECTIONS SECONDS PID
  Connections come from 127.0.0.2 and 127.0.0.3 (half each), each writing requests (64 at a time) as fast as TCP takes them.
"""
import asyncio, sys, time, os
port, conns, seconds, pid = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
addrs = ["127.0.0.2", "127.0.0.3"]
REQ = f"GET /alive HTTP/1.1\r\nHost: x\r\n\r\n".encode()
counts = {}
def cpu():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
async def flooder(i, stop):
    try:
        r, w = await asyncio.open_connection("127.0.0.1", port, local_addr=(addrs[i % len(addrs)], 0))
    except Exception as e:
        counts["connect_error"] = counts.get("connect_error", 0) + 1; return
    async def writer():
        while not stop.is_set():
            w.write(REQ * 64)
            try: await w.drain()
            except Exception: return
    t = asyncio.create_task(writer())
    try:
        while not stop.is_set():
            line = await r.readline()
            if not line: break
            if line.startswith(b"HTTP/1.1 "):
                code = line[9:12].decode(); counts[code] = counts.get(code, 0) + 1
    except Exception: pass
    t.cancel(); w.close()
async def normal(stop, lat):
    while not stop.is_set():
        t0 = time.perf_counter()
        try:
            r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port, local_addr=("127.0.0.4", 0)), 10)
            w.write(b"GET /alive HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); await w.drain()
            line = await asyncio.wait_for(r.readline(), 10)
            lat.append((time.perf_counter() - t0) * 1000 if line.startswith(b"HTTP/1.1 200") else 10000.0)
            w.close()
        except Exception: lat.append(10000.0)
        await asyncio.sleep(0.2)
async def main():
    stop = asyncio.Event(); lat = []
    c0 = cpu(); t0 = time.time()
    tasks = [asyncio.create_task(flooder(i, stop)) for i in range(conns)] + [asyncio.create_task(normal(stop, lat))]
    await asyncio.sleep(seconds); stop.set()
    c1 = cpu(); t1 = time.time()
    for t in tasks: t.cancel()
    lat.sort()
    p = lambda q: lat[min(len(lat)-1, int(q*len(lat)))] if lat else float('nan')
    print(f"server CPU {c1-c0:.1f} s over {t1-t0:.1f} s = {(c1-c0)/(t1-t0):.2f} CPUs; answers {dict(sorted(counts.items()))}; normal /alive n={len(lat)} p50 {p(0.5):.1f} ms p99 {p(0.99):.1f} ms")
asyncio.run(main())
