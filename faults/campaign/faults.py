"""The fault kinds. Each injects one fault, holds it, lifts it, and returns its timeline (Unix
seconds): t_begin (injection starts), t_down (the fault is in effect), t_lift (lifting starts),
t_up (lifted: the node is ready again / continued / the gateway answers /readyz), plus details.
Every random choice comes from the campaign's seeded RNG, made before anything depends on
timing, so a seed repeats the same sequence of kinds, victims' roles and hold times."""

import os
import time

from .cluster import NODES
from .util import say

KINDS = (
    "kill-leader",        # SIGKILL the leader of a data partition, restart later
    "kill-coordinator",   # SIGKILL the transaction coordinator of a gateway producer
    "kill-controller",    # SIGKILL the active KRaft controller
    "kill-random",        # SIGKILL any node
    "restart-clean",      # SIGTERM (controlled shutdown), restart
    "pause",              # SIGSTOP beyond request and session timeouts, then SIGCONT
    "two-down",           # two nodes SIGKILLed: below min.insync.replicas, then one back
    "kill-gateway",       # SIGKILL a gateway under load, restart it with the same instance id
                          # (--target sarama: SIGKILL the sarama server, start it again)
)

# broker.session.timeout.ms is 9 s, the gateways' request.timeout.ms 6 s: a pause must outlast both.
PAUSE_RANGE = (12.0, 20.0)


def committed_count(gateways):
    """Committed transactions so far over the gateways that answer (/metrics); the sarama
    server, which has no metrics, counts the probes it answered 2xx (one more per call)."""
    return sum(gw.committed_so_far() for gw in gateways)


def wait_first_success(gateways, timeout):
    """Seconds until a gateway commits a transaction, or None."""
    started = time.time()
    before = committed_count(gateways)
    while time.time() - started < timeout:
        time.sleep(0.2)
        if committed_count(gateways) > before:
            return time.time() - started
    return None


class FaultContext:
    def __init__(self, cluster, gateways, topics, rng, short, seg_dir):
        self.cluster = cluster
        self.gateways = gateways
        self.topics = topics
        self.rng = rng
        self.short = short
        self.seg_dir = seg_dir
        self.index = 0

    def restart(self, node):
        """Restarts a node, keeping the log of the run that ended (evidence)."""
        self.cluster.archive_log(node, os.path.join(
            self.seg_dir, f"node{node}-until-fault{self.index:03d}.log.gz"))
        self.cluster.restart(node)

    def hold(self, low, high):
        if self.short:
            low, high = low / 2, high / 2
        return round(self.rng.uniform(low, high), 2)


def plan(ctx, kind):
    """The random choices of one fault, drawn now (in a fixed order, whatever happens later)."""
    rng = ctx.rng
    p = {"kind": kind}
    if kind == "kill-leader":
        p["topic"] = rng.choice(ctx.topics)
        p["partition"] = rng.randrange(3)
        p["hold"] = ctx.hold(3, 12)
    elif kind == "kill-coordinator":
        gw = rng.choice(ctx.gateways)
        p["gateway"] = gw.number
        p["transactional_id"] = rng.choice(gw.transactional_ids())
        p["hold"] = ctx.hold(3, 12)
    elif kind in ("kill-controller",):
        p["hold"] = ctx.hold(3, 12)
    elif kind == "kill-random":
        p["node"] = rng.choice(NODES)
        p["hold"] = ctx.hold(3, 12)
    elif kind == "restart-clean":
        p["node"] = rng.choice(NODES)
        p["hold"] = ctx.hold(1, 6)
    elif kind == "pause":
        p["node"] = rng.choice(NODES)
        p["hold"] = round(rng.uniform(*PAUSE_RANGE), 2) if not ctx.short else round(
            rng.uniform(PAUSE_RANGE[0], PAUSE_RANGE[0] + 2), 2)
    elif kind == "two-down":
        p["nodes"] = rng.sample(list(NODES), 2)
        p["first_back"] = rng.choice(p["nodes"])
        p["hold"] = ctx.hold(10, 20)
    elif kind == "kill-gateway":
        p["gateway"] = rng.choice(ctx.gateways).number
        p["hold"] = ctx.hold(1, 6)
    return p


