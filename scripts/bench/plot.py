#!/usr/bin/env python3
"""Draws delivered frames/s and p99 latency against subscribers from the sweep reports.

`plot.py REPORT_DIR OUT.png` reads `sweep-<S>-<run>.json` (medians over runs) and writes one PNG
with two panels sharing the subscriber axis (log scale): frames/s of the server and of the raw
baseline, and the server's end-to-end p99 latency.
"""
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def sweep(directory):
    runs = defaultdict(list)
    for path in Path(directory).glob("sweep-*.json"):
        subscribers = int(path.stem.split("-")[1])
        with open(path) as f:
            runs[subscribers].append(json.load(f))
    points = []
    for s in sorted(runs):
        reports = runs[s]
        base = [r["baseline"]["frames_per_s"] for r in reports if r.get("baseline")]
        points.append(
            (
                s,
                statistics.median(r["delivery"]["frames_per_s"] for r in reports),
                statistics.median(base) if base else None,
                statistics.median(r["latency_us"]["p99"] for r in reports) / 1000,
                sum(r["delivery"]["lost"] for r in reports),
            )
        )
    return points


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: plot.py REPORT_DIR OUT.png")
    points = sweep(sys.argv[1])
    if not points:
        sys.exit(f"no sweep-*.json in {sys.argv[1]}")
    xs = [p[0] for p in points]
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(8, 7))
    top.plot(xs, [p[1] for p in points], "o-", label="openova-flow-server")
    bx = [p[0] for p in points if p[2] is not None]
    top.plot(bx, [p[2] for p in points if p[2] is not None], "s--", label="raw TCP baseline")
    top.set_yscale("log")
    top.set_ylabel("delivered frames/s")
    top.set_title("fanout: 1 flow, 1 publisher at full speed, 256 B messages")
    top.grid(True, which="both", alpha=0.3)
    top.legend()
    for x, y, lost in ((p[0], p[1], p[4]) for p in points):
        if lost:
            top.annotate(f"lost {lost}", (x, y), textcoords="offset points", xytext=(4, -12))
    bottom.plot(xs, [p[3] for p in points], "o-", color="tab:red")
    bottom.set_yscale("log")
    bottom.set_ylabel("p99 end-to-end latency (ms)")
    bottom.set_xlabel("SSE subscribers")
    bottom.set_xscale("log")
    bottom.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    Path(sys.argv[2]).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(sys.argv[2], dpi=110)
    print(f"wrote {sys.argv[2]}")


if __name__ == "__main__":
    main()
