"""The collection on a host without libvirt's library, whose libvirtd runs in a container (issue 16).

One fleet (tests/harness/fleet.py) of two SSH hosts on loopback: host01 a ContainerisedHost
(tests/harness/containerised.py) laid out as kolla-ansible lays out nova_libvirt: its sshd and the modules
run in a root without any libvirt file (bookworm-bare, Python 3.11), while libvirtd 11.3 runs in a
"container" (the trixie root, a mount namespace of its own) sharing /run/libvirt with the host, and reading
its /etc/libvirt/libvirtd.conf from the host's /etc/kolla/nova-libvirt/libvirtd.conf (one file, bind-mounted).
host02 is an ordinary host (the machine's own libvirt 9.0 and libvirt-admin.so.0), beside it for the
playbooks. Every state is read with the container's own virt-admin, run inside the container (nsenter +
chroot), never on the host and never through the module under test. With the default backend (auto) every
task on host01 must run the protocol backend, since the library is absent there.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from tests.harness import tls, witness
from tests.harness.ansible import REPO
from tests.harness.containerised import KOLLA_CONFIG_DIR
from tests.harness.fleet import Fleet, alive, pids_in_namespaces, reap_stale_fleet
from tests.harness.ports import free_port, listening
from tests.harness.releases import libvirt_files
from tests.harness.steps import four_steps
from tests.harness.waiting import wait_for
from tests.integration.test_releases import (
    BASELINE,
    NO_TLS,
    PERSISTED,
    PERSISTED_LINES,
    RESET,
    settings_lines,
    snapshot,
)

pytestmark = pytest.mark.once  # not repeated per libvirt version (see tests/conftest.py)

FQCN = "virtops.libvirt_admin"
CONTAINERISED, ORDINARY = "host01", "host02"
KOLLA_CONF = f"{KOLLA_CONFIG_DIR}/libvirtd.conf"
ADMIN_SOCKET = "/run/libvirt/libvirt-admin-sock"
VIRTLOGD_SOCKET = "/run/libvirt/virtlogd-admin-sock"
MISSING_LIBRARY = "libvirt-admin.so.0: cannot open shared object file: No such file or directory"
USE_PROTOCOL = "use backend auto or protocol, which speak the admin protocol without the library"


@pytest.fixture(scope="module")
def fleet():
    running = Fleet(2, containerised=[1], drivers=("secret",)).start()
    host = running[CONTAINERISED]
    try:
        yield running
    finally:
        namespaces = {each.namespace for each in running} | {host.container_namespace}
        pids = running.pids()
        running.stop()
    # Teardown by pid: nothing is left in either host's namespace nor in the container's.
    assert [pid for pid in pids if alive(pid)] == []
    assert pids_in_namespaces(namespaces) == {}


@pytest.fixture
def host(fleet):
    """The containerised host, its daemon at the state every test starts from."""
    running = fleet[CONTAINERISED]
    if not running.libvirtd_running:
        running.start_libvirtd()
    reset(running)
    return running


def reset(host) -> None:
    """The daemon back to libvirtd's compiled-in defaults, with the container's virt-admin, and checked."""
    witness.virt_admin(host, RESET)
    assert snapshot(host) == BASELINE


def on(fleet, pattern: str = CONTAINERISED, env: dict | None = None):
    """A runner for four_steps: one module on one host of the fleet, over SSH."""

    def run(module: str, args: dict, check: bool = False, diff: bool = False):
        options = [*(["--check"] if check else []), *(["--diff"] if diff else [])]
        return fleet.ansible(pattern, f"{FQCN}.{module}", args or None, options, env=env)[pattern]

    return run


def by_protocol(steps) -> None:
    """Every run of the four steps reached the daemon with the protocol backend (the default, auto, chose it)."""
    for result in (steps.check, steps.apply, steps.again, steps.again_check):
        assert result["backend"] == "protocol", result


def inode(completed: subprocess.CompletedProcess) -> str:
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.strip()


# ---------------------------------------------------------------- what the host is


PROBE_LIBRARY = """
import ctypes, ctypes.util
print(ctypes.util.find_library("virt-admin"), ctypes.util.find_library("virt"))
for name in ("libvirt-admin.so.0", "libvirt.so.0"):
    try:
        ctypes.CDLL(name)
    except OSError as error:
        print(error)
