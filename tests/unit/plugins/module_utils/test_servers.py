"""_servers: choosing a server, reading and describing servers through the fake daemon."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import LibvirtAdminError
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._servers import (
    describe_servers,
    is_exhausted,
    read_client_limits,
    read_threadpool,
    resolve_server,
)
from tests.unit.fake_admin import LIBVIRTD_9_0, VIRTLOGD_9_0, FakeDaemon


def unknown_server_message(call, *args) -> str:
    with pytest.raises(LibvirtAdminError) as caught:
        call(*args)
    assert caught.value.code == 95
    return caught.value.message


@pytest.mark.parametrize(("servers", "own"), [(LIBVIRTD_9_0, "libvirtd"), (VIRTLOGD_9_0, "virtlogd")])
def test_resolve_server_defaults_to_the_daemons_own_server(servers, own):
    conn = FakeDaemon(servers).connect()
    assert resolve_server(conn.list_servers(), None) == own
    assert resolve_server(conn.list_servers(), "admin") == "admin"


def test_resolve_server_lists_the_servers_sorted():
    conn = FakeDaemon(VIRTLOGD_9_0).connect()
    assert unknown_server_message(resolve_server, conn.list_servers(), "nope") == (
        "the daemon has no server named 'nope'; its servers are: admin, virtlogd"
    )


@pytest.mark.parametrize(("servers", "listed"), [({"admin": LIBVIRTD_9_0["admin"]}, "admin"), ({}, "none")])
def test_resolve_server_without_an_own_server(servers, listed):
    conn = FakeDaemon(servers).connect()
    assert unknown_server_message(resolve_server, conn.list_servers(), None) == (
        f"the daemon has no server named '<the daemon's own server>'; its servers are: {listed}"
    )


def test_read_renames_libvirt_fields(conn):
    assert read_threadpool(conn, "admin") == {
        "min_workers": 5,
        "max_workers": 20,
        "prio_workers": 0,
        "workers": 5,
        "free_workers": 4,
        "job_queue_depth": 0,
    }
    assert read_client_limits(conn, "libvirtd") == {
        "max_clients": 5000,
        "clients": 0,
        "max_unauth_clients": 20,
        "unauth_clients": 0,
    }


def test_describe_servers_all_in_daemon_order(conn):
    described = describe_servers(conn, None)
    assert [server["name"] for server in described] == ["admin", "libvirtd"]
    admin = described[0]
    assert admin["threadpool"]["busy_workers"] == 1
    assert admin["clients"] == {"max_clients": 5000, "clients": 1, "max_unauth_clients": 0, "unauth_clients": 0}
    assert admin["exhausted"] is False


def test_describe_servers_filter_keeps_daemon_order():
    conn = FakeDaemon(VIRTLOGD_9_0).connect()
    assert [server["name"] for server in describe_servers(conn, ["admin", "virtlogd"])] == ["virtlogd", "admin"]
    assert [server["name"] for server in describe_servers(conn, ["admin"])] == ["admin"]


def test_describe_servers_checks_every_name_before_reading(fake, conn):
    message = unknown_server_message(describe_servers, conn, ["libvirtd", "nope"])
    assert message == "the daemon has no server named 'nope'; its servers are: admin, libvirtd"
    assert [call[0] for call in fake.calls] == ["list_servers"]


def test_describe_server_flags_an_exhausted_pool(fake, conn):
    fake.servers["libvirtd"]["threadpool"].update(nWorkers=20, freeWorkers=0, jobQueueDepth=7)
    libvirtd = describe_servers(conn, ["libvirtd"])[0]
    assert libvirtd["exhausted"] is True
    assert libvirtd["threadpool"]["busy_workers"] == 20


@pytest.mark.parametrize(
    ("workers", "free_workers", "max_workers", "queued", "exhausted"),
    [
        (20, 0, 20, 0, True),
        (21, 0, 20, 0, True),
        (19, 0, 20, 0, False),
        (20, 1, 20, 0, False),
        (0, 0, 0, 0, False),
        # Below max_workers but none free and jobs queued: libvirt starts no worker (seen under load).
        (2, 0, 20, 3, True),
        (2, 1, 20, 3, False),
    ],
)
def test_is_exhausted_examples(workers, free_workers, max_workers, queued, exhausted):
    pool = {"workers": workers, "free_workers": free_workers, "max_workers": max_workers, "job_queue_depth": queued}
    assert is_exhausted(pool) is exhausted


@given(
    workers=st.integers(0, 50),
    free_workers=st.integers(0, 50),
    max_workers=st.integers(0, 50),
    queued=st.integers(0, 50),
)
def test_is_exhausted_only_with_no_free_worker_and_none_to_come(workers, free_workers, max_workers, queued):
    pool = {"workers": workers, "free_workers": free_workers, "max_workers": max_workers, "job_queue_depth": queued}
    assert is_exhausted(pool) == (free_workers == 0 and max_workers > 0 and (workers >= max_workers or queued > 0))
