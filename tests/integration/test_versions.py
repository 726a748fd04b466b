"""The modules against each libvirt version at hand: the system's (9.0 on
Debian 12) and the ones `make setup` unpacks beside it (11.3 from
bookworm-backports). Each test runs a daemon of that version and the module
with that version's libvirt-admin.so.0, and checks with virt-admin: the
system's (the witness) and the version's own.

A version whose files are missing fails (never skips): run `make setup`.
"""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from tests.harness import witness
from tests.harness.ansible import interpreter, run_module
from tests.harness.daemons import Daemon
from tests.harness.libvirt_versions import Libvirt, LibvirtMissing, names

VERSIONS = names()  # e.g. ["9.0", "11.3"]: the system's first

# What the daemon stores for what it is given, read back with virt-admin.
# Seen the same on 9.0.0 and 11.3.0: a version that differs gets its own entry here.
FILTER_READ_BACK = {
    "1:qemu +3:util.object 4:*": "1:*qemu* 3:*util.object* 4:***",
    "  1:a   2:b  ": "1:*a* 2:*b*",
    "01:x +2:y": "1:*x* 2:*y*",
    "1:a 1:a": "1:*a* 1:*a*",
    "1:x*y 3:**": "1:*x*y* 3:****",
    "1:a:b": "1:*a*",  # what follows a second ':' is dropped (the module refuses such a filter)
    "": "",
}
OUTPUT_READ_BACK = {
    "1:file:/tmp/../var/log/libvirt//x.log 3:stderr": "1:file:/var/log/libvirt/x.log 3:stderr",
    "2:syslog:ident 4:stderr": "2:syslog:ident 4:stderr",
    "3:stderr 3:stderr": "3:stderr",
    "": "3:stderr",  # the daemon's default again (a sandboxed daemon logs to stderr)
}


@pytest.fixture(params=VERSIONS)
def libvirt(request) -> Libvirt:
    try:
        return Libvirt.get(request.param)
    except LibvirtMissing as exc:
        message = str(exc)
    pytest.fail(message, pytrace=False)  # outside the except: one clear message, no chained traceback


@pytest.fixture
def versioned(libvirt):
    """A sandboxed libvirtd of the version under test."""
    with Daemon(version=libvirt.name, drivers=("secret",)) as running:
        yield running


