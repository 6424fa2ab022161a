"""The processes under test: `kafkatx serve` gateways and `kafkatx load` generators."""

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


class Gateway:
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

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def terminate(self, timeout=60):
        """SIGTERM (a graceful drain); the exit code, or None if it had to be killed."""
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

    def judge(self, bootstrap):
        """`kafkatx load --judge`: the exactly-once verdict of both readers, as JSON."""
        argv = [self.binary, "load", "--judge", self.outcomes, "--bootstrap-server", bootstrap,
                "--settle-ms", "0", "--json", "--log-filter", "warn"]
        code, out, err = run(argv, timeout=900, check=False)
        with open(self.judge_path, "w", encoding="utf-8") as f:
            f.write(out)
        try:
            report = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            say(f"load {self.name}: the judge printed no report (exit {code}): {err.strip()[-500:]}")
            return {"error": f"exit {code}: {err.strip()[-500:]}", "command": quote(argv)}
        report["exit_code"] = code
        report["command"] = quote(argv)
        return report


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
