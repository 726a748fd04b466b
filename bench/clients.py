"""Wall-clock cost of libvirt_admin_client_info and of disconnecting clients by a filter, with N clients connected.

Starts one sandboxed libvirtd with the secret driver (tests/harness) and, for each N and each of the
modules' backends (library, protocol: one pass each, with its own ping and stand-in), times round-robin,
so that machine noise hits every case equally:

    ansible.builtin.ping                                  (the baseline)
    libvirt_admin_client_info                             (must list the N clients)
    libvirt_admin_clients disconnect: {transport: unix, readonly: false}   (must disconnect the N clients)
    a stand-in module that only returns client_info's last result        (Ansible's own cost of that result)

Each round first opens a fresh batch of N real clients (untimed; a child libvirt-python process holds
them, tests/harness/clients.py), and checks afterwards with virt-admin that none is left:

    python bench/clients.py [--sizes 10,100,1000] [--backends library,protocol] [--runs N] [--json PATH]

Exits non-zero only when a run fails; missing a goal is reported, not an error.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from _common import AD_HOC, WARMUP, RunFailed, adhoc_env, command_case, core_version, measure, run_command, summarise

from tests.harness import witness
from tests.harness.ansible import FQCN
from tests.harness.clients import Clients
from tests.harness.daemons import Daemon

PING, CLIENT_INFO, REPLAY, DISCONNECT = (
    "ansible ping",
    "client_info module",
    "same result, no libvirt",
    "clients disconnect",
)
# The stand-in: a module of a throw-away collection that returns a saved result and does nothing else,
# so that its time is what Ansible itself spends on a result of that size (controller and target).
REPLAY_MODULE = """#!/usr/bin/python
from __future__ import annotations
import json
from ansible.module_utils.basic import AnsibleModule
def main():
    module = AnsibleModule(argument_spec={"path": {"type": "path", "required": True}})
    with open(module.params["path"]) as handle:
        result = json.load(handle)
    module.exit_json(**result)
if __name__ == "__main__":
    main()
