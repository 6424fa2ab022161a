#!/usr/bin/env python3
"""Turns one ProducerPerformance-style summary line into a JSON line of bench/run's results.

usage: parse_perf.py PROGRAM TV SIZE MODE ROUND RECORDS SUMMARY_LINE
"""
import json
import re
import sys

SUMMARY = re.compile(
    r"(?P<sent>\d+) records sent, (?P<rps>[\d.]+) records/sec \((?P<mbps>[\d.]+) MB/sec\), "
    r"(?P<avg>[\d.]+) ms avg latency, (?P<max>[\d.]+) ms max latency, (?P<p50>\d+) ms 50th, "
    r"(?P<p95>\d+) ms 95th, (?P<p99>\d+) ms 99th, (?P<p999>\d+) ms 99.9th"
)


def main() -> None:
    program, tv, size, mode, round_, records, line = sys.argv[1:8]
    match = SUMMARY.search(line)
    fields = {k: float(v) for k, v in match.groupdict().items()} if match else {}
    print(json.dumps({
        "kind": "perf",
        "program": program,
        "tv": int(tv),
        "record_size": int(size),
        "mode": mode,
        "round": int(round_),
        "num_records": int(records),
        "parsed": bool(match),
        "summary": line,
        **fields,
    }))


if __name__ == "__main__":
    main()
