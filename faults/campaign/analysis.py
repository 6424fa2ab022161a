"""Judging a segment from what the loads recorded (--outcomes files), the faults' timelines and
the end checks: availability per fault, writes below min.insync.replicas, the anomalies."""

import bisect
import datetime
import glob
import gzip
import os
import re
from collections import Counter

from .cluster import java_hash
from .processes import judged_outcomes_path, read_outcomes

# A commit answered this long after the second node of a two-down fault died may still have been
# written before it died (the answer was on its way).
BELOW_MIN_ISR_GRACE_S = 2.0
# Throughput is "back" when a one-second window after the fault holds at least this share of the
# acknowledged rate before it.
BACK_SHARE = 0.5
EXACTLY_ONCE_KEYS = ("partial", "lost", "visible_after_failure", "duplicated", "from_nowhere",
                     "out_of_order")


# A gateway's producer fenced this long after its coordinator logged rolling back (or fencing the
# epoch of) that transactional id's timed-out transaction was fenced by that rollback.
FENCE_EXPLAINED_WINDOW_S = 60.0
GATEWAY_FENCED = re.compile(r'^(\S+?)Z .*transactional_id="([^"]+)".*producer is now in a fatal '
                            r'state error=producer fenced')
COORDINATOR_FENCE = re.compile(r'^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3})\] .*(?:epoch fence '
                               r'transition for producer|ollback of ongoing transaction for '
                               r'transactionalId) (\S+)')


def utc_seconds(text, fmt):
    return datetime.datetime.strptime(text, fmt).replace(
        tzinfo=datetime.timezone.utc).timestamp()


def fenced_events(seg_dir):
    """(time, transactional id, gateway) of every producer a gateway of the segment reported
    fenced, from the gateways' logs (every process, killed ones included)."""
    events = []
    for path in sorted(glob.glob(os.path.join(seg_dir, "gateway*.log"))):
        gw = "gw" + os.path.basename(path)[len("gateway"):-len(".log")]
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                m = GATEWAY_FENCED.match(line)
                if m:
                    events.append((utc_seconds(m.group(1), "%Y-%m-%dT%H:%M:%S.%f"), m.group(2), gw))
    return events


_COORDINATOR_FENCES = {}


def coordinator_fences(tv_dir):
    """transactional id -> times a coordinator rolled back its timed-out transaction (or fenced
    its epoch for it), from every broker log kept for the protocol's run so far."""
    paths = sorted(glob.glob(os.path.join(tv_dir, "**", "*.log.gz"), recursive=True))
    key = (tv_dir, tuple((p, os.path.getmtime(p)) for p in paths))
    if key in _COORDINATOR_FENCES:
        return _COORDINATOR_FENCES[key]
    fences = {}
    for path in paths:
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
            for line in f:
                if "ollback of ongoing" not in line and "epoch fence transition" not in line:
                    continue
                m = COORDINATOR_FENCE.match(line)
                if m:
                    t = utc_seconds(m.group(1), "%Y-%m-%d %H:%M:%S") + int(m.group(2)) / 1000
                    fences.setdefault(m.group(3), []).append(t)
    _COORDINATOR_FENCES[key] = fences
    return fences


# KIP-890 only: a broker paused beyond its session timeout resumes still holding the transaction
# metadata of a __transaction_state partition it no longer leads, and answers from it until its
# become-follower transition unloads it. Its stale PrepareCommit answers the producer's next
# EndTxn (at the epoch that commit returned) PRODUCER_FENCED; Kafka's Java producer is fenced the
# same way (faults/java_pause_experiment). Evidence on that broker: a failed write for the
# transactional id ("transition failed due to NOT_COORDINATOR") or an invalid transition it
# answered, in the STALE_BEFORE_S before the fence, and the unloading of the id's partition in the
# STALE_AFTER_S after it (from half a second before: the gateway logs the answer a little later).
STALE_BEFORE_S = 10.0
STALE_AFTER_S = 10.0
TXN_LOG_PARTITIONS = 3  # integration/kafka's cluster: transaction.state.log.num.partitions
BROKER_LINE = re.compile(r'^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3})\] ')
STALE_WRITE = re.compile(r'\[Transaction State Manager (\d+)\]: TransactionalId (\S+) append '
                         r'transaction log for .* transition failed due to NOT_COORDINATOR|'
                         r'\[TransactionCoordinator id=(\d+)\] TransactionalId: (\S+)\'s state is '
                         r'\S+, but received transaction marker result')
UNLOADED = re.compile(r'\[Transaction State Manager (\d+)\]: Unloaded transaction metadata .* for '
                      r'__transaction_state-(\d+) on become-follower transition')
