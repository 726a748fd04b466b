"""libvirt_admin_daemon against real daemons, verified with virt-admin."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.harness import witness
from tests.harness.ansible import run_module

MODULE = "libvirt_admin_daemon"
STATE = {
    "servers": {
        "libvirtd": {"min_workers": 3, "max_workers": 12, "prio_workers": 4, "max_clients": 300},
        "admin": {"max_workers": 8, "max_clients": 7},
    },
    "logging": {"outputs": ["2:stderr"], "filters": ["1:rpc", "3:util"]},
}


def observed(uri: str) -> dict:
    """The managed state as virt-admin reads it."""
    return {
        "libvirtd": (witness.settings(uri, "libvirtd"), witness.client_limits(uri, "libvirtd")["nclients_max"]),
        "admin": (witness.settings(uri, "admin")[1], witness.client_limits(uri, "admin")["nclients_max"]),
        "outputs": witness.log_outputs(uri),
        "filters": witness.log_filters(uri),
    }


def test_check_apply_again_again_in_check(daemon):
    args = {"uri": daemon.uri, **STATE}
    before = observed(daemon.uri)

    check = run_module(MODULE, args, check=True, diff=True)
    assert check.changed, check
    assert observed(daemon.uri) == before, "check mode changed the daemon"

    apply = run_module(MODULE, args, diff=True)
    assert apply.changed, apply
    after = observed(daemon.uri)
    assert after["libvirtd"] == ((3, 12, 4), 300)
    assert after["admin"] == (8, 7)
    assert after["outputs"].split() == ["2:stderr"]
    assert after["filters"].split() == ["1:*rpc*", "3:*util*"]

    again = run_module(MODULE, args, diff=True)
    assert not again.changed, again
    again_check = run_module(MODULE, args, check=True, diff=True)
    assert not again_check.changed, again_check
    assert observed(daemon.uri) == after

    # One diff for the daemon; check mode predicted what the real run read back.
    assert apply["diff"]["after"]["servers"]["libvirtd"] == STATE["servers"]["libvirtd"]
    assert apply["diff"]["before"]["servers"]["admin"] == {"max_workers": 20, "max_clients": 5000}
    assert apply["diff"]["after"]["logging"] == STATE["logging"]
    assert check["servers"]["libvirtd"]["clients"] == apply["servers"]["libvirtd"]["clients"]
    managed = ("min_workers", "max_workers", "prio_workers")
    assert {key: check["servers"]["libvirtd"]["threadpool"][key] for key in managed} == {
        key: apply["servers"]["libvirtd"]["threadpool"][key] for key in managed
    }
    assert apply["logging"] == STATE["logging"]
    assert again["diff"]["before"] == again["diff"]["after"]


def test_bad_part_changes_nothing(daemon):
    before = observed(daemon.uri)
    bad = {
        "uri": daemon.uri,
        "servers": {"admin": {"max_workers": 9}, "libvirtd": {"min_workers": 30}},
        "logging": {"filters": ["1:rpc"]},
    }
    result = run_module(MODULE, bad)
    assert result.failed
    assert "min_workers (30) is larger than max_workers (20, the server's current value)" in result["msg"]
    assert observed(daemon.uri) == before


def test_unknown_server_lists_the_servers(daemon):
    result = run_module(MODULE, {"uri": daemon.uri, "servers": {"virtqemud": {"max_workers": 9}}})
    assert result.failed
    assert "no server named 'virtqemud'; its servers are: admin, libvirtd" in result["msg"]


def test_runtime_failure_midway_puts_earlier_parts_back(daemon):
    """libvirtd's client limit is changed first; then the daemon cannot start the admin server's new
    workers (its address space is capped, as in test_threadpool), so that part fails and the client
    limit is put back."""
    before = observed(daemon.uri)
    status = Path(f"/proc/{daemon.pid}/status").read_text()
    vm_size_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmSize")))
    subprocess.run(["prlimit", "--pid", str(daemon.pid), f"--as={(vm_size_kb + 16384) * 1024}"], check=True)
    args = {
        "uri": daemon.uri,
        "servers": {"libvirtd": {"max_clients": 77}, "admin": {"min_workers": 60, "max_workers": 80}},
    }
    result = run_module(MODULE, args)
    assert result.failed, result
    assert "changing the thread pool of server 'admin' failed" in result["msg"]
    assert "Failed to create thread" in result["msg"]
    assert "the client limits of server 'libvirtd' had been changed already and were put back" in result["msg"]
    assert observed(daemon.uri) == before
