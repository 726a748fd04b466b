"""Under load: what a saturated worker pool costs a daemon's requests, and what raising it at runtime buys.

One run, two sandboxed libvirtd with the same small pool (min_workers 1, max_workers 2): "loaded" and its
idle twin. The load is tests.harness.load.JobLoad against "loaded": four clients wiping 200 MB volumes
back to back (they hold both workers and keep jobs queued) and one client wiping a 64 KiB volume every
0.5 s (the next request: milliseconds of work once a worker has it, so its wait is the queue's).

  1. idle       server_info against both daemons, round-robin, no load anywhere; then the bare admin
                round trip (what server_info does inside, through the collection's binding, in this
                process) 200 times against each
  2. saturated  the load starts; the same against "loaded" (main pool saturated) and the twin (idle
                pool, same machine load)
  3. change     libvirt_admin_threadpool raises "loaded" to min_workers 6, max_workers 20 (ad hoc)
  4. after      the load goes on for --after seconds, then stops

Throughout, the loaded daemon's pool is read every 0.1 s through the collection's binding. Prints a table
and saves a plot (PNG) of queue depth and busy workers over time, with the change marked, and each short
job's wait:

    python bench/load.py [--runs N] [--after SECONDS] [--png PATH] [--json PATH]

Goals: server_info with the main pool saturated at most 1.1x its time against the idle twin; the short
jobs' wait (submission to start) after the change at most 10% of before. Exits non-zero only when a run
fails; missing a goal is reported, not an error.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

from _common import AD_HOC, REPO, WARMUP, RunFailed, adhoc_env, command_case, measure, run_command, spread

from tests.harness.ansible import collections_path
from tests.harness.daemons import Daemon
from tests.harness.load import JobLoad, waits

SMALL = {"min_workers": 1, "max_workers": 2, "prio_workers": 1}
RAISED = {"min_workers": 6, "max_workers": 20}
MODULE = "virtops.libvirt_admin."
SATURATED, TWIN = "server_info, main pool saturated", "server_info, idle twin (same machine load)"
IDLE, IDLE_TWIN = "server_info, idle (no load)", "server_info, idle twin (no load)"
# The admin round trip itself, without Ansible: what server_info does inside, in this process.
TRIP_SATURATED, TRIP_TWIN = "admin round trip, main pool saturated", "admin round trip, idle twin"
TRIP_IDLE, TRIP_IDLE_TWIN = "admin round trip, idle (no load)", "admin round trip, idle twin (no load)"
TRIPS = 200


class Sampler(threading.Thread):
    """The loaded daemon's main pool every `every` seconds, over one admin connection of this process
    (the collection's ctypes binding; libvirt-python only ever runs in the load's own process)."""

    def __init__(self, uri: str, every: float = 0.1) -> None:
        super().__init__(daemon=True)
        from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import open_connection

        self.conn = open_connection(uri)
        self.every = every
        self.samples: list = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            now = time.monotonic()
            self.samples.append((now, self.conn.get_threadpool("libvirtd")))
            self.halt.wait(self.every)

    def stop(self) -> None:
        self.halt.set()
        self.join(10)
        self.conn.close()


def admin_round_trip(uri: str):
    """Connect, list the servers, read each one's pool and client limits, close: through the
    collection's ctypes binding, as libvirt_admin_server_info does."""
    from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import open_connection

    def run() -> None:
        with open_connection(uri) as conn:
            for name in conn.list_servers():
                conn.get_threadpool(name)
                conn.get_client_limits(name)

    return run


def server_info(uri: str):
    return command_case([*AD_HOC, MODULE + "libvirt_admin_server_info", "-a", f"uri={uri}"], adhoc_env(), '"servers"')


def job_rows(jobs: list, before: float, after: float) -> dict:
    """Per kind and measure: the spread (seconds) of jobs submitted before `before` and after `after`."""
    rows = {}
    for kind in ("short", "long"):
        for until, label in (("started", "to start"), ("finished", "to completion")):
            small, raised = waits(jobs, kind, before=before, until=until), waits(jobs, kind, after=after, until=until)
            if len(small) >= 2 and len(raised) >= 2:
                rows[f"{kind} jobs, submission {label}"] = {"small pool": seconds(small), "raised": seconds(raised)}
    return rows


def seconds(values: list) -> dict:
    deciles = statistics.quantiles(values, n=10, method="inclusive")
    return {"median": statistics.median(values), "p10": deciles[0], "p90": deciles[-1], "jobs": len(values)}


