"""libvirt_admin_server_info with discover: true, run on a "host" (inside a
sandboxed daemon's mount namespace, where /run/libvirt is that host's)."""

from __future__ import annotations

import socket

from tests.harness import witness
from tests.harness.ansible import run_module


def test_discovers_the_daemons_of_the_host(daemon):
    stale = daemon.run_dir / "virtstale-admin-sock"  # left behind by a daemon that is gone
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(stale))
    (daemon.run_dir / "virtnotasocket-admin-sock").write_text("")

    result = run_module("libvirt_admin_server_info", {"discover": True}, prefix=daemon.nsenter([]))
    assert not result.failed and not result.changed, result
    found = {entry["daemon"]: entry for entry in result["daemons"]}
    assert set(found) == {"libvirtd", "virtstale"}  # a file that is not a socket is no daemon

    libvirtd = found["libvirtd"]
    assert libvirtd["uri"] == "libvirtd:///system?socket=/run/libvirt/libvirt-admin-sock"
    assert libvirtd["error"] is None
    assert libvirtd["version"] == witness.daemon_version(daemon.uri)
    assert [server["name"] for server in libvirtd["servers"]] == witness.servers(daemon.uri)
    assert libvirtd["logging"]["outputs"] == witness.log_outputs(daemon.uri).split()

    assert "Connection refused" in found["virtstale"]["error"]
    assert "servers" not in found["virtstale"]


def test_discover_excludes_one_daemon_options(daemon):
    result = run_module("libvirt_admin_server_info", {"discover": True, "uri": daemon.uri})
    assert result.failed
    assert "parameters are mutually exclusive: discover|uri" in result.msg
