"""Cost of libvirt_admin_server_info, with each backend, against ansible.builtin.ping and a virt-admin command task.

Starts one sandboxed libvirtd (tests/harness), then times each case round-robin, so that machine noise
hits all of them equally:

    python bench/server_info.py [--runs N] [--callgrind] [--json PATH]

Wall-clock ratios on a shared machine move by several percent from run to run; --callgrind also counts
the instructions of each task's host side (its AnsiballZ payload run as the module's own process,
children included: the command task's virt-admin) under valgrind's callgrind, which do not.

Exits non-zero only when a run fails; missing a goal is reported, not an error.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

from _ansiballz import build_payload, instructions
from _common import (
    AD_HOC,
    REPO,
    WARMUP,
    RunFailed,
    adhoc_env,
    command_case,
    core_version,
    measure,
    ratio_interval,
    summarise,
)

from tests.harness.ansible import collections_path
from tests.harness.daemons import Daemon

PING, COMMAND = "ansible ping", "virt-admin command task"
BACKENDS = ("library", "protocol")
COMPILE = "Py_CompileStringObject"  # CPython compiling source: every module a payload imports, on every run
SERVER_INFO = {backend: f"server_info, {backend} backend" for backend in BACKENDS}


def in_process_case(uri: str, backend: str):
    """A case doing one in-process admin round trip through the collection's backend."""
    sys.path.insert(0, collections_path())
    from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import open_connection

    def run() -> None:
        with open_connection(uri, backend=backend) as conn:
            for server in conn.list_servers():
                conn.get_threadpool(server)

    return run


def virt_admin_argv(uri: str) -> list:
    return ["virt-admin", "-c", uri, "srv-threadpool-info", "libvirtd"]


def cases(uri: str) -> dict:
    env = adhoc_env()
    server_info = [*AD_HOC, "virtops.libvirt_admin.libvirt_admin_server_info", "-a"]
    found = {
        PING: command_case([*AD_HOC, "ansible.builtin.ping"], env),
        **{
            SERVER_INFO[backend]: command_case([*server_info, f"uri={uri} backend={backend}"], env, '"servers"')
            for backend in BACKENDS
        },
        COMMAND: command_case([*AD_HOC, "ansible.builtin.command", "-a", shlex.join(virt_admin_argv(uri))], env),
        "bare virt-admin": command_case(virt_admin_argv(uri), env),
    }
    for backend in BACKENDS:
        found[f"bare {backend} round trip"] = in_process_case(uri, backend)
    return found


def count_instructions(uri: str) -> dict:
    """Host-side instructions of each task (one callgrind run of its AnsiballZ payload)."""
    tasks = {
        PING: ("ansible.builtin.ping", {}),
        **{
            SERVER_INFO[backend]: ("virtops.libvirt_admin.libvirt_admin_server_info", {"uri": uri, "backend": backend})
            for backend in BACKENDS
        },
        COMMAND: ("ansible.builtin.command", {"argv": virt_admin_argv(uri)}),
    }
    work = Path(tempfile.mkdtemp(prefix="virtops-bench-callgrind-"))
    try:
        counts = {}
        for index, (name, (module, args)) in enumerate(tasks.items()):
            payload = build_payload(REPO, module, args, False, work, label=f"case{index}")
            counts[name] = instructions(payload, work, (COMPILE,))
        return counts
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report_instructions(counts: dict) -> dict:
    print("\nhost-side instructions (callgrind, one run of each task's AnsiballZ payload)")
    width = max(map(len, counts))
    ping, ping_compile = counts[PING]["total"], counts[PING][COMPILE]
    heads = f"{'total':>14}  {'/ ping':>6}  {'compiling':>14}  {'above ping':>12}  {'of it compiling':>15}"
    print(f"{'case':<{width}}  {heads}")
    for name, count in counts.items():
        above, compiling = count["total"] - ping, count[COMPILE] - ping_compile
        share = f"{compiling / above:15.0%}" if above > 0 else f"{'':15}"
        print(
            f"{name:<{width}}  {count['total']:>14,}  {count['total'] / ping:6.3f}  {count[COMPILE]:>14,}"
            f"  {above:>12,}  {share}"
        )
    results = {}
    for backend in BACKENDS:
        value = counts[SERVER_INFO[backend]]["total"]
        goals = {
            f"instructions {backend} / ping": (value / ping, "<=", 1.10),
            f"instructions {backend} / virt-admin command task": (value / counts[COMMAND]["total"], "<", 1.0),
        }
        for label, (ratio, op, goal) in goals.items():
            met = ratio <= goal if op == "<=" else ratio < goal
            # The goals are the protocol backend's; the library's numbers are shown beside them.
            verdict = ("PASS" if met else "MISS") if backend == "protocol" else "(for comparison)"
            print(f"{label} = {ratio:.3f} (goal {op} {goal}) {verdict}")
            results[label] = {"value": ratio, "goal": f"{op} {goal}", "met": met}
    return results


def report(rows: dict, runs: int, times: dict) -> dict:
    width = max(map(len, rows))
    print(f"{core_version()}: {runs} runs each after {WARMUP} warm-up runs, round-robin")
    print(f"{'case':<{width}}  {'median ms':>9}  {'p10':>7}  {'p90':>7}  {'/ ping':>6}")
    for name, row in rows.items():
        print(
            f"{name:<{width}}  {row['median_ms']:9.1f}  {row['p10_ms']:7.1f}  {row['p90_ms']:7.1f}"
            f"  {row['ratio_to_ping']:6.3f}"
        )
    results = {}
    print()
    for backend in BACKENDS:
        case = SERVER_INFO[backend]
        server_info = rows[case]["median_ms"]
        goals = {
            f"wall {backend} / ping": (server_info / rows[PING]["median_ms"], PING, "<=", 1.03),
            f"wall {backend} / virt-admin command task": (server_info / rows[COMMAND]["median_ms"], COMMAND, "<", 1.0),
        }
        for label, (value, baseline, op, goal) in goals.items():
            met = value <= goal if op == "<=" else value < goal
            low, high = ratio_interval(times[case], times[baseline])
            verdict = ("PASS" if met else "MISS") if backend == "protocol" else "(for comparison)"
            print(f"{label} = {value:.3f} (goal {op} {goal}) {verdict}; 95% interval {low:.3f}-{high:.3f}")
            results[label] = {"value": value, "interval_95": [low, high], "goal": f"{op} {goal}", "met": met}
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs of each case (default 15)")
    parser.add_argument("--callgrind", action="store_true", help="also count host-side instructions")
    parser.add_argument("--no-wall", action="store_true", help="skip the wall-clock runs (with --callgrind)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the numbers to PATH")
    args = parser.parse_args()
    if args.runs < 2:
        parser.error("--runs must be at least 2")

    daemon = Daemon()
    times, counts = {}, {}
    try:
        daemon.start()
        if not args.no_wall:
            times = measure(cases(daemon.uri), args.runs)
        if args.callgrind:
            counts = count_instructions(daemon.uri)
    except RunFailed as exc:
        print(f"run failed: {exc}", file=sys.stderr)
        return 1
    finally:
        daemon.stop()

    data = {"runs": args.runs, "warmup": WARMUP, "samples_ms": times, "instructions": counts}
    if times:
        data["cases"] = summarise(times, PING)
        data["goals"] = report(data["cases"], args.runs, times)
    if counts:
        data["instruction_goals"] = report_instructions(counts)
    if args.json:
        args.json.write_text(json.dumps(data, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
