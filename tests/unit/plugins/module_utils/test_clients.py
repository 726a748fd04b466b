"""_clients: client records, the client filter and client limits, against the fake daemon."""

from __future__ import annotations

import os
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.virtops.libvirt_admin.plugins.module_utils import _clients, _limits
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import UINT_MAX, LibvirtAdminError
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._servers import read_client_limits
from tests.unit.fake_admin import FakeDaemon, add_sample_clients, client_info

SERVER = "libvirtd"
# The keys filled from each client's info (None where the client's info lacks the field).
INFO_KEYS = {
    "readonly",
    "sock_addr",
    "sasl_user_name",
    "x509_dname",
    "unix_user_id",
    "unix_user_name",
    "unix_group_id",
    "unix_group_name",
    "unix_process_id",
    "selinux_context",
}
RECORD_KEYS = {"id", "server", "transport", "connected_since", "connected_since_iso", *INFO_KEYS}
NOW = 1795701339
# The server's limits and counts as read_client_limits returns them.
LIMITS = {"max_clients": 5000, "clients": 3, "max_unauth_clients": 20, "unauth_clients": 0}


def raw(client_id: int, transport: int, timestamp: int = NOW - 60, readonly: bool = False, **fields) -> dict:
    """A client as the binding lists it, with info."""
    info = client_info(transport, readonly, **fields)
    return {"id": client_id, "timestamp": timestamp, "transport": transport, "info": info}


def records_of(items: list) -> list:
    return [_clients.client_record(item, SERVER) for item in items]


# client_record


def test_client_record_of_a_unix_client():
    item = raw(3, 0, readonly=True, unix_user_name="alice", unix_user_id=1000, selinux_context="u:r:t:s0")
    assert _clients.client_record(item, SERVER) == {
        "id": 3,
        "server": SERVER,
        "transport": "unix",
        "connected_since": NOW - 60,
        "connected_since_iso": "2026-11-26T13:54:39Z",
        "readonly": True,
        "sock_addr": None,
        "sasl_user_name": None,
        "x509_dname": None,
        "unix_user_id": 1000,
        "unix_user_name": "alice",
        "unix_group_id": 0,
        "unix_group_name": "root",
        "unix_process_id": 4242,
        "selinux_context": "u:r:t:s0",
    }


def test_client_record_of_a_tls_client_renames_the_certificate_name():
    item = raw(8, 2, timestamp=NOW, sock_addr="192.0.2.7:16514", tls_x509_dname="CN=a", sasl_user_name="bob")
    record = _clients.client_record(item, "admin")
    assert (record["server"], record["transport"], record["connected_since_iso"]) == (
        "admin",
        "tls",
        "2026-11-26T13:55:39Z",
    )
    assert (record["sock_addr"], record["x509_dname"], record["sasl_user_name"]) == ("192.0.2.7:16514", "CN=a", "bob")
    assert (record["unix_user_id"], record["unix_process_id"], record["selinux_context"]) == (None, None, None)


def test_client_record_without_info_or_known_time():
    record = _clients.client_record({"id": 1, "timestamp": 0, "transport": 7}, SERVER)
    assert (record["transport"], record["connected_since"], record["connected_since_iso"]) == ("7", 0, None)
    assert {key for key, value in record.items() if value is None} == {"connected_since_iso", *INFO_KEYS}


names = st.sampled_from(["root", "alice", "bob", "qemu"])
# (IPv6 addresses, "[2001:db8::1]:5000", are not among them: see test_a_literal_ipv6_address_matches_itself.)
addresses = st.sampled_from(["192.0.2.10:53612", "192.0.2.77:16514", "198.51.100.7:40000", "192.0.2.100:5000"])
dnames = st.sampled_from(["CN=monitor,O=Example", "CN=client1,O=Example", "CN=other,O=Elsewhere"])


