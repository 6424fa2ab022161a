"""The sarama server's run of the campaign (`faults/run --target sarama`) in the documents: the
section "The sarama server under the same faults" of docs/reliability.md (`--report DIR
--compare SARAMA_DIR`), or docs/reliability-sarama.md alone. Its tables are report.py's, from
the sarama run's own results."""

import time
from collections import Counter

from . import report
from .report import fmt

TITLE = "The sarama server under the same faults"


def what_differs(results, add):
    """How the sarama run differs from the kafkatx campaign, and which judges apply."""
    s = results.get("settings", {})
    server = results.get("sarama_server") or {}
    loads = s.get("loads", [])
    add(f"The same faults and judges (`faults/run --target sarama`), against the seed's Go/sarama "
        f"server instead of the kafkatx gateways, from the results in `{results.get('out')}`. "
        + ("The run was **complete**." if results.get("finished") else
           f"The run was **not complete** ({results.get('error') or 'still running'}); the "
           "figures cover the segments that finished."))
    add("")
    add("```")
    add(results.get("command", "./dev faults --target sarama"))
    add("```")
    add("")
    add(f"- seed **{results.get('seed')}** (`--seed {results.get('seed')}` repeats the kinds, "
        f"victims' roles and hold times); commit `{results.get('commit')}`")
    add(f"- the sarama server: `{server.get('binary')}`, "
        f"{server.get('build') or 'build unknown'}")
    started, finished = results.get("started_unix"), results.get("finished_unix")
    m = results.get("machine", {})
    if started:
        add(f"- started {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))}"
            + (f", took {(finished - started) / 60:.0f} min" if finished else "")
            + f"; {m.get('cpus')} cores shared with other work, load average at the start "
            f"`{m.get('loadavg_start')}`, at the end `{m.get('loadavg_end')}`")
    if results.get("reanalysed"):
        r = results["reanalysed"]
        add(f"- figures and anomaly counts computed again from the kept outcome files by "
            f"`faults/run --report` at `{r.get('commit')}` (the run itself counted "
            f"{r.get('anomalies_as_run')} anomalies); the judges' verdicts are the run's own")
    add("")
    add("What differs from the kafkatx campaign:")
    add("")
    add(f"- **one** sarama server (`SEED_POOL={server.get('pool', 5)}`), not two gateways: its "
        "transactional ids restart at `inanzzz-txn-1` in every process, so two instances would "
        "fence each other (a known defect of the seed). The two-gateway aspects (a connection "
        "moving to the other gateway, group commit) do not apply: while it is down, the loads' "
        "connections find nothing to connect to.")
    add("- only its two endpoints' loads, as in the kafkatx campaign: "
        + "; ".join(f"`{name}` (`GET /{endpoint}/{{id}}`, two records per request, {rate} "
                    f"requests/s, {conns} connections)"
                    for name, endpoint, _, _, rate, conns, *_ in loads)
        + ". No keyed load, no records or transactions endpoint, no overload, no soak.")
    add("- its fixed topics `errors-topic` and `warnings-topic` (it disables auto-creation), "
        "3 partitions, RF 3, `min.insync.replicas=2`, **deleted and created again for every "
        "segment** (their topic ids are in the results), so that each segment's judges see only "
        "its own messages. The server writes each request's two records with sarama's "
        "round-robin partitioner: usually to two partitions.")
    add("- it speaks the protocol of Kafka 3.3.2 (its `SEED_KAFKA_VERSION` default), so its "
        "producers use the classic transaction protocol whatever the cluster's "
        "`transaction.version`.")
    add("- `kill-gateway` SIGKILLs the sarama server and starts it again; `kill-coordinator` "
        "picks one of `inanzzz-txn-1..5`.")
    add(f"- the end check allows its transaction timeout, sarama's default "
        f"`Producer.Transaction.Timeout` of {s.get('transaction_timeout_ms', 0) / 1000:.0f} s "
        "(the gateways run with 30 s), + 5 s.")
    add("- readiness (before each fault, and *whole* after it) is a real request answered 2xx "
        "(`GET /errors/probe-N`; the judges count no `probe-` id as a load's), since the server "
        "has no health endpoint. When it answers none for 120 s with the cluster whole it is "
        "**hung** (the seed's `Borrow` spins while its pool is empty; `Release` loops forever "
        "on a transaction status none of its cases matches) or has lost its producers: that is a "
        "finding, its goroutines are dumped (SIGQUIT) into its log, and it is killed and started "
        "again. It has no SIGTERM handler: at a segment's end it is ended by SIGQUIT too, once "
        "its state is taken (below), and its exit code 2 is not a finding.")
    add("")
    add("The judges: (1) exactly once with both readers, (2) nothing acknowledged with two nodes "
        "down, (3) read_committed reaching the end, (4) find-hanging apply unchanged, except for "
        "one thing in (1): the sarama server answers a failure with a bare `500` (no body), "
        "after a failed `SendMessages` or `CommitTxn` and an `AbortTxn` that may itself fail; a "
        "commit can also fail on the client after the coordinator wrote it. So a 500 does not "
        "prove that nothing was written, and the judge holds **every answered non-2xx to all "
        "or nothing** (an unknown outcome; `load-NAME.judged.jsonl` beside the load's own "
        "file). A connection that never opened is still *failed* (nothing was sent). (5) the "
        "fence judge reads kafkatx's `producer fenced` log lines and the gateways' metrics: "
        "**it does not apply** (*n/a* below).")
    add("")


