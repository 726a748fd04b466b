"""The fake daemon answers as a real libvirtd 9.0 did through the real binding."""

from __future__ import annotations

import pytest

from ansible_collections.virtops.libvirt_admin.plugins.module_utils._binding import LibvirtAdminError
from tests.unit.fake_admin import PERMISSION_DENIED, VIRTLOGD_9_0, FakeDaemon


def error_of(call, *args) -> tuple:
    with pytest.raises(LibvirtAdminError) as caught:
        call(*args)
    return caught.value.code, caught.value.message


def test_defaults_and_order(conn):
    assert conn.list_servers() == ["admin", "libvirtd"]
    assert conn.get_threadpool("libvirtd") == {
        "minWorkers": 5,
        "maxWorkers": 20,
        "nWorkers": 5,
        "freeWorkers": 5,
        "prioWorkers": 5,
        "jobQueueDepth": 0,
    }
    assert conn.get_client_limits("admin")["nclients_max"] == 5000
    assert (conn.uri(), conn.daemon_version()) == ("libvirtd:///system", 9000000)


@pytest.mark.parametrize(
    ("values", "code", "message"),
    [
        ({"minWorkers": 30}, 8, "invalid argument: minWorkers cannot be larger than maxWorkers"),
        ({"maxWorkers": 3}, 8, "invalid argument: minWorkers cannot be larger than maxWorkers"),
        (
            {"maxWorkers": 0, "minWorkers": 0},
            8,
            "invalid argument: maxWorkers must not be switched from zero to non-zero and vice versa",
        ),
        ({"nWorkers": 3}, 74, "argument unsupported: parameter 'nWorkers' not supported"),
        ({"minWorkers": -1}, 8, "minWorkers must be an integer from 0 to 4294967295, got -1"),
    ],
)
def test_refused_changes_change_nothing(fake, conn, values, code, message):
    assert error_of(conn.set_threadpool, "libvirtd", values) == (code, message)
    assert fake.settings("libvirtd") == (5, 20, 5)


def test_unknown_server(conn):
    assert error_of(conn.get_threadpool, "nope") == (95, "Server not found: No server named 'nope'")


def test_min_starts_workers_and_lower_max_stops_idle_ones(conn):
    conn.set_threadpool("libvirtd", {"minWorkers": 8})
    assert conn.get_threadpool("libvirtd")["nWorkers"] == 8
    conn.set_threadpool("libvirtd", {"minWorkers": 2, "maxWorkers": 3})
    pool = conn.get_threadpool("libvirtd")
    assert (pool["minWorkers"], pool["maxWorkers"], pool["nWorkers"], pool["freeWorkers"]) == (2, 3, 3, 3)


def test_switching_max_from_zero_is_refused():
    conn = FakeDaemon(VIRTLOGD_9_0).connect()
    assert conn.list_servers() == ["virtlogd", "admin"]
    assert "switched from zero" in error_of(conn.set_threadpool, "virtlogd", {"maxWorkers": 3})[1]


def test_failure_at_prio_keeps_min_and_max(fake, conn):
    fake.fail_at = "prio"
    error = error_of(conn.set_threadpool, "libvirtd", {"minWorkers": 8, "maxWorkers": 30, "prioWorkers": 9})
    assert error == (38, "Failed to create thread: Resource temporarily unavailable")
    assert fake.settings("libvirtd") == (8, 30, 5)


def test_client_limits(fake, conn):
    assert error_of(conn.set_client_limits, "libvirtd", {"nclients_max": 3})[0] == 8
    conn.set_client_limits("libvirtd", {"nclients_max": 300, "nclients_unauth_max": 30})
    assert conn.get_client_limits("libvirtd")["nclients_unauth_max"] == 30


def test_calls_closing_and_refused_connections(fake):
    with fake.connect("libvirtd:///session") as conn:
        assert conn.uri() == "libvirtd:///session"
    assert conn.closed
    assert error_of(conn.list_servers) == (8, "the admin connection is closed")
    assert conn.calls == [("uri",), ("close",), ("list_servers",)]
    assert fake.calls == [("uri",)]  # a closed connection reaches no daemon
    fake.connect_error = PERMISSION_DENIED
    assert error_of(fake.connect)[0] == 38
    assert fake.connections == [conn]


def test_planned_failure_hits_the_nth_call(fake, conn):
    fake.fail_call("list_servers", PERMISSION_DENIED, nth=2)
    conn.list_servers()
    assert error_of(conn.list_servers)[0] == 38
    conn.list_servers()
