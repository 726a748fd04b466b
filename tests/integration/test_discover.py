"""libvirt_admin_server_info with discover: true, run on a "host" (inside a
sandboxed daemon's mount namespace, where /run/libvirt is that host's)."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.harness import witness
from tests.harness.ansible import run_module

NOBODY = pwd.getpwnam("nobody")


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


@pytest.fixture
def session_daemon():
    """A session libvirtd of the user nobody, with its own XDG_RUNTIME_DIR; stopped by its pid."""
    base = Path(tempfile.mkdtemp(prefix="lva-session-", dir="/tmp"))  # pytest's tmp_path is closed to nobody
    home, runtime = base / "home", base / "run"
    for folder in (base, home, runtime):
        folder.mkdir(exist_ok=True)
        os.chown(folder, NOBODY.pw_uid, NOBODY.pw_gid)
    runtime.chmod(0o700)
    env = ["PATH=/usr/bin:/usr/sbin", f"HOME={home}", f"XDG_RUNTIME_DIR={runtime}", f"LIBVIRT_DRIVER_DIR={home}"]
    process = subprocess.Popen(
        [
            "setpriv",
            f"--reuid={NOBODY.pw_uid}",
            f"--regid={NOBODY.pw_gid}",
            "--clear-groups",
            "env",
            "-i",
            *env,
            "libvirtd",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    socket_path = runtime / "libvirt" / "libvirt-admin-sock"
    try:
        deadline = time.monotonic() + 15
        while not socket_path.exists():
            assert process.poll() is None, "the session libvirtd exited"
            assert time.monotonic() < deadline, "the session libvirtd did not open its admin socket"
            time.sleep(0.05)
        yield runtime
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(base, ignore_errors=True)


def test_discovers_the_callers_session_daemon(session_daemon):
    """Run as nobody (become), the task finds nobody's session libvirtd."""
    result = run_module(
        "libvirt_admin_server_info",
        {"discover": True},
        extra_args=["--become", "--become-method", "su", "--become-user", "nobody"],
        env={"ANSIBLE_BECOME_FLAGS": "-s /bin/sh", "XDG_RUNTIME_DIR": str(session_daemon)},
    )
    assert not result.failed, result
    session = [entry for entry in result["daemons"] if "///session" in entry["uri"]]
    assert [entry["uri"] for entry in session] == [
        f"libvirtd:///session?socket={session_daemon}/libvirt/libvirt-admin-sock"
    ]
    assert session[0]["error"] is None
    assert {server["name"] for server in session[0]["servers"]} == {"libvirtd", "admin"}
