"""The fake daemon answers as a real libvirtd 9.0 did through the real binding."""

from __future__ import annotations

import os
import time

import pytest

from ansible_collections.virtops.libvirt_admin.plugins.module_utils import _clientcalls
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import LibvirtAdminError
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
        ({"minWorkers": -1}, 8, "minWorkers must be a whole number from 0 to 4294967295, got -1"),
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


# Clients


def test_client_info_fields_depend_on_the_transport(fake, conn):
    fake.add_client("libvirtd", "unix", unix_process_id=99)
    fake.add_client("libvirtd", "tcp", readonly=True, sock_addr="192.0.2.1:4000")
    fake.add_client("libvirtd", "tls", sasl_user_name="admin", selinux_context="system_u:system_r:virtd_t:s0")
    assert [
        (client["id"], client["transport"], client["info"]) for client in _clientcalls.list_clients(conn, "libvirtd")
    ] == [
        (
            1,
            0,
            {
                "readonly": False,
                "unix_user_id": 0,
                "unix_user_name": "root",
                "unix_group_id": 0,
                "unix_group_name": "root",
                "unix_process_id": 99,
            },
        ),
        (2, 1, {"readonly": True, "sock_addr": "192.0.2.1:4000"}),
        (
            3,
            2,
            {
                "readonly": False,
                "sasl_user_name": "admin",
                "sock_addr": "192.0.2.10:53612",
                "tls_x509_dname": "CN=client1,O=Example",
                "selinux_context": "system_u:system_r:virtd_t:s0",
            },
        ),
    ]


@pytest.mark.parametrize(
    ("transport", "field"), [("tcp", "unix_user_id"), ("unix", "sock_addr"), ("tcp", "tls_x509_dname")]
)
def test_a_client_has_only_its_transports_fields(fake, transport, field):
    with pytest.raises(ValueError, match=field):
        fake.add_client("libvirtd", transport, **{field: 1})


def test_listing_without_info_leaves_info_out_and_is_recorded(fake, conn):
    fake.add_client("libvirtd", "tcp", age=100)
    (client,) = _clientcalls.list_clients(conn, "libvirtd", with_info=False)
    assert set(client) == {"id", "timestamp", "transport"}
    assert 99 <= time.time() - client["timestamp"] <= 102
    assert "info" in _clientcalls.list_clients(conn, "libvirtd")[0]
    assert fake.calls_of("list_clients") == [("list_clients", "libvirtd", False), ("list_clients", "libvirtd", True)]


def test_listing_asks_wanted_without_info(fake, conn):
    ids = [fake.add_client("libvirtd", "tcp") for number in range(3)]
    asked = []

    def wanted(item: dict) -> bool:
        asked.append(item)
        return item["id"] != ids[1]

    assert [client["id"] for client in _clientcalls.list_clients(conn, "libvirtd", wanted=wanted)] == [ids[0], ids[2]]
    assert [(item["id"], "info" in item) for item in asked] == [(client_id, False) for client_id in ids]


def test_disconnecting_drops_the_chosen_clients_and_counts_them_out(fake, conn):
    ids = [fake.add_client("libvirtd", "tcp") for number in range(4)]
    assert conn.get_client_limits("libvirtd")["nclients"] == 4
    dropped = _clientcalls.disconnect_clients(
        conn, "libvirtd", lambda item: item["id"] != ids[1], wanted=lambda item: item["id"] != ids[3]
    )
    assert [(item["id"], "info" in item) for item in dropped] == [(ids[0], True), (ids[2], True)]
    assert fake.client_ids("libvirtd") == [ids[1], ids[3]]
    assert conn.get_client_limits("libvirtd")["nclients"] == 2
    assert _clientcalls.disconnect_clients(conn, "libvirtd", lambda item: False) == []
    assert fake.add_client("libvirtd", "tcp") == 5  # ids are not reused
    assert error_of(_clientcalls.disconnect_clients, conn, "nope", bool)[0] == 95
    assert fake.calls_of("disconnect_clients")[0] == ("disconnect_clients", "libvirtd")


def test_a_client_may_leave_right_after_the_listing(fake, conn):
    first, second = fake.add_client("libvirtd", "tcp"), fake.add_client("libvirtd", "tcp")
    fake.leave_after_listing("libvirtd", [first])
    assert [client["id"] for client in _clientcalls.list_clients(conn, "libvirtd", with_info=False)] == [first, second]
    assert fake.client_ids("libvirtd") == [second]
    third = fake.add_client("libvirtd", "tcp")
    fake.leave_after_listing("libvirtd", [second])
    assert [item["id"] for item in _clientcalls.disconnect_clients(conn, "libvirtd", bool)] == [third]
    assert _clientcalls.list_clients(conn, "libvirtd") == []


def test_each_open_connection_is_a_client_of_the_admin_server(fake):
    assert fake.client_ids("admin") == []
    with fake.connect() as conn:
        (own,) = _clientcalls.list_clients(conn, "admin")
        assert (own["id"], own["transport"], own["info"]["unix_process_id"]) == (conn.own_client_id, 0, os.getpid())
        assert conn.get_client_limits("admin")["nclients"] == 1
    assert fake.client_ids("admin") == []
    assert fake.servers["admin"]["clients"]["nclients"] == 0
    assert FakeDaemon({"libvirtd": fake.servers["libvirtd"]}).connect().own_client_id is None


def test_closing_a_connections_own_client_drops_the_connection(fake, conn):
    other = fake.connect()
    _clientcalls.disconnect_clients(other, "admin", lambda item: item["id"] == conn.own_client_id)
    assert error_of(conn.list_servers) == (1, "internal error: client socket is closed")
    assert other.list_servers() == ["admin", "libvirtd"]


def test_closing_a_connection_is_not_being_dropped(fake):
    conn = fake.connect()
    conn.close()
    conn.close()
    assert not conn.dropped
    assert fake.servers["admin"]["clients"]["nclients"] == 0
