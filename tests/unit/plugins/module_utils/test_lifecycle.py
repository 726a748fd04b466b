"""_lifecycle (telling whether a daemon runs, waiting until it has gone) and the library backend's
daemon_shutdown, without a daemon."""

from __future__ import annotations

import pytest

from ansible_collections.virtops.libvirt_admin.plugins.module_utils import _library
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import (
    ERR_INVALID_ARG,
    ERR_SYSTEM_ERROR,
    LibvirtAdminError,
)
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._lifecycle import (
    PROBE_TIMEOUT,
    check_seconds,
    not_running,
    wait_until_gone,
)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Failed to connect socket to '/run/libvirt/virtqemud-admin-sock': No such file or directory", True),
        ("Failed to connect socket to '/run/libvirt/libvirt-admin-sock': Connection refused", True),
        ("Failed to connect socket to '/run/libvirt/libvirt-admin-sock': Permission denied", False),
        ("the daemon did not answer within 5 s (to open the connection, on /x)", False),
        ("Cannot find program 1711276592 version 1", False),
        ("No such file or directory", False),
    ],
)
def test_not_running(message, expected):
    assert not_running(LibvirtAdminError(message, ERR_SYSTEM_ERROR)) is expected


@pytest.mark.parametrize("value", [0, 1, 120, 2**32 - 1])
def test_check_seconds_takes_what_libvirt_takes(value):
    assert check_seconds("seconds", value) == value


@pytest.mark.parametrize("value", [-1, 2**32, True, 1.5, "10", None])
def test_check_seconds_refuses_the_rest(value):
    with pytest.raises(LibvirtAdminError) as raised:
        check_seconds("seconds", value)
    assert raised.value.code == ERR_INVALID_ARG
    assert raised.value.message == f"seconds must be a whole number of seconds from 0 to 4294967295, got {value!r}"


class Clock:
    """Time that passes only when slept, or when a connection attempt takes some."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class Attempts:
    """open_connection for wait_until_gone: the daemon answers `answers` attempts, then none."""

    def __init__(self, clock: Clock, answers: int, cost: float = 0.0) -> None:
        self.clock, self.answers, self.cost = clock, answers, cost
        self.timeouts: list = []
        self.closed = 0

    def __call__(self, timeout: float):
        self.timeouts.append(timeout)
        self.clock.now += self.cost
        if len(self.timeouts) > self.answers:
            raise LibvirtAdminError("Failed to connect socket to '/x': No such file or directory", ERR_SYSTEM_ERROR)
        return self

    def close(self) -> None:
        self.closed += 1


def test_gone_at_once():
    clock = Clock()
    attempts = Attempts(clock, answers=0)
    assert wait_until_gone(attempts, 30, clock=clock, sleep=clock.sleep) == 0
    assert attempts.timeouts == [PROBE_TIMEOUT]


def test_gone_after_some_tries():
    clock = Clock()
    attempts = Attempts(clock, answers=3)
    assert wait_until_gone(attempts, 30, interval=0.5, clock=clock, sleep=clock.sleep) == pytest.approx(1.5)
    assert len(attempts.timeouts) == 4 and attempts.closed == 3


def test_still_answering_after_wait():
    clock = Clock()
    attempts = Attempts(clock, answers=10**6, cost=0.25)
    assert wait_until_gone(attempts, 2, interval=0.25, clock=clock, sleep=clock.sleep) is None
    assert clock.now - 100 < 2 + 0.25 + 0.25  # never much beyond wait
    assert attempts.closed == len(attempts.timeouts)


def test_no_try_takes_longer_than_what_is_left_of_wait():
    clock = Clock()
    attempts = Attempts(clock, answers=10**6, cost=1.0)
    wait_until_gone(attempts, 3.5, interval=0.5, clock=clock, sleep=clock.sleep)
    assert attempts.timeouts[0] == 3.5
    assert attempts.timeouts[1] == pytest.approx(2.0)
    assert min(attempts.timeouts) == 0.5  # never below interval


# ---------------------------------------------------------------- the library backend's daemon_shutdown


class FakeLibrary:
    """The few functions LibraryConnection.daemon_shutdown uses; the shutdown call fails with error."""

    def __init__(self, error: LibvirtAdminError | None) -> None:
        self.error = error
        self.flags: list = []

    def virAdmConnectDaemonShutdown(self, handle, flags):
        self.flags.append(flags)
        return -1 if self.error else 0

    def last_error(self, what: str) -> LibvirtAdminError:
        return self.error


def connection(error: LibvirtAdminError | None):
    conn = _library.LibraryConnection.__new__(_library.LibraryConnection)
    conn._conn, conn._sockets, conn.timeout, conn.socket_path = 1, [], 5.0, "/x"
    conn._lib = FakeLibrary(error)
    return conn


@pytest.mark.parametrize(
    "message",
    [
        "End of file while reading data: Input/output error",  # libvirt 11.3 and 12.8 do this [seen]
        "Cannot recv data: Connection reset by peer",
    ],
)
def test_a_daemon_that_closes_the_connection_instead_of_answering_has_taken_the_request(message):
    conn = connection(LibvirtAdminError(message, ERR_SYSTEM_ERROR, 7))
    assert conn.daemon_shutdown(preserve=True) is None
    assert conn._lib.flags == [_library.DAEMON_SHUTDOWN_PRESERVE]


def test_other_shutdown_failures_are_raised():
    error = LibvirtAdminError("unsupported flags (0x2) in function adminConnectDaemonShutdown", ERR_INVALID_ARG)
    conn = connection(error)
    with pytest.raises(LibvirtAdminError) as raised:
        conn.daemon_shutdown()
    assert raised.value is error
    assert conn._lib.flags == [0]


def test_a_shutdown_the_daemon_answered():
    conn = connection(None)
    conn.daemon_shutdown()
    assert conn._lib.flags == [0]