@st.composite
def raw_clients(draw, with_info: bool | None = None) -> dict:
    """Clients as the binding lists them: every transport, with info or not (either when None), any optional field."""
    transport = draw(st.sampled_from([0, 1, 2]))
    fields = {}
    if transport == 0:
        fields.update(
            unix_user_id=draw(st.integers(0, 3)),
            unix_user_name=draw(names),
            unix_group_id=draw(st.integers(0, 3)),
            unix_group_name=draw(names),
            unix_process_id=draw(st.integers(1, 4)),
        )
    else:
        fields["sock_addr"] = draw(addresses)
    if transport == 2:
        fields["tls_x509_dname"] = draw(dnames)
    if draw(st.booleans()):
        fields["sasl_user_name"] = draw(names)
    if draw(st.booleans()):
        fields["selinux_context"] = draw(st.sampled_from(["system_u:system_r:virtd_t:s0", "u:r:t:s0"]))
    item = {"id": draw(st.integers(0, 20)), "timestamp": draw(st.integers(0, NOW)), "transport": transport}
    if draw(st.booleans()) if with_info is None else with_info:
        item["info"] = client_info(transport, draw(st.booleans()), **fields)
    return item


records = raw_clients(with_info=True).map(lambda item: _clients.client_record(item, SERVER))


# Listings as the binding returns them for any transport number, without info
# (timestamps: seconds since the epoch, up to 2106).
bare_listings = st.fixed_dictionaries(
    {"id": st.integers(0, 2**64 - 1), "timestamp": st.integers(0, 2**32), "transport": st.integers(0, 9)}
)


@given(item=raw_clients() | bare_listings)
def test_client_record_always_has_the_same_keys(item):
    record = _clients.client_record(item, SERVER)
    assert set(record) == RECORD_KEYS
    assert (record["id"], record["connected_since"]) == (item["id"], item["timestamp"])
    assert (record["connected_since_iso"] is None) == (item["timestamp"] == 0)


# criteria_of, validate_criteria, needs_info


def test_criteria_of_keeps_only_the_criteria_given():
    options = dict.fromkeys(_clients.FILTER_OPTIONS)
    assert _clients.criteria_of(None) == {}
    assert _clients.criteria_of(options) == {}
    assert _clients.criteria_of({**options, "all": True, "readonly": False, "ids": []}) == {
        "readonly": False,
        "ids": [],
    }


@pytest.mark.parametrize(
    ("criteria", "message"),
    [
        ({"unix_user_id": -1}, "unix_user_id must not be negative, got -1"),
        ({"unix_process_id": -4242}, "unix_process_id must not be negative, got -4242"),
        ({"min_age": -5}, "min_age must not be negative, got -5"),
        ({"ids": [1, -2]}, "ids must be client ids (0 or more), got [1, -2]"),
    ],
)
def test_validate_criteria_refuses_negative_numbers(criteria, message):
    with pytest.raises(LibvirtAdminError) as caught:
        _clients.validate_criteria(criteria)
    assert (caught.value.code, caught.value.message) == (8, message)


def test_validate_criteria_accepts_zero_and_every_other_criterion():
    _clients.validate_criteria({"unix_user_id": 0, "unix_process_id": 0, "min_age": 0, "ids": [0]})
    _clients.validate_criteria({"transport": "tcp", "sock_addr": "*", "readonly": True, "unix_group_name": "x"})


@pytest.mark.parametrize(
    ("criteria", "needed"),
    [
        ({}, False),
        ({"ids": [1], "transport": "unix", "min_age": 5}, False),
        ({"readonly": False}, True),
        ({"ids": [1], "sock_addr": "10.*"}, True),
        ({"unix_group_name": "users"}, True),
    ],
)
def test_needs_info_only_for_criteria_beyond_the_listing(criteria, needed):
    assert _clients.needs_info(criteria) is needed


# matches


@given(record=records, now=st.integers(0, 2 * NOW))
def test_an_empty_filter_matches_every_client(record, now):
    assert _clients.matches(record, {}, now)