"""


def test_the_host_has_no_libvirt_and_the_container_has_it(fleet, host):
    """No libvirt file in the host's root (nor in what it wrote), its python3 finds no library; the daemon is
    the container's 11.3, in a mount namespace of its own; socket and config file are the same files on both
    sides; server_info over SSH ran the protocol backend on host01, the library on the ordinary host02."""
    assert libvirt_files(host.release.root) == []
    probe = fleet.ansible(CONTAINERISED, "ansible.builtin.command", {"argv": ["/usr/bin/python3", "-c", PROBE_LIBRARY]})
    lines = probe[CONTAINERISED]["stdout"].splitlines()
    assert lines == [
        "None None",
        MISSING_LIBRARY,
        "libvirt.so.0: cannot open shared object file: No such file or directory",
    ]
    which = host.run(["sh", "-c", "command -v virt-admin virsh libvirtd; ls /usr/lib/x86_64-linux-gnu | grep virt"])
    assert which.stdout == "", which.stdout
    assert libvirt_files(host.root / "upper") == []

    own = host.own_virt_admin("version").stdout
    assert "Using library: libvirt 11.3.0" in own and "Running against daemon: 11.3.0" in own, own
    assert host.namespace != host.container_namespace
    assert host.daemon.pid in host.container_pids()
    assert host.daemon.pid not in pids_in_namespaces({host.namespace})
    for path, inside in ((ADMIN_SOCKET, ADMIN_SOCKET), (KOLLA_CONF, "/etc/libvirt/libvirtd.conf")):
        seen_by_host = inode(host.run(["stat", "-L", "-c", "%d:%i", path]))
        seen_by_container = inode(host.run_in_container(["stat", "-L", "-c", "%d:%i", inside]))
        assert seen_by_host == seen_by_container, (path, inside)

    info = fleet.ansible("all", f"{FQCN}.libvirt_admin_server_info")
    result = info[CONTAINERISED]
    assert not result.failed and not result.changed, result
    assert result["backend"] == "protocol"
    assert result["uri"] == "libvirtd:///system"
    assert result["version"] == witness.daemon_version(host) == "11.3.0"
    servers = {server["name"]: server for server in result["servers"]}
    assert sorted(servers) == sorted(witness.servers(host)) == ["admin", "libvirtd"]
    assert servers["libvirtd"]["threadpool"]["max_workers"] == witness.threadpool(host, "libvirtd")["maxWorkers"]
    ordinary = info[ORDINARY]
    assert (ordinary.failed, ordinary["backend"], ordinary["version"]) == (False, "library", "9.0.0"), ordinary


# ---------------------------------------------------------------- each state module, in four steps


def test_threadpool(fleet, host):
    steps = four_steps(
        "libvirt_admin_threadpool",
        {"min_workers": 3, "max_workers": 12, "prio_workers": 4},
        lambda: witness.settings(host, "libvirtd"),
        run=on(fleet),
    )
    by_protocol(steps)
    assert steps.after == (3, 12, 4)
    assert steps.apply["diff"]["before"]["max_workers"] == 20


def test_client_limits(fleet, host):
    def limits():
        found = witness.client_limits(host, "libvirtd")
        return found["nclients_max"], found["nclients_unauth_max"]

    steps = four_steps("libvirt_admin_clients", {"max_clients": 300, "max_unauth_clients": 30}, limits, run=on(fleet))
    by_protocol(steps)
    assert steps.after == (300, 30)


def test_logging(fleet, host):
    """A file output lands in the container's /var/log/libvirt (the host has none: the daemon writes there)."""
    outputs = ["1:file:/var/log/libvirt/debug.log", "3:stderr"]
    steps = four_steps(
        "libvirt_admin_logging",
        {"outputs": outputs, "filters": ["1:qemu", "3:util.object"]},
        lambda: (witness.log_outputs(host), witness.log_filters(host)),
        run=on(fleet),
    )
    by_protocol(steps)
    assert steps.after == (" ".join(outputs), "1:*qemu* 3:*util.object*")
    assert (host.root / "log" / "debug.log").exists()  # the daemon opened it, in the container's /var/log/libvirt
    assert host.run(["test", "-e", "/var/log/libvirt"]).returncode == 1  # not on the host's side


