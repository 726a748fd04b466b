"""The modules against the other daemons a Debian 12 host runs: virtlogd and
virtlockd (admin socket /run/libvirt/<daemon>-admin-sock, servers '<daemon>'
and 'admin', both without worker threads)."""

from __future__ import annotations

import pytest

from tests.harness import witness
from tests.harness.ansible import run_module
from tests.harness.daemons import Daemon

DAEMONS = ["virtlogd", "virtlockd"]


@pytest.fixture(params=DAEMONS)
def other_daemon(request):
    with Daemon(binary=request.param) as running:
        yield running


def test_server_info(other_daemon):
    result = run_module("libvirt_admin_server_info", {"uri": other_daemon.uri})
    assert not result.failed, result
    names = [server["name"] for server in result["servers"]]
    assert names == witness.servers(other_daemon.uri)
    assert set(names) == {other_daemon.binary, "admin"}
    for server in result["servers"]:
        assert server["threadpool"]["max_workers"] == 0
        assert server["exhausted"] is False  # no pool: requests run in the event loop, never queue
    assert result["version"] == witness.daemon_version(other_daemon.uri)


def test_default_server_is_the_daemons_own(other_daemon):
    result = run_module("libvirt_admin_client_info", {"uri": other_daemon.uri})
    assert not result.failed, result
    assert result["server"] == other_daemon.binary
    assert result["clients"] == []


def test_thread_pool_is_fixed(other_daemon):
    before = witness.settings(other_daemon.uri, other_daemon.binary)
    for args in ({"max_workers": 4}, {"min_workers": 1}, {"prio_workers": 2}):
        result = run_module("libvirt_admin_threadpool", {"uri": other_daemon.uri, **args})
        assert result.failed
        assert f"server '{other_daemon.binary}'" in result.msg
        assert "this server's thread pool is fixed: it runs without worker threads" in result.msg
    assert witness.settings(other_daemon.uri, other_daemon.binary) == before == (0, 0, 0)
    same = run_module("libvirt_admin_threadpool", {"uri": other_daemon.uri, "max_workers": 0})
    assert not same.failed and not same.changed, same


def test_client_limits(other_daemon):
    args = {"uri": other_daemon.uri, "max_clients": 64, "max_unauth_clients": 16}
    assert run_module("libvirt_admin_clients", args, check=True).changed
    assert witness.client_limits(other_daemon.uri, other_daemon.binary)["nclients_max"] == 1024
    assert run_module("libvirt_admin_clients", args).changed
    limits = witness.client_limits(other_daemon.uri, other_daemon.binary)
    assert (limits["nclients_max"], limits["nclients_unauth_max"]) == (64, 16)
    assert not run_module("libvirt_admin_clients", args).changed
    assert not run_module("libvirt_admin_clients", args, check=True).changed


def test_logging(other_daemon):
    args = {"uri": other_daemon.uri, "filters": ["1:logging"], "outputs": ["1:file:/var/log/libvirt/other.log"]}
    assert run_module("libvirt_admin_logging", args, check=True).changed
    assert run_module("libvirt_admin_logging", args).changed
    assert witness.log_filters(other_daemon.uri) == "1:*logging*"
    assert witness.log_outputs(other_daemon.uri) == "1:file:/var/log/libvirt/other.log"
    assert not run_module("libvirt_admin_logging", args).changed
    assert not run_module("libvirt_admin_logging", args, check=True).changed