@st.composite
def criteria_alone(draw) -> tuple:
    """(criterion, value, oracle): one criterion and, independently of matches(), whether a record meets it."""
    key = draw(st.sampled_from(sorted(_clients.FILTER_OPTIONS)))
    if key == "ids":
        wanted = draw(st.lists(st.integers(0, 20), max_size=4))
        return key, wanted, lambda record: record["id"] in wanted
    if key == "min_age":
        wanted = draw(st.integers(0, NOW))
        return key, wanted, lambda record: record["connected_since"] <= NOW - wanted
    if key in _clients.PATTERN_CRITERIA:
        value = draw({"sock_addr": addresses, "x509_dname": dnames, "sasl_user_name": names}[key])
        prefix = value[: draw(st.integers(0, len(value)))]
        if draw(st.booleans()):  # a prefix pattern
            return key, prefix + "*", lambda record: record[key] is not None and record[key].startswith(prefix)
        return key, value, lambda record: record[key] == value
    wanted = draw(
        {
            "transport": st.sampled_from(["unix", "tcp", "tls"]),
            "readonly": st.booleans(),
            "unix_user_name": names,
            "unix_group_name": names,
            "unix_user_id": st.integers(0, 3),
            "unix_process_id": st.integers(1, 4),
        }[key]
    )
    return key, wanted, lambda record: record[key] == wanted


@given(population=st.lists(records, max_size=8), criterion=criteria_alone())
def test_each_criterion_alone_selects_exactly_the_clients_that_meet_it(population, criterion):
    key, wanted, oracle = criterion
    assert [record for record in population if _clients.matches(record, {key: wanted}, NOW)] == [
        record for record in population if oracle(record)
    ]


@given(record=records, criteria=st.lists(criteria_alone(), max_size=4))
def test_every_criterion_given_must_hold(record, criteria):
    combined = {key: wanted for key, wanted, oracle in criteria}
    expected = all(_clients.matches(record, {key: wanted}, NOW) for key, wanted in combined.items())
    assert _clients.matches(record, combined, NOW) is expected


@pytest.mark.parametrize(
    ("pattern", "matched"),
    [
        ("192.0.2.10:53612", True),
        ("192.0.2.*", True),
        ("192.0.2.1?:*", True),
        ("192.0.2.[0-9]:*", False),
        ("192.0.2.10", False),  # the whole address:port must match
        ("*:5361?", True),
        ("192.0.2.10:53612*", True),
    ],
)
def test_address_patterns_are_shell_patterns_over_address_and_port(pattern, matched):
    record = _clients.client_record(raw(1, 1, sock_addr="192.0.2.10:53612"), SERVER)
    assert _clients.matches(record, {"sock_addr": pattern}, NOW) is matched


def test_a_literal_ipv6_address_matches_itself():
    """libvirt writes an IPv6 client's sock_addr as [address]:port, which fnmatch would take as a character set."""
    record = _clients.client_record(raw(1, 1, sock_addr="[2001:db8::1]:5000"), SERVER)
    assert _clients.matches(record, {"sock_addr": "[2001:db8::1]:5000"}, NOW)


def test_patterns_are_case_sensitive_and_never_match_a_missing_field():
    tls = _clients.client_record(raw(1, 2, tls_x509_dname="CN=Monitor,O=Example"), SERVER)
    unix = _clients.client_record(raw(2, 0), SERVER)
    assert _clients.matches(tls, {"x509_dname": "CN=Monitor,*"}, NOW)
    assert not _clients.matches(tls, {"x509_dname": "cn=monitor,*"}, NOW)
    assert not _clients.matches(unix, {"sock_addr": "*"}, NOW)
    assert not _clients.matches(unix, {"sasl_user_name": "*"}, NOW)


def test_unix_criteria_never_match_a_tcp_client():
    tcp = _clients.client_record(raw(1, 1), SERVER)
    for key, wanted in {"unix_user_id": 0, "unix_user_name": "root", "unix_process_id": 4242}.items():
        assert not _clients.matches(tcp, {key: wanted}, NOW)


