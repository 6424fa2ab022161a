#!/usr/bin/env python3
"""Writes docs/benchmarks.md from a bench/run results directory.

usage: report.py RESULTS_DIR OUTPUT_MD
Medians are over rounds; a ratio is the median of the per-round ratios (round r of A against
round r of B, which ran back to back).
"""
import json
import pathlib
import re
import statistics
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent


def sh(*cmd: str) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        return (out.stdout or out.stderr).strip()
    except OSError as e:
        return f"unavailable ({e})"


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value, digits=0):
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}"


def ratio(a, b):
    return a / b if a is not None and b not in (None, 0) else None


def median_ratio(pairs):
    return median([ratio(a, b) for a, b in pairs])


def machine(results_dir: pathlib.Path) -> str:
    cpu = next((l.split(":", 1)[1].strip() for l in sh("lscpu").splitlines()
                if l.startswith("Model name")), "unknown")
    mem = next((l.split()[1] for l in sh("free", "-m").splitlines() if l.startswith("Mem:")), "?")
    seed_build = (results_dir / "seed-build.txt")
    sarama = seed_build.read_text().strip() if seed_build.exists() else "unknown"
    uptime_start = (results_dir / "uptime-start.txt")
    uptime_end = (results_dir / "uptime-end.txt")
    duration = (results_dir / "duration-seconds")
    lines = [
        f"- CPU: {cpu}, {sh('nproc')} cores visible; {mem} MiB RAM; kernel {sh('uname', '-r')}",
        f"- {sh('rustc', '-V')}; {sh('go', 'version')}; "
        f"{sh('java', '-version').splitlines()[0] if sh('java', '-version') else 'java ?'}",
        "- Broker: Apache Kafka 4.1.1, one KRaft node from `integration/kafka`, on the same machine",
        f"- Seed: {sarama}",
        "- Everything (broker, server under test, load generator or perf tool) shares the same cores.",
    ]
    if uptime_start.exists():
        lines.append(f"- Load before the run: `{uptime_start.read_text().strip()}`")
    if uptime_end.exists():
        lines.append(f"- Load after the run: `{uptime_end.read_text().strip()}`")
    if duration.exists():
        lines.append(f"- The whole matrix took {duration.read_text().strip()} s")
    return "\n".join(lines)


def example_commands(results_dir: pathlib.Path) -> str:
    path = results_dir / "commands.txt"
    if not path.exists():
        return "(no commands recorded)"
    wanted = [" serve ", "seed-server", " load ", " perf --topic", "ProducerPerformance", "perf record"]
    seen = []
    lines = path.read_text().splitlines()
    for key in wanted:
        line = next((l for l in lines if key in l), None)
        if line:
            line = line.replace(str(results_dir), "$OUT")
            line = re.sub(r"/\S*/target/release/kafkatx", "target/release/kafkatx", line)
            line = re.sub(r"/\S*/integration/kafka", "integration/kafka", line)
            seen.append(line.strip())
    return "```\n" + "\n".join(seen) + "\n```"


def load_duration(results_dir: pathlib.Path) -> str:
    """The --duration of the recorded load commands."""
    path = results_dir / "commands.txt"
    text = path.read_text() if path.exists() else ""
    match = re.search(r" load .*?--duration (\S+)", text)
    return match.group(1) if match else "?"


