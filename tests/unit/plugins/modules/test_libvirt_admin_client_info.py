"""libvirt_admin_client_info's main(), in-process, against the fake libvirtd 9.0."""

from __future__ import annotations

import os

import pytest

from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import LibvirtAdminError
from ansible_collections.virtops.libvirt_admin.plugins.modules.libvirt_admin_client_info import main
from tests.unit.fake_admin import add_sample_clients

DEFAULT_TARGET = "the daemon at libvirt's default admin URI"


@pytest.fixture
def sample(fake) -> dict:
    """Client ids by role on libvirtd: root_shell 1, alice 2, tcp_old 3, tcp_new 4, tls 5, before_reexec 6."""
    return add_sample_clients(fake)


def ids_of(result: dict) -> list:
    return [client["id"] for client in result["clients"]]


@pytest.mark.parametrize("check", [False, True])
def test_lists_every_client_of_the_daemons_own_server(fake, run, sample, check):
    result = run(main, {}, check=check)
    assert (result["changed"], result["server"]) == (False, "libvirtd")
    assert ids_of(result) == [1, 2, 3, 4, 5, 6]
    alice = result["clients"][1]
    assert alice == {
        "id": 2,
        "server": "libvirtd",
        "transport": "unix",
        "connected_since": fake.clients_of("libvirtd")[1]["timestamp"],
        "connected_since_iso": alice["connected_since_iso"],
        "readonly": True,
        "sock_addr": None,
        "sasl_user_name": None,
        "x509_dname": None,
        "unix_user_id": 1000,
        "unix_user_name": "alice",
        "unix_group_id": 100,
        "unix_group_name": "users",
        "unix_process_id": 5151,
        "selinux_context": "unconfined_u:unconfined_r:unconfined_t:s0",
    }
    assert alice["connected_since_iso"].endswith("Z")
    assert all(set(client) == set(alice) for client in result["clients"])
    assert result["clients"][5]["connected_since_iso"] is None  # connected before a re-exec
    assert fake.calls_of("list_clients") == [("list_clients", "libvirtd", True)]
    assert fake.setter_calls == fake.calls_of("disconnect_clients") == []


def test_a_tls_client(run, sample):
    tls = run(main, {"match": {"ids": [5]}})["clients"][0]
    assert (tls["transport"], tls["readonly"]) == ("tls", False)
    assert (tls["sock_addr"], tls["x509_dname"]) == ("192.0.2.77:16514", "CN=monitor,O=Example")
    assert (tls["unix_user_id"], tls["unix_process_id"], tls["sasl_user_name"]) == (None, None, None)


@pytest.mark.parametrize(
    ("match", "roles"),
    [
        ({"ids": [4, 2, 99]}, ["alice", "tcp_new"]),
        ({"transport": "unix"}, ["root_shell", "alice", "before_reexec"]),
        ({"transport": "tcp"}, ["tcp_old", "tcp_new"]),
        ({"transport": "tls"}, ["tls"]),
        ({"readonly": True}, ["alice", "tcp_new"]),
        ({"readonly": False}, ["root_shell", "tcp_old", "tls", "before_reexec"]),
        ({"unix_user_name": "alice"}, ["alice"]),
        ({"unix_user_id": 0}, ["root_shell", "before_reexec"]),
        ({"unix_group_name": "users"}, ["alice"]),
        ({"unix_process_id": 5151}, ["alice"]),
        ({"sock_addr": "192.0.2.*"}, ["tcp_old", "tls"]),
        ({"sock_addr": "*:16514"}, ["tls"]),
        ({"sasl_user_name": "adm*"}, ["tcp_old"]),
        ({"x509_dname": "CN=monitor,*"}, ["tls"]),
        ({"min_age": 3600}, ["tcp_old", "tls", "before_reexec"]),
        ({"min_age": 120}, ["alice", "tcp_old", "tls", "before_reexec"]),
        ({"transport": "tcp", "readonly": False}, ["tcp_old"]),
        ({"transport": "tcp", "unix_user_id": 0}, []),
        ({"sock_addr": None, "min_age": None}, ["root_shell", "alice", "tcp_old", "tcp_new", "tls", "before_reexec"]),
    ],
)
def test_match_keeps_the_clients_meeting_every_criterion(run, sample, match, roles):
    assert ids_of(run(main, {"match": match})) == [sample[role] for role in roles]


def same_wording(msg: str) -> str:
    """ansible-core before 2.19 says "is of type <class 'str'>" where later ones say "is of type str"."""
    return msg.replace("<class 'str'>", "str")


@pytest.mark.parametrize(
    ("match", "message"),
    [
        ({"user": "alice"}, "Unsupported parameters for (basic.py) module: match.user"),
        ({"all": True}, "Unsupported parameters for (basic.py) module: match.all"),
        ({"unix_user_id": "alice"}, "argument 'unix_user_id' is of type str found in 'match'"),
        ({"readonly": "maybe"}, "argument 'readonly' is of type str found in 'match'"),
        ({"ids": ["three"]}, "Elements value for option 'ids' found in 'match' is of type str"),
        ({"transport": "udp"}, "value of transport must be one of: unix, tcp, tls, got: udp found in match"),
    ],
)
def test_unknown_criterion_or_wrong_type_is_refused_before_connecting(fake, run, sample, match, message):
    result = run(main, {"match": match})
    assert result["failed"] is True
    assert message in same_wording(result["msg"])
    assert fake.connections == []


@pytest.mark.parametrize(
    ("match", "message"),
    [
        ({"min_age": -1}, "min_age must not be negative, got -1"),
        ({"ids": [-3]}, "ids must be client ids (0 or more), got [-3]"),
    ],
)
def test_negative_criteria_are_refused_before_connecting(fake, run, match, message):
    result = run(main, {"match": match})
    assert result["msg"] == f"Cannot use the client filter match on {DEFAULT_TARGET}: {message}"
    assert result["libvirt_error_code"] == 8
    assert fake.connections == []


def test_the_admin_server_lists_the_modules_own_connection(fake, run):
    other = fake.add_client("admin", "unix", unix_process_id=os.getpid() + 1)
    result = run(main, {"daemon": "virtqemud", "server": "admin"})
    own_id = fake.connections[0].own_client_id
    assert ids_of(result) == [other, own_id]
    assert result["clients"][1]["unix_process_id"] == os.getpid()
    assert fake.connections[0].opened_uri == "virtqemud:///system"


def test_a_server_without_clients(run):
    result = run(main, {"server": "libvirtd"})
    assert (result["server"], result["clients"]) == ("libvirtd", [])


def test_unknown_server_lists_the_servers(fake, run, sample):
    result = run(main, {"server": "nope"})
    assert result["msg"] == (
        f"Cannot find the server on {DEFAULT_TARGET}: the daemon has no server named 'nope'; "
        "its servers are: admin, libvirtd; set server to one of the daemon's servers"
    )
    assert result["libvirt_error_code"] == 95
    assert fake.calls_of("list_clients") == []


def test_failure_while_listing_closes_the_connection(fake, run, sample):
    fake.fail_call("list_clients", LibvirtAdminError("Cannot recv data: Connection reset by peer", 38))
    result = run(main, {"match": {"transport": "tcp"}})
    assert result["msg"] == (
        f"Cannot list the clients of server 'libvirtd' of {DEFAULT_TARGET}: Cannot recv data: Connection reset by peer"
    )
    assert "clients" not in result
    assert fake.connections[0].closed