def capacity_note(results, add):
    """What it served of the offered load, before the faults, and how long answers took."""
    for tv, proto in results.get("protocols", {}).items():
        before = [f["figures"]["rate_before"] for seg in proto.get("segments", [])
                  for f in seg.get("faults", []) if f.get("figures")]
        p50 = [((rep.get("summary") or {}).get("committed_latency") or {}).get("p50_ms")
               for seg in proto.get("segments", []) for rep in seg.get("judge", {}).values()]
        p99 = [((rep.get("summary") or {}).get("committed_latency") or {}).get("p99_ms")
               for seg in proto.get("segments", []) for rep in seg.get("judge", {}).values()]
        offered = sum(l[4] for l in results.get("settings", {}).get("loads", []))
        add(f"TV{tv}: of the {offered} requests/s offered, it acknowledged a median "
            f"{fmt(report.med(before))}/s in the {results['settings'].get('baseline_s')} s before "
            f"each fault (the cluster whole; min {fmt(min(before, default=None))}, max "
            f"{fmt(max(before, default=None))}); acknowledged requests took a median p50 of "
            f"{fmt(report.med(p50), 0)} ms and p99 of {fmt(report.med(p99), 0)} ms over the "
            "loads' segments (max p99 "
            f"{fmt(max((x for x in p99 if x is not None), default=None), 0)} ms). Its "
            "connections wait for a producer to lend: what it does not serve is not refused, it "
            "waits; the loads' fixed rate then falls behind (they catch up at most one second's "
            "worth).")
        add("")


def error_answers_section(results, add, h):
    """What the as-answered judge saw: error answers whose records were written anyway."""
    rows = []
    for tv, proto in results.get("protocols", {}).items():
        statuses = Counter()
        written = Counter()
        for seg in proto.get("segments", []):
            for counts in seg.get("requests", {}).values():
                for label, n in counts.get("by_status", {}).items():
                    if label[:1].isdigit() and not label.startswith("2"):
                        statuses[label] += n
            for rep in seg.get("judge", {}).values():
                a = rep.get("as_answered") or {}
                for reader in ("kafkatx_reader", "kcat_reader"):
                    written[reader] += (a.get(reader) or {}).get("visible_after_failure", 0)
        rows.append((tv, statuses, written))
    add(f"{h} Its error answers, and what they had written")
    add("")
    add("The loads' outcomes as the load classifies them (a non-2xx without a body = nothing "
        "written) were judged too, for information: *written anyway* is the requests answered "
        "with an error whose two records are visible (committed), by reader. Under the rule the "
        "campaign applies they are unknown outcomes, not anomalies; a client that took the 500 "
        "at its word (and retried) would have written them twice.")
    add("")
    add("| TV | error answers | written anyway (our reader / kcat) |")
    add("|---|---|---|")
    for tv, statuses, written in rows:
        answers = ", ".join(f"`{k}` {fmt(v)}" for k, v in sorted(statuses.items()))
        add(f"| {tv} | {answers or 'none'} | {fmt(written['kafkatx_reader'])} / "
            f"{fmt(written['kcat_reader'])} |")
    add("")


def server_section(results, add, h):
    """Hangs and restarts, probes, and what the server logged."""
    add(f"{h} The server's state: hangs, probes, its log")
    add("")
    events = [(tv, seg["number"], e) for tv, seg in report.segments(results)
              for e in seg.get("server_events", [])]
    if events:
        add("Times it stopped serving with the cluster whole (each killed and started again):")
        add("")
        for tv, number, e in events:
            after = f" after fault {e['after_fault']}" if e.get("after_fault") else ""
            again = e.get("serving_again_s")
            add(f"- TV{tv} segment {number}{after}: {e['what']}; serving again "
                + (f"{again:.1f} s after its restart" if again is not None else "**not**"))
    else:
        add("It never stopped serving with the cluster whole (no probe went unanswered 2xx for "
            "120 s).")
    add("")
    add("Per segment: the probes (readiness before each fault and after it; with two nodes "
        "down, until one commits again), the processes started (1 + restarts), what it logged "
        "(its error lines by their prefix), and its state at the segment's end, once the loads "
        "had stopped and every request was answered or had timed out (60 s): the CPU it burned "
        "idle over 2 s, and from a goroutine dump (SIGQUIT) the goroutines still in `Release` "
        "(each holds a producer that never returns to the pool: a request never answered) or "
        "spinning in `Borrow`.")
    add("")
    add("| TV | seg | probes sent | answered 2xx | unanswered | starts | logged (lines) | idle CPU "
        "at the end (cores) | stuck in Release / Borrow at the end |")
    add("|---|---|---|---|---|---|---|---|---|")
    for tv, seg in report.segments(results):
        p = seg.get("sarama_probes") or {}
        end = seg.get("sarama_end_state") or {}
        logged = ", ".join(f"{k}: {v}" for k, v in sorted((seg.get("sarama_log") or {}).items()))
        stuck = f"{end['in_release']} / {end['in_borrow']}" if "in_release" in end else "-"
        add(f"| {tv} | {seg['number']} | {fmt(p.get('sent'))} | {fmt(p.get('answered_2xx'))} | "
            f"{fmt(p.get('unanswered'))} | {sum((seg.get('gateway_starts') or {}).values())} | "
            f"{logged or '-'} | {fmt(end.get('cpu_cores_idle'), 2)} | {stuck} |")
    add("")


