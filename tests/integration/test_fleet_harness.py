"""The fleet harness itself (tests/harness/fleet.py): hosts on 127.0.0.x, each with its own
namespaces, libvirtd and sshd, reached by Ansible over SSH, torn down by pid.

One ten-host fleet (host03 and host07 on libvirt 11.3) serves the tests that leave it as they
found it; the teardown test starts fleets of its own.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import witness
from tests.harness.ansible import REPO, interpreter
from tests.harness.fleet import Fleet, Fleets, alive, reap_stale_fleet
from tests.harness.libvirt_versions import Libvirt, system_version
from tests.harness.ports import listening

pytestmark = pytest.mark.once  # not repeated per libvirt version (see tests/conftest.py)

N = 10
NEWER = "11.3"
NEWER_HOSTS = (3, 7)


@pytest.fixture(scope="module")
def fleet():
    # "system" rather than None (the default): the same mix under VIRTOPS_LIBVIRT_VERSION=11.3 too
    versions = [NEWER if number in NEWER_HOSTS else "system" for number in range(1, N + 1)]
    with Fleet(N, versions=versions) as running:
        yield running


@pytest.fixture
def make_fleet():
    with Fleets() as make:
        yield make


def expected_version(host) -> str:
    return Libvirt.get(NEWER).version if host.index in NEWER_HOSTS else system_version()


def test_every_host_answers_ping(fleet):
    results = fleet.ansible("all", "ansible.builtin.ping")
    assert sorted(results) == [f"host{i:02d}" for i in range(1, N + 1)]
    for name, result in results.items():
        assert not result.failed, (name, result)
        assert result["ping"] == "pong"
    assert len(set(fleet.addresses)) == N
    assert all(address.startswith("127.0.0.") for address in fleet.addresses)


def test_each_host_reports_its_own_daemon(fleet):
    """The module, with no uri option, reads the daemon of the host it runs on: each host's own
    max_workers (set beforehand with virt-admin, from outside) and each host's own libvirt version."""
    for host in fleet:
        host.virt_admin("srv-threadpool-set", "libvirtd", "--max-workers", str(30 + host.index))
    results = fleet.ansible("all", "libvirt_admin_server_info")
    assert len(results) == N
    for host in fleet:
        result = results[host.name]
        assert not result.failed, (host.name, result)
        servers = {server["name"]: server for server in result["servers"]}
        assert servers["libvirtd"]["threadpool"]["max_workers"] == 30 + host.index, host.name
        assert result["version"] == expected_version(host) == host.libvirt_version, host.name
        assert witness.daemon_version(host.uri) == host.libvirt_version


def test_each_host_is_itself(fleet):
    """Each host has its own hostname (UTS namespace) and runs its own libvirt version: the 11.3 hosts
    run 11.3's libvirtd, and the commands and modules there 11.3's libraries (the interpreter wrapper)."""
    groups = json.loads(fleet.inventory_path.read_text())["all"]["children"]
    assert sorted(groups[fleet.group(NEWER)]["hosts"]) == [f"host{i:02d}" for i in NEWER_HOSTS]
    assert len(groups["libvirt_hosts"]["hosts"]) == N
    results = fleet.ansible("all", "ansible.builtin.shell", "hostname; {{ libvirt_virt_admin }} version")
    assert len({host.hostname for host in fleet}) == N
    for host in fleet:
        result, version = results[host.name], expected_version(host)
        assert not result.failed, (host.name, result)
        assert result["stdout_lines"][0] == host.hostname
        assert f"Using library: libvirt {version}" in result["stdout"], result
        assert f"Running against daemon: {version}" in result["stdout"], result
        assert host.interpreter == interpreter(NEWER if host.index in NEWER_HOSTS else "system")


def test_a_host_without_libvirtd_fails_alone(fleet):
    down = fleet["host05"]
    down.stop_libvirtd()
    try:
        assert not down.libvirtd_running
        results = fleet.ansible("all", "libvirt_admin_server_info")
    finally:
        down.start_libvirtd()
    assert results[down.name].failed
    message = results[down.name].msg
    assert "/run/libvirt/libvirt-admin-sock" in message, message  # the default path, in that host
    for host in fleet:
        if host is not down:
            assert not results[host.name].failed, (host.name, results[host.name])
    assert witness.servers(down.uri)  # back for the other tests


def test_teardown_leaves_nothing(make_fleet):
    first = make_fleet(3)
    second = make_fleet(2)  # alive at once: other addresses
    assert not set(first.addresses) & set(second.addresses)
    results = first.ansible("all", "ansible.builtin.ping")  # sessions and ControlPersist masters too
    assert all(not result.failed for result in results.values()), results
    pids = first.pids()
    for host in first:
        assert host.pid in pids and host.daemon.pid in pids and host.sshd.pid in pids
    assert len(pids) > 3 * len(first)  # more than holder, libvirtd and sshd: sessions, masters
    folders = [first.root, *(host.root for host in first)]
    addresses = first.addresses
    assert len(listening(addresses)) == len(first)

    first.stop()
    assert [pid for pid in pids if alive(pid)] == []
    assert listening(addresses) == []
    assert not any(folder.exists() for folder in folders)
    # The lowest free addresses (first's again, unless another worker took them): new host keys,
    # new ssh masters, nothing of the fleet before in the way.
    with Fleet(len(addresses)) as again:
        assert not set(again.addresses) & set(second.addresses)
        results = again.ansible("all", "ansible.builtin.command", "hostname")
        assert sorted(result["stdout"] for result in results.values()) == [host.hostname for host in again]


CRASHING = """
import json, os
from tests.harness.fleet import Fleet

fleet = Fleet(2).start()
fleet.ansible("all", "ansible.builtin.ping")
hosts = [str(host.root) for host in fleet]
print(json.dumps({"root": str(fleet.root), "hosts": hosts, "pids": fleet.pids(), "addresses": fleet.addresses}))
os.kill(os.getpid(), 9)
"""


def test_a_fleet_whose_process_died_is_reaped():
    """SIGKILLed, its process runs no finaliser: its holders, libvirtds and sshds die with it (parent-death
    signal); the next fleet to take one of its addresses (here: reap_stale_fleet itself) stops the rest by
    pid (SSH sessions, ControlPersist masters) and removes its folders."""
    done = subprocess.run(
        [sys.executable, "-c", CRASHING], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == -9, done.stderr
    left = json.loads(done.stdout)
    reap_stale_fleet(Path(left["root"]))
    assert [pid for pid in left["pids"] if alive(pid)] == []
    assert listening(left["addresses"]) == []
    assert not any(Path(folder).exists() for folder in [left["root"], *left["hosts"]])
