"""libvirt_admin_clients' main(), in-process, against the fake libvirtd 9.0."""

from __future__ import annotations

import os

import pytest

from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import LibvirtAdminError
from ansible_collections.virtops.libvirt_admin.plugins.modules import libvirt_admin_client_info
from ansible_collections.virtops.libvirt_admin.plugins.modules.libvirt_admin_clients import main
from tests.unit.fake_admin import add_sample_clients
from tests.unit.plugins.modules.test_libvirt_admin_client_info import same_wording

DEFAULT_TARGET = "the daemon at libvirt's default admin URI"
LIMITS = {"max_clients": 5000, "clients": 0, "max_unauth_clients": 20, "unauth_clients": 0}
EVERY_ROLE = ["root_shell", "alice", "tcp_old", "tcp_new", "tls", "before_reexec"]


@pytest.fixture
def sample(fake) -> dict:
    """Client ids by role on libvirtd: root_shell 1, alice 2, tcp_old 3, tcp_new 4, tls 5, before_reexec 6."""
    return add_sample_clients(fake)


def ids_of(records: list) -> list:
    return [record["id"] for record in records]


def listed(run, match: dict) -> list:
    """The records libvirt_admin_client_info returns for this filter (to compare with what was disconnected)."""
    return run(libvirt_admin_client_info.main, {"match": match})["clients"]


def limits_of(fake, server: str = "libvirtd") -> tuple:
    limits = fake.servers[server]["clients"]
    return limits["nclients_max"], limits["nclients_unauth_max"]


# Limits


def test_first_run_sends_only_the_differing_limits(fake, run):
    result = run(main, {"max_clients": 5000, "max_unauth_clients": 50})
    assert result["changed"] is True
    assert fake.setter_calls == [("set_client_limits", "libvirtd", {"nclients_unauth_max": 50})]
    assert (result["server"], result["limits"], result["disconnected"]) == (
        "libvirtd",
        {**LIMITS, "max_unauth_clients": 50},
        [],
    )
    assert fake.calls_of("list_clients") == []
    assert "diff" not in result


def test_second_run_changes_nothing(fake, run):
    args = {"max_clients": 300, "max_unauth_clients": 30}
    first = run(main, args)
    again = run(main, args)
    again_check = run(main, args, check=True)
    assert first["changed"] is True
    assert (again["changed"], again_check["changed"]) == (False, False)
    assert len(fake.setter_calls) == 1
    assert again["limits"] == again_check["limits"] == first["limits"] == {**LIMITS, **args}


def test_other_server_and_daemon(fake, run):
    result = run(main, {"daemon": "virtqemud", "server": "admin", "max_clients": 10})
    assert (result["changed"], result["server"]) == (True, "admin")
    assert fake.connections[0].opened_uri == "virtqemud:///system"
    assert result["limits"]["clients"] == 1  # the module's own connection
    assert (limits_of(fake, "admin"), limits_of(fake)) == ((10, 0), (5000, 20))


@pytest.mark.parametrize("check", [False, True])
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            {"max_clients": 10, "max_unauth_clients": 20},
            "max_unauth_clients (20) is larger than max_clients (10); clients waiting for authentication count "
            "towards max_clients, so keep max_unauth_clients at or below it",
        ),
        ({"max_clients": 19}, "max_unauth_clients (20, the server's current value) is larger than max_clients (19)"),
        (
            {"max_unauth_clients": 5001},
            "max_unauth_clients (5001) is larger than max_clients (5000, the server's current value)",
        ),
        (
            {"max_clients": 10, "max_unauth_clients": 20, "disconnect": {"all": True}},
            "max_unauth_clients (20) is larger than max_clients (10)",
        ),
        ({"max_clients": -1}, "max_clients must be a whole number from 0 to 4294967295, got -1"),
        (
            {"max_unauth_clients": 2**32, "disconnect": {"transport": "tcp"}},
            "max_unauth_clients must be a whole number from 0 to 4294967295, got 4294967296",
        ),
    ],
)
def test_invalid_limits_fail_before_anything_is_changed(fake, run, sample, args, message, check):
    result = run(main, args, check=check)
    assert result["failed"] is True
    assert result["msg"].startswith(f"Cannot change the client limits of server 'libvirtd' of {DEFAULT_TARGET}: ")
    assert message in result["msg"]
    assert result["libvirt_error_code"] == 8
    assert fake.setter_calls == fake.calls_of("disconnect_clients") == []
    assert limits_of(fake) == (5000, 20)
    assert fake.client_ids("libvirtd") == list(sample.values())


