"""The processes under test: `kafkatx serve` gateways (or, with `--target sarama`, the seed's
sarama server) and `kafkatx load` generators."""

import json
import os
import signal
import subprocess
import time

from .util import http_get, quote, run, say

# The gateways' settings for the campaign. A broker request that gets no answer fails after
# REQUEST_TIMEOUT_MS; a record that cannot be delivered after DELIVERY_TIMEOUT_MS (so a request
# fails as a 5xx well within the load's own timeout, e.g. with two brokers down); a transaction
# left open is aborted by its coordinator after TRANSACTION_TIMEOUT_MS.
REQUEST_TIMEOUT_MS = 6000
DELIVERY_TIMEOUT_MS = 20000
TRANSACTION_TIMEOUT_MS = 30000
POOL_SIZE = 5
# A request the load gets no answer to within this counts as "timeout" (outcome unknown).
LOAD_TIMEOUT_MS = 60000
# The sarama server's own settings (it takes none from outside but brokers, listen address and
# pool size): sarama's Producer.Transaction.Timeout default, with which its producers'
# InitProducerId asks the coordinator to abort a transaction left open.
SARAMA_TRANSACTION_TIMEOUT_MS = 60000
SARAMA_POOL_SIZE = 5
# A probe (one real request) that gets no answer within this counts as "no answer".
SARAMA_PROBE_TIMEOUT_S = 15


class ServerProcess:
    """What the campaign does to a server under test whatever it is (a gateway, the sarama
    server): kill it, ask it to stop, know its pid. `self.proc` is its Popen once started."""

    proc = None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def terminate(self, timeout=60):
        """SIGTERM (a gateway drains; the sarama server has no handler and ends by the signal's
        default action, -15); the exit code, or None if it had to be killed."""
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None


class Gateway(ServerProcess):
    """One `kafkatx serve`: restarted with the same --instance-id after a kill, so that its new
    producers fence the old ones' (zombie) transactions."""

    def __init__(self, binary, number, port, group, bootstrap, topics, log_path, prefix,
                 extra=()):
        self.binary = binary
        self.number = number
        self.port = port
        self.group = group
        self.instance_id = f"gw{number}"
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self.prefix = prefix
        self.argv = [binary, "serve", "--bootstrap-server", bootstrap,
                     "--listen", f"127.0.0.1:{port}", "--instance-id", self.instance_id,
                     "--transactional-id-prefix", prefix, "--pool-size", str(POOL_SIZE),
                     "--errors-topic", topics[0], "--warnings-topic", topics[1],
                     "--max-requests-per-transaction", str(group),
                     "--request-timeout-ms", str(REQUEST_TIMEOUT_MS),
                     "--delivery-timeout-ms", str(DELIVERY_TIMEOUT_MS),
                     "--transaction-timeout-ms", str(TRANSACTION_TIMEOUT_MS),
                     "--log-filter", "info", *extra]
        self.proc = None
        self.starts = 0

    def transactional_ids(self):
        return [f"{self.prefix}-{self.instance_id}-{i}" for i in range(POOL_SIZE)]

    def start(self, timeout=90):
        """Starts the process; returns seconds until /readyz answered 200."""
        self.starts += 1
        with open(self.log_path, "a", encoding="utf-8") as log:
            log.write(f"\n### start {self.starts} at {time.time():.3f}: {quote(self.argv)}\n")
            log.flush()
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        started = time.time()
        while time.time() - started < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway {self.number} exited with {self.proc.returncode}; "
                                   f"see {self.log_path}")
            status, _, _ = http_get(f"{self.url}/readyz", timeout=1)
            if status == 200:
                return time.time() - started
            time.sleep(0.1)
        raise RuntimeError(f"gateway {self.number} not ready after {timeout}s; see {self.log_path}")

    def ready(self):
        status, _, _ = http_get(f"{self.url}/readyz", timeout=1)
        return status == 200

    def committed_so_far(self):
        """Transactions the gateway committed so far (its /metrics; 0 when it does not answer)."""
        return sum(value for name, value in self.metrics().items()
                   if name.startswith("kafkatx_transactions_total")
                   and 'outcome="committed"' in name)

    def wait_all_producers_ready(self, timeout=60):
        """Seconds until every producer of the pool is initialised (each InitProducerId fenced
        the previous process's producer with the same transactional id), or None."""
        started = time.time()
        while time.time() - started < timeout:
            m = self.metrics()
            if m.get("kafkatx_pool_producers_ready", 0) >= POOL_SIZE:
                return time.time() - started
            time.sleep(0.2)
        return None

    def metrics(self):
        status, _, body = http_get(f"{self.url}/metrics", timeout=2)
        if status != 200:
            return {}
        values = {}
        for line in body.splitlines():
            if not line or line.startswith("#"):
                continue
            name, _, value = line.rpartition(" ")
            try:
                values[name] = float(value)
            except ValueError:
                pass
        return values


