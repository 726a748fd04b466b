"""libvirt_admin_daemon_shutdown's main(), in-process, against the fake daemon. The fake's connections
are made to fail, as a real daemon's do once it has gone, after a shutdown was asked for (after the
number of further attempts a test lets it linger for)."""

from __future__ import annotations

import pytest

from ansible_collections.virtops.libvirt_admin.plugins.module_utils import _admin, _lifecycle
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import (
    DEFAULT_TIMEOUT,
    ERR_INVALID_ARG,
    ERR_SYSTEM_ERROR,
    LibvirtAdminError,
)
from ansible_collections.virtops.libvirt_admin.plugins.modules.libvirt_admin_daemon_shutdown import main
from tests.unit.fake_admin import PERMISSION_DENIED

DEFAULT_TARGET = "the daemon at libvirt's default admin URI"
NO_SOCKET = "Failed to connect socket to '/run/libvirt/libvirt-admin-sock': No such file or directory"
REFUSED = "Failed to connect socket to '/run/libvirt/libvirt-admin-sock': Connection refused"


class Lifecycle:
    """The fake daemon's life: lingering is how many more connection attempts it answers once asked to
    shut down; attempts counts every attempt, timeouts the timeout each was made with."""

    def __init__(self) -> None:
        self.lingering = 0
        self.attempts = 0
        self.timeouts: list = []


@pytest.fixture
def life(fake, monkeypatch) -> Lifecycle:
    fake.version = 11003000
    state = Lifecycle()
    connect = fake.connect

    def connecting(uri=None, backend="auto", timeout=DEFAULT_TIMEOUT):
        state.attempts += 1
        state.timeouts.append(timeout)
        if fake.calls_of("daemon_shutdown"):
            if state.lingering <= 0:
                raise LibvirtAdminError(NO_SOCKET, ERR_SYSTEM_ERROR)
            state.lingering -= 1
        return connect(uri, backend, timeout)

    monkeypatch.setattr(_admin, "open_connection", connecting)
    return state


def without_invocation(result: dict) -> dict:
    result.pop("invocation", None)  # not returned here by ansible-core 2.21
    return result


def test_shuts_the_daemon_down_and_waits_until_it_has_gone(fake, life, run):
    result = without_invocation(run(main, {}))
    took = result.pop("stopped_after")
    assert result == {"changed": True, "stopped": True, "already_stopped": False, "backend": "fake"}
    assert isinstance(took, float) and 0 <= took < 5
    assert fake.shut_down == [False]
    assert [call[0] for call in fake.calls] == ["daemon_version", "daemon_shutdown"]
    assert life.attempts == 2  # the task's connection, then one that found the daemon gone
    assert life.timeouts[1] <= _lifecycle.PROBE_TIMEOUT


def test_preserve_asks_the_daemon_to_save_its_guests(fake, life, run):
    assert run(main, {"preserve": True})["stopped"] is True
    assert fake.shut_down == [True]


def test_waits_while_the_daemon_still_answers(fake, life, run):
    life.lingering = 3
    result = run(main, {"wait": 10})
    assert (result["changed"], result["stopped"]) == (True, True)
    assert life.attempts == 1 + 3 + 1
    assert len(fake.connections) == 4 and all(conn.closed for conn in fake.connections)


def test_a_failed_request_fails_in_libvirts_words(fake, life, run):
    """A daemon that closes the connection instead of answering has taken the request: the backends
    return then (see test_lifecycle); whatever a backend raises fails the task, without waiting."""
    fake.fail_call("daemon_shutdown", LibvirtAdminError("Cannot write data: Broken pipe", ERR_SYSTEM_ERROR))
    result = run(main, {"uri": "libvirtd:///system"})
    assert result["failed"] and not result.get("changed")
    assert result["msg"] == "Cannot shut down the daemon at libvirtd:///system: Cannot write data: Broken pipe"
    assert life.attempts == 1


def test_a_refused_request_fails_without_waiting(fake, life, run):
    fake.fail_call("daemon_shutdown", LibvirtAdminError("unsupported flags (0x1) in function x", ERR_INVALID_ARG))
    result = run(main, {"preserve": True})
    assert result["failed"] and not result.get("changed")
    assert result["msg"] == f"Cannot shut down {DEFAULT_TARGET}: unsupported flags (0x1) in function x"
    assert life.attempts == 1


