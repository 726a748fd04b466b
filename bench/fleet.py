"""Wall-clock cost of keeping a fleet in its declared state: the enforce playbook
(virtops.libvirt_admin.enforce, role daemon_state) with nothing to change, against `ansible all -m ping`,
over fleets of SSH hosts on loopback (tests/harness/fleet.py: forks N, pipelining, ControlPersist):

    python bench/fleet.py [--sizes 5 10 20] [--runs 5] [--goal-size 10] [--variants] [--json PATH]

For each size, one fleet: the declared state below (libvirtd's worker pool and client limits, the admin
server's pool, log outputs and filters: every part a comparison) is written as group_vars beside a copy of
the fleet's inventory and enforced once (every host must change), then the cases run round-robin after
warm-up runs, fact gathering off in all of them. Every enforce run must report changed=0 and failed=0 on
every host, every ping run a pong from every host (checked after the clock stops).

A callback of this script's own times each task of the playbook runs (from one task's start to the next's);
"start-up and end" is the rest of the run: Python, plugins, inventory, the recap. --variants adds, at the
goal size, the enforce run without the typo check (libvirt_admin_strict_variables=false) and a playbook
of one libvirt_admin_daemon task (no role, no argument-spec validation, no typo check): what each part of
the role costs. --collections-path times another copy of the collection (e.g. a changed role) instead.

The goal: at the goal size, the enforce run at most 1.5 times the ping run. Exits non-zero only when a run
fails; missing the goal is reported, not an error.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml
from _common import ANSIBLE, WARMUP, RunFailed, measure, run_command, spread

from tests.harness.fleet import Fleet

PING = "ansible all -m ping"
ENFORCE = "enforce, nothing to change"
NO_TYPO_CHECK = "enforce, strict_variables=false"
ONE_TASK = "one libvirt_admin_daemon task"
GOAL = 1.5
ANSIBLE_PLAYBOOK = str(Path(ANSIBLE).with_name("ansible-playbook"))
ENFORCE_ARGV = [
    ANSIBLE_PLAYBOOK,
    "virtops.libvirt_admin.enforce",
    "-e",
    "libvirt_admin_hosts=libvirt_hosts",
    "-e",
    "libvirt_admin_become=false",  # the fleet's hosts log in as root
]
DECLARED = {
    "libvirt_admin_daemons": [
        {
            "daemon": "libvirtd",
            "servers": {
                "libvirtd": {
                    "min_workers": 4,
                    "max_workers": 32,
                    "prio_workers": 6,
                    "max_clients": 400,
                    "max_unauth_clients": 30,
                },
                "admin": {"min_workers": 2, "max_workers": 8},
            },
            "logging": {
                "outputs": ["3:file:/var/log/libvirt/libvirtd.log"],
                "filters": ["3:remote", "4:event", "1:rpc", "3:util.object"],
            },
        }
    ]
}
ONE_TASK_PLAYBOOK = """\
- name: One libvirt_admin_daemon task per daemon, no role
  hosts: libvirt_hosts
  gather_facts: false
  tasks:
    - name: Set each daemon to its declared state
      virtops.libvirt_admin.libvirt_admin_daemon:
        uri: "{{ item.uri | default(omit) }}"
        daemon: "{{ item.daemon | default(omit) }}"
        servers: "{{ item.servers | default(omit) }}"
        logging: "{{ item.logging | default(omit) }}"
      loop: "{{ libvirt_admin_daemons }}"
