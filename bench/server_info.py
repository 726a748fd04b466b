"""Wall-clock cost of libvirt_admin_server_info against ansible.builtin.ping and a virt-admin command task.

Starts one sandboxed libvirtd (tests/harness), then times each case round-robin, so that machine noise
hits all of them equally:

    python bench/server_info.py [--runs N] [--json PATH]

Exits non-zero only when a run fails; missing a goal is reported, not an error.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from _common import AD_HOC, WARMUP, RunFailed, adhoc_env, command_case, core_version, measure, ratio_interval, summarise

from tests.harness.ansible import collections_path
from tests.harness.daemons import Daemon

PING, SERVER_INFO, COMMAND = "ansible ping", "server_info module", "virt-admin command task"


def ctypes_case(uri: str):
    """A case doing one in-process admin round trip through the collection's binding."""
    sys.path.insert(0, collections_path())
    from ansible_collections.virtops.libvirt_admin.plugins.module_utils._binding import AdminConnection

    def run() -> None:
        with AdminConnection(uri) as conn:
            for server in conn.list_servers():
                conn.get_threadpool(server)

    return run


def cases(uri: str) -> dict:
    env = adhoc_env()
    virt_admin = ["virt-admin", "-c", uri, "srv-threadpool-info", "libvirtd"]
    return {
        PING: command_case([*AD_HOC, "ansible.builtin.ping"], env),
        SERVER_INFO: command_case(
            [*AD_HOC, "virtops.libvirt_admin.libvirt_admin_server_info", "-a", f"uri={uri}"], env, '"servers"'
        ),
        COMMAND: command_case([*AD_HOC, "ansible.builtin.command", "-a", shlex.join(virt_admin)], env),
        "bare virt-admin": command_case(virt_admin, env),
        "bare ctypes round trip": ctypes_case(uri),
    }


def report(rows: dict, runs: int, times: dict) -> dict:
    width = max(map(len, rows))
    print(f"{core_version()}: {runs} runs each after {WARMUP} warm-up runs, round-robin")
    print(f"{'case':<{width}}  {'median ms':>9}  {'p10':>7}  {'p90':>7}  {'/ ping':>6}")
    for name, row in rows.items():
        print(
            f"{name:<{width}}  {row['median_ms']:9.1f}  {row['p10_ms']:7.1f}  {row['p90_ms']:7.1f}"
            f"  {row['ratio_to_ping']:6.3f}"
        )
    server_info = rows[SERVER_INFO]["median_ms"]
    goals = {
        "server_info / ping": (server_info / rows[PING]["median_ms"], PING, "<=", 1.05),
        "server_info / virt-admin command task": (server_info / rows[COMMAND]["median_ms"], COMMAND, "<", 1.0),
    }
    results = {}
    print()
    for label, (value, baseline, op, goal) in goals.items():
        met = value <= goal if op == "<=" else value < goal
        low, high = ratio_interval(times[SERVER_INFO], times[baseline])
        print(
            f"{label} = {value:.3f} (goal {op} {goal}) {'PASS' if met else 'MISS'}; 95% interval {low:.3f}-{high:.3f}"
        )
        results[label] = {"value": value, "interval_95": [low, high], "goal": f"{op} {goal}", "met": met}
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs of each case (default 15)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the numbers to PATH")
    args = parser.parse_args()
    if args.runs < 2:
        parser.error("--runs must be at least 2")

    daemon = Daemon()
    try:
        daemon.start()
        times = measure(cases(daemon.uri), args.runs)
    except RunFailed as exc:
        print(f"run failed: {exc}", file=sys.stderr)
        return 1
    finally:
        daemon.stop()

    rows = summarise(times, PING)
    goals = report(rows, args.runs, times)
    if args.json:
        data = {"runs": args.runs, "warmup": WARMUP, "cases": rows, "goals": goals, "samples_ms": times}
        args.json.write_text(json.dumps(data, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