def http_table(rows, ours: str) -> str:
    """One row per (TV, connections): program `ours` against the seed, round by round."""
    out = ["| TV | conns | kafkatx txns/s | seed txns/s | ratio | kafkatx p50 / p99 ms | seed p50 / p99 ms "
           "| p99 ratio | errors kafkatx / seed | CPU s per 1000 txns kafkatx / seed | peak RSS MiB kafkatx / seed "
           "| checks passed kafkatx / seed | anomalies kafkatx / seed |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    keys = sorted({(r["tv"], r["connections"]) for r in rows if r["program"] == ours},
                  key=lambda k: (-k[0], k[1]))
    for tv, conns in keys:
        by = {p: sorted((r for r in rows if r["tv"] == tv and r["connections"] == conns
                         and r["program"] == p), key=lambda r: r["round"])
              for p in (ours, "seed")}
        k, s = by[ours], by["seed"]

        def col(runs, f):
            return median([f(r) for r in runs])

        def rate(r):
            return r["load"]["summary"]["committed_per_sec"]

        def p(q):
            return lambda r: r["load"]["summary"]["committed_latency"][q]

        def errors(runs):
            return sum(r["load"]["summary"]["failed"] + r["load"]["summary"]["unknown"] for r in runs)

        def cpu(r):
            c = r["load"]["summary"]["committed"]
            return r["cpu_seconds"] / c * 1000 if c else None

        def rss(r):
            return r["peak_rss_kb"] / 1024

        def anomalies(r):
            check = r["load"].get("check") or {}
            return sum(sum(v for key, v in check.get(reader, {}).items()
                           if key in ("partial", "lost", "visible_after_failure", "duplicated",
                                      "from_nowhere"))
                       for reader in ("kafkatx_reader", "kcat_reader"))

        def passed(runs):
            return f"{sum(1 for r in runs if r['load_exit'] == 0)}/{len(runs)}"

        pairs = list(zip(k, s))
        out.append(
            f"| {tv} | {conns} | {fmt(col(k, rate))} | {fmt(col(s, rate))} "
            f"| {fmt(median_ratio([(rate(a), rate(b)) for a, b in pairs]), 2)}x "
            f"| {fmt(col(k, p('p50_ms')), 1)} / {fmt(col(k, p('p99_ms')), 1)} "
            f"| {fmt(col(s, p('p50_ms')), 1)} / {fmt(col(s, p('p99_ms')), 1)} "
            f"| {fmt(median_ratio([(p('p99_ms')(a), p('p99_ms')(b)) for a, b in pairs]), 3)} "
            f"| {errors(k)} / {errors(s)} | {fmt(col(k, cpu), 3)} / {fmt(col(s, cpu), 3)} "
            f"| {fmt(col(k, rss), 1)} / {fmt(col(s, rss), 1)} | {passed(k)} / {passed(s)} "
            f"| {sum(anomalies(r) for r in k)} / {sum(anomalies(r) for r in s)} |")
    return "\n".join(out)


def error_kinds(rows) -> str:
    lines = []
    for r in sorted(rows, key=lambda r: (-r["tv"], r["connections"], r["program"], r["round"])):
        kinds = r["load"]["summary"]["errors_by_kind"]
        if kinds:
            text = ", ".join(f"{k}: {v}" for k, v in kinds.items())
            lines.append(f"- TV{r['tv']} {r['program']} {r['connections']} conns round {r['round']}: {text}")
    return "\n".join(lines) if lines else "No request failed in any run."


