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


def times(value):
    """A ratio as "1.23x", or n/a."""
    return "n/a" if value is None else f"{value:,.2f}x"


def median_ratio(pairs):
    return median([ratio(a, b) for a, b in pairs])


def machine(results_dir: pathlib.Path) -> str:
    cpu = next((l.split(":", 1)[1].strip() for l in sh("lscpu").splitlines()
                if l.startswith("Model name")), "unknown")
    mem = next((l.split()[1] for l in sh("free", "-m").splitlines() if l.startswith("Mem:")), "?")
    # seed-build.txt: runs from before the Go/sarama server was called by its name.
    sarama_build = next((f for f in (results_dir / "sarama-build.txt", results_dir / "seed-build.txt")
                         if f.exists()), None)
    sarama = sarama_build.read_text().strip() if sarama_build else "unknown"
    uptime_start = (results_dir / "uptime-start.txt")
    uptime_end = (results_dir / "uptime-end.txt")
    duration = (results_dir / "duration-seconds")
    lines = [
        f"- CPU: {cpu}, {sh('nproc')} cores visible; {mem} MiB RAM; kernel {sh('uname', '-r')}",
        f"- {sh('rustc', '-V')}; {sh('go', 'version')}; "
        f"{sh('java', '-version').splitlines()[0] if sh('java', '-version') else 'java ?'}",
        "- Broker: Apache Kafka 4.1.1, one KRaft node from `integration/kafka`, on the same machine",
        f"- Go/sarama server: {sarama}",
        "- Everything (broker, server under test, load generator or perf tool) shares the same cores.",
    ]
    if uptime_start.exists():
        lines.append(f"- Load before the run: `{uptime_start.read_text().strip()}`")
    if uptime_end.exists():
        lines.append(f"- Load after the run: `{uptime_end.read_text().strip()}`")
    if duration.exists():
        lines.append(f"- The whole matrix took {duration.read_text().strip()} s")
    return "\n".join(lines)


def first_commands(results_dir: pathlib.Path, wanted) -> str:
    """The first recorded command containing each key (a string, a tuple of strings that must
    all occur, or a list of such keys tried in order until one matches), with the machine's paths
    made relative to the repository."""
    path = results_dir / "commands.txt"
    if not path.exists():
        return "(no commands recorded)"
    seen = []
    # The warm-up of each fresh broker (bench/run's warm_up) measures nothing; its commands are not
    # examples of what was measured.
    lines = [l for l in path.read_text().splitlines() if "bench-warmup-" not in l]

    def find(key):
        if isinstance(key, list):
            return next((l for l in map(find, key) if l), None)
        keys = key if isinstance(key, tuple) else (key,)
        return next((l for l in lines if all(k in l for k in keys)), None)

    for key in wanted:
        line = find(key)
        if line:
            line = line.replace(str(results_dir), "$OUT")
            line = re.sub(r"/\S*/target/release/", "target/release/", line)
            line = re.sub(r"/\S*/integration/kafka", "integration/kafka", line)
            line = re.sub(r"/\S*/bench/java/", "bench/java/", line)
            seen.append(line.strip())
    if not seen:
        return "(no commands recorded)"
    return "```\n" + "\n".join(seen) + "\n```"


def example_commands(results_dir: pathlib.Path) -> str:
    # seed-server: the sarama server's binary in runs from before the rename.
    return first_commands(results_dir, [" serve ", ["sarama-server", "seed-server"], " load ",
                                        " perf --topic", "ProducerPerformance", "perf record"])


def load_duration(results_dir: pathlib.Path) -> str:
    """The --duration of the recorded load commands."""
    path = results_dir / "commands.txt"
    text = path.read_text() if path.exists() else ""
    match = re.search(r" load .*?--duration (\S+)", text)
    return match.group(1) if match else "?"


def http_table(rows, ours: str) -> str:
    """One row per (TV, connections): program `ours` against the sarama server, round by round."""
    out = ["| TV | conns | kafkatx txns/s | sarama txns/s | ratio | kafkatx p50 / p99 ms | sarama p50 / p99 ms "
           "| p99 ratio | errors kafkatx / sarama | CPU s per 1000 txns kafkatx / sarama "
           "| peak RSS MiB kafkatx / sarama | checks passed kafkatx / sarama | anomalies kafkatx / sarama |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    keys = sorted({(r["tv"], r["connections"]) for r in rows if r["program"] == ours},
                  key=lambda k: (-k[0], k[1]))
    for tv, conns in keys:
        by = {p: sorted((r for r in rows if r["tv"] == tv and r["connections"] == conns
                         and r["program"] == p), key=lambda r: r["round"])
              for p in (ours, "sarama")}
        k, s = by[ours], by["sarama"]

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
                                      "from_nowhere", "out_of_order"))
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
            series = r.get("series", "matrix")
            label = r["program"] + ("" if series == "matrix" else f" ({series})")
            lines.append(f"- TV{r['tv']} {label} {r['connections']} conns round {r['round']}: {text}")
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