@pytest.mark.parametrize("preserve", [False, True])
def test_a_daemon_still_answering_after_wait_fails_the_task_as_changed(fake, life, run, preserve):
    life.lingering = 10**6
    result = run(main, {"wait": 0.3, "preserve": preserve})
    assert result["failed"] and result["changed"] and result["stopped"] is False
    waiting = "it may still be preserving its guests' state: raise wait" if preserve else "raise wait"
    assert result["msg"] == (
        f"Cannot shut down {DEFAULT_TARGET}: the daemon was asked to shut down, and its admin socket still "
        f"answers after 0.3 s ({waiting}); under systemd socket activation a connection starts it again: stop "
        "its socket units instead"
    )
    assert fake.shut_down == [preserve]
    assert all(conn.closed for conn in fake.connections)


def test_check_mode_reports_a_change_and_asks_nothing(fake, life, run):
    result = without_invocation(run(main, {"preserve": True}, check=True, diff=True))
    assert result == {
        "changed": True,
        "stopped": False,
        "already_stopped": False,
        "diff": {"before": {"running": True}, "after": {"running": False}},
        "backend": "fake",
    }
    assert fake.calls_of("daemon_shutdown") == []
    assert life.attempts == 1


def test_diff_shows_the_daemon_stopping(life, run):
    result = run(main, {}, diff=True)
    assert result["diff"] == {"before": {"running": True}, "after": {"running": False}}


@pytest.mark.parametrize("check", [False, True])
@pytest.mark.parametrize("message", [NO_SOCKET, REFUSED])
def test_a_daemon_that_is_not_running_is_no_change_and_no_failure(fake, life, run, check, message):
    fake.connect_error = LibvirtAdminError(message, ERR_SYSTEM_ERROR)
    result = without_invocation(run(main, {}, check=check, diff=True))
    assert result == {
        "changed": False,
        "stopped": True,
        "already_stopped": True,
        "connection_error": message,
        "diff": {"before": {"running": False}, "after": {"running": False}},
    }
    assert fake.calls == []


def test_the_second_run_finds_it_stopped(fake, life, run):
    first = run(main, {})
    fake.connect_error = LibvirtAdminError(NO_SOCKET, ERR_SYSTEM_ERROR)
    again = run(main, {})
    assert (first["changed"], again["changed"], again["already_stopped"]) == (True, False, True)
    assert fake.shut_down == [False]


def test_other_connection_failures_fail(fake, life, run):
    fake.connect_error = PERMISSION_DENIED
    result = run(main, {"daemon": "virtqemud"})
    assert result["failed"]
    assert result["msg"].startswith("Cannot connect to the daemon at virtqemud:///system: Failed to connect socket")
    assert "run the task with become: true" in result["msg"]


@pytest.mark.parametrize("check", [False, True])
@pytest.mark.parametrize(("version", "shown"), [(9000000, "9.0.0"), (11001000, "11.1.0")])
def test_daemon_older_than_11_2_is_refused_naming_the_version(fake, life, run, check, version, shown):
    fake.version = version
    result = run(main, {"preserve": True}, check=check)
    assert result["failed"] and not result.get("changed")
    assert result["msg"] == (
        f"Shutting the daemon down through the admin API needs libvirt 11.2.0 or newer on the daemon; "
        f"{DEFAULT_TARGET} runs {shown}: upgrade libvirt there, or stop the daemon with its service manager "
        "(for example systemctl stop)"
    )
    assert [call[0] for call in fake.calls] == ["daemon_version"]
    assert fake.shut_down == []


def test_daemon_11_2_is_enough(fake, life, run):
    fake.version = 11002000
    assert run(main, {})["stopped"] is True


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"wait": 0}, "wait must be a number of seconds above 0, got 0"),
        ({"wait": -5}, "wait must be a number of seconds above 0, got -5"),
        ({"preserve": "maybe"}, "preserve"),
        ({"seconds": 5}, "Unsupported parameters"),
    ],
)
def test_bad_arguments_fail_without_connecting(fake, life, run, args, message):
    result = run(main, args)
    assert result["failed"]
    assert message in result["msg"]
    assert life.attempts == 0
