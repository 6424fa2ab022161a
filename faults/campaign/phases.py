"""The campaign's phases without faults, on the healthy cluster after a protocol's segments: the
overload (ten times the gateway's capacity) and the soak (steady high load for a long time). Each
runs one gateway of its own (pool 5, group commit off) and returns its figures for campaign.json.
`campaign` is faults/run's Campaign: its out directory, cluster and kafkatx binary, and the
gateways and loads it stops when the run is interrupted."""

import os
import time

from . import analysis
from .processes import LOAD_TIMEOUT_MS, Gateway, Load
from .util import http_get, say

SOAK_CONNECTIONS = 64
SOAK_SAMPLE_S = 5.0


def overload(campaign, tv, port):
    """10x capacity: 1024 connections against a pool of 5, after 64 connections as the
    reference. Memory (VmRSS sampled, VmHWM), 503s with Retry-After, nothing lost."""
    out_dir = os.path.join(campaign.out, f"tv{tv}", "overload")
    os.makedirs(out_dir, exist_ok=True)
    topic = f"faults-tv{tv}-overload"
    campaign.cluster.create_topic(topic)
    campaign.cluster.wait_healthy([topic])
    result = {"topic": topic, "runs": {}}
    # Room for the probes' connection next to the load's 1024.
    gw = Gateway(campaign.binary, 1, port, 1, campaign.cluster.bootstrap, [topic, topic],
                 os.path.join(out_dir, "gateway.log"), f"overload{tv}",
                 extra=("--max-connections", "1100"))
    gw.start()
    campaign.gateways = [gw]
    try:
        for conns, seconds in ((64, 20), (1024, 30)):
            load = Load(campaign.binary, f"c{conns}", "errors", [topic], 2, [gw.url], 1e6, conns,
                        out_dir)
            load.argv[load.argv.index("--duration") + 1] = str(seconds)
            rss = []
            probes = []
            load.start()
            campaign.loads = [load]
            started = time.time()
            while load.alive():
                rss.append((time.time() - started, vm(gw.pid, "VmRSS")))
                if conns > 64 and len(probes) < 40 and time.time() - started > 5:
                    status, headers, body = http_get(f"{gw.url}/errors/overload-probe-"
                                                     f"{len(probes)}", timeout=2)
                    probes.append({"status": status, "retry_after": headers.get("retry-after"),
                                   "body": body[:200]})
                time.sleep(0.5)
            load.wait(30)
            judged = load.judge(campaign.cluster.bootstrap)
            result["runs"][str(conns)] = {
                "connections": conns, "seconds": seconds, "rss_kb": rss,
                "peak_rss_kb": max((r for _, r in rss if r), default=None),
                "hwm_kb": vm(gw.pid, "VmHWM"), "probes": probes, "judge": judged,
                "anomalies": sum(analysis.verdict_anomalies(judged).values())
                if "error" not in judged else 1}
            say(f"overload tv{tv} {conns} connections: {summary_line(judged)}; peak RSS "
                f"{result['runs'][str(conns)]['peak_rss_kb']} kB")
    finally:
        result["gateway_exit_code"] = gw.terminate()
    return result

def soak(campaign, tv, port, seconds):
    """Steady high load with no fault: 64 connections as fast as answers come on one
    gateway (pool 5, group commit off), sampled every SOAK_SAMPLE_S. Growth shows as a
    difference between the first and the last fifth of the samples."""
    out_dir = os.path.join(campaign.out, f"tv{tv}", "soak")
    os.makedirs(out_dir, exist_ok=True)
    topic = f"faults-tv{tv}-soak"
    campaign.cluster.create_topic(topic)
    campaign.cluster.wait_healthy([topic])
    result = {"topic": topic, "seconds": seconds, "connections": SOAK_CONNECTIONS,
              "samples": []}
    gw = Gateway(campaign.binary, 1, port, 1, campaign.cluster.bootstrap, [topic, topic],
                 os.path.join(out_dir, "gateway.log"), f"soak{tv}")
    gw.start()
    campaign.gateways = [gw]
    say(f"soak tv{tv}: {seconds:.0f}s at {SOAK_CONNECTIONS} connections, no faults")
    try:
        load = Load(campaign.binary, "soak", "errors", [topic], 2, [gw.url], 1e6,
                    SOAK_CONNECTIONS, out_dir)
        load.argv[load.argv.index("--duration") + 1] = str(int(seconds))
        load.start()
        campaign.loads = [load]
        started = time.time()
        last_report = started
        while load.alive():
            result["samples"].append(soak_sample(gw, started))
            if time.time() - last_report >= 300:
                last_report = time.time()
                sample = result["samples"][-1]
                say(f"soak tv{tv} at {sample['t']:.0f}s: {sample.get('committed', 0):.0f} "
                    f"committed, RSS {sample.get('rss_kb')} kB, leased "
                    f"{sample.get('leased')}, waiters {sample.get('waiters')}")
            time.sleep(SOAK_SAMPLE_S)
        result["load_exit_code"] = load.wait(LOAD_TIMEOUT_MS / 1000 + 60)
        # The load has stopped: every lease must come back (no stuck lease).
        time.sleep(2)
        result["after"] = soak_sample(gw, started)
        result["hwm_kb"] = vm(gw.pid, "VmHWM")
        result["judge"] = load.judge(campaign.cluster.bootstrap)
        result["anomalies"] = sum(analysis.verdict_anomalies(result["judge"]).values()) \
            if "error" not in result["judge"] else 1
        result["find_hanging"] = campaign.cluster.find_hanging(topic=topic)
        say(f"soak tv{tv}: {summary_line(result['judge'])}; {result['anomalies']} anomalies; "
            f"after the load: leased {result['after'].get('leased')}, in flight "
            f"{result['after'].get('in_flight')}")
    finally:
        result["gateway_exit_code"] = gw.terminate()
    return result


def soak_sample(gw, started):
    """One soak sample: the gateway's memory, open files and the gauges that would grow with a
    leak or a stuck lease."""
    m = gw.metrics()

    def gauge(name):
        return m.get(name)

    committed = sum(v for k, v in m.items()
                    if k.startswith("kafkatx_transactions_total") and 'outcome="committed"' in k)
    try:
        fds = len(os.listdir(f"/proc/{gw.pid}/fd"))
    except OSError:
        fds = None
    return {"t": time.time() - started, "rss_kb": vm(gw.pid, "VmRSS"), "fds": fds,
            "connections": gauge("kafkatx_http_connections_open"),
            "leased": gauge("kafkatx_pool_producers_leased"),
            "waiters": gauge("kafkatx_pool_lease_waiters"),
            "in_flight": gauge("kafkatx_http_transactions_in_flight"),
            "ready": gauge("kafkatx_pool_producers_ready"),
            "committed": committed}


def vm(pid, field):
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def summary_line(report):
    s = (report or {}).get("summary") or {}
    return (f"{s.get('requests')} requests, {s.get('committed')} committed "
            f"({s.get('committed_per_sec', 0):.0f}/s), errors {s.get('errors_by_kind')}")
