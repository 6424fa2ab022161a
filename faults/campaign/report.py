"""docs/reliability.md from a campaign's results (campaign.json)."""

import os
import statistics
import time
from collections import Counter, defaultdict

from .analysis import EXACTLY_ONCE_KEYS, FENCE_EXPLAINED_WINDOW_S, STALE_AFTER_S, STALE_BEFORE_S
from .faults import KINDS

KIND_TEXT = {
    "kill-leader": "SIGKILL the leader of a data partition, restart",
    "kill-coordinator": "SIGKILL the transaction coordinator of a gateway's producer, restart",
    "kill-controller": "SIGKILL the active KRaft controller, restart",
    "kill-random": "SIGKILL a random node, restart",
    "restart-clean": "SIGTERM (controlled shutdown) a random node, restart",
    "pause": "SIGSTOP a random node 12-20 s (> request timeout 6 s, session timeout 9 s), SIGCONT",
    "two-down": "SIGKILL two nodes (below min.insync.replicas), restart one, later the other",
    "kill-gateway": "SIGKILL a gateway under load, restart it with the same --instance-id",
}


def segments(results):
    for tv, proto in results.get("protocols", {}).items():
        for seg in proto.get("segments", []):
            yield tv, seg


def total_anomalies(results):
    total = sum(sum(seg.get("anomalies", {}).values()) for _, seg in segments(results))
    for tv, proto in results.get("protocols", {}).items():
        for rows in (proto.get("find_hanging_brokers") or {}).values():
            total += len(rows) if not isinstance(rows, str) else 1
    for tv, over in (results.get("overload") or {}).items():
        total += sum(run.get("anomalies", 0) for run in over.get("runs", {}).values())
    for tv, soak in (results.get("soak") or {}).items():
        total += soak.get("anomalies", 0) + soak_problems(soak)
    return total


def soak_problems(soak):
    """Leases or transactions left once a soak's load stopped, and hanging transactions."""
    after = soak.get("after") or {}
    hanging = soak.get("find_hanging")
    return int((after.get("leased") or 0) + (after.get("in_flight") or 0)
               + (len(hanging) if isinstance(hanging, list) else 1 if hanging else 0))