"""
SERVER = "libvirtd"
GOAL_SIZE = 1000
GOALS = {CLIENT_INFO: ("client_info", 1.3), DISCONNECT: ("disconnect", 1.6)}
# File descriptors a process needs beyond one per client (libraries, sockets, logs).
FD_HEADROOM = 256
# How long the daemon may take to drop the disconnected clients from its list.
GONE_WITHIN_S = 10.0
# A client the daemon does not serve (e.g. it is out of file descriptors) waits this long, and a whole
# batch gets OPEN_BASE_S + OPEN_PER_CLIENT_S * N to connect, before the round fails.
CLIENT_TIMEOUT_S = 10.0
OPEN_BASE_S, OPEN_PER_CLIENT_S = 60.0, 0.05


def sizes_arg(text: str) -> list:
    try:
        sizes = [int(item) for item in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of client counts: {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"client counts must be 1 or more: {text!r}")
    return sizes


def ensure_nofile(pid: int, need: int) -> dict:
    """The process's open-file limit, raised (prlimit) when its soft limit is below need.

    Raising the hard limit needs CAP_SYS_RESOURCE; without it the soft limit goes up to the hard one only."""
    argv = ["prlimit", f"--pid={pid}", "--nofile", "--output=SOFT,HARD", "--noheadings", "--raw"]
    soft, hard = (None if value == "unlimited" else int(value) for value in run_command(argv).stdout.split())
    limit = {"soft": soft, "hard": hard, "need": need, "raised_to": None, "short": False}  # None: unlimited
    if soft is None or soft >= need:
        return limit
    try:
        run_command(["prlimit", f"--pid={pid}", f"--nofile={need}:{'unlimited' if hard is None else max(hard, need)}"])
        limit["raised_to"] = need
    except RunFailed:
        if hard is None or hard >= need:
            raise
        limit["short"] = True  # the larger sizes may find clients the daemon cannot accept
        if soft < hard:
            run_command(["prlimit", f"--pid={pid}", f"--nofile={hard}:{hard}"])
            limit["raised_to"] = hard
    return limit


def nofile_verdict(limit: dict) -> str:
    if limit["short"]:
        return (
            f"{'raised to' if limit['raised_to'] else 'kept at'} the hard limit {limit['hard']} only (raising it needs "
            "CAP_SYS_RESOURCE): the daemon may not accept that many clients"
        )
    return "enough, kept" if limit["raised_to"] is None else f"raised to {limit['raised_to']}"


def adhoc_result(stdout: str) -> dict:
    """The task result printed by `ansible` with the minimal callback: `host | STATUS => {...}`."""
    sep, body = stdout.partition(" => ")[1:]
    if not sep:
        raise RunFailed(f"no task result in the output:\n{stdout}")
    try:
        result = json.loads(body)
    except ValueError as exc:
        raise RunFailed(f"the task result is not JSON ({exc}):\n{stdout}") from exc
    return result


class Batch(Clients):
    """Clients, given up on (the child killed) when connecting them all takes too long."""

    def _read(self) -> dict:
        watchdog = threading.Timer(OPEN_BASE_S + OPEN_PER_CLIENT_S * len(self.specs), self.process.kill)
        watchdog.start()
        try:
            return super()._read()
        finally:
            watchdog.cancel()


class Batches:
    """A fresh batch of N clients for every round, held open by a Clients child process."""

    def __init__(self, daemon: Daemon, size: int) -> None:
        self.client_uri = f"secret:///system?socket={daemon.socket}"
        self.admin_uri = daemon.uri
        self.size = size
        self.current: Clients | None = None
        self.open_ms: list = []
        self.gone_after_ms: list = []
        self.disconnected = False

    def connected(self) -> int:
        try:
            return witness.client_limits(self.admin_uri, SERVER)["nclients"]
        except AssertionError as exc:
            raise RunFailed(str(exc)) from exc

    @contextmanager
    def round(self):
        left = self.connected()
        if left != 0:
            raise RunFailed(f"{SERVER} still has {left} clients before the round")
        start = time.perf_counter()
        spec = {"uri": self.client_uri, "timeout": CLIENT_TIMEOUT_S}
        try:
            self.current = Batch([spec] * self.size, nofile=self.size + FD_HEADROOM)
        except RuntimeError as exc:
            raise RunFailed(f"opening {self.size} clients failed or took too long ({exc})") from exc
        self.open_ms.append((time.perf_counter() - start) * 1000)
        try:
            failed = [error for error in self.current.errors if error]
            if not all(self.current.opened):
                raise RunFailed(f"{len(failed)} of {self.size} clients did not connect, e.g. {failed[:3]}")
            count = self.connected()
            if count != self.size:
                raise RunFailed(f"{SERVER} has {count} clients, expected the {self.size} just opened")
            self.disconnected = False
            yield
            if not self.disconnected:
                raise RunFailed("the round ended without disconnecting its clients")
            self.gone_after_ms.append(self.wait_until_gone())
        finally:
            self.close()

    def wait_until_gone(self) -> float:
        """0.0 when virt-admin counts 0 clients right after the disconnect run, else the ms it took."""
        start = time.perf_counter()
        count = self.connected()
        if count == 0:
            return 0.0
        while count != 0:
            if time.perf_counter() - start > GONE_WITHIN_S:
                raise RunFailed(f"{SERVER} still has {count} clients {GONE_WITHIN_S} s after the disconnect")
            time.sleep(0.05)
            count = self.connected()
        return (time.perf_counter() - start) * 1000

    def check_batch(self, what: str, records: list) -> None:
        """The records name exactly the current batch: N clients, all of its process."""
        pids = {record.get("unix_process_id") for record in records}
        if len(records) != self.size or pids != {self.current.pid}:
            raise RunFailed(
                f"{what}: {len(records)} clients of processes {sorted(pids, key=str)[:5]}, "
                f"expected {self.size} of process {self.current.pid}"
            )

    def close(self) -> None:
        if self.current is not None:
            self.current.close()
            self.current = None


def client_info_case(uri: str, backend: str, env: dict, batches: Batches, saved: Path):
    argv = [*AD_HOC, f"{FQCN}.libvirt_admin_client_info", "-a", f"uri={uri} backend={backend}"]

    def run():
        done = run_command(argv, env)

        def check() -> None:
            result = adhoc_result(done.stdout)
            if result.get("backend") != backend:
                raise RunFailed(f"client_info ran with backend {result.get('backend')!r}, not {backend!r}")
            if result.get("server") != SERVER or not isinstance(result.get("clients"), list):
                raise RunFailed(f"client_info returned no client list of {SERVER}:\n{done.stdout[:2000]}")
            batches.check_batch("client_info listed", result["clients"])
            saved.write_text(json.dumps(result))

        return check

    return run


def disconnect_case(uri: str, backend: str, env: dict, batches: Batches):
    args = {"uri": uri, "backend": backend, "disconnect": {"transport": "unix", "readonly": False}}
    argv = [*AD_HOC, f"{FQCN}.libvirt_admin_clients", "-a", json.dumps(args)]

    def run():
        done = run_command(argv, env)

        def check() -> None:
            result = adhoc_result(done.stdout)
            if result.get("changed") is not True or not isinstance(result.get("disconnected"), list):
                raise RunFailed(f"the disconnect changed nothing:\n{done.stdout[:2000]}")
            batches.check_batch("the disconnect reported", result["disconnected"])
            batches.disconnected = True

        return check

    return run


def replay_case(env: dict, workdir: Path, saved: Path):
    """The stand-in module returning client_info's result of this round (saved by its check)."""
    modules = workdir / "ansible_collections" / "virtops_bench" / "replay" / "plugins" / "modules"
    modules.mkdir(parents=True, exist_ok=True)
    (modules / "replay.py").write_text(REPLAY_MODULE)
    env = {**env, "ANSIBLE_COLLECTIONS_PATH": f"{env['ANSIBLE_COLLECTIONS_PATH']}:{workdir}"}
    return command_case([*AD_HOC, "virtops_bench.replay.replay", "-a", f"path={saved}"], env, '"clients"')


