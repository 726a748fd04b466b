"""libvirt_admin_daemon_timeout and libvirt_admin_daemon_shutdown against real sandboxed daemons: the
system's libvirtd 9.0 and libvirt 11.3 (`make setup` unpacks it), each test naming the version it
needs. Witnessed by the daemon's process (does it run, when did it exit), its admin socket and the
system's virt-admin, never by the module under test.

A raw connection to the admin socket counts as a client, so it keeps an idle daemon from exiting while
a task starts (a daemon started with --timeout 3 would otherwise exit before ansible has connected)."""

from __future__ import annotations

import socket
import subprocess
import time
from contextlib import contextmanager

import pytest

from tests.harness import witness
from tests.harness.ansible import run_module
from tests.harness.daemons import Daemon
from tests.harness.steps import four_steps

pytestmark = pytest.mark.once  # each test names its libvirt: nothing to repeat per version

TIMEOUT = "libvirt_admin_daemon_timeout"
SHUTDOWN = "libvirt_admin_daemon_shutdown"
COMMAND_LINE_TIMEOUT = 3


@pytest.fixture
def system_daemon():
    """libvirtd of the system's libvirt (9.0: no daemon-shutdown), whatever $VIRTOPS_LIBVIRT_VERSION says."""
    with Daemon(version="system") as running:
        assert witness.daemon_version(running.uri) == "9.0.0"
        yield running


@pytest.fixture
def daemon_11_3():
    with Daemon(version="11.3") as running:
        yield running


def running(daemon) -> bool:
    return daemon.process.poll() is None