def fifths(samples, key):
    """(first, last) fifth's mean of `key` over the samples after the first minute (warm-up)."""
    values = [x[key] for x in samples if x.get(key) is not None and x["t"] >= 60]
    if len(values) < 10:
        return None, None
    n = max(1, len(values) // 5)
    return statistics.mean(values[:n]), statistics.mean(values[-n:])


def fmt(value, digits=1):
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def pct(values, q):
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    return values[min(len(values) - 1, max(0, int(round(q * len(values) + 0.5)) - 1))]


def soak_section(results, add):
    """The soak's tables: throughput, then every gauge first / last / max / after."""
    soaks = results.get("soak") or {}
    if soaks:
        add("## Soak: steady load, no faults")
        add("")
        add("One gateway (pool 5, group commit off) on the healthy cluster, driven as fast as it "
            "answers over 64 connections for the whole soak, then judged like the campaign's "
            "loads. Sampled every 5 s; *first* and *last* are the means of the first and the last "
            "fifth of the samples after the first minute, so growth (a leak, a queue that only "
            "fills, a lease that never comes back) shows as a difference. *After* is read 2 s "
            "after the load stopped: every lease must be back and nothing in flight.")
        add("")
        add("| TV | seconds | requests | acknowledged/s | p50 / p99 ms | errors | anomalies |")
        add("|---|---|---|---|---|---|---|")
        for tv, soak in soaks.items():
            sm = (soak.get("judge") or {}).get("summary") or {}
            lat = sm.get("committed_latency") or {}
            add(f"| {tv} | {fmt(soak.get('seconds'))} | {fmt(sm.get('requests'))} | "
                f"{fmt(sm.get('committed_per_sec'))} | {fmt(lat.get('p50_ms'))} / "
                f"{fmt(lat.get('p99_ms'))} | "
                f"{', '.join(f'{k}: {v}' for k, v in (sm.get('errors_by_kind') or {}).items()) or 'none'} | "
                f"{soak.get('anomalies')} |")
        add("")
        add("| TV | measure | first | last | max | after the load |")
        add("|---|---|---|---|---|---|")
        for tv, soak in soaks.items():
            samples = soak.get("samples", [])
            after = soak.get("after") or {}
            for key, label, scale in (("rss_kb", "RSS MiB", 1 / 1024), ("fds", "open files", 1),
                                      ("connections", "HTTP connections open", 1),
                                      ("leased", "producers leased", 1),
                                      ("waiters", "lease waiters", 1),
                                      ("in_flight", "transactions in flight", 1)):
                first, last = fifths(samples, key)
                peak = max((x[key] for x in samples if x.get(key) is not None), default=None)
                val = after.get(key)
                add(f"| {tv} | {label} | {fmt(first * scale if first is not None else None)} | "
                    f"{fmt(last * scale if last is not None else None)} | "
                    f"{fmt(peak * scale if peak is not None else None)} | "
                    f"{fmt(val * scale if val is not None else None)} |")
        add("")
        for tv, soak in soaks.items():
            hanging = soak.get("find_hanging")
            add(f"- TV{tv}: find-hanging on the soak's topic: "
                f"{'none' if not hanging else hanging if isinstance(hanging, str) else len(hanging)}"
                f"; peak RSS (VmHWM) {fmt((soak.get('hwm_kb') or 0) / 1024)} MiB.")
        add("")


def write(results, path, compare=None):
    """The document of a run; with compare (a --target sarama run's results), its section "The
    sarama server under the same faults" after the kafkatx run's tables. A sarama run alone
    gets a document of its own (report_sarama.py)."""
    from . import report_sarama  # it uses this module's tables
    if results.get("target") == "sarama":
        save(report_sarama.write_standalone(results, path), path)
        return
    lines = []
    add = lines.append
    started = results.get("started_unix")
    finished = results.get("finished_unix")
    soak_only = bool(results.get("soak")) and not any(seg.get("faults") for _, seg in
                                                      segments(results))
    if soak_only:
        protocols = ", ".join(f"transaction.version {tv}" for tv in results["soak"])
        add(f"# Reliability: the soak ({protocols})")
    else:
        add("# Reliability: the fault campaign")
    add("")
    add(f"Written by `./dev faults` (`faults/run`) from the results in `{results.get('out')}` "
        f"(kept there with every log: gateways, loads, per-request outcomes, judges, the "
        f"cluster's commands). " + ("The run was **complete**." if results.get("finished") else
                                    f"The run was **not complete** ({results.get('error') or 'still running'}); "
                                    "the figures cover the segments that finished."))
    add("")
    if results.get("reanalysed"):
        r = results["reanalysed"]
        add(f"The figures and anomaly counts below were computed again from the kept outcome files "
            f"by `faults/run --report` at `{r.get('commit')}` (the run itself counted "
            f"{r.get('anomalies_as_run')} anomalies{'' if soak_only else '; see *Analysis*'}); "
            "the judges' verdicts are the run's own.")
        add("")
    add("## How to repeat")
    add("")
    add("```")
    add(results.get("command", "./dev faults"))
    add("```")
    add("")
    seeds = f"seed **{results.get('seed')}**"
    if results.get("fixed_seed") is not None:
        seeds += (f" (the first half of each protocol's faults come from the fixed seed "
                  f"{results['fixed_seed']})")
    if not soak_only:
        add(f"- {seeds}; `./dev faults --seed {results.get('seed')}"
            f"{' --short' if results.get('short') else ''}` repeats the same choices (kinds, "
            "roles of the victims, hold times); what the cluster does in between (who leads "
            "what) differs.")
    add(f"- commit: `{results.get('commit')}`")
    for r in results.get("resumed") or []:
        same = r.get("binary_sha256") in (None, results.get("binary_sha256"))
        add(f"- resumed {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(r['at']))} with "
            f"`faults/run {r.get('args')}` at `{r.get('commit')}`, "
            + ("with the run's own kafkatx" if same
               else f"with another kafkatx (`{r.get('binary')}`)")
            + " (finished segments kept, the interrupted one run again)")
    m = results.get("machine", {})
    add(f"- machine: {m.get('cpus')} cores shared with other work, `{m.get('platform')}`; load "
        f"average at the start `{m.get('loadavg_start')}`, at the end `{m.get('loadavg_end')}`")
    sittings = results.get("sittings") or []
    if started:
        if len(sittings) > 1:
            worked = sum(end - begin for begin, end in sittings)
            took = f", worked {worked / 60:.0f} min in {len(sittings)} sittings"
        else:
            took = f", took {(finished - started) / 60:.0f} min" if finished else ""
        add(f"- started {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))}" + took)
    s = results.get("settings", {})
    add("")
    if soak_only:
        # A soak without faults: the campaign's sections would all be empty.
        soak_section(results, add)
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(lines).rstrip() + "\n")
        return
    add("## What runs")
    add("")
    add("- `integration/kafka start --nodes 3 --tv N`: three KRaft nodes (broker + controller each) "
        "on 9192/9292/9392; per segment two fresh topics with 3 partitions, RF 3, "
        "`min.insync.replicas=2` (`TopicCommand --config`), leaders moved back to the preferred "
        "replicas first.")
    add(f"- two gateways, `kafkatx serve --bootstrap-server` the three brokers, pool 5 each, "
        f"`--instance-id gw1` with group commit off (`--max-requests-per-transaction "
        f"{s.get('gateway_groups', [1, 16])[0]}`) and `gw2` with group commit on "
        f"(`{s.get('gateway_groups', [1, 16])[1]}`); `--request-timeout-ms 6000 "
        f"--delivery-timeout-ms 20000 --transaction-timeout-ms {s.get('transaction_timeout_ms')}`.")
    loads = s.get("loads", [])
    add(f"- {len(loads)} `kafkatx load` runs for the whole segment, each over both gateways "
        "(`--url A,B`: a connection whose gateway is down uses the other one meanwhile), at a "
        f"fixed rate, `--timeout-ms {s.get('load_timeout_ms')}`, writing every request to "
        "`--outcomes`:")
    for name, endpoint, which, parts, rate, conns, *rest in loads:
        key_retry_s = rest[0] if rest else 0
        keyed = (f"; every request with an `Idempotency-Key`, retried with it for up to "
                 f"{key_retry_s} s (`--idempotency-retries {key_retry_s}`), and an outcome "
                 "still unknown after that counts as an anomaly") if key_retry_s else ""
        add(f"  - `{name}`: `--endpoint {endpoint}`, topic(s) {', '.join('ab'[i] for i in which)}, "
            f"{parts} records per request, {rate} requests/s, {conns} connections{keyed}")
    add(f"- faults one at a time, each after the cluster is whole again (every partition of the "
        f"topics and of `__transaction_state` with 3 in its ISR, both gateways ready) and "
        f"{s.get('baseline_s')} s of undisturbed load (the *before* window); "
        f"{s.get('per_segment')} faults per segment; kinds in shuffled rounds (each kind once per "
        "round):")
    for kind in s.get("kinds", KINDS):
        add(f"  - `{kind}`: {KIND_TEXT.get(kind, '')}")
    add("- after a segment: the loads get SIGTERM; then the judges below; then the gateways get "
        "SIGTERM (they must exit 0).")
    add("")
    add("## The judges (anomalies must be 0)")
    add("")
    add("1. `kafkatx load --judge` per load, with our reader and with kcat, both read_committed: "
        "every acknowledged (2xx) request visible exactly once; every failed one (5xx with outcome "
        "`none` or `aborted`, or a connection that never opened) absent; an unknown outcome "
        "(502 `outcome_unknown`, timeout, connection lost) all or nothing; no message from "
        "nowhere; **per-partition order**: a request's records in order, and after every record of "
        "each request acknowledged before it was sent; and both readers see the same messages.")
    add("2. Two nodes down: no request is acknowledged between 2 s after the second node died and "
        "the moment the first one's restart begins (a 2xx then would be a write below "
        "`min.insync.replicas`). The window ends when the restart *begins*, not when the node "
        "reports ready: a restarting node's replica fetchers catch up and its leaders add it back "
        "to their ISRs seconds before its client port opens (seen in the run below, see "
        "*Two nodes down*).")
    add(f"3. A read_committed `KafkaConsumer` (`faults/EndCheck.java`), from each partition's last "
        f"stable offset when the loads stopped, reaches the high watermark within the transaction "
        f"timeout ({s.get('transaction_timeout_ms', 0) / 1000:.0f} s, + 5 s for the coordinator's "
        "abort interval and markers) after the later of the last fault and the loads' exit (the "
        "keyed load finishes retrying its requests after the stop).")
    add("4. `TransactionsCommand find-hanging --max-transaction-timeout 1` on each segment's topics "
        "and at the end on every broker: no hanging transaction.")
    add("5. No producer of a live gateway is fenced, except by its own coordinator rolling back a "
        "transaction that outlived `transaction.timeout.ms` (Kafka's timeout fences the epoch; "
        "an outage of two nodes can hold a transaction that long). Each `producer fenced` line of "
        "the gateways' logs is matched against the brokers' logs: with a rollback (\"Rollback of "
        "ongoing transaction\", \"epoch fence transition\") for the same transactional id in the "
        f"{FENCE_EXPLAINED_WINDOW_S:.0f} s before, it is a finding. So is, on KIP-890, an answer "
        "from a deposed coordinator that resumed after a pause and still answered from the stale "
        "state of the producer's previous transaction (Kafka's Java producer is fenced the same "
        "way; see *Analysis*): on that broker a failed write (\"transition failed due to "
        "NOT_COORDINATOR\") or refused marker result for the same transactional id in the "
        f"{STALE_BEFORE_S:.0f} s before, and its unloading of the id's `__transaction_state` "
        f"partition (\"on become-follower transition\") in the {STALE_AFTER_S:.0f} s after. Any "
        "other fence is an anomaly. Two instance ids never fence each other, and a restarted "
        "gateway fences its predecessor, not itself.")
    add("")

    summary_section(results, add)
    analysis_notes_section(results, add)
    faults_by_kind_section(results, add)
    requests_section(results, add)
    anomalies_section(results, add)
    availability_section(results, add)
    two_down_section(results, add)
    gateway_kills_section(results, add)
    end_check_section(results, add)
    overload_section(results, add)
    soak_section(results, add)
    segments_section(results, add)
    if compare is not None:
        report_sarama.section(compare, add, "##", kafkatx=results)
    save(lines, path)


