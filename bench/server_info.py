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
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.harness.ansible import ansible_env, collections_path  # noqa: E402
from tests.harness.daemons import Daemon  # noqa: E402

ANSIBLE = str(Path(sys.executable).parent / "ansible")
AD_HOC = [ANSIBLE, "localhost", "-i", "localhost,", "-c", "local", "-m"]
WARMUP = 2
PING, SERVER_INFO, COMMAND = "ansible ping", "server_info module", "virt-admin command task"


class RunFailed(RuntimeError):
    pass


def command_case(argv: list, env: dict | None = None, expect: str | None = None):
    """A case running argv as a subprocess, checking its exit code (and output)."""

    def run() -> None:
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, check=False)
        if done.returncode != 0 or (expect is not None and expect not in done.stdout):
            raise RunFailed(f"{shlex.join(argv)} (rc {done.returncode}):\n{done.stdout}\n{done.stderr}")

    return run


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
    env = ansible_env({"ANSIBLE_STDOUT_CALLBACK": "default"})
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


def measure(runs: int, uri: str) -> dict:
    """Milliseconds per case, WARMUP untimed rounds first, then `runs` rounds, round-robin."""
    todo = cases(uri)
    times = {name: [] for name in todo}
    for round_ in range(WARMUP + runs):
        for name, run in todo.items():
            start = time.perf_counter()
            run()
            elapsed = (time.perf_counter() - start) * 1000
            if round_ >= WARMUP:
                times[name].append(elapsed)
    return times


def summarise(times: dict) -> dict:
    rows = {}
    for name, values in times.items():
        deciles = statistics.quantiles(values, n=10, method="inclusive")
        rows[name] = {"median_ms": statistics.median(values), "p10_ms": deciles[0], "p90_ms": deciles[-1]}
    ping = rows[PING]["median_ms"]
    for row in rows.values():
        row["ratio_to_ping"] = row["median_ms"] / ping
    return rows


def report(rows: dict, runs: int) -> dict:
    width = max(map(len, rows))
    print(f"{runs} runs each after {WARMUP} warm-up runs, round-robin")
    print(f"{'case':<{width}}  {'median ms':>9}  {'p10':>7}  {'p90':>7}  {'/ ping':>6}")
    for name, row in rows.items():
        print(
            f"{name:<{width}}  {row['median_ms']:9.1f}  {row['p10_ms']:7.1f}  {row['p90_ms']:7.1f}"
            f"  {row['ratio_to_ping']:6.3f}"
        )
    server_info = rows[SERVER_INFO]["median_ms"]
    goals = {
        "server_info / ping": (server_info / rows[PING]["median_ms"], "<=", 1.05),
        "server_info / virt-admin command task": (server_info / rows[COMMAND]["median_ms"], "<", 1.0),
    }
    results = {}
    print()
    for label, (value, op, goal) in goals.items():
        met = value <= goal if op == "<=" else value < goal
        print(f"{label} = {value:.3f} (goal {op} {goal}) {'PASS' if met else 'MISS'}")
        results[label] = {"value": value, "goal": f"{op} {goal}", "met": met}
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
        times = measure(args.runs, daemon.uri)
    except RunFailed as exc:
        print(f"run failed: {exc}", file=sys.stderr)
        return 1
    finally:
        daemon.stop()

    rows = summarise(times)
    goals = report(rows, args.runs)
    if args.json:
        data = {"runs": args.runs, "warmup": WARMUP, "cases": rows, "goals": goals, "samples_ms": times}
        args.json.write_text(json.dumps(data, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