def loop_rows(rows, program, tv, producers):
    return sorted((r for r in rows if r["program"] == program and r["tv"] == tv
                   and r["producers"] == producers), key=lambda r: r["round"])


def committed_rate(r):
    return r["load"]["summary"]["committed_per_sec"]


def reference_gateway_rows(http_all, tv, connections):
    """The pool-5 default-mode gateway runs at `connections` for each round: the matrix's run, else
    the one the reference section ran, else the sweep's."""
    by_round = {}
    for series in ("sweep", "reference", "matrix"):  # later series win
        for r in http_all:
            if (r["program"] == "kafkatx" and r["tv"] == tv and r["connections"] == connections
                    and r.get("series", "matrix") == series):
                by_round[r["round"]] = r
    return by_round


def stage(runs, field):
    """Median per-transaction time of one stage (begin + sends, or commit) over the runs."""
    values = [r[field] for r in runs if r.get(field) is not None]
    return fmt(median(values), 0) if values else "-"


def loop_table(loops) -> str:
    """Java's client against kafkatx's engine in the same loop, per TV and producer count."""
    out = ["| TV | producers | Java txns/s | kafkatx engine txns/s | engine / Java "
           "| slowest transaction ms Java / engine | open µs Java / engine | commit µs Java / engine "
           "| runs without error Java / engine |",
           "|---|---|---|---|---|---|---|---|---|"]
    keys = sorted({(r["tv"], r["producers"]) for r in loops}, key=lambda k: (-k[0], -k[1]))
    for tv, producers in keys:
        j = loop_rows(loops, "java", tv, producers)
        e = loop_rows(loops, "kafkatx-engine", tv, producers)
        jr = {r["round"]: r for r in j}
        pairs = [(r["per_second"], jr[r["round"]]["per_second"]) for r in e if r["round"] in jr]

        def ok(runs):
            return f"{sum(1 for r in runs if r['exit'] == 0 and r['per_second'] is not None)}/{len(runs)}"

        out.append(
            f"| {tv} | {producers} | {fmt(median([r['per_second'] for r in j]))} "
            f"| {fmt(median([r['per_second'] for r in e]))} | {times(median_ratio(pairs))} "
            f"| {fmt(median([r['slowest_ms'] for r in j]), 1)} / {fmt(median([r['slowest_ms'] for r in e]), 1)} "
            f"| {stage(j, 'open_us')} / {stage(e, 'open_us')} "
            f"| {stage(j, 'commit_us')} / {stage(e, 'commit_us')} "
            f"| {ok(j)} / {ok(e)} |")
    return "\n".join(out)


def gateway_vs_loop_table(http_all, loops, pool_size=5, connections=64, pool1_connections=4) -> str:
    """The gateway's default mode as a fraction of the Java loop with as many producers as its pool."""
    out = ["| TV | gateway | connections | gateway txns/s | Java loop | Java txns/s "
           "| gateway / Java | checks passed |",
           "|---|---|---|---|---|---|---|---|"]
    tvs = sorted({r["tv"] for r in loops}, reverse=True)
    for tv in tvs:
        pool1 = {r["round"]: r for r in http_all
                 if r["program"] == "kafkatx-pool1" and r["tv"] == tv}
        for label, gw, producers, conns in (
                (f"pool {pool_size}", reference_gateway_rows(http_all, tv, connections), pool_size,
                 connections),
                ("pool 1 (`--pool-size 1`)", pool1, 1, pool1_connections)):
            java = {r["round"]: r for r in loop_rows(loops, "java", tv, producers)}
            pairs = [(committed_rate(gw[k]), java[k]["per_second"]) for k in sorted(gw) if k in java]
            gw_runs = list(gw.values())
            passed = f"{sum(1 for r in gw_runs if r['load_exit'] == 0)}/{len(gw_runs)}"
            out.append(
                f"| {tv} | {label} | {conns} | {fmt(median([committed_rate(r) for r in gw_runs]))} "
                f"| {producers} producer{'s' if producers != 1 else ''} "
                f"| {fmt(median([r['per_second'] for r in java.values()]))} "
                f"| {times(median_ratio(pairs))} | {passed} |")
    return "\n".join(out)