def save(lines, path):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines).rstrip() + "\n")


def summary_section(results, add, h="##"):
    protos = results.get("protocols", {})
    add(f"{h} Summary")
    add("")
    add("| TV | segments | faults | requests | acknowledged (2xx) | failed (nothing written) | "
        "unknown outcome | unknown: visible / absent | anomalies | findings |")
    add("|---|---|---|---|---|---|---|---|---|---|")
    for tv, proto in protos.items():
        segs = proto.get("segments", [])
        outcome = Counter()
        visible = absent = 0
        for seg in segs:
            for counts in seg.get("requests", {}).values():
                outcome.update(counts["by_outcome"])
            for rep in seg.get("judge", {}).values():
                v = ((rep.get("check") or {}).get("kafkatx_reader") or {})
                visible += v.get("unknown_visible", 0)
                absent += v.get("unknown_absent", 0)
        anomalies = sum(sum(seg.get("anomalies", {}).values()) for seg in segs)
        for rows in (proto.get("find_hanging_brokers") or {}).values():
            anomalies += len(rows) if not isinstance(rows, str) else 1
        findings = sum(len(seg.get("findings", {})) for seg in segs)
        add(f"| {tv} | {len(segs)} | {sum(len(seg['faults']) for seg in segs)} | "
            f"{fmt(sum(outcome.values()))} | {fmt(outcome.get('committed', 0))} | "
            f"{fmt(outcome.get('failed', 0))} | {fmt(outcome.get('unknown', 0))} | "
            f"{fmt(visible)} / {fmt(absent)} | **{anomalies}** | {findings} |")
    add("")
    add("Unknown outcomes, visible or absent, are allowed (all or nothing); the split is what our "
        "reader saw. Findings are expectations about availability that were not met (listed "
        "below); they are not exactly-once violations.")
    add("")


