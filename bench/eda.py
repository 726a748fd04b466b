"""The closed loop's speed and the watch's cost (issue 18), measured; numbers, never a pass or fail:

    python bench/eda.py [--runs 5] [--sizes 10 30] [--seconds 30] [--interval 1] [--json PATH]

1. Saturation to remediation, --runs times, medians. One SSH host (tests/harness/fleet.py) whose libvirtd
   has the storage driver and a small pool (min 1, max 2); the real ansible-rulebook runs the guard rulebook
   against it (fleet mode, 1-second polling). Each run restarts the host's libvirtd (runtime settings go:
   the pool is small again), waits for the guard to see it back, then starts the load (tests/harness/load.py,
   JobLoad: four clients wiping 200 MB volumes, one short job every 0.5 s). A witness reads the pool every
   50 ms from outside the host (the admin library in this process, its own connection) and times:
     saturated  the first reading with every worker busy and jobs queued
     event      the source's poll that saw it exhausted (the event's `observed`)
     received   ansible-rulebook received the event (its meta.received_at)
     decided    the remediation playbook decided what to raise, having read the server (its log record's
                `decided`: after its first two tasks, the check and the read on the host)
     raised     the first reading with max_workers above 2
     drained    the first reading after that with no job queued
   The remediation playbook runs with its throttle off (each run remediates again).

2. The watch's own cost, at each of --sizes: a fleet of that many hosts, the source run in this process
   (no ansible-rulebook: its rules engine is not the watch's cost) for --seconds after a warm-up. The
   controller's CPU is this process's (the source's threads and event loop) plus every ssh process it
   started (the masters, which carry the bytes, and one client per relayed daemon); per host and poll, it
   projects how many hosts one core watches at the interval. The daemons' side: the admin calls per daemon
   and poll, counted on the source's connections, and the RPCs they take on the wire (the backend looks
   each server up once per connection, as a daemon's servers never change while it runs); the hosts' side
   (their sshd sessions and relay Pythons, on this same machine here) is shown apart, as it is not the
   controller's.

Timings on a shared 2-core machine move with its load (printed with the results); the projection is the
arithmetic of the measured CPU, shown as such.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import REPO

from tests.harness import witness
from tests.harness.ansible import collections_path
from tests.harness.fleet import Fleet
from tests.harness.load import JobLoad
from tests.harness.rulebook import Rulebook

sys.path.insert(0, collections_path())

from ansible_collections.virtops.libvirt_admin.plugins.module_utils import _protocol
from ansible_collections.virtops.libvirt_admin.plugins.plugin_utils import _watch_loop
from ansible_collections.virtops.libvirt_admin.plugins.plugin_utils._watch import Tracker
from ansible_collections.virtops.libvirt_admin.plugins.plugin_utils._watch_hosts import (
    ADMIN_ERRORS,
    open_local,
)

SCHEMA = REPO / "extensions" / "eda" / "plugins" / "event_source" / "schemas" / "admin_watch.json"
SMALL = {"min_workers": 1, "max_workers": 2, "prio_workers": 1}
TICK = os.sysconf("SC_CLK_TCK")
STAGES = ("event", "received", "decided", "raised", "drained")


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def epoch(text: str) -> float:
    """An ISO 8601 UTC time (the event's, ansible-rulebook's) as time.time()."""
    return datetime.datetime.fromisoformat(text.rstrip("Z")).replace(tzinfo=datetime.timezone.utc).timestamp()


# ---------------------------------------------------------------- 1. saturation to remediation


class Witness(threading.Thread):
    """Reads the host's libvirtd pool every `every` seconds over an admin connection of its own."""

    def __init__(self, uri: str, every: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.uri, self.every = uri, every
        self.samples: list = []  # (time.time(), pool)
        self.halt = threading.Event()

    def run(self) -> None:
        conn = None
        while not self.halt.is_set():
            try:
                conn = conn or open_local(self.uri, "auto", 5.0)
                self.samples.append((time.time(), conn.get_threadpool("libvirtd")))
            except ADMIN_ERRORS:
                if conn is not None:
                    conn.close()
                conn = None
            self.halt.wait(self.every)
        if conn is not None:
            conn.close()

    def first(self, test, after: float = 0.0):
        return next((at for at, pool in self.samples if at >= after and test(pool)), None)


def remediation_runs(runs: int, interval: float, workdir: Path) -> list:
    results = []
    with Fleet(1, config=SMALL, drivers=("storage",)) as fleet:
        host = fleet[0]
        inventory = json.loads(fleet.inventory_path.read_text())
        inventory["all"]["children"]["libvirt_hosts"]["vars"].update(
            libvirt_admin_remediate_become=False,
            libvirt_admin_remediate_throttle=0,
            libvirt_admin_remediate_log_dir=str(workdir / "remediations"),
        )
        path = workdir / "inventory.json"
        path.write_text(json.dumps(inventory))
        variables = {
            "libvirt_admin_guard_inventory": str(path),
            "libvirt_admin_guard_hosts": "libvirt_hosts",
            "libvirt_admin_guard_interval": interval,
            "libvirt_admin_guard_repeat": 0,
        }
        with Rulebook("virtops.libvirt_admin.guard", path, variables, env=fleet.env(), workdir=workdir) as rulebook:
            for run in range(1, runs + 1):
                if run > 1:
                    host.restart_libvirtd()
                    rulebook.wait_for("daemon_up: host01", 60, count=run - 1)
                time.sleep(2 * interval)  # the source has read the small pool
                assert witness.settings(host.uri, "libvirtd") == (1, 2, 1)
                seen = len(rulebook.watch_events())
                watch = Witness(host.uri)
                watch.start()
                with JobLoad(host.daemon):
                    deadline = time.monotonic() + 90
                    while time.monotonic() < deadline and watch.first(lambda pool: pool["maxWorkers"] > 2) is None:
                        time.sleep(0.1)
                    time.sleep(3)
                watch.halt.set()
                watch.join(10)
                saturated = watch.first(lambda pool: pool["freeWorkers"] == 0 and pool["jobQueueDepth"] > 0)
                raised = watch.first(lambda pool: pool["maxWorkers"] > 2)
                drained = watch.first(lambda pool: pool["jobQueueDepth"] == 0, after=raised or 0) if raised else None
                events = [
                    event
                    for event in rulebook.events()[seen:]
                    if event.get("libvirt_admin", {}).get("type") == "exhausted"
                ]
                event = epoch(events[0]["libvirt_admin"]["observed"]) if events else None
                received = epoch(events[0]["meta"]["received_at"]) if events else None
                logged = [
                    json.loads(line)
                    for log in (workdir / "remediations").glob("*.jsonl")
                    for line in log.read_text().splitlines()
                ]
                decided = [record["decided"] for record in logged if received and record["decided"] >= received]
                result = {
                    "run": run,
                    "saturated": saturated,
                    "event": event,
                    "received": received,
                    "decided": min(decided, default=None),
                    "raised": raised,
                    "drained": drained,
                }
                results.append(result)
                shown = ", ".join(
                    f"{name} +{result[name] - saturated:.2f} s" for name in STAGES if saturated and result[name]
                )
                print(f"  run {run}: saturated, then {shown or 'nothing seen'} (load {load_average()})", flush=True)
    return results


def summarise_runs(results: list) -> dict:
    summary = {}
    for name in STAGES:
        values = [r[name] - r["saturated"] for r in results if r["saturated"] and r[name]]
        summary[name] = {
            "median": statistics.median(values) if values else None,
            "min": min(values, default=None),
            "max": max(values, default=None),
            "n": len(values),
        }
    return summary


# ---------------------------------------------------------------- 2. the watch's cost


class WireCount:
    """Counts the admin protocol's messages sent (every RPC: calls, and the server lookups the backend makes
    once per connection and server) by wrapping the protocol backend's one sending method."""

    def __init__(self) -> None:
        self.sent = 0
        self.original = _protocol.ProtocolConnection._call

    def __enter__(self) -> WireCount:
        counter = self

        def counted(conn, *args, **kwargs):
            counter.sent += 1
            return counter.original(conn, *args, **kwargs)

        _protocol.ProtocolConnection._call = counted
        return self

    def __exit__(self, *exc_info) -> None:
        _protocol.ProtocolConnection._call = self.original


def cpu_of(pid: int) -> float:
    """Seconds of CPU (user + system) a process has used, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def memory_of(pid: int) -> dict:
    """Rss and Pss (kB) of a process."""
    found = {}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            key, _sep, value = line.partition(":")
            if key in ("Rss", "Pss"):
                found[key] = int(value.split()[0])
    except OSError:
        pass
    return found


def ssh_pids(hosts: list) -> list:
    pids = []
    for host in hosts:
        if host.session.master is not None and host.session.master.poll() is None:
            pids.append(host.session.master.pid)
        pids += [relay.process.pid for relay in host.session.relays if relay.process.poll() is None]
    return pids


async def run_watch(fleet: Fleet, interval: float, seconds: float, warmup: float, wire=None) -> dict:
    args = {"inventory": str(fleet.inventory_path), "hosts": "libvirt_hosts", "interval": interval}
    settings = _watch_loop.Settings(_watch_loop.validate(args, _watch_loop.load_schema(str(SCHEMA))))
    control_dir = _watch_loop.make_control_dir()

    class Queue:
        def __init__(self) -> None:
            self.events = []

        async def put(self, event: dict) -> None:
            self.events.append(event)

    hosts = _watch_loop.build_hosts(settings, control_dir)
    queue = Queue()
    watch = _watch_loop.Watch(queue, hosts, settings, Tracker())
    task = asyncio.create_task(watch.run())
    started = time.monotonic()
    while len(watch.counts) < len(hosts) and time.monotonic() - started < 300:
        await asyncio.sleep(0.1)  # every host logged in (at most `logins` at once) and polled once
    connected = time.monotonic() - started
    await asyncio.sleep(warmup)
    pids = ssh_pids(hosts)
    host_side = sorted({pid for host in fleet for pid in host.pids()})  # sshd sessions, relays, daemons
    before = {
        "ssh": sum(cpu_of(pid) for pid in pids),
        "hosts": sum(cpu_of(pid) for pid in host_side),
        "calls": sum(daemon.calls for host in hosts for daemon in host.daemons.values()),
        "rpcs": wire.sent if wire else 0,
    }
    before.update(self=sum(os.times()[:2]), wall=time.monotonic(), polls=watch.polls)
    await asyncio.sleep(seconds)
    # This process's CPU first: reading the others' from /proc is the benchmark's, not the source's.
    after = {"self": sum(os.times()[:2]), "wall": time.monotonic(), "polls": watch.polls}
    after.update(
        ssh=sum(cpu_of(pid) for pid in ssh_pids(hosts)),
        hosts=sum(cpu_of(pid) for pid in host_side),
        calls=sum(daemon.calls for host in hosts for daemon in host.daemons.values()),
        rpcs=wire.sent if wire else 0,
    )
    memory = {
        "self": memory_of(os.getpid()),
        "ssh": [memory_of(pid) for pid in ssh_pids(hosts)],
    }
    daemons = sum(len(host.daemons) for host in hosts)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    shutil.rmtree(control_dir, ignore_errors=True)
    polls = after["polls"] - before["polls"]
    return {
        "hosts": len(hosts),
        "daemons": daemons,
        "seconds": after["wall"] - before["wall"],
        "polls": polls,
        "cpu_self": after["self"] - before["self"],
        "cpu_ssh": after["ssh"] - before["ssh"],
        "cpu_hosts": after["hosts"] - before["hosts"],
        "calls": after["calls"] - before["calls"],
        "rpcs": after["rpcs"] - before["rpcs"],
        "events": len(queue.events),
        "connected_after": connected,
        "memory": memory,
    }


def reference() -> float:
    """Milliseconds of CPU a fixed pure-Python loop takes now: how fast this machine's CPU is for Python at
    the moment (a shared machine's moves with what else runs), printed beside each measurement."""
    started = time.process_time()
    total = 0
    for number in range(2_000_000):
        total += number
    return 1000 * (time.process_time() - started)


def cost(sizes: list, interval: float, seconds: float) -> list:
    rows = []
    for size in sizes:
        with Fleet(size) as fleet:
            speed = reference()
            with WireCount() as wire:
                row = asyncio.run(run_watch(fleet, interval, seconds, warmup=max(3.0, 3 * interval), wire=wire))
            row["reference_ms"] = (speed + reference()) / 2
        polls = row["polls"] or 1
        row["ms_per_host_poll"] = {
            "source": 1000 * row["cpu_self"] / polls,
            "ssh": 1000 * row["cpu_ssh"] / polls,
            "controller": 1000 * (row["cpu_self"] + row["cpu_ssh"]) / polls,
            "hosts' side": 1000 * row["cpu_hosts"] / polls,
        }
        row["calls_per_daemon_poll"] = row["calls"] / polls * row["hosts"] / max(row["daemons"], 1)
        row["rpcs_per_daemon_poll"] = row["rpcs"] / polls * row["hosts"] / max(row["daemons"], 1)
        ssh_pss = [entry.get("Pss", 0) for entry in row["memory"]["ssh"]]
        row["ssh_pss_kb_per_host"] = sum(ssh_pss) / row["hosts"]
        row["load"] = load_average()
        rows.append(row)
        per = row["ms_per_host_poll"]
        host_side = per["hosts' side"]
        print(
            f"  {size} hosts, {row['seconds']:.0f} s: {row['polls']} host polls, controller CPU "
            f"{per['controller']:.3f} ms per host and poll (source {per['source']:.3f}, ssh {per['ssh']:.3f}); "
            f"hosts' side {host_side:.3f} ms; "
            f"{row['calls_per_daemon_poll']:.2f} admin calls per daemon and poll "
            f"({row['rpcs_per_daemon_poll']:.2f} RPCs on the wire); events {row['events']}; "
            f"all connected {row['connected_after']:.1f} s after the start "
            f"(load {row['load']}; reference loop {row['reference_ms']:.0f} ms)",
            flush=True,
        )
    return rows


def projection(rows: list, interval: float) -> list:
    lines = []
    for row in rows:
        per = row["ms_per_host_poll"]["controller"]
        hosts = 1000.0 * interval / per if per else float("inf")
        lines.append(
            f"{row['hosts']} hosts measured: {per:.3f} ms of controller CPU per host and poll; one core gives "
            f"1000 ms per second, a host costs {per:.3f} ms x {1 / interval:g} poll/s = {per / interval:.3f} ms "
            f"per second, so one core watches 1000 / {per / interval:.3f} = {hosts:.0f} hosts at {interval:g} s "
            f"(goal: 500); ssh memory {row['ssh_pss_kb_per_host'] / 1024:.1f} MiB PSS per host"
        )
    return lines


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 30])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--skip-loop", action="store_true", help="measure the cost only")
    parser.add_argument("--skip-cost", action="store_true", help="measure the loop only")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    report: dict = {"load_before": load_average(), "interval": args.interval}
    if not args.skip_loop:
        print(f"1. saturation to remediation, {args.runs} runs, {args.interval:g} s polling (load {load_average()})")
        with tempfile.TemporaryDirectory(prefix="bench-eda-") as workdir:
            runs = remediation_runs(args.runs, args.interval, Path(workdir))
        report["runs"] = runs
        report["loop"] = summarise_runs(runs)
        print("   seconds from saturation   median   min    max   (runs)")
        for name, values in report["loop"].items():
            if values["median"] is None:
                print(f"   {name:<24} (not seen)")
                continue
            print(f"   {name:<24} {values['median']:6.2f} {values['min']:6.2f} {values['max']:6.2f}   ({values['n']})")
        raised = report["loop"]["raised"]["median"]
        if raised is not None:
            print(f"   raised within 5 s of saturation (goal): median {raised:.2f} s = {raised / 5:.2f} x the goal")
    if not args.skip_cost:
        print(f"2. the watch's cost, {args.interval:g} s polling, {args.seconds:g} s per fleet size")
        report["cost"] = cost(args.sizes, args.interval, args.seconds)
        report["projection"] = projection(report["cost"], args.interval)
        for line in report["projection"]:
            print(f"   {line}")
    report["load_after"] = load_average()
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