# Disconnecting


def test_disconnect_drops_exactly_the_matching_clients(fake, run, sample):
    match = {"sock_addr": "192.0.2.*", "readonly": False}
    expected = listed(run, match)
    result = run(main, {"disconnect": match})
    assert result["changed"] is True
    assert ids_of(expected) == [sample["tcp_old"], sample["tls"]]
    assert result["disconnected"] == expected
    assert fake.calls_of("disconnect_clients") == [("disconnect_clients", "libvirtd")]
    assert fake.client_ids("libvirtd") == [sample[role] for role in ("root_shell", "alice", "tcp_new", "before_reexec")]
    assert result["limits"] == {**LIMITS, "clients": 4}  # read back after disconnecting
    assert fake.setter_calls == []


def test_disconnect_and_limits_together(fake, run, sample):
    result = run(main, {"max_clients": 100, "disconnect": {"transport": "tls"}})
    assert result["changed"] is True
    assert ids_of(result["disconnected"]) == [sample["tls"]]
    assert fake.setter_calls == [("set_client_limits", "libvirtd", {"nclients_max": 100})]
    assert result["limits"] == {**LIMITS, "max_clients": 100, "clients": 5}


def test_disconnect_twice_changes_nothing_the_second_time(fake, run, sample):
    first = run(main, {"disconnect": {"transport": "tcp"}})
    again = run(main, {"disconnect": {"transport": "tcp"}})
    assert ids_of(first["disconnected"]) == [sample["tcp_old"], sample["tcp_new"]]
    assert (again["changed"], again["disconnected"]) == (False, [])
    assert len(fake.client_ids("libvirtd")) == 4


def test_check_mode_reports_and_changes_nothing(fake, run, sample):
    args = {"max_clients": 100, "max_unauth_clients": 10, "disconnect": {"min_age": 3600}}
    expected = listed(run, {"min_age": 3600})
    result = run(main, args, check=True)
    assert result["changed"] is True
    assert fake.setter_calls == fake.calls_of("disconnect_clients") == []
    assert ids_of(result["disconnected"]) == [sample["tcp_old"], sample["tls"], sample["before_reexec"]]
    assert result["disconnected"] == expected
    assert result["limits"] == {**LIMITS, "max_clients": 100, "max_unauth_clients": 10, "clients": 6}
    assert limits_of(fake) == (5000, 20)
    assert fake.client_ids("libvirtd") == list(sample.values())


def test_check_mode_with_nothing_to_do_is_unchanged(fake, run, sample):
    result = run(main, {"max_clients": 5000, "disconnect": {"unix_user_name": "nobody"}}, check=True)
    assert (result["changed"], result["disconnected"]) == (False, [])


def test_all_drops_every_client_of_the_server(fake, run, sample):
    result = run(main, {"disconnect": {"all": True}})
    assert result["changed"] is True
    assert ids_of(result["disconnected"]) == list(sample.values())
    assert fake.client_ids("libvirtd") == []
    assert result["limits"]["clients"] == 0


def test_all_on_the_admin_server_keeps_the_modules_own_connection(fake, run):
    virt_admin = fake.add_client("admin", "unix", unix_process_id=os.getpid() + 1)
    remote_admin = fake.add_client("admin", "tcp", sock_addr="192.0.2.5:40000")
    result = run(main, {"server": "admin", "disconnect": {"all": True}})
    own = fake.connections[0]
    assert ids_of(result["disconnected"]) == [virt_admin, remote_admin]
    assert fake.calls_of("disconnect_clients") == [("disconnect_clients", "admin")]
    assert not own.dropped
    assert result["limits"]["clients"] == 1  # read back over the connection that was kept


def test_a_client_that_leaves_on_its_own_is_not_an_error(fake, run, sample):
    fake.leave_after_listing("libvirtd", [sample["tcp_old"]])
    result = run(main, {"disconnect": {"transport": "tcp"}})
    assert "failed" not in result
    assert result["changed"] is True
    assert ids_of(result["disconnected"]) == [sample["tcp_new"]]
    assert result["limits"]["clients"] == 4