def own_virt_admin(daemon, *args: str) -> str:
    """virt-admin of the daemon's own version."""
    completed = subprocess.run(
        daemon.libvirt.command("virt-admin", "-c", daemon.uri, *args),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert completed.returncode == 0, f"virt-admin {' '.join(args)}: {completed.stderr}"
    return completed.stdout


def key_values(text: str) -> dict:
    pairs = (line.split(":", 1) for line in text.splitlines() if ":" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def test_daemon_answers_both_virt_admins(versioned, libvirt):
    assert witness.daemon_version(versioned.uri) == libvirt.version
    report = own_virt_admin(versioned, "version")
    assert f"Using library: libvirt {libvirt.version}" in report
    assert f"Running against daemon: {libvirt.version}" in report
    own_servers = [line.split()[1] for line in own_virt_admin(versioned, "srv-list").splitlines()[2:] if line.strip()]
    assert own_servers == witness.servers(versioned.uri)  # the order is the daemon's (it varies per daemon run)
    assert sorted(own_servers) == ["admin", "libvirtd"]
    assert own_virt_admin(versioned, "srv-threadpool-info", "libvirtd") == witness.virt_admin(
        versioned.uri, "srv-threadpool-info", "libvirtd"
    )


def test_server_info_loads_the_versions_library(versioned, libvirt, tmp_path):
    """The module process loads this version's libvirt-admin.so.0 (seen by the dynamic
    loader) and reports the daemon's version as virt-admin does."""
    trace = tmp_path / "ld"
    result = run_module(
        "libvirt_admin_server_info",
        {"uri": versioned.uri, "backend": "library"},
        libvirt=libvirt.name,
        env={"LD_DEBUG": "libs", "LD_DEBUG_OUTPUT": str(trace)},
    )
    assert not result.failed, result
    assert result["backend"] == "library"
    assert result["version"] == witness.daemon_version(versioned.uri) == libvirt.version
    assert [server["name"] for server in result["servers"]] == witness.servers(versioned.uri)
    main = next(server for server in result["servers"] if server["name"] == "libvirtd")
    pool = witness.threadpool(versioned.uri, "libvirtd")
    assert (main["threadpool"]["min_workers"], main["threadpool"]["max_workers"]) == (
        pool["minWorkers"],
        pool["maxWorkers"],
    )

    loaded = set()
    for path in tmp_path.glob("ld.*"):
        loaded.update(re.findall(r"calling init: (\S*/libvirt-admin\.so\.0)$", path.read_text(), re.MULTILINE))
    assert len(loaded) == 1, f"libvirt-admin.so.0 loaded from {loaded or 'nowhere'}"
    assert os.path.realpath(loaded.pop()) == os.path.realpath(libvirt.libdir / "libvirt-admin.so.0")


def test_interpreter_sees_only_its_library(libvirt):
    """The modules' interpreter: the system's Python, with this version's library first."""
    code = (
        "import ctypes; number = ctypes.c_ulonglong(); "
        "ctypes.CDLL('libvirt-admin.so.0').virAdmGetVersion(ctypes.byref(number)); print(number.value)"
    )
    completed = subprocess.run(
        [interpreter(libvirt.name), "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    major, minor, micro = (int(part) for part in libvirt.version.split("."))
    assert int(completed.stdout) == major * 1000000 + minor * 1000 + micro


def test_threadpool_four_steps(versioned, libvirt):
    """check, apply, again, again in check: changed, changed, unchanged, unchanged; both virt-admins agree."""
    module, args = (
        "libvirt_admin_threadpool",
        {"uri": versioned.uri, "min_workers": 3, "max_workers": 12, "prio_workers": 7},
    )
    before = witness.settings(versioned.uri, "libvirtd")
    assert before == (5, 20, 5)

    check = run_module(module, args, check=True, diff=True, libvirt=libvirt.name)
    assert check.changed, check
    assert witness.settings(versioned.uri, "libvirtd") == before, "check mode changed the daemon"
    apply = run_module(module, args, diff=True, libvirt=libvirt.name)
    assert apply.changed, apply
    assert witness.settings(versioned.uri, "libvirtd") == (3, 12, 7)
    again = run_module(module, args, diff=True, libvirt=libvirt.name)
    assert not again.changed, again
    again_check = run_module(module, args, check=True, diff=True, libvirt=libvirt.name)
    assert not again_check.changed, again_check

    assert witness.settings(versioned.uri, "libvirtd") == (3, 12, 7)
    own = key_values(own_virt_admin(versioned, "srv-threadpool-info", "libvirtd"))
    assert (own["minWorkers"], own["maxWorkers"], own["prioWorkers"]) == ("3", "12", "7")
    assert apply["diff"] == {
        "before": {"min_workers": 5, "max_workers": 20, "prio_workers": 5},
        "after": {"min_workers": 3, "max_workers": 12, "prio_workers": 7},
    }


def test_client_limits(versioned, libvirt):
    args = {"uri": versioned.uri, "max_clients": 100, "max_unauth_clients": 7}
    apply = run_module("libvirt_admin_clients", args, libvirt=libvirt.name)
    assert apply.changed, apply
    assert not run_module("libvirt_admin_clients", args, libvirt=libvirt.name).changed
    limits = witness.client_limits(versioned.uri, "libvirtd")
    assert (limits["nclients_max"], limits["nclients_unauth_max"]) == (100, 7)
    refused = run_module("libvirt_admin_clients", {**args, "max_clients": 5}, libvirt=libvirt.name)
    assert refused.failed
    assert witness.client_limits(versioned.uri, "libvirtd")["nclients_max"] == 100


def test_logging_filters_normalised(versioned, libvirt):
    args = {
        "uri": versioned.uri,
        "outputs": ["1:file:/var/log/libvirt/../libvirt//debug.log", "3:stderr"],
        "filters": ["1:qemu", "+3:util.object", "4:*"],
    }
    apply = run_module("libvirt_admin_logging", args, diff=True, libvirt=libvirt.name)
    assert apply.changed, apply
    assert witness.log_filters(versioned.uri) == "1:*qemu* 3:*util.object* 4:***"
    assert witness.log_outputs(versioned.uri) == "1:file:/var/log/libvirt/debug.log 3:stderr"
    assert apply["logging"] == {
        "outputs": ["1:file:/var/log/libvirt/debug.log", "3:stderr"],
        "filters": ["1:qemu", "3:util.object", "4:*"],
    }
    again = run_module("libvirt_admin_logging", args, check=True, diff=True, libvirt=libvirt.name)
    assert not again.changed, again
    assert own_virt_admin(versioned, "daemon-log-filters").split(":", 1)[1].strip() == "1:*qemu* 3:*util.object* 4:***"


def test_log_strings_read_back(versioned):
    """What the daemon stores for what it is given (one daemon per version for every string)."""
    seen = {}
    for given in FILTER_READ_BACK:
        witness.virt_admin(versioned.uri, "daemon-log-filters", "--filters", given)
        seen[given] = witness.log_filters(versioned.uri)
    assert seen == FILTER_READ_BACK
    seen = {}
    for given in OUTPUT_READ_BACK:
        witness.virt_admin(versioned.uri, "daemon-log-outputs", "--outputs", given)
        seen[given] = witness.log_outputs(versioned.uri)
    assert seen == OUTPUT_READ_BACK
