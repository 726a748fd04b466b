"""The SSH relay of the admin_watch source (plugin_utils/_ssh_relay and the host's side, _relay_agent),
without SSH: a stand-in `ssh` runs the remote command line on this machine, as the host's shell would,
so the agent, its bootstrap and the quoting are the real ones. The agent also runs under the oldest
Python the managed hosts may have (3.8), where one is installed."""

from __future__ import annotations

import base64
import glob
import json
import os
import shlex
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ansible_collections.virtops.libvirt_admin.plugins.plugin_utils import _ssh_relay
from ansible_collections.virtops.libvirt_admin.plugins.plugin_utils._ssh_relay import (
    HostSpec,
    RelayError,
    SessionError,
    SshSession,
)

FAKE_SSH = """#!/bin/sh
# A stand-in for ssh: refuses while $1-down exists, else runs the command after "--" with sh
# (first saying what a noisy host says, while $1-noisy exists).
if [ -e "{down}" ]; then echo "ssh: connect to host 192.0.2.1 port 22: Connection refused" >&2; exit 255; fi
if [ -e "{noisy}" ]; then echo "Welcome to host 1"; echo "sudo: unable to resolve host lva-host01" >&2; fi
while [ $# -gt 0 ]; do case "$1" in --) shift; break;; *) shift;; esac; done
exec sh -c "$*"
"""
PYTHONS = sorted(
    {sys.executable, "/usr/bin/python3", *glob.glob(os.path.expanduser("~/.pyenv/versions/3.8*/bin/python3.8"))}
)
PYTHONS = [python for python in PYTHONS if os.path.exists(python)]


@pytest.fixture
def fake_ssh(tmp_path) -> Path:
    path = tmp_path / "ssh"
    path.write_text(FAKE_SSH.format(down=tmp_path / "down", noisy=tmp_path / "noisy"))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


class EchoServer:
    """A unix socket that answers each chunk with the chunk reversed, as a stand-in admin socket."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.listener = socket.socket(socket.AF_UNIX)
        self.listener.bind(self.path)
        self.listener.listen(8)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _address = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn) -> None:
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                conn.sendall(data[::-1])


def session(fake_ssh: Path, tmp_path: Path, python: str = sys.executable) -> SshSession:
    spec = HostSpec("h1", "192.0.2.1", 22, "root", python=python)
    return SshSession(spec, str(tmp_path), timeout=10.0, ssh=str(fake_ssh))


@pytest.mark.parametrize("python", PYTHONS)
def test_the_relay_carries_bytes_both_ways_with_the_hosts_python(fake_ssh, tmp_path, python):
    server = EchoServer(tmp_path / "admin-sock")
    ssh = session(fake_ssh, tmp_path, python)
    try:
        assert ssh.open() == []  # no admin socket under this machine's /run/libvirt is ours to find
        assert ssh.agent["ready"] is True and ssh.agent["uid"] == os.geteuid()
        relay = ssh.relay(server.path)
        relay.sock.settimeout(10)
        for size in (1, 28, 70000):
            payload = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
            relay.sock.sendall(payload)
            received = b""
            while len(received) < size:
                received += relay.sock.recv(65536)
            # The stand-in reverses each chunk it reads: compare as multisets of bytes.
            assert sorted(received) == sorted(payload)
        second = ssh.relay(server.path)
        assert len(ssh.relays) == 2
        second.close()
    finally:
        ssh.close()
    assert ssh.master is not None and ssh.master.poll() is not None
    assert all(relay.process.poll() is not None for relay in [relay])


def test_what_a_host_says_before_the_agent_is_skipped(fake_ssh, tmp_path):
    """A login script's output, sudo's warning that it cannot resolve the host name: not the agent's words."""
    (tmp_path / "noisy").touch()
    server = EchoServer(tmp_path / "admin-sock")
    ssh = session(fake_ssh, tmp_path)
    try:
        assert ssh.open() == []
        relay = ssh.relay(server.path)
        relay.sock.sendall(b"ab")
        assert relay.sock.recv(16) in (b"ba", b"b", b"a")
        with pytest.raises(RelayError, match="No such file"):
            ssh.relay(str(tmp_path / "gone"))
    finally:
        ssh.close()


def test_a_missing_socket_is_a_relay_error_with_the_hosts_errno(fake_ssh, tmp_path):
    ssh = session(fake_ssh, tmp_path)
    try:
        ssh.open()
        with pytest.raises(RelayError) as raised:
            ssh.relay(str(tmp_path / "no-such-admin-sock"))
        assert raised.value.errno == 2 and "No such file" in str(raised.value)
        assert ssh.alive  # the session is fine
    finally:
        ssh.close()


def test_an_unreachable_host_is_a_session_error_with_sshs_words(fake_ssh, tmp_path):
    (tmp_path / "down").touch()
    ssh = session(fake_ssh, tmp_path)
    with pytest.raises(SessionError) as raised:
        ssh.open()
    assert "Connection refused" in str(raised.value) and "ssh exited with 255" in str(raised.value)
    assert not ssh.alive
    (tmp_path / "down").unlink()
    assert ssh.open() == []  # and back
    ssh.close()


