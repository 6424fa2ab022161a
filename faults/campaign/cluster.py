"""The 3-node cluster of integration/kafka (brokers 9192/9292/9392), its faults and what the
campaign asks it: partition leaders and ISRs (kcat), a transactional id's coordinator
(TransactionsCommand describe), the active controller (MetadataQuorumCommand)."""

import gzip
import json
import os
import re
import shutil
import time

from .util import CommandFailed, run, say

NODES = (1, 2, 3)
BOOTSTRAP = "127.0.0.1:9192,127.0.0.1:9292,127.0.0.1:9392"
CONTROLLERS = "127.0.0.1:9193,127.0.0.1:9293,127.0.0.1:9393"
TRANSACTION_LOG = "__transaction_state"
# Quick JVM start for the tools (as integration/kafka's own tool calls).
QUICK_JAVA = {"KAFKATX_JAVA_OPTS": "-Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC"}


def java_hash(text):
    """Java's String.hashCode (UTF-16 code units), as a signed 32-bit int."""
    data = text.encode("utf-16-be")
    h = 0
    for i in range(0, len(data), 2):
        h = (31 * h + (data[i] << 8 | data[i + 1])) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


class Cluster:
    def __init__(self, kafka_script, log_path):
        self.kafka = kafka_script
        self.log = log_path
        self.bootstrap = BOOTSTRAP

    def _kafka(self, *args, timeout=300, check=True):
        return run([self.kafka, *args], timeout=timeout, check=check, log=self.log)

    # -- lifecycle and faults --------------------------------------------------------------

    def start(self, tv):
        self._kafka("stop", "--nodes", "3", check=False)
        started = time.time()
        _, out, _ = self._kafka("start", "--nodes", "3", "--tv", str(tv), timeout=400)
        say(f"cluster tv{tv} up in {time.time() - started:.0f}s: {out.strip().splitlines()[-1]}")

    def stop(self):
        self._kafka("stop", "--nodes", "3", check=False, timeout=120)

    def kill(self, node):
        self._kafka("kill", str(node), "--nodes", "3")

    def terminate(self, node):
        """A clean stop: SIGTERM, Kafka's controlled shutdown (SIGKILL after 30 s)."""
        self._kafka("stop", str(node), "--nodes", "3", timeout=120)

    def pause(self, node):
        self._kafka("pause", str(node), "--nodes", "3")

    def resume(self, node):
        self._kafka("resume", str(node), "--nodes", "3")

    def restart(self, node):
        """Starts a stopped node on its data and waits until it is ready; retried while the
        old process still holds a port."""
        last = None
        for _ in range(10):
            try:
                self._kafka("restart", str(node), "--nodes", "3", timeout=300)
                return
            except CommandFailed as e:
                last = e
                time.sleep(1)
        raise last

    def states(self):
        """node -> running | stopped | paused."""
        _, out, _ = self._kafka("status", "--nodes", "3", check=False, timeout=30)
        states = {}
        for line in out.splitlines():
            m = re.search(r"node=(\d+) state=(\w+)", line)
            if m:
                states[int(m.group(1))] = m.group(2)
        return states

    def server_log(self, node):
        _, out, _ = self._kafka("logs", str(node), "--nodes", "3", check=False, timeout=30)
        return out.strip()

    def archive_log(self, node, dest):
        """Keeps a gzip copy of a node's server.log: integration/kafka rotates it away on the
        node's next launch but one, and wipes it on the next `start`."""
        path = self.server_log(node)
        if path and os.path.exists(path):
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with open(path, "rb") as src, gzip.open(dest, "wb", compresslevel=3) as out:
                shutil.copyfileobj(src, out)

    # -- questions --------------------------------------------------------------------------

    def metadata(self, timeout=10):
        """topic -> [{partition, leader, replicas, isr}] from kcat, or None."""
        try:
            code, out, _ = run(["kcat", "-L", "-J", "-b", self.bootstrap, "-m", "5"],
                               timeout=timeout, check=False)
        except CommandFailed:
            return None
        if code != 0 or not out.strip():
            return None
        try:
            doc = json.loads(out)
        except ValueError:
            return None
        topics = {}
        for t in doc.get("topics", []):
            topics[t["topic"]] = [
                {"partition": p["partition"], "leader": p.get("leader", -1),
                 "replicas": [r["id"] for r in p.get("replicas", [])],
                 "isr": [r["id"] for r in p.get("isrs", [])]}
                for p in t.get("partitions", [])]
        return topics

    def java(self, *args, timeout=120, check=True):
        return run([self.kafka, "java", *args], timeout=timeout, check=check, env=QUICK_JAVA,
                   log=self.log)

    def create_topic(self, name, partitions=3):
        self.java("org.apache.kafka.tools.TopicCommand", "--bootstrap-server", self.bootstrap,
                  "--create", "--if-not-exists", "--topic", name, "--partitions", str(partitions),
                  "--replication-factor", "3", "--config", "min.insync.replicas=2")

    def topic_id(self, name):
        """The topic's id (TopicCommand --describe), or None when it does not exist."""
        code, out, _ = self.java("org.apache.kafka.tools.TopicCommand", "--bootstrap-server",
                                 self.bootstrap, "--describe", "--topic", name, check=False,
                                 timeout=60)
        m = re.search(r"TopicId:\s*(\S+)", out)
        return m.group(1) if code == 0 and m else None

    def delete_topics(self, names):
        """Deletes the topics (one TopicCommand, their names as its regular expression); None,
        or why it failed."""
        try:
            code, _, err = self.java("org.apache.kafka.tools.TopicCommand", "--bootstrap-server",
                                     self.bootstrap, "--delete", "--if-exists", "--topic",
                                     "|".join(names), check=False, timeout=60)
        except CommandFailed as e:
            return str(e)
        return None if code == 0 else f"exit {code}: {err.strip()[-300:]}"

    def recreate_topic(self, name, timeout=120):
        """Deletes the topic if it exists, waits until the metadata no longer has it, creates it
        again: (old id, new id). For topics whose names are fixed (the sarama server's), so that
        each segment starts on empty ones."""
        old = self.topic_id(name)
        if old:
            self.java("org.apache.kafka.tools.TopicCommand", "--bootstrap-server", self.bootstrap,
                      "--delete", "--if-exists", "--topic", name)
        deadline = time.time() + timeout
        while True:
            metadata = self.metadata()
            gone = metadata is not None and name not in metadata and self.topic_id(name) is None
            if gone:
                break
            if time.time() > deadline:
                raise CommandFailed(f"topic {name} still there {timeout}s after its deletion")
            time.sleep(1)
        while True:
            try:
                self.create_topic(name)
                break
            except CommandFailed:  # "marked for deletion" for a moment after it left the metadata
                if time.time() > deadline:
                    raise
                time.sleep(1)
        new = self.topic_id(name)
        if new is None or new == old:
            raise CommandFailed(f"topic {name} not recreated (id before {old}, after {new})")
        return old, new

    def preferred_leaders(self):
        """Moves leadership back to the preferred replicas (the campaign's restarts pile leaders
        up on the nodes that stayed up; auto.leader.rebalance is off on this cluster)."""
        self.java("org.apache.kafka.tools.LeaderElectionCommand", "--bootstrap-server",
                  self.bootstrap, "--election-type", "PREFERRED", "--all-topic-partitions",
                  check=False)

    def coordinator(self, transactional_id):
        """(node, state, how) of the transaction coordinator of `transactional_id`: from
        TransactionsCommand describe; if that fails, from the leader of its
        __transaction_state partition (Java's hashCode modulo the partition count)."""
        code, out, err = self.java("org.apache.kafka.tools.TransactionsCommand",
                                   "--bootstrap-server", self.bootstrap, "describe",
                                   "--transactional-id", transactional_id, check=False, timeout=60)
        rows = table(out)
        if code == 0 and rows and rows[0].get("CoordinatorId", "").lstrip("-").isdigit():
            return int(rows[0]["CoordinatorId"]), rows[0].get("TransactionState", "?"), "describe"
        metadata = self.metadata() or {}
        log = metadata.get(TRANSACTION_LOG, [])
        if log:
            h = java_hash(transactional_id)
            index = (0 if h == -(1 << 31) else abs(h)) % len(log)
            leader = next(p["leader"] for p in log if p["partition"] == index)
            return leader, "?", f"hash (describe failed: {err.strip()[-200:]})"
        return None, "?", "unknown"

    def controller(self):
        """The active KRaft controller (quorum leader), or None."""
        code, out, _ = self.java("org.apache.kafka.tools.MetadataQuorumCommand",
                                 "--bootstrap-controller", CONTROLLERS, "describe", "--status",
                                 check=False, timeout=60)
        m = re.search(r"LeaderId:\s*(\d+)", out)
        return int(m.group(1)) if code == 0 and m else None

    def find_hanging(self, topic=None, broker=None):
        """TransactionsCommand find-hanging (transactions open for over a minute that their
        coordinator does not know): the rows it prints (none is good), or an error string."""
        args = ["org.apache.kafka.tools.TransactionsCommand", "--bootstrap-server", self.bootstrap,
                "find-hanging", "--max-transaction-timeout", "1"]
        if topic:
            args += ["--topic", topic]
        if broker:
            args += ["--broker-id", str(broker)]
        code, out, err = self.java(*args, check=False, timeout=120)
        if code != 0:
            return f"find-hanging failed (exit {code}): {err.strip()[-300:]}"
        return table(out)

    # -- health -----------------------------------------------------------------------------

    def healthy(self, topics):
        """None when every node runs and every partition of `topics` and of the transaction log
        has a leader and all three nodes in its ISR; otherwise why not."""
        states = self.states()
        down = [n for n in NODES if states.get(n) != "running"]
        if down:
            return f"nodes not running: {down} ({states})"
        metadata = self.metadata()
        if metadata is None:
            return "no metadata"
        for topic in [*topics, TRANSACTION_LOG]:
            partitions = metadata.get(topic)
            if not partitions:
                return f"{topic}: no partitions in the metadata"
            for p in partitions:
                if p["leader"] < 0 or len(p["isr"]) < len(NODES):
                    return f"{topic}-{p['partition']}: leader {p['leader']}, isr {p['isr']}"
        return None

    def wait_healthy(self, topics, timeout=240):
        deadline = time.time() + timeout
        why = "?"
        while time.time() < deadline:
            why = self.healthy(topics)
            if why is None:
                return None
            time.sleep(0.5)
        return why


def table(text):
    """The rows of a whitespace-separated table with a header line (Kafka's tools print them)."""
    lines = [l for l in text.splitlines() if l.strip()]
    if not lines:
        return []
    header = lines[0].split()
    rows = []
    for line in lines[1:]:
        cells = line.split()
        rows.append(dict(zip(header, cells)))
    return rows