def analysis_notes_section(results, add, h="##"):
    notes = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                         "analysis.md")
    if os.path.exists(notes):
        add(f"{h} Analysis")
        add("")
        add("(Hand-written in `faults/analysis.md`, about the run below; the tables after it are "
            "generated.)")
        add("")
        with open(notes, encoding="utf-8") as f:
            add(f.read().strip())
        add("")


def faults_by_kind_section(results, add, h="##"):
    protos = results.get("protocols", {})
    add(f"{h} Faults by kind")
    add("")
    add("| kind | " + " | ".join(f"TV{tv}" for tv in protos) + " |")
    add("|---|" + "---|" * len(protos))
    kinds = Counter()
    per = {tv: Counter(f["kind"] for seg in p.get("segments", []) for f in seg["faults"])
           for tv, p in protos.items()}
    for c in per.values():
        kinds.update(c)
    for kind in KINDS:
        if kinds.get(kind):
            add(f"| `{kind}` | " + " | ".join(str(per[tv].get(kind, 0)) for tv in protos) + " |")
    add("")


def requests_section(results, add, h="##"):
    protos = results.get("protocols", {})
    s = results.get("settings", {})
    add(f"{h} Requests by status and outcome")
    add("")
    add("Summed over the loads and every segment; `connect failed` is a connection that "
        "could not be opened (nothing sent), `connection lost` and `timeout` got no answer "
        "(outcome unknown).")
    add("")
    for tv, proto in protos.items():
        kinds_ = Counter()
        by_load = defaultdict(Counter)
        for seg in proto.get("segments", []):
            for name, counts in seg.get("requests", {}).items():
                kinds_.update(counts["by_kind"])
                by_load[name].update(counts["by_outcome"])
        add(f"**TV{tv}**: " + ", ".join(f"`{k}` {fmt(v)}" for k, v in
                                         sorted(kinds_.items(), key=lambda kv: -kv[1])))
        add("")
        by_gateway = defaultdict(Counter)
        for seg in proto.get("segments", []):
            for counts in seg.get("requests", {}).values():
                for target, c in (counts.get("by_target") or {}).items():
                    by_gateway[target].update(c)
        groups = s.get("gateway_groups", [1, 16])
        add("| load / gateway | sent | acknowledged | failed | unknown |")
        add("|---|---|---|---|---|")
        for name, c in by_load.items():
            add(f"| {name} | {fmt(sum(c.values()))} | {fmt(c.get('committed', 0))} | "
                f"{fmt(c.get('failed', 0))} | {fmt(c.get('unknown', 0))} |")
        for target, c in sorted(by_gateway.items()):
            group = groups[int(target)] if int(target) < len(groups) else "?"
            server = f"gw{int(target) + 1} (group commit {'on' if group != 1 else 'off'})" \
                if results.get("target") != "sarama" else "the sarama server"
            add(f"| {server} | "
                f"{fmt(sum(c.values()))} | {fmt(c.get('committed', 0))} | "
                f"{fmt(c.get('failed', 0))} | {fmt(c.get('unknown', 0))} |")
        add("")