def exited_after(daemon, since: float, timeout: float = 10.0) -> float:
    """Seconds from since until the daemon's process exited (it must within timeout); its exit code is 0."""
    try:
        daemon.process.wait(timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the daemon still runs {timeout} s later") from None
    assert daemon.process.returncode == 0, daemon.log
    return time.monotonic() - since


def stays_up(daemon, seconds: float) -> bool:
    try:
        daemon.process.wait(seconds)
    except subprocess.TimeoutExpired:
        return True
    return False


@contextmanager
def held(daemon):
    """A client of the daemon for the block: it is not idle meanwhile."""
    with socket.socket(socket.AF_UNIX) as client:
        client.connect(str(daemon.admin_socket))
        yield


def answers(daemon) -> bool:
    """Whether virt-admin gets an answer from the daemon."""
    try:
        witness.daemon_version(daemon.uri)
    except AssertionError:
        return False
    return True


# ---------------------------------------------------------------- the idle timeout


def test_the_timeout_makes_an_idle_daemon_exit_after_it(system_daemon):
    """A daemon started without --timeout never exits on its own; given 2 s it exits 2 s after its last
    client (the task's connection) left. Check mode sets nothing."""
    daemon = system_daemon
    check = run_module(TIMEOUT, {"uri": daemon.uri, "seconds": 1}, check=True, diff=True)
    assert (check.changed, check.failed, check["applied"], check["seconds"]) == (True, False, False, 1), check
    assert "diff" not in check
    assert stays_up(daemon, 2.5), "check mode set the timeout"

    asked = time.monotonic()
    apply = run_module(TIMEOUT, {"uri": daemon.uri, "seconds": 2})
    returned = time.monotonic()
    assert (apply.changed, apply.failed, apply["applied"], apply["seconds"]) == (True, False, True, 2), apply
    # the countdown started when the task disconnected, between asked and returned
    took = exited_after(daemon, asked)
    assert 2.0 <= took <= returned - asked + 8.0, (took, returned - asked)
    assert not daemon.admin_socket.exists()


def test_zero_keeps_a_daemon_started_with_a_timeout_up_until_it_restarts(make_daemon):
    """As systemd socket activation starts a daemon (--timeout, here 3 s): check mode leaves its timeout,
    0 keeps it up for good (every run sets it and reports a change), and a restart brings the command
    line's timeout back."""
    daemon = make_daemon(version="system", args=("--timeout", str(COMMAND_LINE_TIMEOUT)))
    args = {"uri": daemon.uri, "seconds": 0}

    with held(daemon):
        check = run_module(TIMEOUT, args, check=True)
        assert (check.changed, check["applied"]) == (True, False), check
        released = time.monotonic()
    assert COMMAND_LINE_TIMEOUT - 0.5 <= exited_after(daemon, released) <= COMMAND_LINE_TIMEOUT + 5

    daemon.start()
    with held(daemon):
        results = [run_module(TIMEOUT, args) for _run in range(2)]
    assert [(result.changed, result.failed, result["applied"]) for result in results] == [(True, False, True)] * 2
    assert stays_up(daemon, COMMAND_LINE_TIMEOUT + 2.5), "the daemon exited although its timeout is 0"
    assert answers(daemon)

    daemon.restart()  # a runtime setting: the daemon starts with its command line's --timeout again
    started = time.monotonic()
    assert exited_after(daemon, started) <= COMMAND_LINE_TIMEOUT + 5


# ---------------------------------------------------------------- shutdown


def daemon_state(daemon) -> tuple:
    """(process runs, admin socket exists, virt-admin gets an answer)."""
    return running(daemon), daemon.admin_socket.exists(), answers(daemon)


@pytest.mark.parametrize(("backend", "preserve"), [("library", False), ("protocol", True)])
def test_shutdown_stops_the_daemon(daemon_11_3, backend, preserve):
    """check (runs on), apply (the process exits, the socket is gone), again and again in check (nothing
    to do: already stopped); through libvirt 11.3's library, and through the protocol backend, which
    needs none."""
    daemon = daemon_11_3
    args = {"uri": daemon.uri, "preserve": preserve, "backend": backend}

    def run(module, module_args, check=False, diff=False):
        return run_module(module, module_args, check=check, diff=diff, libvirt="11.3")

    steps = four_steps(SHUTDOWN, args, lambda: daemon_state(daemon), run=run)
    assert steps.before == (True, True, True)
    assert steps.after == (False, False, False)
    assert daemon.process.returncode == 0, daemon.log
    assert (steps.check["stopped"], steps.check["already_stopped"]) == (False, False)
    assert steps.check["diff"] == {"before": {"running": True}, "after": {"running": False}}
    assert (steps.apply["stopped"], steps.apply["already_stopped"]) == (True, False)
    assert 0 < steps.apply["stopped_after"] < 5, steps.apply
    assert steps.apply["backend"] == steps.check["backend"] == backend
    for result in (steps.again, steps.again_check):
        assert (result["stopped"], result["already_stopped"]) == (True, True), result
        assert result["connection_error"] == (
            f"Failed to connect socket to '{daemon.admin_socket}': No such file or directory"
        )
        assert result["diff"] == {"before": {"running": False}, "after": {"running": False}}


@pytest.mark.parametrize("check", [False, True])
def test_shutdown_on_9_0_is_refused_naming_11_2(system_daemon, check):
    daemon = system_daemon
    result = run_module(SHUTDOWN, {"uri": daemon.uri}, check=check, libvirt="system")
    assert result.failed and not result.changed, result
    assert result.msg == (
        "Shutting the daemon down through the admin API needs libvirt 11.2.0 or newer on the daemon; the daemon "
        f"at {daemon.uri} runs 9.0.0: upgrade libvirt there, or stop the daemon with its service manager "
        "(for example systemctl stop)"
    )
    assert stays_up(daemon, 1)
    assert daemon_state(daemon) == (True, True, True)


def test_shutdown_with_a_library_older_than_11_2_fails_naming_it(daemon_11_3):
    """An 11.3 daemon, but the managed host's libvirt-admin.so is 9.0's: it has no call to ask with."""
    daemon = daemon_11_3
    result = run_module(SHUTDOWN, {"uri": daemon.uri, "backend": "library"}, libvirt="system")
    assert result.failed and not result.changed, result
    assert result.msg.startswith(
        f"Cannot shut down the daemon at {daemon.uri}: this needs libvirt 11.2.0 or newer: the libvirt library on "
        "this host has no virAdmConnectDaemonShutdown()"
    ), result.msg
    assert stays_up(daemon, 1)
    assert daemon_state(daemon) == (True, True, True)
