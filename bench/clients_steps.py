"""Where libvirt_admin_client_info and libvirt_admin_clients spend their time with N clients: the module's
steps timed in this process through the collection's binding, without Ansible.

The N clients are real libvirt-python connections held by a child process (libvirt-python and the
binding must not share a process); each run gets a fresh batch:

    python bench/clients_steps.py [--sizes 10,100,1000] [--runs N]

Steps: one cheap admin round trip (get_client_limits: server lookup + limits), list_clients without and
with info (virAdmClientGetInfo per client), read_clients with the disconnect filter of bench/clients.py
(what check mode does), and disconnect_clients with that filter (each client read, then dropped at once).
Exits non-zero only when a step fails.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from _common import RunFailed
from clients import FD_HEADROOM, SERVER, Batch, ensure_nofile, nofile_verdict, sizes_arg

from tests.harness import witness
from tests.harness.ansible import collections_path
from tests.harness.daemons import Daemon

CHEAP_CALLS = 100
CRITERIA = {"transport": "unix", "readonly": False}
# The backend the steps run through (auto, library or protocol): BENCH_BACKEND=protocol python bench/clients_steps.py
BACKEND = os.environ.get("BENCH_BACKEND", "auto")


def wait_until_gone(uri: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while witness.client_limits(uri, SERVER)["nclients"]:
        if time.monotonic() > deadline:
            raise RunFailed(f"{SERVER} still has clients {timeout} s after closing them")
        time.sleep(0.05)


def one_run(daemon: Daemon, size: int) -> dict:
    """ms per step, with a fresh batch of `size` clients."""
    from ansible_collections.virtops.libvirt_admin.plugins.module_utils import _clientcalls, _clients
    from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import open_connection

    spec = {"uri": f"secret:///system?socket={daemon.socket}", "timeout": 10}
    batch = Batch([spec] * size, nofile=size + FD_HEADROOM)
    times = {}

    def timed(step: str, call):
        start = time.perf_counter()
        result = call()
        times[step] = (time.perf_counter() - start) * 1000
        return result

    try:
        if not all(batch.opened):
            raise RunFailed(f"only {sum(batch.opened)} of {size} clients connected")
        with open_connection(daemon.uri, BACKEND) as conn:
            timed(
                f"{CHEAP_CALLS} x get_client_limits, per call",
                lambda: [conn.get_client_limits(SERVER) for index in range(CHEAP_CALLS)],
            )
            times[f"{CHEAP_CALLS} x get_client_limits, per call"] /= CHEAP_CALLS
            timed("list_clients, no info", lambda: _clientcalls.list_clients(conn, SERVER, with_info=False))
            timed("list_clients with info", lambda: _clientcalls.list_clients(conn, SERVER, with_info=True))
            records = timed("read_clients, disconnect filter", lambda: _clients.read_clients(conn, SERVER, CRITERIA))
            if len(records) != size:
                raise RunFailed(f"read_clients matched {len(records)} clients, expected {size}")
            dropped = timed(
                "disconnect_clients, disconnect filter", lambda: _clients.disconnect_clients(conn, SERVER, CRITERIA)
            )
            if len(dropped) != size:
                raise RunFailed(f"disconnect_clients dropped {len(dropped)} clients, expected {size}")
        wait_until_gone(daemon.uri)
    finally:
        batch.close()
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", type=sizes_arg, default=[10, 100, 1000], help="client counts, comma-separated (default 10,100,1000)"
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per size, each with fresh clients (default 3)")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    sys.path.insert(0, collections_path())
    from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import LibvirtAdminError

    biggest = max(args.sizes)
    limit = max(5000, biggest)
    daemon = Daemon(config={"max_clients": limit, "max_anonymous_clients": limit}, drivers=("secret",))
    try:
        daemon.start()
        print(f"libvirtd open-file limit: {nofile_verdict(ensure_nofile(daemon.pid, biggest + FD_HEADROOM))}")
        print(f"medians of {args.runs} runs, ms (per client: the step's ms / N)")
        for size in args.sizes:
            runs = [one_run(daemon, size) for index in range(args.runs)]
            print(f"N = {size}")
            for step in runs[0]:
                median = statistics.median(run[step] for run in runs)
                per_client = "" if "per call" in step else f"  ({median / size:.3f} per client)"
                print(f"  {step:<40} {median:9.2f}{per_client}")
            print(flush=True)
    except (RuntimeError, LibvirtAdminError) as exc:  # RuntimeError: RunFailed, DaemonError, a Clients child's end
        print(f"run failed: {exc}", file=sys.stderr)
        return 1
    finally:
        daemon.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