def anomalies_section(results, add, h="##"):
    protos = results.get("protocols", {})
    add(f"{h} Anomalies by judge")
    add("")
    add("| TV | " + " | ".join(EXACTLY_ONCE_KEYS) + " | readers disagree | committed below min ISR "
        "| end not reached | hanging | fenced | judge failed |")
    add("|---|" + "---|" * (len(EXACTLY_ONCE_KEYS) + 6))
    for tv, proto in protos.items():
        c = Counter()
        for seg in proto.get("segments", []):
            for key, n in seg.get("anomalies", {}).items():
                for k in EXACTLY_ONCE_KEYS:
                    if key.endswith(f".{k}"):
                        c[k] += n
                for k, label in (("readers_disagree", "readers disagree"),
                                 ("below min ISR", "committed below min ISR"),
                                 ("end not reached", "end not reached"),
                                 ("hanging", "hanging"), ("find-hanging failed", "hanging"),
                                 ("fenced", "fenced"), ("judge failed", "judge failed")):
                    if k in key:
                        c[label] += n
        for rows in (proto.get("find_hanging_brokers") or {}).values():
            c["hanging"] += len(rows) if not isinstance(rows, str) else 1
        # The fence judge reads kafkatx's log lines: it has nothing to judge of another server.
        if results.get("target") == "sarama":
            c["fenced"] = "n/a"
        add(f"| {tv} | " + " | ".join(str(c.get(k, 0)) for k in EXACTLY_ONCE_KEYS) + " | "
            + " | ".join(str(c.get(k, 0)) for k in ("readers disagree", "committed below min ISR",
                                                     "end not reached", "hanging", "fenced",
                                                     "judge failed")) + " |")
    add("")
    listed = [(tv, seg["number"], key, n) for tv, seg in segments(results)
              for key, n in seg.get("anomalies", {}).items()]
    if listed:
        add("Every anomaly (segment directories keep the evidence: `judge-*.json` lists the first "
            "request ids involved):")
        add("")
        for tv, number, key, n in listed:
            add(f"- TV{tv} segment {number}: {key}: {n}")
        add("")


