#!/usr/bin/env python3
"""Cost of the adapter's restart probe (HEAD .../snapshot) beside a full read (GET).

Seeds a flow with N nodes through POST, then sends K HEAD and K GET requests of its snapshot
over one keep-alive connection each, and reports per request: the server's CPU time (from
/proc/<pid>/stat, user + system), the client-side latency (median), and the bytes of the
answer. Loopback only; the server is started by the caller (see docs/BENCHMARKS.md).

usage: probe.py --port PORT --pid SERVER_PID [--nodes N] [--requests K] [--token READ_TOKEN]
"""

import argparse
import http.client
import json
import os
import statistics
import time

FLOW = "probe-bench"


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 (1-based) of the whole line.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def seed(port, nodes):
    connection = http.client.HTTPConnection("127.0.0.1", port)
    batch = 500
    for start in range(0, nodes, batch):
        body = {
            "type": "upsert-nodes",
            "nodes": [
                {"id": f"fsn1/n{i}", "flowId": FLOW, "label": f"n{i}", "status": "running",
                 "region": "fsn1", "meta": {"reason": "Progressing", "chart": "bp-x"}}
                for i in range(start, min(nodes, start + batch))
            ],
        }
        connection.request("POST", f"/v1/flows/{FLOW}/events", json.dumps(body),
                           {"content-type": "application/json"})
        response = connection.getresponse()
        response.read()
        assert response.status == 200, response.status


def measure(port, pid, method, requests, headers):
    connection = http.client.HTTPConnection("127.0.0.1", port)
    latencies = []
    answer_bytes = 0
    before = cpu_seconds(pid)
    for _ in range(requests):
        started = time.perf_counter()
        connection.request(method, f"/v1/flows/{FLOW}/snapshot", headers=headers)
        response = connection.getresponse()
        body = response.read()
        latencies.append(time.perf_counter() - started)
        assert response.status == 200, response.status
        head = sum(len(k) + len(v) + 4 for k, v in response.getheaders()) + 17
        answer_bytes = head + len(body)
    cpu = cpu_seconds(pid) - before
    return {
        "method": method,
        "server_cpu_us_per_request": round(cpu / requests * 1e6, 1),
        "median_latency_us": round(statistics.median(latencies) * 1e6, 1),
        "answer_bytes": answer_bytes,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--nodes", type=int, default=14)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--token")
    args = parser.parse_args()
    headers = {"authorization": f"Bearer {args.token}"} if args.token else {}
    seed(args.port, args.nodes)
    for method in ("HEAD", "GET"):
        print(json.dumps({"nodes": args.nodes, **measure(args.port, args.pid, method,
                                                          args.requests, headers)}))


if __name__ == "__main__":
    main()