DAEMON_STATE = {
    "servers": {
        "libvirtd": {"min_workers": 3, "max_workers": 12, "prio_workers": 4, "max_clients": 300},
        "admin": {"max_workers": 8, "max_clients": 7},
    },
    "logging": {"outputs": ["2:stderr"], "filters": ["1:rpc", "3:util"]},
}


def test_daemon(fleet, host):
    steps = four_steps("libvirt_admin_daemon", DAEMON_STATE, lambda: snapshot(host), run=on(fleet))
    by_protocol(steps)
    assert steps.after["libvirtd"] == {
        "minWorkers": 3,
        "maxWorkers": 12,
        "prioWorkers": 4,
        "nclients_max": 300,
        "nclients_unauth_max": 20,
    }
    assert (steps.after["admin"]["maxWorkers"], steps.after["admin"]["nclients_max"]) == (8, 7)
    assert (steps.after["outputs"], steps.after["filters"]) == ("2:stderr", "1:*rpc* 3:*util*")


# ---------------------------------------------------------------- clients: the container's virsh


def test_client_info_and_disconnect_with_the_containers_virsh(fleet, host):
    """A read-write and a read-only virsh of the container, held open by a sleep on their stdin: client_info
    over SSH matches the container's virt-admin, and the clients are the container's processes; then the
    read-only one is disconnected in four steps."""
    started = []
    try:
        for flags in ("", "-r "):
            command = ["sh", "-c", f"sleep 60 | exec virsh {flags}-c secret:///system >/dev/null 2>&1"]
            started.append(subprocess.Popen(host.in_container(command), start_new_session=True))
        wait_for(lambda: len(witness.client_ids(host, "libvirtd")) == 2, what="the container's virsh clients")
        result = on(fleet)("libvirt_admin_client_info", {})
        assert not result.failed and not result.changed and result["backend"] == "protocol", result
        records = result["clients"]
        assert [record["id"] for record in records] == witness.client_ids(host, "libvirtd")
        assert sorted(record["readonly"] for record in records) == [False, True]
        for record in records:
            info = witness.client_info(host, "libvirtd", record["id"])
            assert record["transport"] == info["transport"] == "unix"
            assert record["readonly"] == (info["readonly"] == "yes")
            since = datetime.strptime(info["connection_time"], "%Y-%m-%d %H:%M:%S%z")
            assert record["connected_since_iso"] == since.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            assert record["unix_user_name"] == info["unix_user_name"] == "root"
            assert record["unix_process_id"] == int(info["unix_process_id"])
            # pid_mode: host, as kolla runs it: the daemon names the client by a pid the host sees, and that
            # process is the container's virsh
            assert record["unix_process_id"] in host.container_pids()
            with open(f"/proc/{record['unix_process_id']}/cmdline", "rb") as cmdline:
                assert cmdline.read().split(b"\0")[0] == b"virsh"
        (readonly,) = [record for record in records if record["readonly"]]

        steps = four_steps(
            "libvirt_admin_clients",
            {"disconnect": {"readonly": True}},
            lambda: witness.client_ids(host, "libvirtd"),
            run=on(fleet),
        )
        by_protocol(steps)
        assert steps.after == [record["id"] for record in records if not record["readonly"]]
        assert [client["id"] for client in steps.apply["disconnected"]] == [readonly["id"]]
    finally:
        for process in started:
            os.killpg(process.pid, signal.SIGTERM)
        for process in started:
            process.wait(10)


# ---------------------------------------------------------------- TLS