def availability_section(results, add, h="##"):
    protos = results.get("protocols", {})
    s = results.get("settings", {})
    add(f"{h} Availability during each kind of fault")
    add("")
    add("Acknowledged requests per second over all loads (offered: "
        f"{sum(l[4] for l in s.get('loads', []))}/s): *before* = the {s.get('baseline_s')} s "
        "before the fault, *during* = from the injection until the node (or gateway) is back "
        "(two-down: until the first node is back). *Back* = the restart until the node is ready "
        "(`integration/kafka restart` returns: `Kafka Server started` and the port open; "
        + ("a gateway: `/readyz` 200" if results.get("target") != "sarama" else
           "the sarama server: it answers HTTP")
        + "); *whole* = from then until every ISR is full again; *throughput "
        "back* = from *back* until one second holds half the *before* rate. Medians, with the "
        "90th percentile / max for the times.")
    add("")
    add("| TV | kind | n | acks/s before | acks/s during | during / before | down for s | back s "
        "(p50 / max) | whole s (p50 / max) | throughput back s (p50 / p90 / max) |")
    add("|---|---|---|---|---|---|---|---|---|---|")
    for tv, proto in protos.items():
        by_kind = defaultdict(list)
        for seg in proto.get("segments", []):
            for f in seg["faults"]:
                if "figures" in f:
                    by_kind[f["kind"]].append(f)
        for kind in KINDS:
            fs = by_kind.get(kind)
            if not fs:
                continue
            fig = [f["figures"] for f in fs]
            before = med([x["rate_before"] for x in fig])
            during = med([x["rate_during"] for x in fig])
            ratio = med([x["rate_during"] / x["rate_before"] for x in fig
                         if x["rate_before"] and x["rate_during"] is not None])
            back = [x["restart_s"] for x in fig]
            whole = [x["healthy_s"] for x in fig]
            tb = [x["throughput_back_s"] for x in fig]
            add(f"| {tv} | `{kind}` | {len(fs)} | {fmt(before)} | {fmt(during)} | "
                f"{fmt(ratio, 2)} | {fmt(med([x['during_s'] for x in fig]))} | "
                f"{fmt(med(back))} / {fmt(max(back, default=None))} | "
                f"{fmt(med(whole))} / {fmt(max((w for w in whole if w is not None), default=None))} | "
                f"{fmt(med(tb), 2)} / {fmt(pct(tb, 0.9), 2)} / "
                f"{fmt(max((t for t in tb if t is not None), default=None), 2)} |")
    add("")


def two_down_section(results, add, h="##"):
    two = [(tv, seg["number"], f) for tv, seg in segments(results) for f in seg["faults"]
           if f["kind"] == "two-down" and "figures" in f]
    if two:
        add(f"{h} Two nodes down (below min.insync.replicas)")
        add("")
        add("*Window*: from 2 s after the second node died until the first one's restart began; "
            "the answers given in it (every request got one: *no answer* counts those sent in it "
            "that timed out or lost their connection); *acknowledged in it* must be 0. Then: 2xx "
            "answers while the first node was restarting (before `integration/kafka restart` "
            "returned), and the first 2xx after the restart began and after it returned.")
        add("")
        add("| TV | seg | fault | nodes | window s | answers in the window | acknowledged in it | "
            "no answer | 2xx while restarting | first 2xx after restart began / node ready, s |")
        add("|---|---|---|---|---|---|---|---|---|---|")
        for tv, number, f in two:
            b = f["figures"]["below_min_isr"]
            add(f"| {tv} | {number} | {f['index']} | {f['nodes']} | {fmt(b['window_s'])} | "
                f"{', '.join(f'{k}: {v}' for k, v in sorted(b['answers'].items())) or '-'} | "
                f"**{b['committed']}** | {b['unclean']} | "
                f"{b.get('committed_while_first_restarting', '-')} | "
                f"{fmt(f['figures'].get('first_ack_after_restart_began_s'))} / "
                f"{fmt(f['figures'].get('first_ack_after_first_back_s'))} |")
        add("")


