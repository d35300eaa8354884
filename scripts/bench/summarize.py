#!/usr/bin/env python3
"""Medians of flow-load JSON reports: `summarize.py DIR` prints a Markdown table.

Reports are named `<scenario>-<run>.json`; runs of one scenario are grouped and every figure is
the median over them (loss, failures and errors are summed: any is too many).
"""
import json
import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path


def load(directory):
    groups = defaultdict(list)
    for path in sorted(Path(directory).glob("*.json")):
        name = path.stem.rsplit("-", 1)[0]
        with open(path) as f:
            groups[name].append(json.load(f))
    return groups


def median(reports, get):
    values = [v for v in (get(r) for r in reports) if v is not None]
    return statistics.median(values) if values else None


def baseline_rate(report):
    """The baseline's frames/s, or its answered POSTs/s for runs without subscribers."""
    baseline = report.get("baseline")
    if not baseline:
        return None
    if report["delivery"]["subscribers"] > 0:
        return baseline["frames_per_s"]
    return baseline["accepted_per_s"]


def row(name, reports):
    def med(get):
        return median(reports, get)

    baseline = med(lambda r: baseline_rate(r))
    fraction = med(lambda r: (r.get("baseline") or {}).get("fraction"))
    rss = med(lambda r: (r.get("server_rss") or {}).get("per_subscriber_bytes"))
    return {
        "scenario": name,
        "runs": len(reports),
        "accepted/s": med(lambda r: r["publish"]["accepted_per_s"]),
        "frames/s": med(lambda r: r["delivery"]["frames_per_s"]),
        "delivered/expected": med(lambda r: r["delivery"]["delivered_ratio"]),
        "lost": sum(r["delivery"]["lost"] for r in reports),
        "resyncs": sum(r["delivery"]["resyncs"] for r in reports),
        "failed POSTs": sum(r["publish"]["failed"] for r in reports),
        "errors": sum(sum(r["errors"].values()) for r in reports),
        "p50 ms": ms(med(lambda r: r["latency_us"]["p50"] if r["latency_us"]["samples"] else None)),
        "p99 ms": ms(med(lambda r: r["latency_us"]["p99"] if r["latency_us"]["samples"] else None)),
        "max ms": ms(med(lambda r: r["latency_us"]["max"] if r["latency_us"]["samples"] else None)),
        "RSS/sub B": rss,
        "server us/event": med(lambda r: (r.get("cpu") or {}).get("server_us_per_event")),
        "server us/frame": med(lambda r: (r.get("cpu") or {}).get("server_us_per_frame")),
        "baseline /s": baseline,
        "of baseline": f"{fraction * 100:.1f}%" if fraction is not None else None,
    }


def natural(name):
    """`sweep-30` before `sweep-100`."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def ms(us):
    return None if us is None else us / 1000


def fmt(value):
    if value is None:
        return "-"
    if isinstance(value, float):
        if value >= 100:
            return f"{value:,.0f}"
        return f"{value:.3g}" if value < 10 else f"{value:.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: summarize.py REPORT_DIR")
    groups = load(sys.argv[1])
    rows = [row(name, groups[name]) for name in sorted(groups, key=natural)]
    if not rows:
        sys.exit(f"no reports in {sys.argv[1]}")
    columns = list(rows[0])
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for r in rows:
        print("| " + " | ".join(fmt(r[c]) for c in columns) + " |")


if __name__ == "__main__":
    main()