_STALE_EVIDENCE = {}


def stale_coordinator_evidence(tv_dir):
    """(transactional id -> [(time, node)] of failed or invalid stale writes, (node, partition) ->
    [times] of unloads), from every broker log kept for the protocol's run so far."""
    paths = sorted(glob.glob(os.path.join(tv_dir, "**", "*.log.gz"), recursive=True))
    key = (tv_dir, tuple((p, os.path.getmtime(p)) for p in paths))
    if key in _STALE_EVIDENCE:
        return _STALE_EVIDENCE[key]
    writes, unloads = {}, {}
    for path in paths:
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
            for line in f:
                if "NOT_COORDINATOR" not in line and "marker result" not in line \
                        and "Unloaded transaction metadata" not in line:
                    continue
                m = BROKER_LINE.match(line)
                if not m:
                    continue
                t = utc_seconds(m.group(1), "%Y-%m-%d %H:%M:%S") + int(m.group(2)) / 1000
                w = STALE_WRITE.search(line)
                if w:
                    node, tid = (w.group(1), w.group(2)) if w.group(1) else (w.group(3), w.group(4))
                    writes.setdefault(tid, set()).add((t, int(node)))
                u = UNLOADED.search(line)
                if u:
                    unloads.setdefault((int(u.group(1)), int(u.group(2))), set()).add(t)
    _STALE_EVIDENCE[key] = (writes, unloads)
    return writes, unloads


def txn_log_partition(transactional_id):
    h = java_hash(transactional_id)
    return (0 if h == -(1 << 31) else abs(h)) % TXN_LOG_PARTITIONS


def fenced_by_stale_coordinator(tv_dir, t, tid):
    writes, unloads = stale_coordinator_evidence(tv_dir)
    partition = txn_log_partition(tid)
    return any(t - STALE_BEFORE_S <= wt <= t + 0.05
               and any(t - 0.5 <= ut <= t + STALE_AFTER_S for ut in unloads.get((node, partition), ()))
               for wt, node in writes.get(tid, ()))


def classify_fenced(seg_dir):
    """Fenced producers of a segment: those whose coordinator had just rolled back their
    timed-out transaction (Kafka's transaction.timeout.ms at work: expected), and the others."""
    tv_dir = os.path.dirname(seg_dir)
    fences = coordinator_fences(tv_dir)
    explained, stale, unexplained = Counter(), Counter(), Counter()
    for t, tid, gw in fenced_events(seg_dir):
        if any(t - FENCE_EXPLAINED_WINDOW_S <= ft <= t + 5 for ft in fences.get(tid, ())):
            explained[gw] += 1
        elif fenced_by_stale_coordinator(tv_dir, t, tid):
            stale[gw] += 1
        else:
            unexplained[gw] += 1
    return explained, stale, unexplained


def sarama_log_counts(path):
    """Lines the sarama server logged, by the prefixes its code puts on sarama's errors (main.go
    and kafka/*.go), and panics; goroutine dumps (SIGQUIT) are counted apart (goroutine_census)."""
    patterns = (("begin txn", "begin txn"), ("send messages", "send messages"),
                ("commit txn", "commit txn"), ("arort txn", "abort txn"),
                ("release producer: status", "release: producer thrown away"),
                ("release producer: close", "release: close failed"),
                ("failed to borrow", "failed to borrow"), ("panic:", "panic"))
    counts = Counter()
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                for needle, label in patterns:
                    if needle in line:
                        counts[label] += 1
    except OSError:
        pass
    return dict(counts)


class Requests:
    """Every request of a segment (all loads), with answer times in wall-clock seconds."""

    def __init__(self, loads):
        self.all = [r for _, reqs in loads for r in reqs]
        self.acks = sorted(r["answered"] for r in self.all if r["outcome"] == "committed")

    def acks_between(self, start, end):
        return bisect.bisect_left(self.acks, end) - bisect.bisect_left(self.acks, start)

    def rate(self, start, end):
        return self.acks_between(start, end) / (end - start) if end > start else None

    def answered_between(self, start, end):
        return [r for r in self.all if start <= r["answered"] < end]

    def sent_between(self, start, end):
        return [r for r in self.all if start <= r["sent"] < end]

    def first_ack_after(self, t):
        i = bisect.bisect_left(self.acks, t)
        return self.acks[i] if i < len(self.acks) else None

    def throughput_back(self, t, baseline_rate, limit=300):
        """Seconds from t until a one-second window holds BACK_SHARE of the baseline rate."""
        if not baseline_rate:
            return None
        need = max(1, int(baseline_rate * BACK_SHARE))
        i = bisect.bisect_left(self.acks, t)
        while i < len(self.acks) and self.acks[i] < t + limit:
            if bisect.bisect_left(self.acks, self.acks[i] + 1.0) - i >= need:
                return max(0.0, self.acks[i] - t)
            i += 1
        return None