def test_tls_reload_in_the_container(fleet, host, tmp_path):
    """The container's libvirtd listens for TLS (the listen keys in the host's kolla file, --listen, the old
    CA's files in the container's /etc/pki) and keeps serving the old certificate after the files are
    replaced, until the task (check mode first) makes it reload; the admin server, and a daemon without a
    TLS listener, fail clearly."""
    old, new = tls.Pki.create(tmp_path / "old", "Old"), tls.Pki.create(tmp_path / "new", "New")
    original = host.config_file.read_text()
    port = free_port(host.address)
    listen = {
        "listen_tls": "1",
        "listen_tcp": "0",
        "listen_addr": f'"{host.address}"',
        "tls_port": f'"{port}"',
        "auth_tls": '"none"',
    }
    run = on(fleet)

    def served() -> str:
        return tls.served_fingerprint(port, host.address)

    try:
        host.config_file.write_text(original + "".join(f"{key} = {value}\n" for key, value in listen.items()))
        old.install_server(host.pki_dir)
        host.daemon.args = ("--listen",)
        host.restart_container()
        wait_for(lambda: (host.address, port) in listening([host.address]), what="the TLS listener")
        assert served() == old.fingerprint
        new.install_server(host.pki_dir)
        assert served() == old.fingerprint  # rotated on disk: not served before the reload

        check = run("libvirt_admin_tls", {}, check=True)
        assert (check.changed, check.failed, check["reloaded"], check["backend"]) == (True, False, False, "protocol")
        assert served() == old.fingerprint, "check mode reloaded"
        apply = run("libvirt_admin_tls", {})
        assert (apply.changed, apply.failed, apply["reloaded"], apply["backend"]) == (True, False, True, "protocol")
        assert apply["server"] == "libvirtd"
        assert served() == new.fingerprint

        completed = host.own_virt_admin("server-update-tls", "admin")
        assert completed.returncode == 1 and NO_TLS in completed.stderr, completed.stderr
        admin = run("libvirt_admin_tls", {"server": "admin"})
        assert admin.failed and not admin.changed, admin
        assert "the admin server has no TLS listener" in admin.msg, admin.msg
        assert served() == new.fingerprint
    finally:
        host.config_file.write_text(original)
        host.daemon.args = ()
        host.restart_container()
    no_listener = run("libvirt_admin_tls", {})
    assert no_listener.failed and not no_listener.changed, no_listener
    assert NO_TLS in no_listener.msg and "set listen_tls = 1" in no_listener.msg, no_listener.msg


# ---------------------------------------------------------------- persist, into the kolla config file


def test_persist_into_the_kolla_config_file_holds_after_a_container_restart(fleet, host):
    """persist with config_file: /etc/kolla/nova-libvirt/libvirtd.conf, in four steps, edits the host's file
    (trixie's shipped libvirtd.conf), which the container's libvirtd reads after the container restarts.
    The module replaces the file (a new file renamed over it): the running container's bind mount keeps the
    old file until its mounts are made again, which a container restart does. The default config_file,
    /etc/libvirt/libvirtd.conf, is not on the host: the task fails before changing anything."""
    original = host.config_file.read_text()
    assert settings_lines(original) == [], "trixie's shipped libvirtd.conf sets something"
    container_file = ["cat", "/etc/libvirt/libvirtd.conf"]
    try:
        default = on(fleet)("libvirt_admin_daemon", {**PERSISTED, "persist": True})
        assert default.failed and not default.changed, default
        assert "/etc/libvirt/libvirtd.conf" in default.msg, default.msg
        assert snapshot(host) == BASELINE and host.config_file.read_text() == original

        args = {**PERSISTED, "persist": True, "config_file": KOLLA_CONF}
        steps = four_steps(
            "libvirt_admin_daemon", args, lambda: (host.config_file.read_text(), snapshot(host)), run=on(fleet)
        )
        by_protocol(steps)
        assert steps.apply["config_file"] == KOLLA_CONF
        edited = host.config_file.read_text()
        assert settings_lines(edited) == PERSISTED_LINES, settings_lines(edited)
        assert len(edited.splitlines()) == len(original.splitlines())  # the shipped examples became settings
        # the running container still sees the file it was started with
        assert host.run_in_container(container_file).stdout == original

        before = host.container_pids()  # the holder, libvirtd (a namespace's number may be reused: not that)
        assert host.daemon.pid in before
        host.restart_container()  # runtime settings are lost: what holds is the file's
        assert [pid for pid in before if alive(pid)] == []
        assert host.daemon.pid not in before
        assert host.run_in_container(container_file).stdout == edited
        state = snapshot(host)
        assert state["libvirtd"] == {
            "minWorkers": 7,
            "maxWorkers": 33,
            "prioWorkers": 5,
            "nclients_max": 300,
            "nclients_unauth_max": 30,
        }
        assert state["admin"]["maxWorkers"] == 8
        assert state["filters"] == "1:*rpc* 3:*util*"
        assert settings_lines(host.container_release.path("/etc/libvirt/libvirtd.conf").read_text()) == []
    finally:
        host.config_file.write_text(original)
        host.restart_container()
    reset(host)