def pair_load_figures(results, tv):
    """(faults, requests by outcome, exactly-once anomalies) of a run's errors and warnings
    loads (the endpoints both servers have) on one protocol."""
    proto = results.get("protocols", {}).get(tv) or {}
    outcome = Counter()
    anomalies = 0
    faults = 0
    for seg in proto.get("segments", []):
        faults += len(seg.get("faults", []))
        for name in ("errors", "warnings"):
            outcome.update((seg.get("requests", {}).get(name) or {}).get("by_outcome", {}))
        anomalies += sum(n for key, n in seg.get("anomalies", {}).items()
                         if key.startswith(("errors: ", "warnings: ")))
    return faults, outcome, anomalies


def side_by_side(kafkatx, results, add, h):
    """The two runs' errors and warnings loads next to each other."""
    add(f"{h} Side by side: the errors and warnings loads")
    add("")
    add("The loads both servers serve (`GET /errors/{id}`, `GET /warnings/{id}`, 30 requests/s "
        "each), from each run's own faults (different seeds, counts and kinds; the kafkatx "
        "run's two gateways share them with three more loads). *Anomalies* are the exactly-once "
        "judge's for these loads; every judge's count is in each run's tables.")
    add("")
    add("| server | TV | faults in the run | requests | acknowledged (2xx) | failed (nothing "
        "written) | unknown outcome | exactly-once anomalies | all loads' acks/s before a fault "
        "(median) |")
    add("|---|---|---|---|---|---|---|---|---|")
    tvs = sorted(set(kafkatx.get("protocols", {})) | set(results.get("protocols", {})))
    for tv in tvs:
        for label, run in (("kafkatx (2 gateways)", kafkatx), ("sarama", results)):
            if tv not in run.get("protocols", {}):
                continue
            faults, outcome, anomalies = pair_load_figures(run, tv)
            before = [f["figures"]["rate_before"]
                      for seg in run["protocols"][tv].get("segments", [])
                      for f in seg.get("faults", []) if f.get("figures")]
            offered = sum(l[4] for l in run.get("settings", {}).get("loads", []))
            add(f"| {label} | {tv} | {faults} | {fmt(sum(outcome.values()))} | "
                f"{fmt(outcome.get('committed', 0))} | {fmt(outcome.get('failed', 0))} | "
                f"{fmt(outcome.get('unknown', 0))} | **{anomalies}** | "
                f"{fmt(report.med(before))} of {offered} offered |")
    add("")


def section(results, add, h="##", kafkatx=None):
    """The whole comparison section, headed `h`; its tables one level below. With kafkatx (the
    run of the document it goes into), a side-by-side table of the loads both runs have."""
    sub = h + "#"
    add(f"{h} {TITLE}")
    add("")
    what_differs(results, add)
    if kafkatx is not None:
        side_by_side(kafkatx, results, add, sub)
    report.summary_section(results, add, sub)
    capacity_note(results, add)
    report.anomalies_section(results, add, sub)
    report.availability_section(results, add, sub)
    error_answers_section(results, add, sub)
    server_section(results, add, sub)
    report.two_down_section(results, add, sub)
    report.gateway_kills_section(results, add, sub)
    report.end_check_section(results, add, sub)
    report.faults_by_kind_section(results, add, sub)
    report.requests_section(results, add, sub)
    report.segments_section(results, add, sub)


def write_standalone(results, path):
    """docs/reliability-sarama.md: the sarama run alone."""
    lines = []
    add = lines.append
    add("# Reliability: the sarama server under the fault campaign")
    add("")
    add("Written by `./dev faults --target sarama` (`faults/run`). The seed's server run through "
        "the fault campaign of docs/reliability.md, for comparison with kafkatx's gateways; "
        "`faults/run --report KAFKATX_DIR --compare SARAMA_DIR` puts this into docs/reliability.md "
        "as its section \"" + TITLE + "\", beside the kafkatx run's tables.")
    add("")
    section(results, add, "##")
    return lines
