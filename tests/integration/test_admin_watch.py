"""The admin_watch event source in fleet mode against real daemons over real SSH (tests/harness/fleet.py),
run in-process as ansible-rulebook runs it (runpy, main(queue, args)) with a queue that records.

Three hosts, each changed from outside with virt-admin or by stopping its processes, each change seen
as exactly one event and its end as one more, never an event per poll: host01 (reached with become,
through sudo) gets a client limit its admin server's clients are near; host02's libvirtd is stopped and
started; host03's sshd is stopped (every session with it) and started. One SSH connection per host all
along, the events carry the URI as the host sees it, and the source keeps running through all of it.
"""

from __future__ import annotations

import asyncio
import json
import os
import runpy
import shutil
import threading
import time
from pathlib import Path

import pytest

from tests.harness import witness
from tests.harness.ansible import collections_path
from tests.harness.fleet import Fleet, pids_naming

pytestmark = pytest.mark.once  # not repeated per libvirt version (see tests/conftest.py)

PLUGIN = Path(collections_path(), "ansible_collections/virtops/libvirt_admin/extensions/eda/plugins/event_source")
HOST_URI = "libvirtd:///system?socket=/run/libvirt/libvirt-admin-sock"
INTERVAL = 0.5


class Recorder:
    """The queue: every event, with the time it was put (time.monotonic())."""

    def __init__(self) -> None:
        self.events: list = []

    async def put(self, event: dict) -> None:
        self.events.append((time.monotonic(), event["libvirt_admin"]))

    def of(self, host: str) -> list:
        return [body for _at, body in self.events if body["host"] == host]

    def kinds(self, host: str) -> list:
        return [body["type"] for body in self.of(host)]


class Watching:
    """The source running in a thread of its own (its own event loop), until stopped."""

    def __init__(self, args: dict) -> None:
        self.args = args
        self.queue = Recorder()
        self.error: BaseException | None = None
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.task = None

    def _run(self) -> None:
        main = runpy.run_path(str(PLUGIN / "admin_watch.py"))["main"]
        self.task = self.loop.create_task(main(self.queue, self.args))
        try:
            self.loop.run_until_complete(self.task)
        except asyncio.CancelledError:
            pass
        except BaseException as error:  # the test reports it: the source must not end on its own
            self.error = error

    def __enter__(self) -> Watching:
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        if self.task is not None:
            self.loop.call_soon_threadsafe(self.task.cancel)
        self.thread.join(30)

    def wait_for(self, host: str, kinds: list, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.error is None, f"the source ended: {self.error!r}"
            if self.queue.kinds(host) == kinds:
                return
            time.sleep(0.05)
        raise AssertionError(f"{host}: events {self.queue.kinds(host)}, not {kinds}, within {timeout} s")


def masters(fleet: Fleet) -> list:
    """The controller's ssh masters of the watch (ssh -M), one per host it reaches."""
    found = []
    for pid in pids_naming("ControlPersist=no"):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"ssh") and b"-M" in argv:
            found.append(argv[argv.index(b"--") - 1].decode())
    return sorted(found)


def sessions(host) -> int:
    """SSH connections the host's sshd serves now (its privilege-separated session processes)."""
    count = 0
    for pid in host.pids():
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"sshd: root@notty"):
                count += 1
        except OSError:
            pass
    return count


@pytest.fixture(scope="module")
def fleet():
    with Fleet(3) as running:
        yield running


@pytest.mark.skipif(not shutil.which("sudo"), reason="become is tested through sudo, which is not installed")
def test_each_change_of_a_fleet_is_one_event_and_its_end_one_more(fleet, tmp_path):
    one, two, three = fleet
    inventory = json.loads(fleet.inventory_path.read_text())
    inventory["all"]["children"]["libvirt_hosts"]["hosts"][one.name]["ansible_become"] = True
    path = tmp_path / "inventory.json"
    path.write_text(json.dumps(inventory))
    args = {
        "inventory": str(path),
        "hosts": "libvirt_hosts",
        "interval": INTERVAL,
        "clients_ratio": 0.5,
        "reconnect_max": 2,
    }
    with Watching(args) as watch:
        # Logged in everywhere (one SSH connection each), then the first polls: all healthy, nothing to say.
        deadline = time.monotonic() + 60
        while [sessions(host) for host in fleet] != [1, 1, 1] and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(4 * INTERVAL)
        assert [sessions(host) for host in fleet] == [1, 1, 1]
        assert masters(fleet) == sorted(host.address for host in fleet)
        assert watch.queue.events == [], watch.queue.events

        # host01: its admin server's one client (the watch) is half of a limit of 2, the ratio asked.
        witness.virt_admin(one.uri, "srv-clients-set", "admin", "--max-clients", "2", "--max-unauth-clients", "0")
        watch.wait_for(one.name, ["clients_near_limit"])
        witness.virt_admin(one.uri, "srv-clients-set", "admin", "--max-clients", "5000")
        watch.wait_for(one.name, ["clients_near_limit", "clients_ok"])
        near, ok = watch.queue.of(one.name)
        assert (near["daemon"], near["uri"], near["server"]) == ("libvirtd", HOST_URI, "admin")
        assert near["clients"]["max_clients"] == 2 and near["clients"]["clients"] == 1
        assert ok["clients"]["max_clients"] == 5000 and ok["ended"] == "clients_near_limit"

        # host02: its libvirtd stopped, then started again.
        two.stop_libvirtd()
        watch.wait_for(two.name, ["daemon_down"])
        down = watch.queue.of(two.name)[0]
        assert (down["daemon"], down["uri"]) == ("libvirtd", HOST_URI) and down["error"]
        two.start_libvirtd()
        watch.wait_for(two.name, ["daemon_down", "daemon_up"], timeout=30)

        # host03: its sshd and every session stopped, then sshd started again.
        three.stop_sshd()
        watch.wait_for(three.name, ["host_unreachable"])
        unreachable = watch.queue.of(three.name)[0]
        assert "Connection refused" in unreachable["error"] or "ssh exited" in unreachable["error"], unreachable
        time.sleep(2 * INTERVAL)
        three.start_sshd()
        watch.wait_for(three.name, ["host_unreachable", "host_reachable"], timeout=30)

        time.sleep(3 * INTERVAL)  # and nothing more
        assert watch.queue.kinds(one.name) == ["clients_near_limit", "clients_ok"]
        assert watch.queue.kinds(two.name) == ["daemon_down", "daemon_up"]
        assert watch.queue.kinds(three.name) == ["host_unreachable", "host_reachable"]
        assert masters(fleet) == sorted(host.address for host in fleet)  # host03's master: a new one
        assert [sessions(host) for host in fleet] == [1, 1, 1]
        assert watch.error is None
    assert masters(fleet) == []  # every ssh the source started is gone
    for host in fleet:
        assert witness.threadpool(host.uri, "libvirtd")["maxWorkers"] == 20  # the watch changes nothing
    os.sync()
