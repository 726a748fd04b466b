"""Faults around the daemon: each fails the task with a message that says what
was wrong and what to do, and changes nothing (checked with virt-admin)."""

from __future__ import annotations

import os

import pytest

from tests.harness import witness
from tests.harness.ansible import run_module
from tests.harness.libvirt_versions import Libvirt

THREADPOOL = "libvirt_admin_threadpool"
DEFAULTS = (5, 20, 5)
BOTH_MODULES = pytest.mark.parametrize(
    "module, args",
    [(THREADPOOL, {"max_workers": 9}), ("libvirt_admin_server_info", {})],
    ids=["threadpool", "server_info"],
)


@BOTH_MODULES
def test_no_daemon_listening_names_the_socket(module, args, tmp_path):
    socket = tmp_path / "libvirt-admin-sock"
    result = run_module(module, {"uri": f"libvirtd:///system?socket={socket}", **args})
    assert result.failed
    assert f"Failed to connect socket to '{socket}': No such file or directory" in result.msg
    assert "is the daemon running?" in result.msg


def test_daemon_stopped_between_runs(daemon):
    assert run_module(THREADPOOL, {"uri": daemon.uri, "max_workers": 9}).changed
    daemon.kill()
    result = run_module(THREADPOOL, {"uri": daemon.uri, "max_workers": 10})
    assert result.failed
    assert str(daemon.admin_socket) in result.msg
    assert "is the daemon running?" in result.msg
    daemon.start()
    assert witness.settings(daemon.uri, "libvirtd") == DEFAULTS  # runtime settings die with the daemon
    assert run_module(THREADPOOL, {"uri": daemon.uri, "max_workers": 10}).changed


@BOTH_MODULES
def test_caller_is_not_the_daemons_user(daemon, module, args):
    """The module runs as nobody (become with su), the daemon as root."""
    result = run_module(
        module,
        {"uri": daemon.uri, **args},
        extra_args=["--become", "--become-method", "su", "--become-user", "nobody"],
        env={"ANSIBLE_BECOME_FLAGS": "-s /bin/sh"},
    )
    assert result.failed, result
    assert "Permission denied" in result.msg
    assert "run the task with become: true" in result.msg
    assert witness.settings(daemon.uri, "libvirtd") == DEFAULTS


@pytest.mark.parametrize(
    "uri, libvirt_says",
    [
        ("not a uri", "Unable to parse URI not a uri"),
        ("http://example/x", "Unsupported URI scheme 'http'"),
    ],
)
def test_malformed_uri(daemon, uri, libvirt_says):
    result = run_module(THREADPOOL, {"uri": uri, "max_workers": 9})
    assert result.failed
    assert libvirt_says in result.msg
    assert "give an admin URI such as libvirtd:///system" in result.msg
    assert witness.settings(daemon.uri, "libvirtd") == DEFAULTS


def _admin_library() -> str:
    """The libvirt-admin.so.0 the modules load (the system's, or that of $VIRTOPS_LIBVIRT_VERSION)."""
    path = Libvirt.get().libdir / "libvirt-admin.so.0"
    assert path.exists(), f"{path} not found on this machine"
    return os.path.realpath(path)


HIDE = ["unshare", "--mount", "--propagation", "private", "sh", "-c", 'mount --bind /dev/null "$0" && exec "$@"']


def test_admin_library_missing(daemon):
    """Ansible runs in a mount namespace where libvirt-admin.so.0 is an empty file: backend library
    fails saying so, and what would work."""
    args = {"uri": daemon.uri, "max_workers": 9, "backend": "library"}
    result = run_module(THREADPOOL, args, prefix=[*HIDE, _admin_library()])
    assert result.failed
    assert "cannot load libvirt's admin library libvirt-admin.so.0" in result.msg
    assert "libvirt0 on Debian/Ubuntu, libvirt-libs on Fedora/RHEL/CentOS" in result.msg
    assert "use backend auto or protocol, which speak the admin protocol without the library" in result.msg
    assert witness.settings(daemon.uri, "libvirtd") == DEFAULTS


def test_admin_library_missing_auto_speaks_the_protocol(daemon):
    result = run_module(THREADPOOL, {"uri": daemon.uri, "max_workers": 9}, prefix=[*HIDE, _admin_library()])
    assert result.changed and not result.failed, result
    assert result["backend"] == "protocol"
    assert witness.settings(daemon.uri, "libvirtd") == (DEFAULTS[0], 9, DEFAULTS[2])


def test_every_connection_is_closed(daemon):
    """After many runs, success and failure, the admin server has only virt-admin's own client."""
    runs = [
        (THREADPOOL, {"max_workers": 11}),
        (THREADPOOL, {"max_workers": 11}),
        (THREADPOOL, {"min_workers": 50}),
        (THREADPOOL, {"server": "nosuch", "min_workers": 1}),
        ("libvirt_admin_server_info", {}),
        ("libvirt_admin_server_info", {"servers": ["nosuch"]}),
    ]
    for module, args in runs:
        run_module(module, {"uri": daemon.uri, **args})
    assert witness.client_limits(daemon.uri, "admin")["nclients"] == 1
