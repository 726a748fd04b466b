"""libvirt_admin_daemon_timeout's main(), in-process, against the fake daemon (a libvirtd 9.0 unless a
test gives another version)."""

from __future__ import annotations

import pytest

from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import ERR_RPC, LibvirtAdminError
from ansible_collections.virtops.libvirt_admin.plugins.modules.libvirt_admin_daemon_timeout import main
from tests.unit.fake_admin import PERMISSION_DENIED

DEFAULT_TARGET = "the daemon at libvirt's default admin URI"


def without_invocation(result: dict) -> dict:
    result.pop("invocation", None)  # not returned here by ansible-core 2.21
    return result


def test_sets_the_timeout(fake, run):
    result = without_invocation(run(main, {"seconds": 600}))
    assert result == {"changed": True, "seconds": 600, "applied": True, "backend": "fake"}
    assert fake.daemon_timeout == 600
    assert [call[0] for call in fake.calls] == ["daemon_version", "set_daemon_timeout"]
    assert fake.calls_of("set_daemon_timeout") == [("set_daemon_timeout", 600)]
    assert len(fake.connections) == 1


def test_zero_means_never_exit(fake, run):
    result = run(main, {"seconds": 0})
    assert (result["changed"], result["seconds"], result["applied"]) == (True, 0, True)
    assert fake.daemon_timeout == 0


def test_every_run_sets_it_and_reports_a_change(fake, run):
    """No getter: the module cannot know the daemon has the value already."""
    results = [run(main, {"seconds": 120}) for _run in range(2)]
    assert [result["changed"] for result in results] == [True, True]
    assert fake.calls_of("set_daemon_timeout") == [("set_daemon_timeout", 120)] * 2


def test_check_mode_reports_a_change_and_sets_nothing(fake, run):
    result = without_invocation(run(main, {"seconds": 600}, check=True))
    assert result == {"changed": True, "seconds": 600, "applied": False, "backend": "fake"}
    assert fake.calls_of("set_daemon_timeout") == []
    assert fake.daemon_timeout is None
    assert fake.setter_calls == []


@pytest.mark.parametrize("check", [False, True])
def test_no_diff_even_in_diff_mode(run, check):
    assert "diff" not in run(main, {"seconds": 5}, check=check, diff=True)


@pytest.mark.parametrize("check", [False, True])
def test_daemon_older_than_8_6_is_refused_naming_the_version(fake, run, check):
    fake.version = 8005000
    result = run(main, {"seconds": 600}, check=check)
    assert result["failed"] and not result.get("changed")
    assert result["msg"] == (
        f"Setting the daemon's idle timeout needs libvirt 8.6.0 or newer on the daemon; {DEFAULT_TARGET} runs "
        "8.5.0: upgrade libvirt there, or change the daemon's --timeout option and restart it"
    )
    assert [call[0] for call in fake.calls] == ["daemon_version"]
    assert fake.daemon_timeout is None


def test_daemon_8_6_is_enough(fake, run):
    fake.version = 8006000
    assert run(main, {"seconds": 1})["applied"] is True
    assert fake.daemon_timeout == 1


def test_another_daemon(fake, run):
    fake.version = 11003000
    result = run(main, {"daemon": "virtqemud", "seconds": 30})
    assert result["applied"] is True
    assert fake.connections[0].opened_uri == "virtqemud:///system"


def test_libvirts_failure_in_its_own_words(fake, run):
    fake.fail_call("set_daemon_timeout", LibvirtAdminError("Cannot recv data: Connection reset by peer", ERR_RPC))
    result = run(main, {"uri": "libvirtd:///system", "seconds": 30})
    assert result["msg"] == (
        "Cannot set the idle timeout of the daemon at libvirtd:///system: Cannot recv data: Connection reset by peer"
    )
    assert result["libvirt_error_code"] == ERR_RPC


def test_connection_failure_hints_at_become(fake, run):
    fake.connect_error = PERMISSION_DENIED
    result = run(main, {"seconds": 30})
    assert result["msg"].startswith(f"Cannot connect to {DEFAULT_TARGET}: Failed to connect socket")
    assert "run the task with become: true" in result["msg"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({}, "missing required arguments: seconds"),
        ({"seconds": -1}, "seconds must be a whole number of seconds from 0 to 4294967295, got -1"),
        ({"seconds": 2**32}, "seconds must be a whole number of seconds from 0 to 4294967295, got 4294967296"),
        ({"seconds": "soon"}, "seconds"),
        ({"seconds": 5, "timeout": 0}, "timeout must be a number of seconds above 0"),
        ({"seconds": 5, "persist": True}, "Unsupported parameters"),
        ({"seconds": 5, "uri": "libvirtd:///system", "daemon": "libvirtd"}, "mutually exclusive: uri|daemon"),
    ],
)
def test_bad_arguments_fail_without_connecting(fake, run, args, message):
    result = run(main, args)
    assert result["failed"]
    assert message in result["msg"]
    assert fake.connections == []