def status_label(r):
    if r["status"] is not None:
        return str(r["status"])
    return r.get("kind") or "no answer"


def fault_figures(fault, requests, baseline_s):
    """Availability figures of one fault."""
    before = requests.rate(fault["t_begin"] - baseline_s, fault["t_begin"])
    during_end = fault.get("t_first_back", fault["t_up"])
    during = requests.rate(fault["t_begin"], during_end)
    figures = {
        "rate_before": before,
        "rate_during": during,
        "during_s": during_end - fault["t_begin"],
        "restart_s": fault["t_up"] - fault["t_lift"],
        "healthy_s": (fault["t_healthy"] - fault["t_up"]) if fault.get("t_healthy") else None,
        "throughput_back_s": requests.throughput_back(fault["t_up"], before),
        "answers_during": dict(Counter(status_label(r) for r in
                                       requests.answered_between(fault["t_begin"], during_end))),
    }
    if fault["kind"] == "two-down":
        # Below min.insync.replicas from the second kill until the first node's restart begins.
        # Not until it reports ready: a restarting node's replica fetchers catch up and its
        # partitions' leaders add it back to their ISRs (seconds before its own client port
        # opens and `integration/kafka restart` returns), so writes may legitimately succeed
        # then, with two in-sync replicas.
        start = fault["t_down"] + BELOW_MIN_ISR_GRACE_S
        end = fault["t_lift"]
        answered = requests.answered_between(start, end)
        committed = [r for r in answered if r["outcome"] == "committed"]
        sent = requests.sent_between(fault["t_down"], end)
        restarting = [r for r in requests.answered_between(end, fault["t_first_back"])
                      if r["outcome"] == "committed"]
        figures["below_min_isr"] = {
            "window_s": end - start,
            "answers": dict(Counter(status_label(r) for r in answered)),
            "committed": len(committed),
            "committed_examples": [
                {"n": r["n"], "load": r.get("load"), "sent": r["sent"], "answered": r["answered"]}
                for r in committed[:10]],
            "sent_then": dict(Counter(f"{status_label(r)} {r['outcome']}" for r in sent)),
            "unclean": sum(1 for r in sent if r["status"] is None),
            "committed_while_first_restarting": len(restarting),
        }
        first = requests.first_ack_after(fault["t_lift"])
        second = fault.get("t_second_lift", fault["t_up"])
        figures["first_ack_after_restart_began_s"] = (first - fault["t_lift"]) \
            if first and first < second else None
        first = requests.first_ack_after(fault["t_first_back"])
        figures["first_ack_after_first_back_s"] = (first - fault["t_first_back"]) \
            if first and first < second else None
    return figures


def verdict_anomalies(report):
    """Exactly-once anomalies of one judge report, summed over both readers, by kind."""
    out = Counter()
    check = (report or {}).get("check") or {}
    for reader in ("kafkatx_reader", "kcat_reader"):
        v = check.get(reader) or {}
        for key in EXACTLY_ONCE_KEYS:
            out[f"{reader}.{key}"] += v.get(key, 0)
    diff = check.get("reader_diff") or {}
    out["readers_disagree"] += diff.get("only_first", 0) + diff.get("only_second", 0)
    return out


def request_counts(requests):
    """Requests by outcome and by status/kind."""
    by_outcome = Counter(r["outcome"] for r in requests)
    by_status = Counter(status_label(r) + (f" {r['kind']}" if r["status"] and r.get("kind")
                                           and not r["kind"].startswith(str(r["status"]))
                                           else "") for r in requests)
    by_kind = Counter((r.get("kind") or "200 committed") for r in requests)
    by_target = {}
    for r in requests:
        by_target.setdefault(str(r["target"]), Counter())[r["outcome"]] += 1
    return {"sent": len(requests), "by_outcome": dict(by_outcome), "by_status": dict(by_status),
            "by_kind": dict(by_kind), "by_target": {k: dict(v) for k, v in by_target.items()}}


