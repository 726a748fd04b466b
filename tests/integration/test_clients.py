"""libvirt_admin_client_info and libvirt_admin_clients against real daemons and
real clients (libvirt-python connections in a separate process) over a
read-write unix socket, the read-only unix socket and TCP on 127.0.0.1;
verified with virt-admin and with the clients themselves."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

from tests.harness import witness
from tests.harness.ansible import run_module
from tests.harness.clients import Clients
from tests.harness.ports import free_port
from tests.harness.steps import four_steps as steps_of

INFO = "libvirt_admin_client_info"
CLIENTS = "libvirt_admin_clients"


@pytest.fixture
def tcp_daemon(make_daemon):
    """libvirtd with the secret driver, listening for TCP clients on 127.0.0.1 only."""
    port = free_port()
    daemon = make_daemon(
        drivers=("secret",),
        args=("--listen",),
        config={
            "listen_tcp": 1,
            "listen_tls": 0,
            "listen_addr": "127.0.0.1",
            "tcp_port": str(port),
            "auth_tcp": "none",
        },
    )
    daemon.tcp_uri = f"secret+tcp://127.0.0.1:{port}/system"
    return daemon


def rw(daemon) -> dict:
    return {"uri": f"secret:///system?socket={daemon.socket}"}


def ro(daemon) -> dict:
    return {"uri": f"secret:///system?socket={daemon.readonly_socket}", "readonly": True}


def tcp(daemon) -> dict:
    return {"uri": daemon.tcp_uri}


@pytest.fixture
def mixed_clients(tcp_daemon):
    """Two read-write unix clients, one read-only unix client, one TCP client."""
    with Clients([rw(tcp_daemon), rw(tcp_daemon), ro(tcp_daemon), tcp(tcp_daemon)]) as clients:
        assert all(clients.opened), clients.errors
        yield clients


def by_transport(records: list) -> dict:
    grouped: dict = {}
    for record in records:
        grouped.setdefault((record["transport"], record["readonly"]), []).append(record)
    return grouped


def test_client_info_matches_virt_admin(tcp_daemon, mixed_clients):
    result = run_module(INFO, {"uri": tcp_daemon.uri})
    assert not result.failed and not result.changed, result
    records = result["clients"]
    assert [record["id"] for record in records] == witness.client_ids(tcp_daemon.uri, "libvirtd")
    assert len(records) == 4
    keys = {
        "id", "server", "transport", "connected_since", "connected_since_iso", "readonly", "sock_addr",
        "sasl_user_name", "x509_dname", "unix_user_id", "unix_user_name", "unix_group_id", "unix_group_name",
        "unix_process_id", "selinux_context",
    }  # fmt: skip
    for record in records:
        assert set(record) == keys
        assert record["server"] == "libvirtd"
        info = witness.client_info(tcp_daemon.uri, "libvirtd", record["id"])
        assert record["transport"] == info["transport"]
        assert record["readonly"] == (info["readonly"] == "yes")
        since = datetime.strptime(info["connection_time"], "%Y-%m-%d %H:%M:%S%z")
        assert record["connected_since"] == int(since.timestamp())
        assert record["connected_since_iso"] == since.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        for key in ("sock_addr", "unix_user_name", "unix_group_name"):
            assert record[key] == info.get(key), key
        for key in ("unix_user_id", "unix_group_id", "unix_process_id"):
            assert record[key] == (int(info[key]) if key in info else None), key
    grouped = by_transport(records)
    assert len(grouped[("unix", False)]) == 2
    assert len(grouped[("unix", True)]) == 1
    (tcp_record,) = grouped[("tcp", False)]
    assert tcp_record["sock_addr"].startswith("127.0.0.1:")
    assert tcp_record["unix_process_id"] is None
    assert {record["unix_process_id"] for record in records if record["transport"] == "unix"} == {mixed_clients.pid}


@pytest.mark.parametrize(
    "match, expected",
    [
        ({"readonly": True}, [("unix", True)]),
        ({"transport": "tcp"}, [("tcp", False)]),
        ({"transport": "unix", "readonly": False}, [("unix", False), ("unix", False)]),
        ({"sock_addr": "127.0.0.1:*"}, [("tcp", False)]),
        ({"sock_addr": "10.*"}, []),
        ({"unix_user_name": "root"}, [("unix", False), ("unix", False), ("unix", True)]),
        ({"unix_user_id": 0, "readonly": True}, [("unix", True)]),
        ({"min_age": 3600}, []),
        ({"min_age": 0, "transport": "tcp"}, [("tcp", False)]),
    ],
)
def test_client_info_filter(tcp_daemon, mixed_clients, match, expected):
    result = run_module(INFO, {"uri": tcp_daemon.uri, "match": match})
    assert not result.failed, result
    assert sorted((record["transport"], record["readonly"]) for record in result["clients"]) == sorted(expected)


def test_client_info_filter_by_ids_and_process(tcp_daemon, mixed_clients):
    ids = witness.client_ids(tcp_daemon.uri, "libvirtd")
    result = run_module(INFO, {"uri": tcp_daemon.uri, "match": {"ids": [ids[1], ids[3], 9999]}})
    assert [record["id"] for record in result["clients"]] == [ids[1], ids[3]]
    result = run_module(INFO, {"uri": tcp_daemon.uri, "match": {"unix_process_id": mixed_clients.pid}})
    assert len(result["clients"]) == 3


def four_steps(daemon, args: dict, witness_state):
    """check, apply, again, again in check: changed, changed, unchanged, unchanged;
    witness_state() (virt-admin and the clients) only changes at apply."""
    steps = steps_of(CLIENTS, {"uri": daemon.uri, **args}, witness_state)
    return steps.check, steps.apply, steps.again


def limits_of(daemon, server: str = "libvirtd"):
    limits = witness.client_limits(daemon.uri, server)
    return limits["nclients_max"], limits["nclients_unauth_max"]


def test_limits_four_steps(daemon):
    check, apply, again = four_steps(daemon, {"max_clients": 300, "max_unauth_clients": 30}, lambda: limits_of(daemon))
    assert limits_of(daemon) == (300, 30)
    assert check["limits"]["max_clients"] == apply["limits"]["max_clients"] == 300
    assert apply["diff"] == {
        "before": {"max_clients": 5000, "max_unauth_clients": 20},
        "after": {"max_clients": 300, "max_unauth_clients": 30},
    }
    assert apply["disconnected"] == [] and again["disconnected"] == []


def test_admin_server_limits(daemon):
    four_steps(daemon, {"server": "admin", "max_clients": 12}, lambda: limits_of(daemon, "admin"))
    assert limits_of(daemon, "admin")[0] == 12
    assert limits_of(daemon) == (5000, 20)


def test_disconnect_by_policy(tcp_daemon, mixed_clients):
    ids = witness.client_ids(tcp_daemon.uri, "libvirtd")

    def state():
        return witness.client_ids(tcp_daemon.uri, "libvirtd"), mixed_clients.probe()

    check, apply, again = four_steps(tcp_daemon, {"disconnect": {"transport": "unix", "readonly": False}}, state)
    assert [record["id"] for record in check["disconnected"]] == ids[:2]
    assert [record["id"] for record in apply["disconnected"]] == ids[:2]
    assert all(record["unix_process_id"] == mixed_clients.pid for record in apply["disconnected"])
    assert witness.client_ids(tcp_daemon.uri, "libvirtd") == ids[2:]
    assert mixed_clients.probe() == [False, False, True, True]  # the clients saw their connections closed
    assert len(apply["diff"]["before"]["matching_clients"]) == 2
    assert apply["diff"]["after"]["matching_clients"] == []
    assert again["disconnected"] == []


def test_disconnect_tcp_by_address_and_limits_together(tcp_daemon, mixed_clients):
    args = {"uri": tcp_daemon.uri, "max_clients": 100, "disconnect": {"sock_addr": "127.0.0.1:*"}}
    result = run_module(CLIENTS, args)
    assert result.changed
    assert [record["transport"] for record in result["disconnected"]] == ["tcp"]
    assert result["limits"]["max_clients"] == 100 and result["limits"]["clients"] == 3
    assert limits_of(tcp_daemon)[0] == 100
    assert mixed_clients.probe() == [True, True, True, False]


def test_disconnect_all_is_explicit(tcp_daemon, mixed_clients):
    result = run_module(CLIENTS, {"uri": tcp_daemon.uri, "disconnect": {"all": True}})
    assert result.changed and len(result["disconnected"]) == 4
    assert witness.client_ids(tcp_daemon.uri, "libvirtd") == []
    assert mixed_clients.probe() == [False] * 4


def test_own_admin_connection_is_never_dropped(daemon):
    result = run_module(CLIENTS, {"uri": daemon.uri, "server": "admin", "disconnect": {"all": True}})
    assert not result.failed, result
    assert not result.changed
    assert result["disconnected"] == []


def test_max_clients_below_current_refuses_new_clients(make_daemon):
    daemon = make_daemon(drivers=("secret",))
    with Clients([rw(daemon), rw(daemon), rw(daemon)]) as held:
        assert all(held.opened)
        result = run_module(CLIENTS, {"uri": daemon.uri, "max_clients": 2, "max_unauth_clients": 2})
        assert result.changed and result["limits"]["clients"] == 3  # existing clients stay
        assert held.probe() == [True, True, True]
        with Clients([{**rw(daemon), "timeout": 3}]) as refused:
            assert refused.opened == [False]  # not served while the server is over its limit
        with Clients([{**rw(daemon), "background": True}]) as waiting:
            assert waiting.probe() == [False]
            result = run_module(CLIENTS, {"uri": daemon.uri, "max_clients": 10})
            assert result.changed
            deadline = time.monotonic() + 10
            while waiting.probe() != [True] and time.monotonic() < deadline:
                time.sleep(0.1)
            assert waiting.probe() == [True]  # let in once the limit was raised
        assert limits_of(daemon) == (10, 2)


@pytest.mark.parametrize(
    "args, message",
    [
        ({"max_unauth_clients": 30, "max_clients": 10}, "max_unauth_clients (30) is larger than max_clients (10)"),
        ({"max_clients": 10}, "max_unauth_clients (20, the server's current value) is larger than max_clients (10)"),
        ({"max_clients": -5}, "max_clients must be a whole number from 0 to 4294967295, got -5"),
        ({"max_unauth_clients": -1}, "max_unauth_clients must be a whole number"),
        ({"disconnect": {}}, "disconnect needs at least one criterion"),
        ({"disconnect": {"all": False}}, "disconnect needs at least one criterion"),
        ({"disconnect": {"all": True, "readonly": True}}, "cannot be combined with readonly"),
        ({"disconnect": {"transport": "usb"}}, "value of transport must be one of: unix, tcp, tls"),
        ({"disconnect": {"user": "root"}}, "Unsupported parameters"),
        ({"disconnect": {"unix_user_id": "root"}}, "unix_user_id"),
        ({"disconnect": {"min_age": -1}}, "min_age must not be negative"),
        ({"server": "nosuch", "max_clients": 10}, "no server named 'nosuch'; its servers are: admin, libvirtd"),
        ({}, "one of the following is required: max_clients, max_unauth_clients, disconnect"),
    ],
)
def test_bad_input_changes_nothing(tcp_daemon, mixed_clients, args, message):
    ids = witness.client_ids(tcp_daemon.uri, "libvirtd")
    result = run_module(CLIENTS, {"uri": tcp_daemon.uri, **args})
    assert result.failed, result
    assert message in result.msg
    assert limits_of(tcp_daemon) == (5000, 20)
    assert witness.client_ids(tcp_daemon.uri, "libvirtd") == ids
    assert mixed_clients.probe() == [True] * 4


def test_unknown_filter_key_in_client_info(daemon):
    result = run_module(INFO, {"uri": daemon.uri, "match": {"pid": 1}})
    assert result.failed
    assert "Unsupported parameters" in result.msg and "match.pid" in result.msg


@pytest.mark.parametrize("module, args", [(INFO, {}), (CLIENTS, {"disconnect": {"all": True}})])
def test_daemon_gone(daemon, module, args):
    daemon.kill()
    result = run_module(module, {"uri": daemon.uri, **args})
    assert result.failed
    assert str(daemon.admin_socket) in result.msg and "is the daemon running?" in result.msg


@pytest.mark.parametrize("admin_max_clients", [None, 2])
def test_many_clients_over_extra_connections(make_daemon, admin_max_clients):
    """From PARALLEL_FROM clients on, the per-client calls go out over extra admin connections: every
    client is still read and dropped once, the extra connections are gone afterwards, and an admin
    server with no room for them (beyond its max_clients a connection is left waiting) does not hold
    the task."""
    daemon = make_daemon(drivers=("secret",))
    if admin_max_clients is not None:
        witness.virt_admin(daemon.uri, "srv-clients-set", "admin", "--max-clients", str(admin_max_clients))
    admin_clients = witness.client_limits(daemon.uri, "admin")["nclients"]  # virt-admin's own, while it asks
    with Clients([rw(daemon)] * 24) as held:
        assert all(held.opened), held.errors
        ids = witness.client_ids(daemon.uri, "libvirtd")
        assert len(ids) == 24

        info = run_module(INFO, {"uri": daemon.uri})
        assert sorted(record["id"] for record in info["clients"]) == sorted(ids)
        assert {record["unix_process_id"] for record in info["clients"]} == {held.pid}
        assert witness.client_limits(daemon.uri, "admin")["nclients"] == admin_clients

        some = sorted(ids)[::2]  # by listing criteria alone: only these are read, each then dropped
        dropped = run_module(CLIENTS, {"uri": daemon.uri, "disconnect": {"ids": some, "transport": "unix"}})
        assert sorted(record["id"] for record in dropped["disconnected"]) == some
        assert {record["unix_process_id"] for record in dropped["disconnected"]} == {held.pid}
        assert sorted(witness.client_ids(daemon.uri, "libvirtd")) == sorted(set(ids) - set(some))
        assert held.probe().count(False) == len(some)

        dropped = run_module(CLIENTS, {"uri": daemon.uri, "disconnect": {"all": True}})
        assert sorted(record["id"] for record in dropped["disconnected"]) == sorted(set(ids) - set(some))
        assert witness.client_ids(daemon.uri, "libvirtd") == []
        assert held.probe() == [False] * 24
        assert witness.client_limits(daemon.uri, "admin")["nclients"] == admin_clients