def gateway_kills_section(results, add, h="##"):
    gk = [(tv, seg["number"], f) for tv, seg in segments(results) for f in seg["faults"]
          if f["kind"] == "kill-gateway" and "figures" in f]
    if gk and results.get("target") == "sarama":
        add(f"{h} The sarama server killed and started again")
        add("")
        add("`kill-gateway` SIGKILLs the sarama server and starts it again: its producers' "
            "transactional ids restart at `inanzzz-txn-1`, so each new producer's InitProducerId "
            "fences the dead process's producer with that id and aborts its open transaction "
            "(ids of producers it had made as replacements, `inanzzz-txn-6` and up, are not "
            "reused: their open transactions wait for the coordinator's timeout). *Ready* is "
            "when it answers HTTP (it listens only once its pool is made, skipping producers it "
            "cannot make; how many it made is not visible).")
        add("")
        add("| TV | n | ready after restart s (p50 / max) | acks/s before / during |")
        add("|---|---|---|---|")
        for tv in results.get("protocols", {}):
            fs = [f for t, _, f in gk if t == tv]
            if not fs:
                continue
            ready = [f["ready_s"] for f in fs]
            add(f"| {tv} | {len(fs)} | {fmt(med(ready), 2)} / {fmt(max(ready), 2)} | "
                f"{fmt(med([f['figures']['rate_before'] for f in fs]))} / "
                f"{fmt(med([f['figures']['rate_during'] for f in fs]))} |")
        add("")
    elif gk:
        add(f"{h} Gateway killed and restarted")
        add("")
        add("Requests in flight to the killed gateway got no answer (outcome unknown; the judge "
            "holds them to all-or-nothing); its connections moved to the other gateway. On "
            "restart with the same instance id, each producer's InitProducerId fences the dead "
            "process's producer with that transactional id and aborts its open transaction; *all "
            "producers* is when the restarted pool had initialised all 5.")
        add("")
        add("| TV | gateway | group commit | n | ready after restart s (p50 / max) | all producers "
            "s (p50 / max) | acks/s before / during |")
        add("|---|---|---|---|---|---|---|")
        groups = defaultdict(list)
        for tv, _, f in gk:
            groups[(tv, f["target"], f["group_commit"])].append(f)
        for (tv, target, group), fs in sorted(groups.items()):
            ready = [f["ready_s"] for f in fs]
            allp = [f.get("all_producers_ready_s") for f in fs]
            add(f"| {tv} | {target} | {'on' if group > 1 else 'off'} | {len(fs)} | "
                f"{fmt(med(ready), 2)} / {fmt(max(ready), 2)} | {fmt(med(allp), 2)} / "
                f"{fmt(max((a for a in allp if a is not None), default=None), 2)} | "
                f"{fmt(med([f['figures']['rate_before'] for f in fs]))} / "
                f"{fmt(med([f['figures']['rate_during'] for f in fs]))} |")
        add("")


def end_check_section(results, add, h="##"):
    protos = results.get("protocols", {})
    add(f"{h} read_committed reaching the end")
    add("")
    add("| TV | segments | reached | after the last fault s (p50 / max) | after the loads exited s "
        "(p50 / max) | hanging (find-hanging) |")
    add("|---|---|---|---|---|---|")
    for tv, proto in protos.items():
        segs = proto.get("segments", [])
        ends = [seg.get("end_check", {}) for seg in segs]
        after_fault = [e.get("after_last_fault_s") for e in ends]
        after_stop = [e.get("after_stop_s") for e in ends]
        hanging = sum(len(r) if not isinstance(r, str) else 1 for seg in segs
                      for r in seg.get("find_hanging", {}).values())
        add(f"| {tv} | {len(segs)} | {sum(1 for e in ends if e.get('reached'))} | "
            f"{fmt(med(after_fault))} / {fmt(max((a for a in after_fault if a is not None), default=None))} | "
            f"{fmt(med(after_stop))} / {fmt(max((a for a in after_stop if a is not None), default=None))} | "
            f"{hanging} |")
    add("")