def keys_table(keys) -> str:
    """Each mode with and without Idempotency-Key, as run back to back in the same rounds."""
    lines = ["| TV | mode | txns/s without keys | with keys | ratio | p99 ms without | with | retries | checks |",
             "|---|---|---|---|---|---|---|---|---|"]
    for tv in sorted({r["tv"] for r in keys}, reverse=True):
        for plain, keyed, label in [("kafkatx", "kafkatx-keyed", "one transaction per request"),
                                    ("kafkatx-group", "kafkatx-group-keyed", "group commit (32)")]:
            a = {r["round"]: r for r in keys if r["tv"] == tv and r["program"] == plain}
            b = {r["round"]: r for r in keys if r["tv"] == tv and r["program"] == keyed}
            if not a or not b:
                continue
            rate = lambda rs: median([committed_rate(r) for r in rs.values()])
            p99 = lambda rs: median([r["load"]["summary"]["committed_latency"]["p99_ms"] for r in rs.values()])
            pairs = [(committed_rate(b[k]), committed_rate(a[k])) for k in a if k in b]
            retries = sum(r["load"]["summary"].get("retries", 0) for r in b.values())
            passed = sum(1 for r in list(a.values()) + list(b.values()) if r["load_exit"] == 0)
            lines.append(f"| {tv} | {label} | {fmt(rate(a))} | {fmt(rate(b))} | {times(median_ratio(pairs))} "
                         f"| {fmt(p99(a), 1)} | {fmt(p99(b), 1)} | {retries} | {passed}/{len(a) + len(b)} |")
    return "\n".join(lines)