# ---------------------------------------------------------------- backend: library, where there is none

ALL_MODULES = {
    "libvirt_admin_server_info": {},
    "libvirt_admin_client_info": {},
    "libvirt_admin_threadpool": {"max_workers": 40},
    "libvirt_admin_clients": {"max_clients": 400},
    "libvirt_admin_logging": {"filters": ["1:rpc"]},
    "libvirt_admin_daemon": {"servers": {"libvirtd": {"max_workers": 40}}},
    "libvirt_admin_tls": {},
}


def test_backend_library_fails_naming_the_missing_library_and_changes_nothing(fleet, host, tmp_path):
    """Every module with backend: library fails, saying the library is missing and that auto or protocol
    would work, and changes nothing; LIBVIRT_ADMIN_BACKEND=library in the task's environment does the same,
    =protocol works."""
    tasks = [
        {
            "name": f"{module} with the library",
            f"{FQCN}.{module}": {**args, "backend": "library"},
            "ignore_errors": True,
        }
        for module, args in ALL_MODULES.items()
    ]
    tasks += [
        {
            "name": f"LIBVIRT_ADMIN_BACKEND={backend}",
            f"{FQCN}.libvirt_admin_threadpool": {"max_workers": 40},
            "environment": {"LIBVIRT_ADMIN_BACKEND": backend},
            "check_mode": True,
            "ignore_errors": True,
        }
        for backend in ("library", "protocol")
    ]
    playbook = tmp_path / "library.yml"
    playbook.write_text(
        yaml.safe_dump([{"name": "Library", "hosts": CONTAINERISED, "gather_facts": False, "tasks": tasks}])
    )
    before = snapshot(host)
    completed = fleet.playbook(playbook, env={"ANSIBLE_STDOUT_CALLBACK": "task_results"})
    results = {task["task"]: task["result"] for task in json.loads(completed.stdout)["tasks"]}
    assert snapshot(host) == before
    for module in ALL_MODULES:
        result = results[f"{module} with the library"]
        assert result["failed"] and not result.get("changed"), (module, result)
        assert MISSING_LIBRARY in result["msg"] and USE_PROTOCOL in result["msg"], (module, result["msg"])
    assert MISSING_LIBRARY in results["LIBVIRT_ADMIN_BACKEND=library"]["msg"]
    by_env = results["LIBVIRT_ADMIN_BACKEND=protocol"]
    assert not by_env.get("failed") and by_env["changed"] and by_env["backend"] == "protocol", by_env


# ---------------------------------------------------------------- discovery and a stopped daemon