def analyse_segment(seg, load_names, baseline_s):
    """Figures, anomalies and findings of a finished segment, from its directory's outcome files
    and what the run recorded (timelines, judges, end check, find-hanging, gateways)."""
    loads = []
    for name in load_names:
        # The outcomes the judge read: for the sarama server, error answers made unknown.
        path = os.path.join(seg["dir"], f"load-{name}.jsonl")
        if os.path.exists(judged_outcomes_path(path)):
            path = judged_outcomes_path(path)
        _, reqs = read_outcomes(path)
        for r in reqs:
            r["load"] = name
        loads.append((name, reqs))
    requests = Requests(loads)
    seg["requests"] = {name: request_counts(reqs) for name, reqs in loads}
    if seg.get("target") == "sarama":
        seg["sarama_log"] = sarama_log_counts(os.path.join(seg["dir"], "sarama.log"))
    for fault in seg["faults"]:
        fault["figures"] = fault_figures(fault, requests, baseline_s)
    anomalies = {}
    for name, rep in seg["judge"].items():
        if "error" in rep:
            anomalies[f"{name}: judge failed"] = 1
            continue
        for key, count in verdict_anomalies(rep).items():
            if count:
                anomalies[f"{name}: {key}"] = count
        # With idempotency keys every request is retried until it has an answer: an outcome
        # still unknown at the end is a request its client could not settle.
        unknown = (rep.get("summary") or {}).get("unknown", 0)
        if rep.get("keyed") and unknown:
            anomalies[f"{name}: outcomes unknown despite key retries"] = unknown
    for fault in seg["faults"]:
        below = fault["figures"].get("below_min_isr")
        if below and below["committed"]:
            anomalies[f"fault {fault['index']}: committed below min ISR"] = below["committed"]
    if not seg["end_check"].get("reached"):
        anomalies["read_committed end not reached in time"] = 1
    for topic, rows in seg["find_hanging"].items():
        if isinstance(rows, str):
            anomalies[f"{topic}: {rows[:80]}"] = 1
        elif rows:
            anomalies[f"{topic}: hanging transactions"] = len(rows)
    explained, stale, unexplained = classify_fenced(seg["dir"])
    for gw, m in seg["gateway_metrics"].items():
        fenced = m.get("kafkatx_pool_fenced_total", m.get("kafkatx_pool_fenced", 0))
        logged = explained.get(gw, 0) + stale.get(gw, 0) + unexplained.get(gw, 0)
        if fenced > logged:  # counted by the last process but not found in the log
            anomalies[f"{gw}: producers fenced (metric, not in the log)"] = fenced - logged
    # A producer of a live gateway is never fenced by another instance (each owns its ids); it
    # is fenced when its coordinator rolled back its transaction for outliving
    # transaction.timeout.ms (the campaign's outages can hold a transaction that long). Anything
    # else is an anomaly.
    for gw, count in unexplained.items():
        anomalies[f"{gw}: producers fenced, not by a transaction timeout"] = count
    seg["anomalies"] = anomalies
    findings = {}
    for gw, count in explained.items():
        findings[f"{gw}: producers fenced after their coordinator rolled back a timed-out "
                 "transaction (replaced by the pool)"] = count
    for gw, count in stale.items():
        findings[f"{gw}: producers fenced by a resumed coordinator's stale transaction state "
                 "(KIP-890; replaced by the pool)"] = count
    # The sarama server has no SIGTERM handler: it is ended by SIGQUIT (a goroutine dump, exit
    # 2; runs before that by SIGTERM's default action, -15).
    clean_exits = (0, -15, 2) if seg.get("target") == "sarama" else (0,)
    end = seg.get("sarama_end_state") or {}
    if end.get("in_release"):
        findings["sarama: request goroutines stuck in Release at the segment's end (their "
                 "producers never return to the pool)"] = end["in_release"]
    if end.get("in_borrow"):
        findings["sarama: goroutines spinning in Borrow at the segment's end (pool empty)"] = \
            end["in_borrow"]
    for gw, code in seg["gateway_exit_codes"].items():
        if code not in clean_exits:
            findings[f"{gw}: exit code {code} after SIGTERM"] = 1
    for failure in seg.get("sarama_start_failures", []):
        key = f"sarama: exited while starting (code {failure['exit_code']}); started again"
        findings[key] = findings.get(key, 0) + 1
    for event in seg.get("server_events", []):
        key = f"{event['server']}: {event['what']}; killed and started again"
        findings[key] = findings.get(key, 0) + 1
    for name, code in seg["load_exit_codes"].items():
        if code != 0:
            findings[f"load {name}: exit code {code}"] = 1
    for fault in seg["faults"]:
        if fault.get("unrecovered"):
            findings[f"fault {fault['index']}: not recovered: {fault['unrecovered']}"] = 1
        if fault["kind"] == "two-down":
            f = fault["figures"]
            if f.get("first_ack_after_restart_began_s") is None:
                findings[f"fault {fault['index']}: no commit with one node back"] = 1
            if f["below_min_isr"]["unclean"]:
                findings[f"fault {fault['index']}: requests without an answer below min ISR"] = \
                    f["below_min_isr"]["unclean"]
    seg["findings"] = findings
