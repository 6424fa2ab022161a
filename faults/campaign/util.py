"""Small helpers shared by the campaign's modules: logging, commands, HTTP probes."""

import json
import os
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request

_log_file = None


def set_log_file(path):
    global _log_file
    _log_file = open(path, "a", encoding="utf-8")


def say(message):
    line = f"{time.strftime('%H:%M:%S')} faults: {message}"
    print(line, flush=True)
    if _log_file:
        _log_file.write(line + "\n")
        _log_file.flush()


def quote(argv):
    return " ".join(shlex.quote(str(a)) for a in argv)


class CommandFailed(Exception):
    pass


def run(argv, timeout=300, check=True, env=None, log=None):
    """Runs a command to its end; returns (exit code, stdout, stderr)."""
    merged = dict(os.environ)
    if env:
        merged.update(env)
    try:
        done = subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                              timeout=timeout, env=merged, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise CommandFailed(f"timed out after {timeout}s: {quote(argv)}") from e
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"$ {quote(argv)}\n{done.stdout}{done.stderr}(exit {done.returncode})\n")
    if check and done.returncode != 0:
        raise CommandFailed(f"exit {done.returncode}: {quote(argv)}\n{done.stderr.strip()[-2000:]}")
    return done.returncode, done.stdout, done.stderr


def http_get(url, timeout=2.0):
    """(status, headers, body) of a GET, or (None, {}, reason) when nothing answered. Header
    names are lower case (HTTP names are case-insensitive; hyper sends them lower case)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, lower_keys(r.headers), r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, lower_keys(e.headers), e.read().decode("utf-8", "replace")
    except (OSError, urllib.error.URLError) as e:
        return None, {}, str(e)


def lower_keys(headers):
    return {k.lower(): v for k, v in headers.items()}


def write_json(path, value):
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def die(message):
    say(f"error: {message}")
    sys.exit(1)
