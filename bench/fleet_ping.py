"""Cost of the fleet harness (tests/harness/fleet.py): starting and stopping N hosts on loopback, and
`ansible all -m ping` / `-m libvirt_admin_server_info` over them (forks N, pipelining, ControlPersist):

    python bench/fleet_ping.py [--sizes 5 10 20] [--starts 3] [--runs 5] [--json PATH]

For each size: `starts` fleets are started and stopped (the first ping of each, which opens the ssh
masters, is the cold run); then, on one fleet, warm runs of each case round-robin after warm-up runs.
Exits non-zero only when a run fails.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from _common import AD_HOC, ANSIBLE, WARMUP, RunFailed, adhoc_env, command_case, measure, run_command, spread

from tests.harness.fleet import Fleet

PING, SERVER_INFO = "ansible all -m ping", "ansible all -m libvirt_admin_server_info"
# The machine's speed now (its cores are shared): the fleet's timings as ratios to this.
LOCAL_PING = "ansible localhost -c local -m ping"


def fleet_cases(fleet: Fleet) -> dict:
    env = fleet.env({"ANSIBLE_STDOUT_CALLBACK": "default"})
    return {
        LOCAL_PING: command_case([*AD_HOC, "ansible.builtin.ping"], adhoc_env(), "SUCCESS"),
        PING: command_case([ANSIBLE, "all", "-m", "ansible.builtin.ping"], env, "SUCCESS"),
        SERVER_INFO: command_case(
            [ANSIBLE, "all", "-m", "virtops.libvirt_admin.libvirt_admin_server_info"], env, '"servers"'
        ),
    }


def bench_size(n: int, starts: int, runs: int) -> dict:
    start_s, stop_s, cold_ms = [], [], []
    for _started in range(starts):
        fleet = Fleet(n).start()
        try:
            began = time.perf_counter()
            run_command(
                [ANSIBLE, "all", "-m", "ansible.builtin.ping"], fleet.env({"ANSIBLE_STDOUT_CALLBACK": "default"})
            )
            cold_ms.append((time.perf_counter() - began) * 1000)
        finally:
            fleet.stop()
        start_s.append(fleet.timings["start"])
        stop_s.append(fleet.timings["stop"])
    with Fleet(n) as fleet:
        times = measure(fleet_cases(fleet), runs)
    return {
        "hosts": n,
        "start_s_median": statistics.median(start_s),
        "start_s": start_s,
        "stop_s_median": statistics.median(stop_s),
        "stop_s": stop_s,
        "cold_ping_ms_median": statistics.median(cold_ms),
        "warm": {name: spread(values) for name, values in times.items()},
    }


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[5, 10, 20])
    parser.add_argument("--starts", type=int, default=3, help="fleets started and stopped per size")
    parser.add_argument("--runs", type=int, default=5, help=f"warm runs per case (after {WARMUP} warm-up runs)")
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args(argv)
    rows = []
    try:
        for n in args.sizes:
            rows.append(bench_size(n, args.starts, args.runs))
    except RunFailed as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"{args.starts} fleets started per size; {args.runs} warm runs per case after {WARMUP} warm-up runs")
    print("medians; in brackets: ratio to a local `ansible localhost -c local -m ping` measured alongside")
    print(
        f"{'hosts':>5}  {'start s':>7}  {'stop s':>6}  {'cold ping ms':>12}  {'ping ms':>14}  {'server_info ms':>14}"
        f"  {'local ping ms':>13}"
    )
    for row in rows:
        local = row["warm"][LOCAL_PING]["median_ms"]
        ping, info = row["warm"][PING]["median_ms"], row["warm"][SERVER_INFO]["median_ms"]
        print(
            f"{row['hosts']:>5}  {row['start_s_median']:7.2f}  {row['stop_s_median']:6.2f}  "
            f"{row['cold_ping_ms_median']:12.0f}  {ping:7.0f} ({ping / local:3.1f})  {info:7.0f} ({info / local:3.1f})"
            f"  {local:13.0f}"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
