#!/usr/bin/env python3
"""The chaos test's ZeroMQ load (tests/src/chaos): pyzmq PUSH connected to the PULL channel.

usage: chaos_zmq_pusher.py <address> <record-key> <rate> <stop-file> <out-file>

Sends one {"key", "n"} body per 1/rate s until the stop file exists; writes "s <n>" for a
message queued and "b <n>" for one refused at once (high-water mark) to the out file.
"""
import json, os, sys, time
import zmq
addr, key, rate, stop, out = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4], sys.argv[5]
log = open(out, "w", buffering=1)
ctx = zmq.Context()
s = ctx.socket(zmq.PUSH)
s.setsockopt(zmq.LINGER, 3000)
s.connect(addr)
started, n = time.time(), 0
while not os.path.exists(stop):
    try:
        s.send_string(json.dumps({"key": key, "n": n}), zmq.NOBLOCK)
        log.write("s %d\n" % n)
    except zmq.Again:
        log.write("b %d\n" % n)
    n += 1
    pause = started + n / rate - time.time()
    if pause > 0:
        time.sleep(pause)
    elif pause < -2:
        started = time.time() - n / rate
s.close()
ctx.term()