@pytest.mark.parametrize(
    ("connected_since", "now", "min_age", "matched"),
    [
        (NOW - 100, NOW, 100, True),
        (NOW - 100, NOW, 101, False),
        (NOW - 100, NOW, 0, True),
        (NOW, NOW, 0, True),
        (NOW, NOW, 1, False),
        (NOW - 100, NOW + 0.5, 100, True),
        (NOW - 100, NOW - 0.5, 100, False),
        (0, NOW, NOW, True),  # connected before a re-exec: time not known, always old enough
    ],
)
def test_min_age_boundaries(connected_since, now, min_age, matched):
    record = _clients.client_record(raw(1, 0, timestamp=connected_since), SERVER)
    assert _clients.matches(record, {"min_age": min_age}, now) is matched


def test_ids_select_by_id_and_an_empty_list_selects_none():
    population = records_of([raw(client_id, 1) for client_id in (1, 2, 3)])
    assert [record["id"] for record in population if _clients.matches(record, {"ids": [3, 1, 9]}, NOW)] == [1, 3]
    assert not any(_clients.matches(record, {"ids": []}, NOW) for record in population)


# read_clients, is_own_connection


@pytest.fixture
def sample(fake) -> dict:
    return add_sample_clients(fake, SERVER)


def test_read_clients_without_criteria_lists_every_client_in_order(fake, conn, sample):
    clients = _clients.read_clients(conn, SERVER, {})
    assert [record["id"] for record in clients] == list(sample.values())
    assert all(set(record) == RECORD_KEYS for record in clients)
    assert clients[1]["unix_user_name"] == "alice"
    assert fake.calls_of("list_clients") == [("list_clients", SERVER, True)]


@pytest.mark.parametrize(
    ("criteria", "with_info"),
    [({}, False), ({"transport": "tcp", "min_age": 60, "ids": [1, 3, 4]}, False), ({"readonly": True}, True)],
)
def test_read_clients_fetches_info_only_when_asked_or_needed(fake, conn, sample, criteria, with_info):
    clients = _clients.read_clients(conn, SERVER, criteria, with_info=False)
    assert fake.calls_of("list_clients") == [("list_clients", SERVER, with_info)]
    assert clients
    assert {record["readonly"] is None for record in clients} == {not with_info}


def test_read_clients_keeps_the_matching_ones(conn, sample):
    clients = _clients.read_clients(conn, SERVER, {"transport": "tcp", "min_age": 3600}, with_info=False)
    assert [record["id"] for record in clients] == [sample["tcp_old"]]
    readonly = _clients.read_clients(conn, SERVER, {"readonly": True}, with_info=False)
    assert [record["id"] for record in readonly] == [sample["alice"], sample["tcp_new"]]


def test_read_clients_of_an_unknown_server(conn):
    with pytest.raises(LibvirtAdminError) as caught:
        _clients.read_clients(conn, "nope", {})
    assert caught.value.code == 95


def test_own_connection_is_this_process_on_the_admin_server(fake, conn):
    other_admin = fake.add_client("admin", "unix", unix_process_id=os.getpid() + 1)
    same_pid_elsewhere = fake.add_client(SERVER, "unix", unix_process_id=os.getpid())
    tcp = fake.add_client(SERVER, "tcp")
    admin = {record["id"]: record for record in _clients.read_clients(conn, "admin", {})}
    libvirtd = {record["id"]: record for record in _clients.read_clients(conn, SERVER, {})}
    assert _clients.is_own_connection(admin[conn.own_client_id])
    assert not _clients.is_own_connection(admin[other_admin])
    assert not _clients.is_own_connection(libvirtd[same_pid_elsewhere])
    assert not _clients.is_own_connection(libvirtd[tcp])


# summary