def test_a_session_that_ends_is_noticed_by_the_next_call(fake_ssh, tmp_path):
    ssh = session(fake_ssh, tmp_path)
    ssh.open()
    _ssh_relay._stop(ssh.master)
    with pytest.raises(SessionError, match="session has ended"):
        ssh.discover()
    with pytest.raises(SessionError):
        ssh.relay("/run/libvirt/libvirt-admin-sock")


def test_discovery_runs_server_infos_discover_on_the_host(fake_ssh, tmp_path, monkeypatch):
    """The agent runs module_utils/_discovery.py as sent: here a copy whose run folder is a test folder."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(run_dir / "libvirt-admin-sock"))
    (run_dir / "virtlogd-admin-sock").write_text("not a socket")
    texts = _ssh_relay.module_utils_texts()
    assert "_discovery" in texts and len(texts) >= 2  # and what it imports (_admin ...), served from memory
    patched = texts["_discovery"].replace('SYSTEM_RUN_DIR = "/run/libvirt"', f'SYSTEM_RUN_DIR = "{run_dir}"')
    assert patched != texts["_discovery"]
    sources = {**texts, "_discovery": patched}
    monkeypatch.setattr(_ssh_relay, "discovery_source", lambda: base64.b64encode(json.dumps(sources).encode()).decode())
    ssh = session(fake_ssh, tmp_path)
    try:
        assert ssh.open() == [("libvirtd", f"libvirtd:///system?socket={run_dir}/libvirt-admin-sock")]
    finally:
        ssh.close()
        listener.close()


def test_become_runs_the_agent_through_sudo_without_a_prompt():
    spec = HostSpec("h1", python="/opt/py/bin/python3 -E", become=True, become_user="libvirt", become_exe="sudo")
    argv = shlex.split(spec.remote_command("relay", "/run/libvirt/libvirt-admin-sock"))
    assert argv[:6] == ["sudo", "-n", "-u", "libvirt", "--", "/opt/py/bin/python3"]
    assert argv[6:8] == ["-E", "-c"]
    assert argv[-2:] == ["relay", "/run/libvirt/libvirt-admin-sock"]
    plain = shlex.split(HostSpec("h1").remote_command("relay", "/x"))
    assert plain[0] == "/usr/bin/python3"


def test_the_agent_ends_when_the_controller_closes_its_end(fake_ssh, tmp_path):
    server = EchoServer(tmp_path / "admin-sock")
    ssh = session(fake_ssh, tmp_path)
    try:
        ssh.open()
        relay = ssh.relay(server.path)
        relay.sock.close()
        deadline = time.monotonic() + 10
        while relay.process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert relay.process.poll() == 0
    finally:
        ssh.close()


def test_the_agent_alone_refuses_unknown_modes():
    agent = Path(_ssh_relay.__file__).with_name("_relay_agent.py")
    done = subprocess.run([sys.executable, str(agent), "serve"], capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "usage" in done.stderr


def test_a_fleet_starting_logs_in_a_few_hosts_at_a_time(tmp_path):
    """RemoteHost takes a login slot of the watch's (logins): six hosts, two slots, never more than two
    logins under way at once."""
    import threading

    from ansible_collections.virtops.libvirt_admin.plugins.plugin_utils._watch_hosts import RemoteHost
    from tests.unit.plugins.plugin_utils.watch_helpers import settings

    log = tmp_path / "logins"
    slow = tmp_path / "ssh"
    slow.write_text(
        "#!/bin/sh\n"
        f'echo "start $(date +%s.%N)" >> {log}; sleep 0.3; echo "end $(date +%s.%N)" >> {log}\n'
        'while [ $# -gt 0 ]; do case "$1" in --) shift; break;; *) shift;; esac; done\n'
        'exec sh -c "$*"\n'
    )
    slow.chmod(0o755)
    config = settings(inventory="unused", ssh=str(slow), logins=2)
    logins = threading.BoundedSemaphore(config.logins)
    hosts = [
        RemoteHost(HostSpec(f"h{n}", python=sys.executable), config, str(tmp_path), logins=logins) for n in range(6)
    ]
    threads = [threading.Thread(target=host.poll, args=(0.0,)) for host in hosts]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert all(host.session.alive for host in hosts)
    finally:
        for host in hosts:
            host.close()
    under_way, most = 0, 0
    for line in sorted(log.read_text().split("\n")[:-1], key=lambda line: float(line.split()[1])):
        under_way += 1 if line.startswith("start") else -1
        most = max(most, under_way)
    assert most == 2


def test_the_control_command_stays_well_under_the_kernels_limit_for_one_argument():
    """The whole remote command is one argument to ssh (128 KiB at most on Linux): the agent and what
    discovery imports at import time, not the module_utils that only its functions import."""
    command = HostSpec("h1", become=True).remote_command("control", _ssh_relay.discovery_source())
    assert len(command) < 64 * 1024, len(command)
    assert sorted(_ssh_relay.module_utils_texts()) == ["_admin", "_discovery"]
