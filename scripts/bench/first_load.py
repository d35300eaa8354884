#!/usr/bin/env python3
"""Cost of a replica's first load of a flow from Redis, by the length of the flow's log.

Seeds F flows whose state is N_NODES nodes of about 1 KiB each and whose log holds M messages
(the first upserts every node, each later one re-upserts one node: about 1 KiB per message),
through POST to the replica at --seed-port (another replica than the one measured, so the measured
one never held the flow: a writer's engine keeps the flows it wrote to). Then, per flow, opens its stream
once (the replica's first load: subscribe, read Redis, restore, send the snapshot) and times
the arrival of the whole snapshot frame; and sends K `GET snapshot` requests (each reads
Redis). Reports medians, and the server's CPU per `GET` (from /proc/<pid>/stat; a first load
is too short for the clock tick over a few flows). Loopback
only; the server and Redis are started by the caller (see docs/BENCHMARKS.md).

usage: first_load.py --port PORT --pid SERVER_PID --seed-port PORT --messages M [--flows F]
                     [--nodes N] [--requests K]
"""

import argparse
import http.client
import json
import os
import socket
import statistics
import time

LABEL = "l" * 900


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def node(flow, i, status):
    return {"id": f"n{i}", "flowId": flow, "label": f"{i}{LABEL}", "status": status}


def seed(port, flow, nodes, messages):
    connection = http.client.HTTPConnection("127.0.0.1", port)

    def post(body):
        connection.request("POST", f"/v1/flows/{flow}/events", json.dumps(body),
                           {"content-type": "application/json"})
        response = connection.getresponse()
        response.read()
        assert response.status == 200, response.status

    post({"type": "upsert-nodes", "nodes": [node(flow, i, "running") for i in range(nodes)]})
    for k in range(1, messages):
        status = ["running", "ready"][k % 2]
        post({"type": "upsert-nodes", "nodes": [node(flow, k % nodes, status)]})


def first_snapshot(port, flow):
    """Seconds from sending the stream request to holding the whole snapshot frame."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        started = time.perf_counter()
        sock.sendall(f"GET /v1/flows/{flow}/stream HTTP/1.1\r\nhost: x\r\n\r\n".encode())
        received = b""
        # The server writes each frame whole (one chunk): the snapshot's data line ends it.
        while True:
            data = received.find(b"\ndata: ", received.find(b"event: snapshot"))
            if received.find(b"event: snapshot") >= 0 and data >= 0 \
                    and received.find(b"\n\n", data) >= 0:
                return time.perf_counter() - started
            chunk = sock.recv(1 << 20)
            assert chunk, "the stream ended before its snapshot"
            received += chunk


def get_snapshot(port, flow, requests):
    connection = http.client.HTTPConnection("127.0.0.1", port)
    latencies = []
    for _ in range(requests):
        started = time.perf_counter()
        connection.request("GET", f"/v1/flows/{flow}/snapshot")
        response = connection.getresponse()
        response.read()
        latencies.append(time.perf_counter() - started)
        assert response.status == 200, response.status
    return latencies


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--seed-port", type=int, required=True)
    parser.add_argument("--messages", type=int, required=True)
    parser.add_argument("--flows", type=int, default=10)
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args()
    flows = [f"first-load-{args.messages}-{i}" for i in range(args.flows)]
    for flow in flows:
        seed(args.seed_port, flow, args.nodes, args.messages)

    firsts = [first_snapshot(args.port, flow) for flow in flows]
    before = cpu_seconds(args.pid)
    gets = [latency for flow in flows for latency in get_snapshot(args.port, flow, args.requests)]
    get_cpu = (cpu_seconds(args.pid) - before) / len(gets)
    print(json.dumps({
        "messages": args.messages,
        "nodes": args.nodes,
        "flows": args.flows,
        "first_snapshot_median_ms": round(statistics.median(firsts) * 1e3, 2),
        "get_snapshot_median_ms": round(statistics.median(gets) * 1e3, 2),
        "get_snapshot_server_cpu_ms": round(get_cpu * 1e3, 2),
    }))


if __name__ == "__main__":
    main()
