"""The closed loop (issue 18): the real ansible-rulebook runs the guard rulebook
(extensions/eda/rulebooks/guard.yml), whose source virtops.libvirt_admin.admin_watch watches libvirt
daemons and whose rules run the remediation playbook virtops.libvirt_admin.remediate.

Judged by the daemons' state (virt-admin), never by ansible-rulebook's exit code, which says nothing
about its actions; its output is read only for the events it received and the notifications it showed.

- Over an SSH fleet of three hosts (tests/harness/fleet.py), all with a small pool (min 1, max 2): a real
  load (tests/harness/load.py, JobLoad) saturates host01's pool, and the rulebook raises it and its queue
  drains; host02's server is pushed near its client limit by real clients, and the rulebook raises the
  limit; the worker pools of host02 and host03 are untouched. Then host02's libvirtd is killed
  (daemon_down) and started (daemon_up), host03's sshd is stopped (host_unreachable) and started
  (host_reachable), ansible-rulebook keeps running, and no event came twice.
- On this machine (local mode, the source's discovery): ansible-rulebook runs inside a sandboxed
  libvirtd's mount namespace, where that daemon's admin socket is at libvirt's default path; the same
  load, the same remediation. `make demo-guard` runs this one with VIRTOPS_GUARD_DEMO=1, printing the
  daemon's state as it goes.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter

import pytest

from tests.harness import witness
from tests.harness.clients import Clients
from tests.harness.daemons import Daemon
from tests.harness.fleet import Fleet
from tests.harness.load import JobLoad
from tests.harness.rulebook import Rulebook
from tests.harness.waiting import wait_for

pytestmark = pytest.mark.once  # not repeated per libvirt version (see tests/conftest.py)

GUARD = "virtops.libvirt_admin.guard"
SMALL = {"min_workers": 1, "max_workers": 2, "prio_workers": 1}
# The remediation's variables, in the inventory (ansible-rulebook hands run_playbook a copy of the
# inventory file only: group_vars beside it would not come along).
REMEDIATION = {
    "libvirt_admin_remediate_become": False,  # the fleet's hosts log in as root
    "libvirt_admin_remediate_worker_step": 5,
    "libvirt_admin_remediate_max_workers_ceiling": 50,
    "libvirt_admin_remediate_client_step": 10,
    "libvirt_admin_remediate_max_clients_ceiling": 100,
}
DEMO = os.environ.get("VIRTOPS_GUARD_DEMO") == "1"


def say(text: str) -> None:
    if DEMO:
        print(text, flush=True)


def drained(uri: str, seconds: float = 3.0, every: float = 0.25) -> list:
    """The pool's samples over a few seconds once raised: the queue reads empty nearly always (a sample may
    catch a job between its submission and a free worker waking up, on a busy machine)."""
    samples = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        samples.append(witness.threadpool(uri, "libvirtd"))
        time.sleep(every)
    assert sum(sample["jobQueueDepth"] == 0 for sample in samples) >= 0.75 * len(samples), samples
    assert all(sample["freeWorkers"] > 0 or sample["jobQueueDepth"] == 0 for sample in samples[-3:]), samples
    return samples


def records(log_dir) -> dict:
    """The remediation log: file name -> its JSON lines."""
    return {
        path.name: [json.loads(line) for line in path.read_text().splitlines()] for path in sorted(log_dir.glob("*"))
    }


def no_event_twice(events: list) -> None:
    """Each event is a change: a problem and its end alternate for each thing, none comes twice in a row."""
    last = {}
    for event in events:
        key = (event["host"], event.get("daemon"), event.get("server"), event.get("ended", event["type"]))
        assert last.get(key) != event["type"], f"{event['type']} twice for {key[:3]}: {events}"
        last[key] = event["type"]


def test_guard_closes_the_loop_over_an_ssh_fleet(tmp_path):
    with Fleet(3, config=SMALL, drivers=("storage",)) as fleet:
        one, two, three = fleet
        inventory = json.loads(fleet.inventory_path.read_text())
        log_dir = tmp_path / "remediations"
        inventory["all"]["children"]["libvirt_hosts"]["vars"].update(
            REMEDIATION, libvirt_admin_remediate_log_dir=str(log_dir)
        )
        path = tmp_path / "inventory.json"
        path.write_text(json.dumps(inventory))
        witness.virt_admin(two.uri, "srv-clients-set", "libvirtd", "--max-clients", "4", "--max-unauth-clients", "4")
        variables = {
            "libvirt_admin_guard_inventory": str(path),
            "libvirt_admin_guard_hosts": "libvirt_hosts",
            "libvirt_admin_guard_repeat": 0,  # every event a change: none may come twice
        }
        with Rulebook(GUARD, path, variables, env=fleet.env({"ANSIBLE_STDOUT_CALLBACK": "default"})) as rulebook:
            time.sleep(3)  # the source's first polls: all healthy, nothing to say
            assert rulebook.watch_events() == [], rulebook.output[-3000:]
            clients = [{"uri": f"storage:///system?socket={two.daemon.socket}"}] * 4
            with JobLoad(one.daemon) as load, Clients(clients) as connected:
                assert all(connected.opened), connected.errors
                wait_for(
                    lambda: witness.threadpool(one.uri, "libvirtd")["maxWorkers"] > 2, 90, "host01's pool raised", 0.2
                )
                drained(one.uri)
                wait_for(
                    lambda: witness.client_limits(two.uri, "libvirtd")["nclients_max"] > 4, 90, "host02's limit", 0.2
                )
                load.stop()
            assert witness.settings(one.uri, "libvirtd") == (7, 7, 1)  # min raised too: jobs were queued
            assert witness.client_limits(two.uri, "libvirtd")["nclients_max"] == 14
            for host in (two, three):
                assert witness.settings(host.uri, "libvirtd") == (1, 2, 1), host.name
            assert witness.client_limits(three.uri, "libvirtd")["nclients_max"] == 5000

            two.stop_libvirtd()
            rulebook.wait_for("daemon_down: host02", 30)
            two.start_libvirtd()
            rulebook.wait_for("daemon_up: host02", 60)

            three.stop_sshd()
            rulebook.wait_for("host_unreachable: host03", 30)
            time.sleep(2)
            three.start_sshd()
            rulebook.wait_for("host_reachable: host03", 60)
            assert rulebook.running, rulebook.output[-3000:]
            events = rulebook.watch_events()
        output = rulebook.output

    assert "Source error" not in output and "Traceback" not in output, output[-6000:]
    by_host = {}
    for event in events:
        by_host.setdefault(event["host"], []).append((event["type"], event.get("server")))
    assert by_host["host01"][:2] == [("exhausted", "libvirtd"), ("recovered", "libvirtd")], by_host
    assert ("clients_near_limit", "libvirtd") in by_host["host02"], by_host
    assert [kind for kind, _server in by_host["host02"] if kind.startswith("daemon")] == ["daemon_down", "daemon_up"]
    assert by_host["host03"] == [("host_unreachable", None), ("host_reachable", None)], by_host
    no_event_twice(events)
    logged = records(log_dir)
    assert sorted(logged) == ["host01_libvirtd_libvirtd.jsonl", "host02_libvirtd_libvirtd.jsonl"], logged
    (raised,) = [record for record in logged["host01_libvirtd_libvirtd.jsonl"] if record["outcome"] == "changed"]
    assert (raised["event"], raised["dry_run"]) == ("exhausted", False)
    assert (raised["before"]["min_workers"], raised["before"]["max_workers"]) == (1, 2)
    assert raised["before"]["job_queue_depth"] > 0
    assert (raised["after"]["min_workers"], raised["after"]["max_workers"]) == (7, 7)
    (limit,) = [record for record in logged["host02_libvirtd_libvirtd.jsonl"] if record["outcome"] == "changed"]
    assert limit["event"] == "clients_near_limit"
    assert (limit["before"]["max_clients"], limit["after"]["max_clients"]) == (4, 14)


def test_guard_on_this_machine_raises_an_exhausted_pool(tmp_path):
    with Daemon(drivers=("storage",), config=SMALL) as daemon:
        log_dir = tmp_path / "remediations"
        variables = {**REMEDIATION, "libvirt_admin_remediate_log_dir": str(log_dir)}
        settings = " ".join(f"{key}={json.dumps(value)}" for key, value in variables.items())
        inventory = tmp_path / "inventory.ini"
        local = "ansible_connection=local ansible_python_interpreter=/usr/bin/python3"
        inventory.write_text(f"localhost {local} {settings}\n")
        say(f"\n=== a sandboxed libvirtd with a small pool {SMALL}; the guard runs inside its namespace")
        # Inside the daemon's mount namespace its admin socket is /run/libvirt/libvirt-admin-sock: found by the
        # source's discovery, as on a host where the rulebook runs beside the daemon.
        with Rulebook(GUARD, inventory, {"libvirt_admin_guard_repeat": 0}, prefix=daemon.nsenter([])) as rulebook:
            time.sleep(2)
            say("=== a load of volume wipes fills the pool")
            with JobLoad(daemon) as load:
                started = time.monotonic()
                shown = 0.0

                def raised() -> bool:
                    nonlocal shown
                    pool = witness.threadpool(daemon.uri, "libvirtd")
                    if DEMO and time.monotonic() - shown >= 1:
                        shown = time.monotonic()
                        busy = pool["nWorkers"] - pool["freeWorkers"]
                        say(
                            f"  {shown - started:5.1f} s  {busy}/{pool['maxWorkers']} workers busy, "
                            f"{pool['jobQueueDepth']} jobs queued"
                        )
                    return pool["maxWorkers"] > 2

                wait_for(raised, 90, "the pool raised", 0.2)
                pool = witness.threadpool(daemon.uri, "libvirtd")
                say(f"=== raised after {time.monotonic() - started:.1f} s: {pool}")
                samples = drained(daemon.uri)
                say(f"=== the queue drains: {[sample['jobQueueDepth'] for sample in samples]} jobs queued")
                load.stop()
            events = rulebook.watch_events()
            assert rulebook.running
        assert witness.settings(daemon.uri, "libvirtd") == (7, 7, 1)
    kinds = Counter((event["type"], event["server"]) for event in events)
    assert kinds[("exhausted", "libvirtd")] == 1, events
    exhausted = next(event for event in events if event["type"] == "exhausted")
    assert exhausted["uri"] == "libvirtd:///system?socket=/run/libvirt/libvirt-admin-sock"  # discovered
    assert exhausted["host"] == "localhost"
    (log,) = records(log_dir).values()
    changed = [record for record in log if record["outcome"] == "changed"]
    assert len(changed) == 1 and changed[0]["after"]["max_workers"] == 7, log
    say(f"=== the remediation log: {json.dumps(changed[0])}")