def perf_table(rows) -> str:
    out = ["| TV | mode | record size | kafkatx records/s | Java records/s | ratio | kafkatx MB/s | Java MB/s "
           "| kafkatx p99 ms | Java p99 ms |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    order = {"idempotent": 0, "txn10": 1, "txn100": 2}
    keys = sorted({(r["tv"], r["mode"], r["record_size"]) for r in rows},
                  key=lambda k: (-k[0], order.get(k[1], 9), k[2]))
    for tv, mode, size in keys:
        by = {p: sorted((r for r in rows if r["tv"] == tv and r["mode"] == mode
                         and r["record_size"] == size and r["program"] == p), key=lambda r: r["round"])
              for p in ("kafkatx", "java")}
        k, j = by["kafkatx"], by["java"]

        def col(runs, f):
            return median([r.get(f) for r in runs])

        label = {"idempotent": "idempotent", "txn10": "transactional, 10 ms",
                 "txn100": "transactional, 100 ms"}.get(mode, mode)
        out.append(
            f"| {tv} | {label} | {size} B | {fmt(col(k, 'rps'))} | {fmt(col(j, 'rps'))} "
            f"| {fmt(median_ratio([(a.get('rps'), b.get('rps')) for a, b in zip(k, j)]), 2)}x "
            f"| {fmt(col(k, 'mbps'), 2)} | {fmt(col(j, 'mbps'), 2)} | {fmt(col(k, 'p99'))} | {fmt(col(j, 'p99'))} |")
    return "\n".join(out)


def perf_listing(path: pathlib.Path) -> str:
    """perf report's table without its comment banner and empty IPC columns."""
    keep = []
    for line in path.read_text().splitlines():
        if line.startswith("#") and not line.startswith(("# Overhead", "# Children", "# Samples")):
            continue
        if line.startswith("# ....") or "(Tip:" in line:
            continue
        line = re.sub(r"\s+-\s+-\s*$", "", line)
        keep.append(re.sub(r"\s+IPC\s+\[IPC Coverage\]\s*$", "", line).rstrip())
    return "\n".join(keep)


def main() -> None:
    results_dir = pathlib.Path(sys.argv[1]).resolve()
    output = pathlib.Path(sys.argv[2])
    rows = [json.loads(l) for l in (results_dir / "results.jsonl").read_text().splitlines() if l.strip()]
    http = [r for r in rows if r["kind"] == "http"]
    perf = [r for r in rows if r["kind"] == "perf"]
    rounds = max((r["round"] for r in rows), default=0)
    profile = results_dir / "profile.txt"
    profile_children = results_dir / "profile-children.txt"
    analysis = HERE / "analysis.md"
    parts = [
        "# Benchmarks",
        "",
        "Written by `./dev bench` (`bench/run`, then `bench/report.py`) from the results in "
        f"`{results_dir.name}`. Figures are medians over {rounds} rounds; programs ran back to back "
        "on the same broker, alternating A B A B; a ratio is the median of the per-round ratios.",
        "",
        "## Machine",
        "",
        machine(results_dir),
        "",
        "## Commands",
        "",
        "`./dev bench` runs, for every transaction protocol, round and configuration, commands like "
        "these (first occurrence of each; `$OUT` is the results directory):",
        "",
        example_commands(results_dir),
        "",
        "## 1. Gateway vs the seed server (`GET /errors/{id}`, pool 5)",
        "",
        f"Each run starts the server fresh, drives it for {load_duration(results_dir)} s with `kafkatx load` "
        "over N keep-alive connections, then checks exactly-once delivery with read_committed "
        "(our reader and kcat). txns/s counts only committed (200) requests; latencies are those of "
        "committed requests; errors are failed plus unknown-outcome requests summed over the rounds; "
        "CPU is the server's user+system time during the run (from /proc/PID/stat) per 1000 committed "
        "transactions; peak RSS is VmHWM. A check passes when neither reader sees an anomaly and "
        "both see the same messages.",
        "",
        "### 1a. One Kafka transaction per request (the default, as the seed does)",
        "",
        http_table(http, "kafkatx") if http else "(not run)",
        "",
        "### 1b. Group commit (`--max-requests-per-transaction 32`)",
        "",
        "Requests waiting for a producer when one becomes free share its next transaction; each "
        "request is still all-or-nothing and answered after that commit (README, \"Group commit\"). "
        "txns/s still counts committed requests, each an atomic two-message transaction for its "
        "client; the checker judges every request on its own.",
        "",
        (http_table(http, "kafkatx-group") if any(r["program"] == "kafkatx-group" for r in http)
         else "(not run)"),
        "",
        "Errors by kind:",
        "",
        error_kinds(http) if http else "(not run)",
        "",
        "## 2. `kafkatx perf` vs Kafka's `ProducerPerformance`",
        "",
        "Same flags for both (`--num-records`, `--record-size`, `--throughput -1`, "
        "`--producer-props bootstrap.servers=...`, and `--transaction-duration-ms 10|100` for the "
        "transactional rows); client defaults on both sides (acks=all, linger.ms=5, batch.size=16384, "
        "no compression). The figures are each tool's own summary line.",
        "",
        perf_table(perf) if perf else "(not run)",
        "",
        "## Profile of the gateway under load",
        "",
    ]
    if profile.exists() and profile.read_text().strip():
        parts += [
            "`perf record -F 499 -g` on the gateway during a 64-connection run (TV2), top entries "
            "by self time (`perf report --no-children --sort dso,symbol`):",
            "",
            "```",
            perf_listing(profile),
            "```",
            "",
        ]
        if profile_children.exists() and profile_children.read_text().strip():
            parts += ["Inclusive time (`--children --sort symbol`, entries over 4%):", "", "```",
                      perf_listing(profile_children), "```", ""]
    else:
        parts += ["(no profile in this run)", ""]
    parts += ["## What the figures mean", ""]
    parts += [analysis.read_text().rstrip() if analysis.exists() else "(no analysis written yet)", ""]
    output.write_text("\n".join(parts))


if __name__ == "__main__":
    main()
