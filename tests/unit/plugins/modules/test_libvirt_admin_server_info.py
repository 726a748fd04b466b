"""libvirt_admin_server_info's main(), in-process, against the fake libvirtd 9.0."""

from __future__ import annotations

import pytest

from ansible_collections.virtops.libvirt_admin.plugins.module_utils import _discovery
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import LibvirtAdminError
from ansible_collections.virtops.libvirt_admin.plugins.modules.libvirt_admin_server_info import main
from tests.unit.fake_admin import LIBVIRTD_THREADPOOL

LIBVIRTD = {
    "name": "libvirtd",
    "threadpool": {**LIBVIRTD_THREADPOOL, "busy_workers": 0},
    "clients": {"max_clients": 5000, "clients": 0, "max_unauth_clients": 20, "unauth_clients": 0},
    "exhausted": False,
}


@pytest.mark.parametrize("check", [False, True])
def test_reports_every_server(fake, run, check):
    result = run(main, {}, check=check)
    assert result["changed"] is False
    assert (result["uri"], result["version"]) == ("libvirtd:///system", "9.0.0")
    assert [server["name"] for server in result["servers"]] == ["admin", "libvirtd"]
    assert result["servers"][0]["threadpool"]["busy_workers"] == 1
    assert result["servers"][1] == LIBVIRTD
    assert fake.setter_calls == []


def test_reports_the_servers_asked_for(fake, run):
    result = run(main, {"uri": "libvirtd:///session", "servers": ["libvirtd"]})
    assert result["servers"] == [LIBVIRTD]
    assert result["uri"] == "libvirtd:///session"
    assert ("get_threadpool", "admin") not in fake.calls


def test_unknown_server_lists_the_servers(fake, run):
    result = run(main, {"servers": ["libvirtd", "nope"]})
    assert result["msg"] == (
        "Cannot read the servers of the daemon at libvirt's default admin URI: "
        "the daemon has no server named 'nope'; its servers are: admin, libvirtd; "
        "set server to one of the daemon's servers"
    )
    assert result["libvirt_error_code"] == 95
    assert "servers" not in result


def test_exhausted_server_stands_out(fake, run):
    fake.servers["libvirtd"]["threadpool"].update(nWorkers=20, freeWorkers=0, jobQueueDepth=7)
    servers = {server["name"]: server for server in run(main, {})["servers"]}
    assert servers["libvirtd"]["exhausted"] is True
    assert servers["libvirtd"]["threadpool"]["busy_workers"] == 20
    assert servers["libvirtd"]["threadpool"]["job_queue_depth"] == 7
    assert servers["admin"]["exhausted"] is False


@pytest.mark.parametrize(
    ("found", "listed"),
    [
        ([], "there is no admin socket in /run/libvirt on this host"),
        (
            [
                ("libvirtd", "libvirtd:///system?socket=/run/libvirt/libvirt-admin-sock"),
                ("virtlogd", "virtlogd:///system?socket=/run/libvirt/virtlogd-admin-sock"),
            ],
            "the admin sockets on this host are /run/libvirt/libvirt-admin-sock, /run/libvirt/virtlogd-admin-sock",
        ),
    ],
)
def test_daemon_not_running(fake, run, monkeypatch, found, listed):
    monkeypatch.setattr(_discovery, "discover", lambda: found)
    fake.connect_error = LibvirtAdminError("Failed to connect socket to '/x': No such file or directory", 38)
    result = run(main, {"daemon": "virtqemud"})
    assert result["msg"] == (
        "Cannot connect to the daemon at virtqemud:///system: "
        f"Failed to connect socket to '/x': No such file or directory; {listed}; "
        "is the daemon running? Start it, or point uri or daemon at a daemon that runs"
    )


def test_failure_while_reading_closes_the_connection(fake, run):
    fake.fail_call("get_client_limits", LibvirtAdminError("Cannot recv data: Connection reset by peer", 38), nth=2)
    result = run(main, {})
    assert result["msg"].endswith(": Cannot recv data: Connection reset by peer")
    assert fake.connections[0].closed