class SaramaServer(ServerProcess):
    """The seed's Go/sarama server (`--target sarama`): `GET /errors/{id}` and
    `GET /warnings/{id}` on the fixed topics errors-topic and warnings-topic, a pool of
    SARAMA_POOL_SIZE transactional producers whose ids restart at inanzzz-txn-1 in every process
    (so that one instance only may run, and a restarted one fences its predecessor's producers).
    It has no health endpoint and no metrics: readiness and "a commit again" are probed with real
    requests (ids `probe-N`, which no load's judge counts as its own), and it has no SIGTERM
    handler (it exits by the signal, -15)."""

    number = 1
    group = 1  # one request per transaction
    instance_id = "sarama"

    def __init__(self, binary, port, bootstrap, log_path):
        self.binary = binary
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self.argv = [binary]
        # GOTRACEBACK=all: a SIGQUIT dumps every goroutine (where requests are stuck).
        self.env = {"SEED_BROKERS": bootstrap, "SEED_LISTEN": f"127.0.0.1:{port}",
                    "SEED_POOL": str(SARAMA_POOL_SIZE), "GOTRACEBACK": "all"}
        self.proc = None
        self.starts = 0
        self.probes = []  # (unix time, status or None, seconds) of every probe
        self.start_failures = []
        self.probe_commits = 0

    def transactional_ids(self):
        """The ids of the pool a process starts with (replacements count on from there)."""
        return [f"inanzzz-txn-{i}" for i in range(1, SARAMA_POOL_SIZE + 1)]

    def start(self, timeout=90, tries=5):
        """Starts the process; returns seconds until it answers HTTP at all (a 404 for `/`: it
        listens only once its pool is made). It exits at once when it could make no producer
        (log.Fatalln): that is kept in start_failures (a finding) and it is started again, up
        to `tries` times, 5 s apart."""
        started = time.time()
        for attempt in range(1, tries + 1):
            if self._launch(started + timeout):
                return time.time() - started
            self.start_failures.append({"at": time.time(), "attempt": attempt,
                                        "exit_code": self.proc.returncode})
            time.sleep(5)
        raise RuntimeError(f"the sarama server exited at each of {tries} starts; see "
                           f"{self.log_path}")

    def _launch(self, deadline):
        """One start: True once it answers, False if it exited first."""
        self.starts += 1
        env = dict(os.environ)
        env.update(self.env)
        with open(self.log_path, "a", encoding="utf-8") as log:
            log.write(f"\n### start {self.starts} at {time.time():.3f}: "
                      f"{quote([f'{k}={v}' for k, v in self.env.items()] + self.argv)}\n")
            log.flush()
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True, env=env)
        while time.time() < deadline:
            if self.proc.poll() is not None:
                return False
            status, _, _ = http_get(f"{self.url}/", timeout=1)
            if status is not None:
                return True
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"the sarama server does not answer after its start; see "
                           f"{self.log_path}")

    def probe(self, timeout=SARAMA_PROBE_TIMEOUT_S):
        """One real request (`GET /errors/probe-N`): its status, or None without an answer."""
        started = time.time()
        status, _, _ = http_get(f"{self.url}/errors/probe-{len(self.probes)}", timeout=timeout)
        self.probes.append((started, status, round(time.time() - started, 3)))
        return status

    def ready(self):
        """Whether a probe is answered 2xx (the server serves, with a producer to lend)."""
        status = self.probe()
        return status is not None and 200 <= status < 300

    def committed_so_far(self):
        """Probes answered 2xx so far, after one more (up to 10 s): a commit again."""
        status = self.probe(timeout=10)
        if status is not None and 200 <= status < 300:
            self.probe_commits += 1
        return self.probe_commits

    def last_probes(self, since):
        return [status for t, status, _ in self.probes if t >= since]

    def wait_all_producers_ready(self, timeout=60):
        """Unknown: it makes its pool before it listens, skipping producers it cannot make."""
        return None

    def dump(self, timeout=10):
        """Ends the process with SIGQUIT, which makes Go print every goroutine's stack into its
        log: the census of its goroutines (goroutine_census), with its exit code."""
        if not self.alive():
            return {"exit_code": self.proc.returncode if self.proc else None}
        offset = os.path.getsize(self.log_path)
        self.proc.send_signal(signal.SIGQUIT)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            f.seek(offset)
            census = goroutine_census(f.read())
        census["exit_code"] = self.proc.returncode
        return census

    def end_state(self, seconds=2.0):
        """At a segment's end, with the loads stopped and every request answered or timed out:
        the CPU it burns idle (cores; the seed's Borrow spins while its pool is empty, its Release
        loops forever on an unmatched status) and where its goroutines are (dump): a goroutine
        still in Release holds a producer that never comes back to the pool."""
        state = {"cpu_cores_idle": cpu_cores(self.pid, seconds) if self.alive() else None}
        state.update(self.dump())
        return state

    def metrics(self):
        return {}

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