def inflict(ctx, p):
    """Carries out the planned fault; returns its timeline."""
    return globals()["_" + p["kind"].replace("-", "_")](ctx, p, dict(p))


def _kill_and_restart(ctx, node, rec):
    rec["node"] = node
    rec["t_begin"] = time.time()
    ctx.cluster.kill(node)
    rec["t_down"] = time.time()
    time.sleep(rec["hold"])
    rec["t_lift"] = time.time()
    ctx.restart(node)
    rec["t_up"] = time.time()
    return rec


def _kill_leader(ctx, p, rec):
    metadata = ctx.cluster.metadata() or {}
    partitions = metadata.get(p["topic"], [])
    leader = next((x["leader"] for x in partitions if x["partition"] == p["partition"]), -1)
    if leader not in NODES:
        leader = NODES[p["partition"] % len(NODES)]
        rec["how"] = "leader unknown; node by partition number"
    else:
        rec["how"] = f"leader of {p['topic']}-{p['partition']}"
    return _kill_and_restart(ctx, leader, rec)


def _kill_coordinator(ctx, p, rec):
    node, state, how = ctx.cluster.coordinator(p["transactional_id"])
    rec["how"] = f"coordinator of {p['transactional_id']} (state {state}) by {how}"
    if node not in NODES:
        node = NODES[0]
        rec["how"] += "; not found, node 1"
    return _kill_and_restart(ctx, node, rec)


def _kill_controller(ctx, p, rec):
    node = ctx.cluster.controller()
    rec["how"] = "active controller (MetadataQuorumCommand)"
    if node not in NODES:
        node = NODES[0]
        rec["how"] += "; not found, node 1"
    return _kill_and_restart(ctx, node, rec)


def _kill_random(ctx, p, rec):
    rec["how"] = "random node"
    return _kill_and_restart(ctx, p["node"], rec)


def _restart_clean(ctx, p, rec):
    node = p["node"]
    rec["t_begin"] = time.time()
    ctx.cluster.terminate(node)
    rec["t_down"] = time.time()
    rec["shutdown_s"] = rec["t_down"] - rec["t_begin"]
    time.sleep(rec["hold"])
    rec["t_lift"] = time.time()
    ctx.restart(node)
    rec["t_up"] = time.time()
    return rec


def _pause(ctx, p, rec):
    node = p["node"]
    rec["t_begin"] = time.time()
    ctx.cluster.pause(node)
    rec["t_down"] = time.time()
    time.sleep(rec["hold"])
    rec["t_lift"] = time.time()
    ctx.cluster.resume(node)
    rec["t_up"] = time.time()
    return rec


def _two_down(ctx, p, rec):
    first, second = p["nodes"]
    back = p["first_back"]
    other = second if back == first else first
    rec["t_begin"] = time.time()
    ctx.cluster.kill(first)
    rec["t_first_down"] = time.time()
    ctx.cluster.kill(second)
    rec["t_down"] = time.time()
    time.sleep(rec["hold"])
    rec["t_lift"] = time.time()
    ctx.restart(back)
    rec["t_first_back"] = time.time()
    # Writes must succeed again with two nodes of three: wait for a commit before the last one
    # comes back (at most 90 s; none is a finding the report shows).
    waited = wait_first_success(ctx.gateways, 90)
    rec["first_success_after_first_back_s"] = waited
    if waited is None:
        say(f"two-down: no commit within 90 s of node {back} coming back")
    time.sleep(3)
    rec["t_second_lift"] = time.time()
    ctx.restart(other)
    rec["t_up"] = time.time()
    return rec


def _kill_gateway(ctx, p, rec):
    gw = next(g for g in ctx.gateways if g.number == p["gateway"])
    rec["target"] = gw.instance_id
    rec["group_commit"] = gw.group
    rec["t_begin"] = time.time()
    gw.kill()
    rec["t_down"] = time.time()
    time.sleep(rec["hold"])
    rec["t_lift"] = time.time()
    rec["ready_s"] = gw.start()
    rec["t_up"] = time.time()
    rec["all_producers_ready_s"] = gw.wait_all_producers_ready()
    return rec