def sweep_tables(sweep, cliff_at=64, cliff_below=0.9) -> str:
    """Per TV: connections -> committed txns/s, p99, fraction of the best; flags a cliff at 64."""
    parts = []
    for tv in sorted({r["tv"] for r in sweep}, reverse=True):
        runs = [r for r in sweep if r["tv"] == tv]
        conns = sorted({r["connections"] for r in runs})
        rate = {c: median([committed_rate(r) for r in runs if r["connections"] == c]) for c in conns}
        p99 = {c: median([r["load"]["summary"]["committed_latency"]["p99_ms"] for r in runs
                          if r["connections"] == c]) for c in conns}
        best_c = max((c for c in conns if rate[c] is not None), key=lambda c: rate[c], default=None)
        best = rate[best_c] if best_c is not None else None
        cliff = (cliff_at in rate and best and rate[cliff_at] is not None
                 and rate[cliff_at] < cliff_below * best)
        out = [f"TV{tv}:", "",
               "| connections | committed txns/s | p99 ms | / best | errors | checks passed | |",
               "|---|---|---|---|---|---|---|"]
        for c in conns:
            these = [r for r in runs if r["connections"] == c]
            errors = sum(r["load"]["summary"]["failed"] + r["load"]["summary"]["unknown"] for r in these)
            passed = f"{sum(1 for r in these if r['load_exit'] == 0)}/{len(these)}"
            mark = "best" if c == best_c else ("**cliff**" if c == cliff_at and cliff else "")
            out.append(f"| {c} | {fmt(rate[c])} | {fmt(p99[c], 1)} | {fmt(ratio(rate[c], best), 2)} "
                       f"| {errors} | {passed} | {mark} |")
        out.append("")
        if cliff_at not in rate:
            out.append(f"(no {cliff_at}-connection run in this sweep: no cliff test)")
        elif cliff:
            out.append(f"**Cliff:** at {cliff_at} connections {fmt(rate[cliff_at])} txns/s, "
                       f"{fmt(ratio(rate[cliff_at], best), 2)}x the best ({fmt(best)} at {best_c} "
                       f"connections), below {cliff_below}x.")
        else:
            out.append(f"No cliff: at {cliff_at} connections {fmt(ratio(rate[cliff_at], best), 2)}x "
                       f"the best ({fmt(best)} at {best_c} connections), at least {cliff_below}x.")
        parts.append("\n".join(out))
    return "\n\n".join(parts)


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
    for r in rows:
        # Runs from before the rename label the Go/sarama server's rows "seed".
        if r.get("program") == "seed":
            r["program"] = "sarama"
    http_all = [r for r in rows if r["kind"] == "http"]
    # Section 1 is the matrix; rows from before the series field existed are matrix rows.
    http = [r for r in http_all if r.get("series", "matrix") == "matrix"]
    sweep = [r for r in http_all if r.get("series") == "sweep"]
    keys = [r for r in http_all if r.get("series") == "keys"]
    loops = [r for r in rows if r["kind"] == "loop"]
    perf = [r for r in rows if r["kind"] == "perf"]
    rounds = max((r["round"] for r in rows if r.get("series") != "sweep"), default=0)
    sweep_rounds = max((r["round"] for r in sweep), default=0)
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
        "these (first occurrence of each; `$OUT` is the results directory), after warming each fresh "
        "broker up with the gateway under unrecorded load (`--warmup`, 20 s by default):",
        "",
        example_commands(results_dir),
        "",
        "## 1. Gateway vs the sarama server (`GET /errors/{id}`, pool 5)",
        "",
        f"Each run starts the server fresh, drives it for {load_duration(results_dir)} s with `kafkatx load` "
        "over N keep-alive connections, then checks exactly-once delivery with read_committed "
        "(our reader and kcat). txns/s counts only committed (200) requests; latencies are those of "
        "committed requests; errors are failed plus unknown-outcome requests summed over the rounds; "
        "CPU is the server's user+system time during the run (from /proc/PID/stat) per 1000 committed "
        "transactions; peak RSS is VmHWM. A check passes when neither reader sees an anomaly and "
        "both see the same messages.",
        "",
        "### 1a. One Kafka transaction per request (the default, as the sarama server does)",
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
        "Errors by kind (every HTTP run, the reference and sweep runs included):",
        "",
        error_kinds(http_all) if http_all else "(not run)",
        "",
        "## Against Kafka's Java client in the same loop",
        "",
        f"The reference for the default mode: `bench/java/TxnLoop.java`, Kafka's own Java client, N "
        "transactional producers each in a tight loop of begin, two keyless records (zstd), commit, "
        f"reused at once, for {load_duration(results_dir)} s on a topic of its own (3 partitions); "
        "what it reaches is the ceiling a pool of N producers can reach on this broker. "
        "`kafkatx-engine` is the same loop on kafkatx's engine (`crates/txn/examples/txn_loop.rs`). "
        "Each round runs both with N = 5 (the gateway's pool) and N = 1, then the gateway with "
        "`--pool-size 1` under 4 connections; the pool-5 gateway is the 64-connection default-mode "
        "run of the same round (section 1a; run for the purpose when 64 is not among the matrix's "
        "connection counts). A ratio is the median of per-round ratios. "
        "(`integration/kafka java` runs `java -Xmx256m -cp 'LIBS/*'` with the tools' log4j2 "
        "settings; Java 17 compiles the .java file and runs it.)",
        "",
        first_commands(results_dir, ["TxnLoop.java", "examples/txn_loop", " --pool-size 1 ",
                                     (" load ", "bench-gw1-")]),
        "",
        "Java's client against kafkatx's engine, transactions per second over the whole run; "
        "\"open\" is the mean time per transaction in begin and the two sends (the client's own "
        "work: for kafkatx it includes every send's hand-off to the driver task), \"commit\" the "
        "mean time in the commit call (flush, Produce and EndTxn round trips):",
        "",
        loop_table(loops) if loops else "(not run)",
        "",
        "The gateway's default mode (one transaction per request) as a fraction of the Java loop "
        "with as many producers as its pool:",
        "",
        gateway_vs_loop_table(http_all, loops) if loops else "(not run)",
        "",
        "## Connection sweep",
        "",
        f"The default-mode gateway (pool 5) alone, one run per connection count"
        f"{f' and round (medians over {sweep_rounds} rounds)' if sweep_rounds > 1 else ''}, "
        f"each {load_duration(results_dir)} s with the exactly-once check, on a topic of its own. "
        "txns/s counts committed requests; \"/ best\" is the fraction of the sweep's highest "
        "throughput; a **cliff** is flagged when 64 connections commit less than 0.9x the best.",
        "",
        first_commands(results_dir, [(" serve ", "bench-sweep-"), (" load ", "bench-sweep-")]),
        "",
        sweep_tables(sweep) if sweep else "(not run)",
        "",
        "## Idempotency keys: what they cost",
        "",
        f"The gateway at 64 connections on `GET /errors/{{id}}`, each mode driven without and with "
        "`Idempotency-Key` (`kafkatx load --idempotency-retries 30`: every request keyed, unknown "
        f"outcomes retried with the same key), back to back in each round, {load_duration(results_dir)} s "
        "each with the exactly-once check (which, keyed, also requires no outcome left unknown). A "
        "keyed request writes a claim and a result marker to the marker topic in its transaction "
        "and waits for earlier claims of its marker partition (docs/ARCHITECTURE.md, \"Idempotency "
        "keys\"); keyed requests never share a transaction, so group commit does not apply to them.",
        "",
        first_commands(results_dir, [(" load ", "bench-gwk-")]),
        "",
        keys_table(keys) if keys else "(not run)",
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
    # Measurements this matrix does not repeat (TLS needs its own broker), kept by hand.
    tls = HERE / "tls.md"
    if tls.exists():
        parts += [tls.read_text().rstrip(), ""]
    output.write_text("\n".join(parts))


if __name__ == "__main__":
    main()