def overload_section(results, add, h="##"):
    over = results.get("overload") or {}
    if over:
        add(f"{h} Overload: 1024 connections against a pool of 5")
        add("")
        add("One gateway (pool 5, group commit off, defaults otherwise: at most 256 transactions "
            "admitted, lease timeout 5 s; `--max-connections 1100` so that the probes find room "
            "next to the load's 1024) on the healthy cluster, driven as fast "
            "as it answers with 64 connections (about its capacity) and then with 1024; both "
            "judged like the campaign's loads. RSS is sampled every 0.5 s; *probes* are single "
            "requests sent during the 1024-connection run to see the answer's headers.")
        add("")
        add("| TV | connections | requests | acknowledged/s | p50 / p99 ms (acknowledged) | errors "
            "| peak RSS MiB | anomalies |")
        add("|---|---|---|---|---|---|---|---|")
        for tv, o in over.items():
            # campaign.json keeps the runs under string keys, which sort "1024" before "64".
            for conns, r in sorted(o.get("runs", {}).items(), key=lambda run: int(run[0])):
                sm = (r.get("judge") or {}).get("summary") or {}
                lat = sm.get("committed_latency") or {}
                add(f"| {tv} | {conns} | {fmt(sm.get('requests'))} | "
                    f"{fmt(sm.get('committed_per_sec'))} | {fmt(lat.get('p50_ms'))} / "
                    f"{fmt(lat.get('p99_ms'))} | "
                    f"{', '.join(f'{k}: {v}' for k, v in (sm.get('errors_by_kind') or {}).items()) or 'none'} | "
                    f"{fmt((r.get('peak_rss_kb') or 0) / 1024)} | {r.get('anomalies')} |")
        add("")
        for tv, o in over.items():
            probes = o.get("runs", {}).get("1024", {}).get("probes", [])
            answers = Counter(probe_answer(p) for p in probes)
            if probes:
                add(f"- TV{tv} probes during 1024 connections: "
                    + ", ".join(f"{k} x{v}" for k, v in answers.items()))
        add("")


def probe_answer(probe):
    """A probe's answer as the overload section lists it. A probe waits 2 s: one the gateway had
    admitted and was still holding for a lease got no answer in that time (status None, the
    reason in its body); any other failure to get an answer is named by its reason."""
    if probe.get("status") is None:
        reason = probe.get("body") or ""
        return "no answer within 2 s" if "timed out" in reason else f"no answer ({reason[:80]})"
    return f"{probe['status']} (Retry-After: {probe.get('retry_after')})"


def segments_section(results, add, h="##"):
    add(f"{h} Segments")
    add("")
    add("| TV | seg | faults (kind: victim) | requests | acknowledged | anomalies | findings |")
    add("|---|---|---|---|---|---|---|")
    for tv, seg in segments(results):
        reqs = seg.get("requests", {})
        faults = "; ".join(f"{f['kind']}: {f.get('target') or f.get('node', f.get('nodes'))}"
                           for f in seg["faults"])
        add(f"| {tv} | {seg['number']} | {faults} | "
            f"{fmt(sum(c['sent'] for c in reqs.values()))} | "
            f"{fmt(sum(c['by_outcome'].get('committed', 0) for c in reqs.values()))} | "
            f"{sum(seg.get('anomalies', {}).values())} | {len(seg.get('findings', {}))} |")
    add("")
    findings = [(tv, seg["number"], k) for tv, seg in segments(results)
                for k in seg.get("findings", {})]
    add(f"{h} Findings")
    add("")
    if findings:
        for tv, number, k in findings:
            add(f"- TV{tv} segment {number}: {k}")
    else:
        add("None.")
    add("")