def cpu_cores(pid, seconds):
    """The cores a process used on average over `seconds` (user + system time), or None."""
    def ticks():
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime, stime
    try:
        before = ticks()
        time.sleep(seconds)
        return round((ticks() - before) / os.sysconf("SC_CLK_TCK") / seconds, 2)
    except (OSError, ValueError, IndexError):
        return None


def goroutine_census(text):
    """Counts of a Go stack dump's goroutines: all, and those in the sarama server's pool
    (ProducerProvider.Release / Borrow) or its request handlers."""
    blocks = [b for b in text.split("\n\n") if b.startswith("goroutine ")]
    return {"goroutines": len(blocks),
            "in_release": sum(1 for b in blocks if "(*ProducerProvider).Release" in b),
            "in_borrow": sum(1 for b in blocks if "(*ProducerProvider).Borrow" in b),
            "in_handlers": sum(1 for b in blocks if "main.api." in b)}


class Load:
    """One `kafkatx load` for the whole segment, stopped by SIGTERM, judged afterwards from its
    --outcomes file with `kafkatx load --judge`."""

    def __init__(self, binary, name, endpoint, topics, parts, urls, rate, connections, seg_dir,
                 key_retry_s=0):
        self.binary = binary
        self.name = name
        self.endpoint = endpoint
        self.topics = topics
        self.key_retry_s = key_retry_s
        self.outcomes = os.path.join(seg_dir, f"load-{name}.jsonl")
        self.report_path = os.path.join(seg_dir, f"load-{name}.json")
        self.log_path = os.path.join(seg_dir, f"load-{name}.log")
        self.judge_path = os.path.join(seg_dir, f"judge-{name}.json")
        self.argv = [binary, "load", "--url", ",".join(urls), "--endpoint", endpoint,
                     "--topic", ",".join(topics), "--records-per-request", str(parts),
                     "--concurrency", str(connections), "--rate", str(rate),
                     "--duration", "1000000", "--timeout-ms", str(LOAD_TIMEOUT_MS),
                     "--outcomes", self.outcomes, "--json", "--log-filter", "warn"]
        if key_retry_s:
            self.argv += ["--idempotency-retries", str(key_retry_s)]
        self.proc = None

    def start(self):
        self.out = open(self.report_path, "w", encoding="utf-8")
        self.err = open(self.log_path, "w", encoding="utf-8")
        self.err.write(f"$ {quote(self.argv)}\n")
        self.err.flush()
        self.proc = subprocess.Popen(self.argv, stdout=self.out, stderr=self.err,
                                     stdin=subprocess.DEVNULL, start_new_session=True)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal_stop(self):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout):
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.out.close()
        self.err.close()
        return code

    def kill(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait()

    def judge(self, bootstrap, error_answers_unknown=False):
        """`kafkatx load --judge`: the exactly-once verdict of both readers, as JSON.

        error_answers_unknown (the sarama server, whose error answers carry no body): the load
        takes a non-2xx without `"outcome": "unknown"` for "nothing written", which the sarama
        server does not promise (a commit may fail after the coordinator wrote it, and its 500
        follows an abort that may fail too). The judge then reads a copy of the outcomes,
        load-NAME.judged.jsonl, where every answered non-2xx is an unknown outcome (all or
        nothing); the outcomes as the load classified them are judged too, for information
        (judge-NAME.as-answered.json: its visible_after_failure are error answers whose records
        were written)."""
        outcomes = self.outcomes
        as_answered = None
        if error_answers_unknown:
            outcomes = judged_outcomes_path(self.outcomes)
            error_answers_as_unknown(self.outcomes, outcomes)
            as_answered = self._judge(self.outcomes, bootstrap,
                                      self.judge_path[:-len(".json")] + ".as-answered.json")
        report = self._judge(outcomes, bootstrap, self.judge_path)
        if as_answered is not None and "error" not in report:
            report["as_answered"] = {
                reader: {k: v for k, v in ((as_answered.get("check") or {}).get(reader) or {})
                         .items() if k != "examples"}
                for reader in ("kafkatx_reader", "kcat_reader")} \
                if "error" not in as_answered else {"error": as_answered["error"]}
            report["outcomes_judged"] = os.path.basename(outcomes)
        return report

    def _judge(self, outcomes, bootstrap, judge_path):
        argv = [self.binary, "load", "--judge", outcomes, "--bootstrap-server", bootstrap,
                "--settle-ms", "0", "--json", "--log-filter", "warn"]
        code, out, err = run(argv, timeout=900, check=False)
        with open(judge_path, "w", encoding="utf-8") as f:
            f.write(out)
        try:
            report = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            say(f"load {self.name}: the judge printed no report (exit {code}): {err.strip()[-500:]}")
            return {"error": f"exit {code}: {err.strip()[-500:]}", "command": quote(argv)}
        report["exit_code"] = code
        report["command"] = quote(argv)
        return report


def judged_outcomes_path(path):
    return path[:-len(".jsonl")] + ".judged.jsonl"


def error_answers_as_unknown(src, dest):
    """Copies an --outcomes file, every answered non-2xx request made an unknown outcome (a
    connection that never opened stays "failed": nothing was sent)."""
    with open(src, encoding="utf-8") as f, open(dest, "w", encoding="utf-8") as out:
        out.write(f.readline())
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            if r.get("status") is not None and not 200 <= r["status"] < 300 \
                    and r.get("outcome") == "failed":
                r["outcome"] = "unknown"
            out.write(json.dumps(r, separators=(",", ":")) + "\n")


def read_outcomes(path):
    """(header, [request]) of an --outcomes file; each request gets its wall-clock times."""
    with open(path, encoding="utf-8") as f:
        header = json.loads(f.readline())
        base = header["started_unix_ms"] / 1000.0
        requests = []
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            r["sent"] = base + r["sent_ms"] / 1000.0
            r["answered"] = r["sent"] + r["latency_ms"] / 1000.0
            requests.append(r)
    return header, requests