"""
CLOCK = "bench_task_clock"
CLOCK_CALLBACK = '''\
# Written by bench/fleet.py: appends one JSON line per playbook run to $BENCH_TASK_CLOCK,
# [[task name, seconds from its start to the next task's start (or the recap)], ...].
from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: bench_task_clock
type: aggregate
short_description: wall time per task (bench/fleet.py)
description: Wall time per task, for bench/fleet.py.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_task_clock"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.rows, self.current = [], None

    def _next(self, name):
        now = time.perf_counter()
        if self.current is not None:
            self.rows.append([self.current[0], now - self.current[1]])
        self.current = None if name is None else (name, now)

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._next(task.get_name())

    def v2_playbook_on_stats(self, stats):
        self._next(None)
        with open(os.environ["BENCH_TASK_CLOCK"], "a") as out:
            out.write(json.dumps(self.rows) + "\\n")
'''
RECAP = re.compile(r"^(\S+)\s*:\s*ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.MULTILINE)
STARTUP = "start-up and end"


def short_task_name(name: str) -> str:
    name = name.split(" : ", 1)[-1]
    return name.split(" - ", 1)[0] if name.startswith("Validating arguments") else name


class Bench:
    """One fleet, its inventory copy with the declared state, and the timed cases."""

    def __init__(self, fleet: Fleet, folder: Path, collections_path: str | None) -> None:
        self.fleet = fleet
        inventory = folder / "inventory"
        (inventory / "group_vars").mkdir(parents=True)
        (inventory / "hosts.yml").write_text(fleet.inventory_path.read_text())
        (inventory / "group_vars" / "libvirt_hosts.yml").write_text(yaml.safe_dump(DECLARED, sort_keys=False))
        (folder / "callbacks").mkdir()
        (folder / "callbacks" / f"{CLOCK}.py").write_text(CLOCK_CALLBACK)
        self.one_task = folder / "one_task.yml"
        self.one_task.write_text(ONE_TASK_PLAYBOOK)
        self.clock = folder / "clock.jsonl"
        extra = {
            "ANSIBLE_STDOUT_CALLBACK": "default",
            "ANSIBLE_INVENTORY": str(inventory),
            "ANSIBLE_GATHERING": "explicit",
        }
        if collections_path:
            extra["ANSIBLE_COLLECTIONS_PATH"] = collections_path
        self.env = fleet.env(extra)
        self.playbook_env = {
            **self.env,
            "ANSIBLE_CALLBACK_PLUGINS": f"{self.env['ANSIBLE_CALLBACK_PLUGINS']}:{folder / 'callbacks'}",
            "ANSIBLE_CALLBACKS_ENABLED": CLOCK,
            "BENCH_TASK_CLOCK": str(self.clock),
        }
        self.tasks: dict = {}  # case -> task name -> [seconds]
        self.walls: dict = {}  # case -> [seconds], the playbook runs' own clock

    def recap(self, done) -> dict:
        rows = {host: tuple(map(int, numbers)) for host, *numbers in RECAP.findall(done.stdout)}
        if sorted(rows) != sorted(host.name for host in self.fleet):
            raise RunFailed(f"no recap for every host:\n{done.stdout}\n{done.stderr}")
        return rows  # host -> (changed, unreachable, failed)

    def converge(self) -> None:
        """The first enforce run: every host changes."""
        done = run_command(ENFORCE_ARGV, self.env)
        if any(changed != 1 or failed for changed, _unreachable, failed in self.recap(done).values()):
            raise RunFailed(f"the first enforce run did not change every host (once):\n{done.stdout}")

    def ping_case(self):
        def run():
            done = run_command([ANSIBLE, "all", "-m", "ansible.builtin.ping"], self.env)

            def check() -> None:
                if done.stdout.count(" | SUCCESS => ") != len(self.fleet):
                    raise RunFailed(f"not every host answered:\n{done.stdout}")

            return check

        return run

    def playbook_case(self, name: str, argv: list):
        def run():
            self.clock.unlink(missing_ok=True)
            started = time.perf_counter()
            done = run_command(argv, self.playbook_env)
            wall = time.perf_counter() - started

            def check() -> None:
                for host, (changed, unreachable, failed) in self.recap(done).items():
                    if changed or unreachable or failed:
                        raise RunFailed(f"{name}: {host} changed={changed} failed={failed}:\n{done.stdout}")
                (rows,) = [json.loads(line) for line in self.clock.read_text().splitlines()]
                tasks = self.tasks.setdefault(name, {})
                tasks.setdefault(STARTUP, []).append(wall - sum(seconds for _task, seconds in rows))
                for task, seconds in rows:
                    tasks.setdefault(short_task_name(task), []).append(seconds)
                self.walls.setdefault(name, []).append(wall)

            return check

        return run

    def cases(self, variants: bool) -> dict:
        cases = {PING: self.ping_case(), ENFORCE: self.playbook_case(ENFORCE, ENFORCE_ARGV)}
        if variants:
            no_typo_check = [*ENFORCE_ARGV, "-e", "libvirt_admin_strict_variables=false"]
            cases[NO_TYPO_CHECK] = self.playbook_case(NO_TYPO_CHECK, no_typo_check)
            cases[ONE_TASK] = self.playbook_case(ONE_TASK, [ANSIBLE_PLAYBOOK, str(self.one_task)])
        return cases

    def task_medians(self, warmup: int) -> dict:
        """case -> task -> median seconds over the timed runs (the warm-up runs' dropped)."""
        return {
            case: {task: statistics.median(seconds[warmup:]) for task, seconds in tasks.items()}
            for case, tasks in self.tasks.items()
        }


def bench_size(n: int, runs: int, variants: bool, collections_path: str | None) -> dict:
    started = time.perf_counter()
    with Fleet(n) as fleet, tempfile.TemporaryDirectory(prefix="lva-bench-") as folder:
        bench = Bench(fleet, Path(folder), collections_path)
        bench.converge()
        times = measure(bench.cases(variants), runs)
        tasks = bench.task_medians(WARMUP)
    cases = {name: spread(values) for name, values in times.items()}
    ping = cases[PING]["median_ms"]
    for row in cases.values():
        row["ratio_to_ping"] = row["median_ms"] / ping
    return {
        "hosts": n,
        "runs": runs,
        "cases": cases,
        "tasks_s": tasks,
        "samples_ms": times,
        "seconds": time.perf_counter() - started,
    }


def slope(rows: list, case: str) -> float | None:
    """Least-squares ms per added host of a case's median over the sizes."""
    points = [(row["hosts"], row["cases"][case]["median_ms"]) for row in rows]
    if len(points) < 2:
        return None
    mean_n = statistics.fmean(n for n, _ms in points)
    mean_ms = statistics.fmean(ms for _n, ms in points)
    return sum((n - mean_n) * (ms - mean_ms) for n, ms in points) / sum((n - mean_n) ** 2 for n, _ms in points)


def report(rows: list, goal_size: int) -> dict:
    print(f"medians of {rows[0]['runs']} runs per case after {WARMUP} warm-up runs, round-robin; fact gathering off")
    header = ["hosts", "ping ms", "enforce ms", "enforce/ping", "enforce ms/host", "enforce p10-p90"]
    print("  ".join(f"{name:>{width}}" for name, width in zip(header, (5, 8, 10, 12, 15, 15))))
    for row in rows:
        ping, enforce = row["cases"][PING], row["cases"][ENFORCE]
        print(
            f"{row['hosts']:>5}  {ping['median_ms']:8.0f}  {enforce['median_ms']:10.0f}"
            f"  {enforce['ratio_to_ping']:12.2f}  {enforce['median_ms'] / row['hosts']:15.0f}"
            f"  {enforce['p10_ms']:7.0f}-{enforce['p90_ms']:<7.0f}"
        )
    growth = {case: slope(rows, case) for case in (PING, ENFORCE)}
    if growth[PING] is not None:
        print(
            f"growth over {rows[0]['hosts']}..{rows[-1]['hosts']} hosts (least squares): "
            f"ping +{growth[PING]:.0f} ms per host, enforce +{growth[ENFORCE]:.0f} ms per host"
        )
    for row in rows:
        extra = [case for case in row["cases"] if case not in (PING, ENFORCE)]
        if not extra:
            continue
        print(f"\nvariants at {row['hosts']} hosts:")
        for case in (PING, ENFORCE, *extra):
            case_row = row["cases"][case]
            print(f"  {case:<34} {case_row['median_ms']:8.0f} ms  ({case_row['ratio_to_ping']:.2f} x ping)")
    for row in rows:
        print(f"\nwhere a playbook run's time goes at {row['hosts']} hosts (median s per task):")
        for case, tasks in row["tasks_s"].items():
            parts = "; ".join(f"{task}: {seconds:.2f}" for task, seconds in tasks.items())
            print(f"  {case}: {parts}")
    result = {"growth_ms_per_host": growth}
    at_goal = [row for row in rows if row["hosts"] == goal_size]
    if at_goal:
        ratio = at_goal[0]["cases"][ENFORCE]["ratio_to_ping"]
        met = ratio <= GOAL
        print(f"\nenforce / ping at {goal_size} hosts = {ratio:.2f} (goal <= {GOAL}) {'PASS' if met else 'MISS'}")
        result["goal"] = {"hosts": goal_size, "value": ratio, "goal": f"<= {GOAL}", "met": met}
    return result


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[5, 10, 20], help="fleet sizes (default 5 10 20)")
    parser.add_argument("--runs", type=int, default=5, help=f"timed runs per case (after {WARMUP} warm-up runs)")
    parser.add_argument("--goal-size", type=int, default=10, help="the size the 1.5x goal is judged at (default 10)")
    parser.add_argument("--variants", action="store_true", help="also time the role's parts at the goal size")
    parser.add_argument("--collections-path", help="time the collection found there instead of this checkout")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the numbers to PATH")
    args = parser.parse_args(argv)
    if args.runs < 2:
        parser.error("--runs must be at least 2")
    rows = []
    try:
        for n in sorted(args.sizes):
            variants = args.variants and n == args.goal_size
            rows.append(bench_size(n, args.runs, variants, args.collections_path))
    except RunFailed as exc:
        print(f"run failed: {exc}", file=sys.stderr)
        return 1
    result = report(rows, args.goal_size)
    if args.json:
        data = {"warmup": WARMUP, "sizes": rows, **result}
        args.json.write_text(json.dumps(data, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
