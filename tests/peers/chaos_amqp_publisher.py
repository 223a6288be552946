#!/usr/bin/env python3
"""The chaos test's AMQP load (tests/src/chaos): pika with publisher confirms.

usage: chaos_amqp_publisher.py <url> <queue> <record-key> <rate> <stop-file> <out-file>

Publishes one {"key", "n"} body per 1/rate s until the stop file exists; writes "c <n>"
(confirmed), "u <n> <error>" (not confirmed) and "r <error>" (a failed connection attempt)
lines to the out file. Reconnects after every failure.
"""
import json, os, sys, time
import pika
url, queue, key, rate, stop, out = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5], sys.argv[6]
log = open(out, "w", buffering=1)
props = pika.BasicProperties(content_type="application/json", delivery_mode=2)

def connect():
    while not os.path.exists(stop):
        try:
            conn = pika.BlockingConnection(pika.URLParameters(url))
            ch = conn.channel()
            ch.confirm_delivery()
            return conn, ch
        except Exception as e:
            log.write("r %s\n" % type(e).__name__)
            time.sleep(0.2)
    return None, None

conn, ch = connect()
started, n = time.time(), 0
while conn is not None and not os.path.exists(stop):
    try:
        ch.basic_publish("", queue, json.dumps({"key": key, "n": n}), props, mandatory=True)
        log.write("c %d\n" % n)
    except Exception as e:
        log.write("u %d %s\n" % (n, type(e).__name__))
        try:
            conn.close()
        except Exception:
            pass
        conn, ch = connect()
    n += 1
    pause = started + n / rate - time.time()
    if pause > 0:
        time.sleep(pause)
    elif pause < -2:
        started = time.time() - n / rate
if conn is not None:
    try:
        conn.close()
    except Exception:
        pass