@pytest.fixture
def virtlogd(host):
    """The container's virtlogd beside its libvirtd (its admin socket in the shared /run/libvirt)."""
    argv = ["/usr/sbin/virtlogd", "-f", "/etc/libvirt/virtlogd.conf", "--pid-file", "/run/libvirt/virtlogd.pid"]
    process = subprocess.Popen(
        host.in_container(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    socket_path = host.root / "run" / "virtlogd-admin-sock"

    def up() -> bool:
        with socket.socket(socket.AF_UNIX) as probe:
            try:
                probe.connect(str(socket_path))
            except OSError:
                return False
        return True

    try:
        wait_for(up, what="virtlogd's admin socket")
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(10)


def test_discover_finds_the_containers_daemons_in_run_libvirt(fleet, host, virtlogd):
    result = on(fleet)("libvirt_admin_server_info", {"discover": True})
    assert not result.failed and result["backend"] == "protocol", result
    found = {daemon["daemon"]: daemon for daemon in result["daemons"]}
    assert sorted(found) == ["libvirtd", "virtlogd"]
    assert found["libvirtd"]["uri"] == f"libvirtd:///system?socket={ADMIN_SOCKET}"
    assert found["virtlogd"]["uri"] == f"virtlogd:///system?socket={VIRTLOGD_SOCKET}"
    for daemon in found.values():
        assert daemon["error"] is None and daemon["version"] == "11.3.0", daemon
    libvirtd = {server["name"]: server for server in found["libvirtd"]["servers"]}
    assert libvirtd["libvirtd"]["threadpool"]["max_workers"] == witness.threadpool(host, "libvirtd")["maxWorkers"]
    assert sorted(server["name"] for server in found["virtlogd"]["servers"]) == ["admin", "virtlogd"]


def test_a_stopped_daemon_fails_naming_the_socket_and_those_there_are(fleet, host, virtlogd):
    """libvirtd stopped: the task fails naming its socket and listing virtlogd's, the one left; virtlogd
    stopped too: the message says there is none, and discover finds none."""
    run = on(fleet)
    host.stop_libvirtd()
    try:
        assert not (host.root / "run" / "libvirt-admin-sock").exists()
        result = run("libvirt_admin_threadpool", {"max_workers": 40})
        assert result.failed and not result.changed, result
        assert f"Failed to connect socket to '{ADMIN_SOCKET}'" in result.msg, result.msg
        assert f"the admin sockets on this host are {VIRTLOGD_SOCKET}" in result.msg, result.msg
        assert "is the daemon running?" in result.msg, result.msg

        os.killpg(virtlogd.pid, signal.SIGTERM)
        virtlogd.wait(10)
        result = run("libvirt_admin_threadpool", {"max_workers": 40})
        assert result.failed and not result.changed, result
        assert f"Failed to connect socket to '{ADMIN_SOCKET}'" in result.msg, result.msg
        assert "there is no admin socket in /run/libvirt on this host" in result.msg, result.msg
        none = run("libvirt_admin_server_info", {"discover": True})
        assert not none.failed and none["daemons"] == [], none
    finally:
        host.start_libvirtd()
    assert sorted(witness.servers(host)) == ["admin", "libvirtd"]  # up again (in either order)


# ---------------------------------------------------------------- the enforce and report playbooks


def declared(host) -> dict:
    """A daemon entry of host's own values; the containerised host's persisted into its kolla file."""
    entry = {
        "daemon": "libvirtd",
        "servers": {"libvirtd": {"min_workers": 3, "max_workers": 30 + host.index, "max_clients": 300 + host.index}},
        "logging": {"filters": ["3:remote", "1:rpc"]},
    }
    if host.name == CONTAINERISED:
        entry.update(persist=True, config_file=KOLLA_CONF)
    return entry


def observed(host) -> tuple:
    state = snapshot(host)
    return (
        state["libvirtd"]["minWorkers"],
        state["libvirtd"]["maxWorkers"],
        state["libvirtd"]["nclients_max"],
        state["filters"],
    )


def test_enforce_and_report_over_the_containerised_host_and_an_ordinary_one(fleet, host, tmp_path):
    """enforce (role daemon_state) sets both hosts as declared, host01 through the protocol and into its kolla
    file, host02 through the library; a second run changes nothing; the report shows both as virt-admin
    reads them."""
    ordinary = fleet[ORDINARY]
    reset(ordinary)
    original = host.config_file.read_text()
    inventory = tmp_path / "inventory"
    (inventory / "host_vars").mkdir(parents=True)
    shutil.copy(fleet.inventory_path, inventory / "hosts.yml")
    for each in fleet:
        variables = {"libvirt_admin_daemons": [declared(each)]}
        (inventory / "host_vars" / f"{each.name}.yml").write_text(yaml.safe_dump(variables, sort_keys=False))
    env = {"ANSIBLE_INVENTORY": str(inventory), "ANSIBLE_STDOUT_CALLBACK": "task_results"}
    play_vars = ["-e", "libvirt_admin_hosts=libvirt_hosts", "-e", "libvirt_admin_become=false"]
    try:
        runs = []
        for _run in range(2):
            completed = fleet.playbook(f"{FQCN}.enforce", args=play_vars, env=env)
            assert completed.returncode == 0, completed.stdout + completed.stderr
            tasks = json.loads(completed.stdout)["tasks"]
            runs.append({task["host"]: task["result"] for task in tasks if task["task"].startswith("Set each")})
        first, again = runs
        for each in fleet:
            (item,) = first[each.name]["results"]
            assert item["changed"] and not item.get("failed"), (each.name, item)
            assert item["backend"] == ("protocol" if each.name == CONTAINERISED else "library"), (each.name, item)
            assert observed(each) == (3, 30 + each.index, 300 + each.index, "3:*remote* 1:*rpc*"), each.name
            (second,) = again[each.name]["results"]
            assert not second["changed"] and not second.get("failed"), (each.name, second)
        assert first[CONTAINERISED]["results"][0]["config_file"] == KOLLA_CONF
        assert "max_workers = 31" in settings_lines(host.config_file.read_text())

        report_dir = tmp_path / "report"
        report_vars = {"libvirt_admin_hosts": "libvirt_hosts", "libvirt_admin_become": False}
        report = fleet.playbook(
            f"{FQCN}.report",
            extra_vars={**report_vars, "fleet_report_dir": str(report_dir)},
            env={"ANSIBLE_INVENTORY": str(inventory)},
        )
        assert report.returncode == 0, report.stdout + report.stderr
        data = json.loads((report_dir / "report.json").read_text())
        rows = {(row["host"], row["server"]): row for row in data["servers"]}
        assert sorted(rows) == sorted((each.name, server) for each in fleet for server in ("admin", "libvirtd"))
        for each in fleet:
            row = rows[(each.name, "libvirtd")]
            assert row["level"] == "ok", row
            assert row["threadpool"]["max_workers"] == witness.threadpool(each, "libvirtd")["maxWorkers"]
            assert row["clients"]["max_clients"] == witness.client_limits(each, "libvirtd")["nclients_max"]
        assert data["summary"]["hosts"] == 2 and data["summary"]["failed"] == 0, data["summary"]
    finally:
        host.config_file.write_text(original)
    reset(host)
    reset(ordinary)


# ---------------------------------------------------------------- the cached roots


def test_the_cached_roots_are_never_written(fleet, host):
    """What the host and the container wrote went to their own layers and folders: no file of either cached
    root is newer than its stamp."""
    witness.virt_admin(host, "daemon-log-outputs --outputs '1:file:/var/log/libvirt/probe.log 3:stderr'")
    for release in (host.release, host.container_release):
        newer = release.written_since_built()
        assert newer == [], newer[:20]
    assert (host.root / "log" / "probe.log").exists()
    assert not host.container_release.path("/var/log/libvirt/probe.log").exists()
    assert not host.release.path("/root/.ssh/authorized_keys").exists()
    assert not host.release.path(KOLLA_CONF).exists()
    reset(host)


CRASHING = """
import json, os
from tests.harness.fleet import Fleet

fleet = Fleet(1, containerised=[1]).start()
host = fleet["host01"]
host.restart_container()  # fleet.json names the container's new namespace
fleet.ansible("all", "ansible.builtin.ping")
print(json.dumps({"root": fleet.root.as_posix(), "host": host.root.as_posix(), "pids": fleet.pids(),
                  "addresses": fleet.addresses, "namespaces": [host.namespace, host.container_namespace],
                  "container": host.container_pids()}))
os.kill(os.getpid(), 9)
"""


def test_a_containerised_host_of_a_fleet_whose_process_died_is_reaped():
    """SIGKILLed, the fleet's process runs no finaliser: the holders, libvirtd and sshd get their parent-death
    signal, reap_stale_fleet stops the rest by pid (found in the host's and the container's namespaces by the
    host's own folders) and removes the host's folders, the container's layer among them."""
    done = subprocess.run(
        [sys.executable, "-c", CRASHING], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == -9, done.stderr
    left = json.loads(done.stdout)
    assert len(left["container"]) >= 2, left  # the container's holder and libvirtd
    reap_stale_fleet(Path(left["root"]))
    wait_for(lambda: not any(alive(pid) for pid in left["pids"]), timeout=10, what="the fleet's processes")
    assert pids_in_namespaces(set(left["namespaces"])) == {}
    assert listening(left["addresses"]) == []
    assert not Path(left["root"]).exists() and not Path(left["host"]).exists()