def plot(path: Path, samples: list, jobs: list, origin: float, marks: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times = [sample[0] - origin for sample in samples]
    depth = [sample[1]["jobQueueDepth"] for sample in samples]
    busy = [sample[1]["nWorkers"] - sample[1]["freeWorkers"] for sample in samples]
    before, after = samples[0][1]["maxWorkers"], samples[-1][1]["maxWorkers"]
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(11, 7), sharex=True, height_ratios=(3, 2))
    top.step(times, depth, where="post", label="jobs queued (jobQueueDepth)", color="#c62828")
    top.step(times, busy, where="post", label="busy workers (nWorkers - freeWorkers)", color="#1565c0")
    top.set_ylim(0, max(*busy, *depth) + 1.5)
    top.set_ylabel("libvirtd server")
    short = [job for job in jobs if job["kind"] == "short" and job["started"] is not None]
    bottom.scatter(
        [job["submitted"] - origin for job in short],
        [job["started"] - job["submitted"] for job in short],
        s=14,
        color="#2e7d32",
        label="short job (64 KiB wipe): submission to start",
    )
    bottom.set_ylabel("wait (s)")
    bottom.set_xlabel("seconds since the load started")
    for axis in (top, bottom):
        axis.axvspan(
            marks["change_started"] - origin,
            marks["change_done"] - origin,
            color="#ffe082",
            alpha=0.6,
            label="libvirt_admin_threadpool task running",
        )
        axis.axvline(
            marks["change_seen"] - origin,
            color="#e08a00",
            linewidth=2,
            label=f"max_workers {before} -> {after} (read back)",
        )
        axis.grid(alpha=0.3)
    top.legend(loc="upper left", fontsize=8, framealpha=0.95)
    bottom.legend(loc="upper left", fontsize=8, framealpha=0.95)
    top.set_title("A load of volume wipes against libvirtd with 2 workers, then the pool raised at runtime")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)


