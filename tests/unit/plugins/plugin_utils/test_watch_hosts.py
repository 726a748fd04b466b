"""The admin_watch source's polls of a host's daemons (plugin_utils/_watch_hosts) against the fake
backend: one connection per daemon kept from poll to poll, server_info's reading, a daemon that fails
retried with backoff."""

from __future__ import annotations

import pytest

from ansible_collections.virtops.libvirt_admin.plugins.plugin_utils import _watch_hosts
from ansible_collections.virtops.libvirt_admin.plugins.plugin_utils._watch_hosts import (
    Backoff,
    LocalHost,
    daemon_of,
    socket_of,
)
from tests.unit.fake_admin import SOCKET_CLOSED, FakeDaemon, LibvirtAdminError
from tests.unit.plugins.plugin_utils.watch_helpers import settings

URI = "libvirtd:///system?socket=/tmp/x/libvirt-admin-sock"


def test_one_connection_serves_every_poll_with_server_infos_reading(fake: FakeDaemon):
    host = LocalHost("localhost", settings(uris=[URI]), [URI], connect=fake.connect)
    for now in (1.0, 2.0, 3.0):
        ((daemon, servers, error),) = host.poll(now)
        assert error is None
        assert [server["name"] for server in servers] == ["admin", "libvirtd"]
        assert servers[1]["threadpool"]["max_workers"] == 20 and servers[1]["exhausted"] is False
    assert len(fake.connections) == 1
    # The servers listed once per connection, then two calls per server and poll (pool, client limits).
    per_poll = ["get_threadpool", "get_client_limits"] * 2
    assert [call[0] for call in fake.calls] == ["list_servers", *per_poll * 3]
    assert daemon.calls == 13
    assert (daemon.name, daemon.uri) == ("libvirtd", URI)
    host.close()
    assert fake.connections[0].closed


def test_a_daemon_that_fails_is_reported_down_and_retried_with_backoff(fake: FakeDaemon, monkeypatch):
    monkeypatch.setattr(_watch_hosts.random, "random", lambda: 0.0)  # no jitter
    host = LocalHost("localhost", settings(uris=[URI], reconnect_min=1, reconnect_max=4), [URI], connect=fake.connect)
    assert host.poll(0.0)[0][2] is None
    fake.connections[0].dropped = True  # the daemon went away under the open connection
    fake.connect_error = LibvirtAdminError("Failed to connect socket to '/tmp/x': Connection refused", 38)
    ((_daemon, servers, error),) = host.poll(1.0)
    assert servers is None and error == SOCKET_CLOSED.message
    assert host.poll(1.5) == []  # waiting for its retry at 2.0
    assert "Connection refused" in host.poll(2.0)[0][2]  # retried: refused again, next in 2 s
    assert host.poll(3.9) == []
    assert "Connection refused" in host.poll(4.0)[0][2]  # next in 4 s (the most)
    assert host.poll(7.9) == []
    fake.connect_error = None
    ((_daemon, servers, error),) = host.poll(8.0)
    assert error is None and servers[1]["name"] == "libvirtd"
    assert fake.calls[-5][0] == "list_servers"  # a new connection lists the servers again
    assert host.daemons[URI].backoff.failures == 0
    assert fake.connections[0].closed and not fake.connections[-1].closed


def test_discovered_daemons_are_watched_and_a_vanished_one_stays(fake: FakeDaemon, monkeypatch):
    found = [("libvirtd", URI), ("virtlogd", "virtlogd:///system?socket=/tmp/x/virtlogd-admin-sock")]
    monkeypatch.setattr(_watch_hosts._discovery, "discover", lambda: list(found))
    host = LocalHost("localhost", settings(discover_every=10), connect=fake.connect)
    assert [daemon.name for daemon, _servers, _error in host.poll(0.0)] == ["libvirtd", "virtlogd"]
    found.pop()
    assert len(host.poll(20.0)) == 2  # still polled: a daemon once seen is reported down, not dropped


def test_daemons_filters_by_name(fake: FakeDaemon, monkeypatch):
    found = [("libvirtd", URI), ("virtlogd", "virtlogd:///system?socket=/tmp/x/virtlogd-admin-sock")]
    monkeypatch.setattr(_watch_hosts._discovery, "discover", lambda: list(found))
    host = LocalHost("localhost", settings(daemons=["virtlogd"]), connect=fake.connect)
    assert [daemon.name for daemon, _servers, _error in host.poll(0.0)] == ["virtlogd"]


@pytest.mark.parametrize(
    ("uri", "daemon", "path"),
    [
        (URI, "libvirtd", "/tmp/x/libvirt-admin-sock"),
        ("libvirtd:///system", "libvirtd", "/run/libvirt/libvirt-admin-sock"),
        ("virtqemud:///system", "virtqemud", "/run/libvirt/virtqemud-admin-sock"),
        ("virtlogd:///system?socket=/run/libvirt/virtlogd-admin-sock", "virtlogd", "/run/libvirt/virtlogd-admin-sock"),
    ],
)
def test_daemon_and_socket_of_a_uri(uri, daemon, path):
    assert (daemon_of(uri), socket_of(uri)) == (daemon, path)


def test_backoff_doubles_up_to_the_most_with_jitter():
    backoff = Backoff(1.0, 8.0)
    delays = [backoff.fail() for _attempt in range(6)]
    for delay, base in zip(delays, [1, 2, 4, 8, 8, 8]):
        assert base <= delay <= base * 1.2
    backoff.reset()
    assert 1.0 <= backoff.fail() <= 1.2