def cases(uri: str, backend: str, batches: Batches, workdir: Path) -> dict:
    env = adhoc_env()
    saved = workdir / "client_info_result.json"
    return {
        PING: command_case([*AD_HOC, "ansible.builtin.ping"], env, '"pong"'),
        CLIENT_INFO: client_info_case(uri, backend, env, batches, saved),
        REPLAY: replay_case(env, workdir, saved),
        DISCONNECT: disconnect_case(uri, backend, env, batches),
    }


def add_per_client(rows: dict, size: int) -> dict:
    """per_client_ms: (median - ping median) / N; within_noise: that difference is smaller than
    the spread of ping's own runs (p90 - p10), so it says little."""
    ping = rows[PING]
    noise = ping["p90_ms"] - ping["p10_ms"]
    for name, row in rows.items():
        extra = row["median_ms"] - ping["median_ms"]
        row["per_client_ms"] = None if name == PING else extra / size
        row["within_noise"] = None if name == PING else abs(extra) < noise
    return rows


def report_size(size: int, backend: str, rows: dict, batches: Batches, runs: int) -> None:
    width = max(map(len, rows))
    lingering = [value for value in batches.gone_after_ms if value]
    opening = statistics.median(batches.open_ms)
    print(
        f"{backend} backend, N = {size} clients: {runs} runs each after {WARMUP} warm-up runs, round-robin; "
        f"a fresh batch of {size} opened before each round (untimed, median {opening:.0f} ms)"
    )
    print(f"{'case':<{width}}  {'median ms':>9}  {'p10':>7}  {'p90':>7}  {'/ ping':>6}  {'ms/client':>9}")
    for name, row in rows.items():
        per_client = (
            "-" if row["per_client_ms"] is None else f"{'~' if row['within_noise'] else ''}{row['per_client_ms']:.3f}"
        )
        print(
            f"{name:<{width}}  {row['median_ms']:9.1f}  {row['p10_ms']:7.1f}  {row['p90_ms']:7.1f}"
            f"  {row['ratio_to_ping']:6.3f}  {per_client:>9}"
        )
    print(
        f"checked: client_info listed {size} clients each run; each disconnect reported {size} and virt-admin then "
        + (
            "counted 0 clients at once"
            if not lingering
            else f"counted 0 within {max(lingering):.0f} ms ({len(lingering)} of {len(batches.gone_after_ms)} rounds)"
        )
    )
    print(flush=True)