def report(info: dict, rows: dict, saturation: float, change: dict, runs: int, loadavg: list) -> dict:
    print(f"machine load average (1 min) at the start and the end: {loadavg[0]:.1f}, {loadavg[1]:.1f}")
    print(
        f"server_info task: {runs} runs per case, admin round trip: {TRIPS}, after {WARMUP} warm-up runs,"
        " round-robin per phase"
    )
    width = max(map(len, info))
    print(f"{'case':<{width}}  {'median ms':>9}  {'p10':>7}  {'p90':>7}")
    for name, row in info.items():
        print(f"{name:<{width}}  {row['median_ms']:9.1f}  {row['p10_ms']:7.1f}  {row['p90_ms']:7.1f}")
    print(f"(the loaded daemon's pool read saturated in {saturation:.0%} of the samples of phase 2)")
    print()
    print(
        f"the change: libvirt_admin_threadpool {RAISED} took {change['module_s']:.2f} s; "
        f"the sampler saw the new pool {change['seen_after_start_s']:.2f} s after the task started"
    )
    print()
    width = max(map(len, rows), default=10)
    header = f"{'seconds (median, p10-p90, jobs)':<{width}}  {'small pool':>24}  {'after the change':>24}"
    print(f"{header}  {'after/before':>12}")
    for name, row in rows.items():
        cells = [
            f"{row[key]['median']:7.3f} ({row[key]['p10']:.3f}-{row[key]['p90']:.3f}, {row[key]['jobs']})"
            for key in ("small pool", "raised")
        ]
        ratio = row["raised"]["median"] / row["small pool"]["median"] if row["small pool"]["median"] else float("nan")
        print(f"{name:<{width}}  {cells[0]:>24}  {cells[1]:>24}  {ratio:12.3f}")
    print(
        "admin round trip saturated / idle twin = "
        f"{info[TRIP_SATURATED]['median_ms'] / info[TRIP_TWIN]['median_ms']:.3f} (no goal: for reference)"
    )
    goals = {
        "server_info saturated / idle twin": (info[SATURATED]["median_ms"] / info[TWIN]["median_ms"], 1.1),
    }
    key = "short jobs, submission to start"
    if key in rows:
        goals["short-job wait after / before the change"] = (
            rows[key]["raised"]["median"] / rows[key]["small pool"]["median"],
            0.10,
        )
    results = {}
    print()
    for label, (value, goal) in goals.items():
        met = value <= goal
        print(f"{label} = {value:.3f} (goal <= {goal}) {'PASS' if met else 'MISS'}")
        results[label] = {"value": value, "goal": f"<= {goal}", "met": met}
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="timed server_info runs per case and phase (default 10)")
    parser.add_argument("--after", type=float, default=15, help="seconds of load after the change (default 15)")
    parser.add_argument("--png", type=Path, default=REPO / ".build" / "bench" / "load.png", help="the plot")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the numbers to PATH")
    args = parser.parse_args()
    if args.runs < 2:
        parser.error("--runs must be at least 2")

    loadavg_start = os.getloadavg()[0]
    sys.path.insert(0, collections_path())
    loaded = Daemon(drivers=("storage",), config=SMALL)
    twin = Daemon(drivers=("storage",), config=SMALL)
    load = sampler = None
    try:
        loaded.start()
        twin.start()
        print("phase 1: server_info against both daemons, no load", flush=True)
        idle = measure({IDLE: server_info(loaded.uri), IDLE_TWIN: server_info(twin.uri)}, args.runs)
        idle.update(
            measure({TRIP_IDLE: admin_round_trip(loaded.uri), TRIP_IDLE_TWIN: admin_round_trip(twin.uri)}, TRIPS)
        )

        print("phase 2: the load starts; server_info against the saturated daemon and its idle twin", flush=True)
        sampler = Sampler(loaded.uri)
        sampler.start()
        load = JobLoad(loaded, long_clients=4, long_mb=200, short_every=0.5).start()
        origin = time.monotonic()
        marks = {}
        loaded_times = measure({SATURATED: server_info(loaded.uri), TWIN: server_info(twin.uri)}, args.runs)
        trips = {TRIP_SATURATED: admin_round_trip(loaded.uri), TRIP_TWIN: admin_round_trip(twin.uri)}
        loaded_times.update(measure(trips, TRIPS))
        saturated_samples = [pool for moment, pool in sampler.samples if origin + 1 <= moment]
        saturation = sum(pool["freeWorkers"] == 0 and pool["jobQueueDepth"] > 0 for pool in saturated_samples) / max(
            len(saturated_samples), 1
        )

        print(f"phase 3: libvirt_admin_threadpool {RAISED} while the load runs", flush=True)
        settings = " ".join(f"{key}={value}" for key, value in RAISED.items())
        marks["change_started"] = time.monotonic()
        run_command([*AD_HOC, MODULE + "libvirt_admin_threadpool", "-a", f"uri={loaded.uri} {settings}"], adhoc_env())
        marks["change_done"] = time.monotonic()
        while not any(
            moment >= marks["change_started"] and pool["maxWorkers"] == RAISED["max_workers"]
            for moment, pool in sampler.samples
        ):
            time.sleep(0.05)
        marks["change_seen"] = next(
            moment
            for moment, pool in sampler.samples
            if moment >= marks["change_started"] and pool["maxWorkers"] == RAISED["max_workers"]
        )

        print(f"phase 4: {args.after:g} s more of the load", flush=True)
        time.sleep(args.after)
        observed = load.stop()
        sampler.stop()
    except RunFailed as exc:
        print(f"run failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if load is not None:
            load.kill()
        if sampler is not None and sampler.is_alive():
            sampler.stop()
        loaded.stop()
        twin.stop()

    if observed["errors"]:
        print(f"the load saw errors: {observed['errors'][:3]}", file=sys.stderr)
        return 1
    jobs = observed["jobs"]
    info = {name: spread(values) for name, values in {**idle, **loaded_times}.items()}
    rows = job_rows(jobs, before=marks["change_started"], after=marks["change_done"])
    change = {
        "module_s": marks["change_done"] - marks["change_started"],
        "seen_after_start_s": marks["change_seen"] - marks["change_started"],
    }
    goals = report(info, rows, saturation, change, args.runs, [loadavg_start, os.getloadavg()[0]])
    plot(args.png, sampler.samples, jobs, origin, marks)
    print(f"\nplot: {args.png}")
    if args.json:
        data = {
            "runs": args.runs,
            "warmup": WARMUP,
            "server_info": info,
            "jobs": rows,
            "saturation": saturation,
            "change": change,
            "goals": goals,
            "samples_ms": {**idle, **loaded_times},
        }
        args.json.write_text(json.dumps(data, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
