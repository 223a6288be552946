#!/usr/bin/env python3
"""A ZeroMQ peer for the connector's end-to-end tests, written with pyzmq (not by this project).

usage:
  zmq_peer.py push <address> <count> <record-key> [--start N] [--bind]
                                                         connect (or bind) a PUSH socket and send {"key", "n"} JSON
                                                         bodies, n from N; a bound socket waits for its first peer
  zmq_peer.py pub <address> <record-key> <topic>...      bind a PUB socket; after subscribers joined, send
                                                         [topic, {"key", "n", "topic"}] for every topic, several rounds
  zmq_peer.py pull <address> <count> [--timeout S]       bind a PULL socket; print each message received (one JSON line)
"""
import argparse
import json
import sys
import time

import zmq


def main():
    p = argparse.ArgumentParser()
    p.add_argument("cmd")
    p.add_argument("address")
    p.add_argument("rest", nargs="*")
    p.add_argument("--timeout", type=float, default=20.0)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--wait", type=float, default=1.0)
    p.add_argument("--start", type=int, default=0)
    p.add_argument("--bind", action="store_true")
    a = p.parse_args()
    ctx = zmq.Context()
    if a.cmd == "push":
        count, key = int(a.rest[0]), a.rest[1]
        s = ctx.socket(zmq.PUSH)
        s.setsockopt(zmq.LINGER, 10000)
        if a.bind:
            s.bind(a.address)
        else:
            s.connect(a.address)
        for i in range(a.start, a.start + count):
            s.send_string(json.dumps({"key": key, "n": i}))  # blocks until a peer is there
        s.close()
    elif a.cmd == "pub":
        key, topics = a.rest[0], a.rest[1:]
        s = ctx.socket(zmq.PUB)
        s.setsockopt(zmq.LINGER, 10000)
        s.connect(a.address)
        time.sleep(a.wait)  # slow joiner: let the subscription reach us
        n = 0
        for _ in range(a.rounds):
            for t in topics:
                s.send_multipart([t.encode(), json.dumps({"key": key, "n": n, "topic": t}).encode()])
                n += 1
        time.sleep(0.5)
        s.close()
    elif a.cmd == "pull":
        count = int(a.rest[0])
        s = ctx.socket(zmq.PULL)
        s.bind(a.address)
        print("ready", flush=True)
        deadline = time.time() + a.timeout
        got = 0
        while got < count and time.time() < deadline:
            if s.poll(100):
                frames = s.recv_multipart()
                print(json.dumps([f.decode("utf-8", "replace") for f in frames]), flush=True)
                got += 1
        s.close()
    else:
        sys.exit("unknown command " + a.cmd)
    ctx.term()


if __name__ == "__main__":
    main()
