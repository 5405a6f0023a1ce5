#!/usr/bin/python3
"""The bench's Python peer (issue 14): the JSON kalman job done the way the original guide's stack does it.

Reads JSON chunks from sample-input with confluent-kafka (Debian's python3-confluent-kafka), runs a per-stream scalar
Kalman filter (q=1e-5, r=0.01, x0=0, p0=1: the processor's defaults) in a plain loop, writes the filtered chunk as
JSON (docs/messages.md) to sample-output, and commits the input offsets after the outputs are delivered:
at-least-once, no transactions. Usage: kalman_peer.py BOOTSTRAP. Stops on SIGTERM.
"""
import json
import signal
import sys
import time

from confluent_kafka import Consumer, Producer

Q, R = 1e-5, 0.01


def main(bootstrap):
    running = [True]
    signal.signal(signal.SIGTERM, lambda *_: running.__setitem__(0, False))
    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": "bench-python-peer", "enable.auto.commit": False,
        "auto.offset.reset": "earliest", "isolation.level": "read_committed", "fetch.wait.max.ms": 5,
        "session.timeout.ms": 6000, "heartbeat.interval.ms": 2000,
    })
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 2, "enable.idempotence": True})
    states = {}  # stream id -> [x, p]
    consumer.subscribe(["sample-input"])
    while running[0]:
        records = consumer.consume(num_messages=500, timeout=0.1)
        if not records:
            continue
        for record in records:
            if record.error():
                continue
            chunk = json.loads(record.value())
            state = states.setdefault(chunk["stream_id"], [0.0, 1.0])
            x, p = state
            filtered = []
            for z in chunk["signal"]:
                p += Q
                k = p / (p + R)
                x += k * (z - x)
                p *= 1 - k
                filtered.append(x)
            state[0], state[1] = x, p
            out = {
                "stream_id": chunk["stream_id"], "seq": chunk["seq"], "algorithm": "kalman",
                "signal": chunk["signal"], "filtered_signal": filtered,
                "timestamp_ms": chunk.get("timestamp_ms") or record.timestamp()[1], "processed_ms": int(time.time() * 1000),
            }
            while True:
                try:
                    producer.produce("sample-output", json.dumps(out, separators=(",", ":")).encode(), key=record.key(),
                                     headers=[("content-type", b"application/json")])
                    break
                except BufferError:
                    producer.poll(0.005)
            producer.poll(0)
        # At-least-once: the outputs are delivered before the offsets that cover them are committed.
        producer.flush()
        consumer.commit(asynchronous=True)
    producer.flush()
    consumer.close()


if __name__ == "__main__":
    main(sys.argv[1])
