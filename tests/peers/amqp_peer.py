#!/usr/bin/env python3
"""An AMQP peer for the connector's end-to-end tests, written with pika (not by this project).

usage:
  amqp_peer.py declare <queue> [--exchange X --key K] [--dead-letter-to Q]
                                                         declare a queue (and a direct exchange bound to it;
                                                         and a fanout dead-letter exchange <queue>.dlx into Q)
  amqp_peer.py delete <queue> [--exchange X] [--dead-letter-to Q]
                                                         delete them
  amqp_peer.py publish <queue> <count> <record-key> [--start N] [--rate R] [--invalid-every K]
                                                         publish {"key", "n"} JSON bodies through the default exchange;
                                                         with K, every K-th body is `not json <n>` instead
  amqp_peer.py get <queue> [--timeout S]                 fetch one message; print it as JSON
  amqp_peer.py count <queue>                             print the number of ready messages
  amqp_peer.py drain <queue>                             take (and acknowledge) every ready message; print
                                                         one line per message: its body

URL from AMQP_URL (default amqp://guest:guest@127.0.0.1:5672/%2f).
"""
import argparse
import json
import os
import sys
import time

import pika

URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f")


def connect():
    return pika.BlockingConnection(pika.URLParameters(URL))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("cmd")
    p.add_argument("queue")
    p.add_argument("count", nargs="?", type=int, default=0)
    p.add_argument("record_key", nargs="?", default="default")
    p.add_argument("--exchange", default="")
    p.add_argument("--key", default="")
    p.add_argument("--start", type=int, default=0)
    p.add_argument("--rate", type=float, default=0.0)
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--dead-letter-to", default="")
    p.add_argument("--invalid-every", type=int, default=0)
    a = p.parse_args()
    conn = connect()
    ch = conn.channel()
    if a.cmd == "declare":
        arguments = None
        if a.dead_letter_to:
            dlx = a.queue + ".dlx"
            ch.exchange_declare(dlx, exchange_type="fanout", durable=False)
            ch.queue_declare(a.dead_letter_to, durable=True)
            ch.queue_bind(a.dead_letter_to, dlx)
            arguments = {"x-dead-letter-exchange": dlx}
        ch.queue_declare(a.queue, durable=True, arguments=arguments)
        if a.exchange:
            ch.exchange_declare(a.exchange, exchange_type="direct", durable=False)
            ch.queue_bind(a.queue, a.exchange, routing_key=a.key)
    elif a.cmd == "delete":
        ch.queue_delete(a.queue)
        if a.exchange:
            ch.exchange_delete(a.exchange)
        if a.dead_letter_to:
            ch.queue_delete(a.dead_letter_to)
            ch.exchange_delete(a.queue + ".dlx")
    elif a.cmd == "publish":
        props = pika.BasicProperties(content_type="application/json", delivery_mode=2,
                                     headers={"x-test": "yes"})
        started = time.time()
        for i in range(a.start, a.start + a.count):
            if a.invalid_every and i % a.invalid_every == 0:
                body = "not json %d" % i
            else:
                body = json.dumps({"key": a.record_key, "n": i})
            ch.basic_publish("", a.queue, body, props)
            if a.rate > 0:
                due = started + (i - a.start + 1) / a.rate
                pause = due - time.time()
                if pause > 0:
                    conn.sleep(pause)
    elif a.cmd == "get":
        deadline = time.time() + a.timeout
        while True:
            method, props, body = ch.basic_get(a.queue, auto_ack=True)
            if method is not None:
                print(json.dumps({
                    "exchange": method.exchange,
                    "routing_key": method.routing_key,
                    "body": body.decode("utf-8", "replace"),
                    "properties": {
                        "content_type": props.content_type,
                        "delivery_mode": props.delivery_mode,
                        "priority": props.priority,
                        "correlation_id": props.correlation_id,
                        "expiration": props.expiration,
                        "app_id": props.app_id,
                        "user_id": props.user_id,
                    },
                    "headers": {k: (v.decode() if isinstance(v, bytes) else v)
                                for k, v in (props.headers or {}).items()},
                }))
                break
            if time.time() > deadline:
                print("null")
                break
            time.sleep(0.05)
    elif a.cmd == "count":
        q = ch.queue_declare(a.queue, passive=True)
        print(q.method.message_count)
    elif a.cmd == "drain":
        while True:
            method, _props, body = ch.basic_get(a.queue, auto_ack=True)
            if method is None:
                break
            print(body.decode("utf-8", "replace"))
    else:
        sys.exit("unknown command " + a.cmd)
    conn.close()


if __name__ == "__main__":
    main()