def test_summary_examples(conn, sample):
    summaries = [_clients.summary(record) for record in _clients.read_clients(conn, SERVER, {})]
    assert summaries == [
        "id 1, unix, user root, pid 4242",
        "id 2, unix, readonly, user alice, pid 5151",
        "id 3, tcp, 192.0.2.10:53612, admin",
        "id 4, tcp, readonly, 198.51.100.7:40000",
        "id 5, tls, 192.0.2.77:16514, CN=monitor,O=Example",
        "id 6, unix, user root, pid 777",
    ]


@given(item=raw_clients() | bare_listings)
def test_summary_never_fails_and_starts_with_id_and_transport(item):
    record = _clients.client_record(item, SERVER)
    assert _clients.summary(record).startswith(f"id {item['id']}, {record['transport']}")


# _limits: validate, apply


def test_validate_limits_merges_desired_over_current():
    assert _limits.validate(LIMITS, {}) == {"max_clients": 5000, "max_unauth_clients": 20}
    assert _limits.validate(LIMITS, {"max_clients": 20}) == {"max_clients": 20, "max_unauth_clients": 20}
    assert _limits.validate(LIMITS, {"max_unauth_clients": 0, "max_clients": 0}) == {
        "max_clients": 0,
        "max_unauth_clients": 0,
    }


@pytest.mark.parametrize(
    ("desired", "message"),
    [
        (
            {"max_clients": 10, "max_unauth_clients": 11},
            "max_unauth_clients (11) is larger than max_clients (10); clients waiting for authentication count "
            "towards max_clients, so keep max_unauth_clients at or below it",
        ),
        ({"max_clients": 19}, "max_unauth_clients (20, the server's current value) is larger than max_clients (19);"),
        (
            {"max_unauth_clients": 5001},
            "max_unauth_clients (5001) is larger than max_clients (5000, the server's current value);",
        ),
        ({"max_clients": -1}, "max_clients must be a whole number from 0 to 4294967295, got -1"),
        (
            {"max_unauth_clients": UINT_MAX + 1},
            "max_unauth_clients must be a whole number from 0 to 4294967295, got 4294967296",
        ),
        ({"max_clients": True}, "max_clients must be a whole number from 0 to 4294967295, got True"),
        ({"clients": 3}, "clients is not a client limit"),
    ],
)
def test_validate_limits_refuses(desired, message):
    with pytest.raises(LibvirtAdminError, match=re.escape(message)) as caught:
        _limits.validate(LIMITS, desired)
    assert caught.value.code == 8


limits = st.integers(0, 40)


@given(
    current_max=limits,
    current_unauth=limits,
    desired=st.dictionaries(st.sampled_from(["max_clients", "max_unauth_clients"]), limits),
)
def test_validate_limits_accepts_exactly_what_the_daemon_accepts(current_max, current_unauth, desired):
    fake = FakeDaemon()
    fake.servers[SERVER]["clients"].update(nclients_max=current_max, nclients_unauth_max=current_unauth)
    conn = fake.connect()
    current = read_client_limits(conn, SERVER)
    try:
        merged = _limits.validate(current, desired)
    except LibvirtAdminError:
        merged = None
    try:
        _limits.apply(conn, SERVER, desired)
        daemon_accepted = True
    except LibvirtAdminError:
        daemon_accepted = False
    assert (merged is not None) == daemon_accepted
    if daemon_accepted:
        after = read_client_limits(conn, SERVER)
        assert merged == {key: after[key] for key in merged}


def test_apply_limits_sends_libvirt_names_in_one_call(fake, conn):
    _limits.apply(conn, SERVER, {"max_clients": 300, "max_unauth_clients": 30})
    assert fake.setter_calls == [("set_client_limits", SERVER, {"nclients_max": 300, "nclients_unauth_max": 30})]
    assert read_client_limits(conn, SERVER) == {
        "max_clients": 300,
        "clients": 0,
        "max_unauth_clients": 30,
        "unauth_clients": 0,
    }
