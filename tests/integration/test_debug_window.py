"""playbooks/debug_window.yml end to end against a sandboxed daemon: the
window opens, a real client's calls are logged, the settings are restored
however the window ends, and the log is fetched to the controller."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import time

from tests.harness import witness
from tests.harness.ansible import BIN, ansible_env
from tests.harness.clients import Clients

RECORDED = ("1:file:/var/log/libvirt/before.log 3:stderr", "2:*rpc*")
WINDOW_FILTERS = ["1:secret", "4:*"]


def prepare(daemon):
    witness.virt_admin(daemon.uri, "daemon-log-outputs", "--outputs", RECORDED[0])
    witness.virt_admin(daemon.uri, "daemon-log-filters", "--filters", "2:rpc")
    assert (witness.log_outputs(daemon.uri), witness.log_filters(daemon.uri)) == RECORDED


def playbook_argv(daemon, fetch_dir, extra: dict) -> list:
    """ansible-playbook run inside the daemon's mount namespace: the daemon's
    default admin URI and its /var/log/libvirt are those of a managed host."""
    extra_vars = {
        "libvirt_admin_hosts": "localhost",
        "libvirt_admin_become": False,
        "libvirt_admin_debug_filters": WINDOW_FILTERS,
        "libvirt_admin_debug_fetch_dir": str(fetch_dir),
        **extra,
    }
    argv = [str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", "virtops.libvirt_admin.debug_window"]
    return daemon.nsenter([*argv, "-e", json.dumps(extra_vars)])


def playbook_env() -> dict:
    env = ansible_env()
    for test_only in ("ANSIBLE_STDOUT_CALLBACK", "ANSIBLE_CALLBACK_PLUGINS"):
        env.pop(test_only)
    return env


def wait_for_window(daemon, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while witness.log_filters(daemon.uri) != "1:*secret* 4:***":
        assert time.monotonic() < deadline, "the debug window did not open"
        time.sleep(0.1)
    assert witness.log_outputs(daemon.uri) == (
        "1:file:/var/log/libvirt/before.log 3:stderr 1:file:/var/log/libvirt/debug-window.log"
    )


def client_call(daemon) -> None:
    with Clients([{"uri": f"secret:///system?socket={daemon.socket}"}]) as client:
        assert client.probe() == [True]


def fetched_debug_log(fetch_dir) -> str:
    return (fetch_dir / "localhost" / "debug-window.log").read_text()


def test_timed_window(make_daemon, tmp_path):
    daemon = make_daemon(drivers=("secret",))
    prepare(daemon)
    # A relative fetch folder is taken from where ansible-playbook runs (not the playbook's folder).
    fetch_dir = tmp_path / "logs"
    argv = playbook_argv(daemon, "logs", {"libvirt_admin_debug_seconds": 4})
    argv.insert(argv.index("--"), f"--wd={tmp_path}")  # entering a mount namespace resets the cwd
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=playbook_env())
    wait_for_window(daemon)
    client_call(daemon)
    output = process.communicate(timeout=120)[0]
    assert process.returncode == 0, output
    assert (witness.log_outputs(daemon.uri), witness.log_filters(daemon.uri)) == RECORDED
    assert ": debug : virConnectListAllSecrets" in fetched_debug_log(fetch_dir)


def test_window_interrupted_restores_all_the_same(make_daemon, tmp_path):
    """Ctrl+C then A (abort) in the middle of the window, at a real terminal."""
    daemon = make_daemon(drivers=("secret",))
    prepare(daemon)
    fetch_dir = tmp_path / "logs"
    pid, terminal = pty.fork()
    if pid == 0:  # the child: ansible-playbook at a terminal
        argv = playbook_argv(daemon, fetch_dir, {"libvirt_admin_debug_seconds": 600})
        os.execvpe(argv[0], argv, playbook_env())
    output = b""
    try:
        wait_for_window(daemon)
        client_call(daemon)
        time.sleep(1)
        os.write(terminal, b"\x03")  # Ctrl+C
        time.sleep(1)
        os.write(terminal, b"a")  # abort
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            ready = select.select([terminal], [], [], 1)[0]
            if ready:
                try:
                    chunk = os.read(terminal, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                output += chunk
    finally:
        reaped = os.waitpid(pid, os.WNOHANG)
        if reaped[0] == 0:
            time.sleep(5)
            reaped = os.waitpid(pid, os.WNOHANG)
        if reaped[0] == 0:
            os.kill(pid, signal.SIGKILL)
            reaped = os.waitpid(pid, 0)
        status = reaped[1]
    text = output.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) != 0, text
    assert "user requested abort" in text, text
    assert "Restore the recorded log settings" in text
    assert (witness.log_outputs(daemon.uri), witness.log_filters(daemon.uri)) == RECORDED
    assert ": debug : virConnectListAllSecrets" in fetched_debug_log(fetch_dir)