def report_goals(results: dict, backend: str) -> tuple:
    print(f"{backend} backend:")
    goals = {}
    if GOAL_SIZE in results:
        rows = results[GOAL_SIZE]["cases"]
        for name, (label, goal) in GOALS.items():
            value = rows[name]["ratio_to_ping"]
            met = value <= goal
            print(f"{label}({GOAL_SIZE}) / ping = {value:.3f} (goal <= {goal}) {'PASS' if met else 'MISS'}")
            goals[f"{label}({GOAL_SIZE}) / ping"] = {"value": value, "goal": f"<= {goal}", "met": met}
        floor = rows[REPLAY]["ratio_to_ping"]
        print(
            f"the same result from a stand-in that does nothing else / ping = {floor:.3f}: Ansible's own cost of "
            f"{GOAL_SIZE} client records, the floor under client_info({GOAL_SIZE})"
        )
        goals[f"stand-in({GOAL_SIZE}) / ping"] = {"value": floor, "goal": "none (the floor)", "met": None}
    else:
        print(f"no run with N = {GOAL_SIZE}: goals not evaluated")

    sizes = sorted(results)
    growth = {}
    print('per-client cost, (median - ping median) / N, in ms ("~": the difference is within ping\'s p10-p90 spread):')
    for name, (label, _goal) in GOALS.items():
        rows = {size: results[size]["cases"][name] for size in sizes}
        listed = "  ".join(
            f"N={size}: {'~' if row['within_noise'] else ''}{row['per_client_ms']:.3f}" for size, row in rows.items()
        )
        steps = []
        for low, high in zip(sizes, sizes[1:]):
            below, above = rows[low], rows[high]
            if below["within_noise"] or above["within_noise"] or below["per_client_ms"] <= 0:
                factor = "noise"
            else:
                factor = f"x{above['per_client_ms'] / below['per_client_ms']:.2f}"
            marginal = (above["median_ms"] - below["median_ms"]) / (high - low)
            steps.append({"from": low, "to": high, "factor": factor, "ms_per_added_client": marginal})
        print(f"  {label:<11}  {listed}")
        if steps:
            print(
                f"  {'':<11}  grows "
                + ", ".join(f"{step['from']}->{step['to']}: {step['factor']}" for step in steps)
                + "; each added client costs "
                + ", ".join(f"{step['ms_per_added_client']:.3f} ms ({step['from']}->{step['to']})" for step in steps)
            )
        growth[label] = {
            "per_client_ms": {str(size): row["per_client_ms"] for size, row in rows.items()},
            "within_noise": {str(size): row["within_noise"] for size, row in rows.items()},
            "steps": steps,
        }
    return goals, growth


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", type=sizes_arg, default=[10, 100, 1000], help="client counts, comma-separated (default 10,100,1000)"
    )
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each case per size (default 5)")
    parser.add_argument(
        "--backends",
        type=lambda text: text.replace(",", " ").split(),
        default=["library", "protocol"],
        help="the modules' backends, one pass each with its own ping and stand-in (default library,protocol)",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the numbers to PATH")
    args = parser.parse_args()
    if args.runs < 2:
        parser.error("--runs must be at least 2")

    biggest = max(args.sizes)
    limit = max(5000, biggest)
    daemon = Daemon(config={"max_clients": limit, "max_anonymous_clients": limit}, drivers=("secret",))
    batches = None
    results = {backend: {} for backend in args.backends}
    try:
        daemon.start()
        nofile = ensure_nofile(daemon.pid, biggest + FD_HEADROOM)
        shown = {key: "unlimited" if value is None else value for key, value in nofile.items()}
        print(
            f"libvirtd open-file limit: soft {shown['soft']}, hard {shown['hard']}; needs {nofile['need']} for "
            f"{biggest} clients: " + nofile_verdict(nofile)
        )
        print(core_version())
        print()
        for size in args.sizes:
            for backend in args.backends:
                batches = Batches(daemon, size)
                with tempfile.TemporaryDirectory(prefix="bench-clients-") as workdir:
                    times = measure(cases(daemon.uri, backend, batches, Path(workdir)), args.runs, batches.round)
                rows = add_per_client(summarise(times, PING), size)
                report_size(size, backend, rows, batches, args.runs)
                results[backend][size] = {
                    "cases": rows,
                    "samples_ms": times,
                    "batch_open_ms": batches.open_ms,
                    "gone_after_ms": batches.gone_after_ms,
                }
    except (RuntimeError, subprocess.SubprocessError) as exc:  # RunFailed, DaemonError, a Clients child's end
        print(f"run failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if batches is not None:
            batches.close()
        daemon.stop()

    goals, growth = {}, {}
    for backend, found in results.items():
        goals[backend], growth[backend] = report_goals(found, backend)
    if args.json:
        data = {
            "runs": args.runs,
            "warmup": WARMUP,
            "sizes": args.sizes,
            "daemon_nofile": nofile,
            "results": {
                backend: {str(size): value for size, value in found.items()} for backend, found in results.items()
            },
            "goals": goals,
            "per_client_growth": growth,
        }
        args.json.write_text(json.dumps(data, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