def test_when_every_matching_client_left_on_its_own_nothing_changed(fake, run, sample):
    fake.leave_after_listing("libvirtd", [sample["tls"]])
    result = run(main, {"disconnect": {"transport": "tls"}})
    assert (result["changed"], result["disconnected"]) == (False, [])


@pytest.mark.parametrize(
    "args",
    [
        {"disconnect": {}},
        {"disconnect": {"all": False}},
        {"disconnect": {"sock_addr": None}},
        {"max_clients": 10, "disconnect": {}},
    ],
)
@pytest.mark.parametrize("check", [False, True])
def test_an_empty_disconnect_filter_is_refused(fake, run, sample, args, check):
    result = run(main, args, check=check)
    assert result["failed"] is True
    assert "disconnect needs at least one criterion" in result["msg"]
    assert "all: true" in result["msg"]
    assert fake.connections == []
    assert fake.calls == []


def test_all_cannot_be_combined_with_criteria(fake, run, sample):
    result = run(main, {"disconnect": {"all": True, "transport": "tcp", "readonly": False}})
    assert result["msg"] == (
        "disconnect: all: true drops every client and cannot be combined with readonly, transport; "
        "give either all: true or the criteria"
    )
    assert fake.connections == []


@pytest.mark.parametrize(
    ("disconnect", "message"),
    [
        ({"unix_process_id": -1}, "Cannot use the client filter disconnect on "),
        ({"pid": 4242}, "Unsupported parameters for (basic.py) module: disconnect.pid"),
        ({"min_age": "an hour"}, "argument 'min_age' is of type str found in 'disconnect'"),
    ],
)
def test_bad_disconnect_filters_are_refused_before_connecting(fake, run, sample, disconnect, message):
    result = run(main, {"disconnect": disconnect})
    assert message in same_wording(result["msg"])
    assert fake.connections == []


def test_nothing_to_do_is_an_argument_error(fake, run):
    result = run(main, {})
    assert "one of the following is required: max_clients, max_unauth_clients, disconnect" in result["msg"]
    assert fake.connections == []


def test_unknown_server_lists_the_servers(fake, run, sample):
    result = run(main, {"server": "nope", "disconnect": {"all": True}})
    assert result["msg"] == (
        f"Cannot find the server on {DEFAULT_TARGET}: the daemon has no server named 'nope'; "
        "its servers are: admin, libvirtd; set server to one of the daemon's servers"
    )
    assert fake.calls_of("disconnect_clients") == []
    assert len(fake.client_ids("libvirtd")) == 6


def test_failure_while_disconnecting_closes_the_connection_and_leaves_the_limits(fake, run, sample):
    fake.fail_call("disconnect_clients", LibvirtAdminError("Cannot write data: Broken pipe", 38))
    result = run(main, {"max_clients": 100, "disconnect": {"transport": "tcp"}})
    assert result["msg"] == (
        f"Cannot disconnect clients of server 'libvirtd' of {DEFAULT_TARGET}: Cannot write data: Broken pipe"
    )
    assert fake.connections[0].closed
    assert len(fake.client_ids("libvirtd")) == 6
    assert fake.setter_calls == []
    assert limits_of(fake) == (5000, 20)


# Diff


@pytest.mark.parametrize("check", [False, True])
def test_diff_shows_the_limits_and_the_matching_clients(run, sample, check):
    result = run(main, {"max_clients": 100, "disconnect": {"transport": "tcp"}}, check=check, diff=True)
    assert result["diff"] == {
        "before": {
            "max_clients": 5000,
            "matching_clients": ["id 3, tcp, 192.0.2.10:53612, admin", "id 4, tcp, readonly, 198.51.100.7:40000"],
        },
        "after": {"max_clients": 100, "matching_clients": []},
    }


def test_diff_of_limits_alone_has_no_clients(run, sample):
    result = run(main, {"max_unauth_clients": 5}, diff=True)
    assert result["diff"] == {"before": {"max_unauth_clients": 20}, "after": {"max_unauth_clients": 5}}


def test_diff_of_a_disconnect_matching_nothing_is_empty_on_both_sides(run, sample):
    result = run(main, {"disconnect": {"unix_user_name": "nobody"}}, diff=True)
    assert result["changed"] is False
    assert result["diff"] == {"before": {"matching_clients": []}, "after": {"matching_clients": []}}
