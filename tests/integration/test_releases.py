"""The collection's modules and playbooks on hosts of four Debian releases at once, over SSH.

One fleet (tests/harness/fleet.py) of four hosts: host01 bookworm (the machine's own root, libvirt
9.0.0, Python 3.11), host02 bullseye (7.0.0, 3.9), host03 trixie (11.3.0, 3.13) and host04 sid (12.8.0,
3.14), the last three chrooted in the roots tests/harness/releases.py builds (`make releases`). On each
host the modules run with that release's python3 and load its libvirt-admin.so.0; every state is read
back with that host's own virt-admin, run inside the host (tests.harness.witness with the host), never
with the module under test. Each test first puts every daemon into the state it starts from, so the
tests share the fleet but not an order; each module step is one `ansible` run over the four hosts.

Both backends on every release: the state modules' four steps and failures, server_info, client_info,
the TLS reload and the daemon's timeout and shutdown run once through the library (libvirt-admin.so.0 of
the release: `backend: library`, or for server_info the default, auto, which takes the library wherever
it loads) and once with `backend: protocol` (the admin protocol in pure Python, on the release's
python3); every result that reached a daemon names the backend that did. The persist, enforce and report
tests run with the default. tests/integration/test_release_equivalence.py compares the two backends'
seam calls inside each host.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from tests.harness import tls, witness
from tests.harness.ansible import REPO
from tests.harness.fleet import Fleet, alive, pids_in_namespaces, reap_stale_fleet
from tests.harness.ports import free_port, listening
from tests.harness.releases import Release
from tests.harness.waiting import wait_for
from tests.unit.plugins.module_utils.test_config import shipped_config

pytestmark = pytest.mark.once  # not repeated per libvirt version (see tests/conftest.py)

# host number -> (release, libvirt, Python X.Y): what each release ships
HOSTS = {
    1: ("bookworm", "9.0.0", "3.11"),
    2: ("bullseye", "7.0.0", "3.9"),
    3: ("trixie", "11.3.0", "3.13"),
    4: ("sid", "12.8.0", "3.14"),
}
RELEASES = {release: [number] for number, (release, _libvirt, _python) in HOSTS.items()}
FQCN = "virtops.libvirt_admin"
ENFORCE_ARGS = ["-e", "libvirt_admin_hosts=libvirt_hosts", "-e", "libvirt_admin_become=false"]
NO_TLS = "no tls service found, unable to update tls files"
BACKENDS = ("library", "protocol")


@pytest.fixture(scope="module")
def fleet():
    running = Fleet(len(HOSTS), releases=RELEASES, drivers=("secret", "storage"), pki=True).start()
    try:
        yield running
    finally:
        namespaces = {host.namespace for host in running}
        pids = running.pids()
        running.stop()
    # Teardown by pid: nothing is left in any host's mount namespace, nor of what ran there.
    assert [pid for pid in pids if alive(pid)] == []
    assert pids_in_namespaces(namespaces) == {}


def on_every_host(fleet, function) -> dict:
    """{host name: function(host)}, the hosts at once."""
    with ThreadPoolExecutor(max_workers=len(fleet)) as pool:
        return dict(zip([host.name for host in fleet], pool.map(function, fleet)))


def run(fleet, module: str, args: dict, *options: str, backend: str | None = None, connects=True) -> dict:
    """One module over every host: {host name: Result}. With backend, the task asks for it, and every
    result says it ran with it (connects False, or False in a {host name: bool}: a task that fails before
    it opens a connection, whose result names no backend)."""
    if backend is not None:
        args = {**args, "backend": backend}
    results = fleet.ansible("all", f"{FQCN}.{module}", args or None, list(options))  # "-a {}" is a raw param
    assert sorted(results) == sorted(host.name for host in fleet), results
    if backend is not None:
        for name, result in results.items():
            connected = connects.get(name, True) if isinstance(connects, dict) else connects
            assert result.get("backend") == (backend if connected else None), (name, backend, result)
    return results


# ---------------------------------------------------------------- the daemons' state, as virt-admin reads it

SNAPSHOT = "; ".join(
    [
        "srv-threadpool-info libvirtd",
        "srv-clients-info libvirtd",
        "srv-threadpool-info admin",
        "srv-clients-info admin",
        "daemon-log-outputs",
        "daemon-log-filters",
    ]
)
SETTABLE = ("minWorkers", "maxWorkers", "prioWorkers", "nclients_max", "nclients_unauth_max")


def snapshot(host) -> dict:
    """The settable state of a host's daemon, read by its own virt-admin in one process:
    {"libvirtd": {minWorkers: ..., nclients_max: ...}, "admin": {...}, "outputs": str, "filters": str}."""
    state: dict = {"libvirtd": {}, "admin": {}}
    pools = limits = 0
    for line in witness.virt_admin(host, SNAPSHOT).splitlines():
        key, _colon, value = (part.strip() for part in line.partition(":"))
        if key == "minWorkers":
            pools += 1
        if key == "nclients_max":
            limits += 1
        if key in ("minWorkers", "maxWorkers", "prioWorkers"):
            state["libvirtd" if pools == 1 else "admin"][key] = int(value)
        elif key in ("nclients_max", "nclients_unauth_max"):
            state["libvirtd" if limits == 1 else "admin"][key] = int(value)
        elif key == "Logging outputs":
            state["outputs"] = value
        elif key == "Logging filters":
            state["filters"] = value
    return state


# What every test starts from: libvirtd's compiled-in defaults (the shipped config files set nothing).
BASELINE = {
    "libvirtd": {"minWorkers": 5, "maxWorkers": 20, "prioWorkers": 5, "nclients_max": 5000, "nclients_unauth_max": 20},
    "admin": {"minWorkers": 1, "maxWorkers": 5, "prioWorkers": 0, "nclients_max": 5000, "nclients_unauth_max": 0},
    "outputs": "3:stderr",
    "filters": "",
}
RESET = "; ".join(
    [
        "srv-threadpool-set libvirtd --min-workers 5 --max-workers 20 --priority-workers 5",
        "srv-clients-set libvirtd --max-clients 5000 --max-unauth-clients 20",
        "srv-threadpool-set admin --min-workers 1 --max-workers 5",
        "srv-clients-set admin --max-clients 5000",
        "daemon-log-outputs --outputs 3:stderr",
        "daemon-log-filters --filters ''",
    ]
)


def reset(fleet) -> None:
    """Every daemon to BASELINE, with its own virt-admin, and checked."""
    on_every_host(fleet, lambda host: witness.virt_admin(host, RESET))
    assert on_every_host(fleet, snapshot) == {host.name: BASELINE for host in fleet}


def four_steps(fleet, module: str, args: dict, observe=snapshot, backend: str | None = None) -> dict:
    """check, apply, again, again in check (each with backend, when given): changed, changed, unchanged,
    unchanged on every host; check mode changes nothing, the again runs leave what apply made. Returns the
    apply run's results."""
    before = on_every_host(fleet, observe)
    check = run(fleet, module, args, "--check", "--diff", backend=backend)
    for name, result in check.items():
        assert result.changed and not result.failed, (name, result)
    assert on_every_host(fleet, observe) == before, "check mode changed a daemon"
    apply = run(fleet, module, args, "--diff", backend=backend)
    for name, result in apply.items():
        assert result.changed and not result.failed, (name, result)
    after = on_every_host(fleet, observe)
    for name in after:
        assert after[name] != before[name], name
    for options in ((), ("--check",)):
        again = run(fleet, module, args, *options, "--diff", backend=backend)
        for name, result in again.items():
            assert not result.changed and not result.failed, (name, options, result)
    assert on_every_host(fleet, observe) == after
    return apply


def fails_and_changes_nothing(
    fleet, module: str, args: dict, message: str, backend: str | None = None, connects: bool = True
) -> dict:
    before = on_every_host(fleet, snapshot)
    results = run(fleet, module, args, backend=backend, connects=connects)
    for name, result in results.items():
        assert result.failed and not result.changed, (name, result)
        assert message in result.msg, (name, result.msg)
    assert on_every_host(fleet, snapshot) == before
    return results


# ---------------------------------------------------------------- what each host is


# What a server's pool counts at a moment (the admin server's workers serve the very task that reads them).
MOMENTARY = ("workers", "free_workers", "busy_workers", "job_queue_depth")


def comparable_info(result) -> dict:
    """A server_info result without what changes from one reading to the next (workers that come and go,
    the backend) and in the daemon's order of servers."""
    servers = []
    for server in sorted(result["servers"], key=lambda server: server["name"]):
        pool = {key: value for key, value in server["threadpool"].items() if key not in MOMENTARY}
        servers.append({**server, "threadpool": pool})
    return {"uri": result["uri"], "version": result["version"], "logging": result["logging"], "servers": servers}


def test_each_release_runs_its_own_libvirt_and_python(fleet):
    """server_info reports the version the host's own virt-admin reports, through either backend (auto:
    the library, which loads on every release) and alike; the modules ran with the release's own python3."""
    assert [(host.index, host.release.suite) for host in fleet] == [(n, HOSTS[n][0]) for n in HOSTS]
    for host in fleet:
        release, libvirt, python = HOSTS[host.index]
        assert host.release == Release.get(release)
        assert (host.release.libvirt_version, host.release.python) == (libvirt, python), host
        assert host.libvirt_version == libvirt
    reset(fleet)
    infos = {  # backend auto: the library, as every release has it
        "library": run(fleet, "libvirt_admin_server_info", {}),
        "protocol": run(fleet, "libvirt_admin_server_info", {}, backend="protocol"),
    }
    facts = fleet.ansible("all", "ansible.builtin.setup", {"filter": "ansible_python*"})
    for host in fleet:
        _release, libvirt, python = HOSTS[host.index]
        own = witness.virt_admin(host, "version")
        assert f"Running against daemon: {libvirt}" in own, own
        assert f"Using library: libvirt {libvirt}" in own, own  # the host's own virt-admin and library
        assert witness.daemon_version(host) == libvirt
        for backend, info in infos.items():
            result = info[host.name]
            assert not result.failed and not result.changed, (host.name, backend, result)
            assert result["backend"] == backend, (host.name, result)
            assert result["version"] == libvirt, (host.name, backend)
            servers = {server["name"]: server for server in result["servers"]}
            assert sorted(servers) == sorted(witness.servers(host)) == ["admin", "libvirtd"]
            pool = witness.threadpool(host, "libvirtd")
            assert servers["libvirtd"]["threadpool"]["max_workers"] == pool["maxWorkers"] == 20
            assert servers["libvirtd"]["threadpool"]["workers"] == pool["nWorkers"], (host.name, backend)
            assert result["logging"] == {"outputs": ["3:stderr"], "filters": []}
        library, protocol = (comparable_info(infos[backend][host.name]) for backend in BACKENDS)
        assert library == protocol, (host.name, library, protocol)

        python_facts = facts[host.name]["ansible_facts"]["ansible_python"]
        assert python_facts["executable"] == "/usr/bin/python3"
        assert ".".join(map(str, python_facts["version_info"][:2])) == python, (host.name, python_facts)
        assert host.run(["python3", "--version"]).stdout.split()[1] == host.release.python_version
        assert host.release.python_version.startswith(python + ".")
    assert len({host.release.root for host in fleet}) == len(fleet)  # four roots: / and three built


# ---------------------------------------------------------------- each state module


@pytest.mark.parametrize("backend", BACKENDS)
def test_threadpool(fleet, backend):
    reset(fleet)
    args = {"min_workers": 3, "max_workers": 12, "prio_workers": 4}
    apply = four_steps(fleet, "libvirt_admin_threadpool", args, backend=backend)
    for host in fleet:
        assert witness.settings(host, "libvirtd") == (3, 12, 4), host.name
        assert apply[host.name]["diff"]["before"]["max_workers"] == 20
    fails_and_changes_nothing(
        fleet,
        "libvirt_admin_threadpool",
        {"min_workers": 30},
        "min_workers (30) is larger than max_workers (12, the server's current value)",
        backend=backend,
    )
    fails_and_changes_nothing(
        fleet,
        "libvirt_admin_threadpool",
        {"server": "nosuch", "max_workers": 9},
        "no server named 'nosuch'",
        backend=backend,
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_client_limits(fleet, backend):
    reset(fleet)
    four_steps(fleet, "libvirt_admin_clients", {"max_clients": 300, "max_unauth_clients": 30}, backend=backend)
    for host in fleet:
        limits = witness.client_limits(host, "libvirtd")
        assert (limits["nclients_max"], limits["nclients_unauth_max"]) == (300, 30), host.name
    fails_and_changes_nothing(
        fleet,
        "libvirt_admin_clients",
        {"max_unauth_clients": 30, "max_clients": 10},
        "max_unauth_clients (30) is larger than max_clients (10)",
        backend=backend,
    )


# How each libvirt stores what it is given (virt-admin daemon-log-outputs / -filters). Filters: every
# version keeps the level and wraps the match in * (a leading + is dropped). Outputs: 9.0 and later
# canonicalise a file output's path; 7.0.0 keeps it as given. The module sends the canonical path itself.
GIVEN_OUTPUTS = ["1:file:/var/log/libvirt/../libvirt//debug.log", "3:stderr"]
GIVEN_FILTERS = ["1:qemu", "+3:util.object", "4:*"]
STORED_FILTERS = "1:*qemu* 3:*util.object* 4:***"
CANONICAL_OUTPUTS = "1:file:/var/log/libvirt/debug.log 3:stderr"
STORED_BY_VIRT_ADMIN = {
    "7.0.0": "1:file:/var/log/libvirt/../libvirt//debug.log 3:stderr",
    "9.0.0": CANONICAL_OUTPUTS,
    "11.3.0": CANONICAL_OUTPUTS,
    "12.8.0": CANONICAL_OUTPUTS,
}


def logging_state(host) -> tuple:
    return witness.log_outputs(host), witness.log_filters(host)


@pytest.mark.parametrize("backend", BACKENDS)
def test_logging_as_each_version_rewrites_it(fleet, backend):
    reset(fleet)
    args = {"outputs": GIVEN_OUTPUTS, "filters": GIVEN_FILTERS}
    apply = four_steps(fleet, "libvirt_admin_logging", args, observe=logging_state, backend=backend)
    for host in fleet:
        assert logging_state(host) == (CANONICAL_OUTPUTS, STORED_FILTERS), host.name
        assert apply[host.name]["logging"] == {
            "outputs": CANONICAL_OUTPUTS.split(),
            "filters": ["1:qemu", "3:util.object", "4:*"],
        }, host.name
        assert apply[host.name]["diff"]["before"] == {"outputs": ["3:stderr"], "filters": []}, host.name
        # the file output acts: the daemon, chrooted or not, logs into the host's own /var/log/libvirt
        assert (host.root / "log" / "debug.log").exists(), host.name

    # The same path given to each release's virt-admin: 7.0.0 stores it as given, so the module, which
    # compares canonical paths, sees a change there (once: it then stores the canonical one), and none
    # on the versions that canonicalise it themselves.
    reset(fleet)
    for host in fleet:
        witness.virt_admin(host, "daemon-log-outputs", "--outputs", " ".join(GIVEN_OUTPUTS))
        assert witness.log_outputs(host) == STORED_BY_VIRT_ADMIN[host.libvirt_version], host.name
    check = run(fleet, "libvirt_admin_logging", {"outputs": GIVEN_OUTPUTS}, "--check", "--diff", backend=backend)
    keeps_given = {host.name: host.libvirt_version == "7.0.0" for host in fleet}
    assert {name: result.changed for name, result in check.items()} == keeps_given, check
    for host in fleet:
        assert check[host.name]["diff"]["before"]["outputs"] == STORED_BY_VIRT_ADMIN[host.libvirt_version].split()
        assert witness.log_outputs(host) == STORED_BY_VIRT_ADMIN[host.libvirt_version], "check mode changed it"

    reset(fleet)
    if backend == "library":  # refused before any connection: the same whatever the backend
        fails_and_changes_nothing(
            fleet,
            "libvirt_admin_logging",
            {"filters": ["1:qemu", "5:rpc"]},
            "filters[1] '5:rpc' is not a valid log filter",
            backend=backend,
            connects=False,
        )
    # the daemon itself refuses the file: the filters set first are put back, on every version
    fails_and_changes_nothing(
        fleet,
        "libvirt_admin_logging",
        {"filters": ["1:rpc"], "outputs": ["1:file:/nonexistent/x.log"]},
        "the filters had been changed already and were put back",
        backend=backend,
    )


DAEMON_STATE = {
    "servers": {
        "libvirtd": {"min_workers": 3, "max_workers": 12, "prio_workers": 4, "max_clients": 300},
        "admin": {"max_workers": 8, "max_clients": 7},
    },
    "logging": {"outputs": ["2:stderr"], "filters": ["1:rpc", "3:util"]},
}


@pytest.mark.parametrize("backend", BACKENDS)
def test_daemon(fleet, backend):
    reset(fleet)
    apply = four_steps(fleet, "libvirt_admin_daemon", DAEMON_STATE, backend=backend)
    for host in fleet:
        state = snapshot(host)
        assert state["libvirtd"] == {
            "minWorkers": 3,
            "maxWorkers": 12,
            "prioWorkers": 4,
            "nclients_max": 300,
            "nclients_unauth_max": 20,
        }, host.name
        assert (state["admin"]["maxWorkers"], state["admin"]["nclients_max"]) == (8, 7), host.name
        assert (state["outputs"], state["filters"]) == ("2:stderr", "1:*rpc* 3:*util*"), host.name
        assert apply[host.name]["diff"]["after"]["logging"] == DAEMON_STATE["logging"]
    bad = {"servers": {"admin": {"max_workers": 9}, "libvirtd": {"min_workers": 30}}}
    fails_and_changes_nothing(
        fleet,
        "libvirt_admin_daemon",
        bad,
        "min_workers (30) is larger than max_workers (12, the server's current value)",
        backend=backend,
    )


# ---------------------------------------------------------------- real clients of each release


def test_client_info_with_the_releases_own_virsh(fleet):
    """Two virsh of each release inside each host, one read-write and one read-only, held open by a
    sleep on their stdin; client_info, through each backend, matches srv-clients-list and client-info of
    the host's virt-admin."""
    started = []
    try:
        for host in fleet:
            for flags in ("", "-r "):
                command = ["sh", "-c", f"sleep 60 | exec virsh {flags}-c secret:///system >/dev/null"]
                started.append(subprocess.Popen(host.nsenter(command), start_new_session=True))
        for host in fleet:
            wait_for(lambda host=host: len(witness.client_ids(host, "libvirtd")) == 2, what=f"{host.name}'s clients")
        records_by = {}
        for backend in BACKENDS:
            results = run(fleet, "libvirt_admin_client_info", {}, backend=backend)
            for host in fleet:
                result = results[host.name]
                assert not result.failed and not result.changed, (host.name, backend, result)
                records = result["clients"]
                records_by.setdefault(host.name, {})[backend] = records
                assert [record["id"] for record in records] == witness.client_ids(host, "libvirtd"), host.name
                assert sorted(record["readonly"] for record in records) == [False, True], host.name
                for record in records:
                    info = witness.client_info(host, "libvirtd", record["id"])
                    assert record["transport"] == info["transport"] == "unix"
                    assert record["readonly"] == (info["readonly"] == "yes")
                    since = datetime.strptime(info["connection_time"], "%Y-%m-%d %H:%M:%S%z")
                    assert record["connected_since"] == int(since.timestamp())
                    iso = since.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
                    assert record["connected_since_iso"] == iso
                    assert record["unix_user_name"] == info["unix_user_name"] == "root"
                    assert record["unix_process_id"] == int(info["unix_process_id"])
                    # that process is the release's virsh, inside that host
                    assert record["unix_process_id"] in pids_in_namespaces({host.namespace})
                    with open(f"/proc/{record['unix_process_id']}/cmdline", "rb") as cmdline:
                        assert cmdline.read().split(b"\0")[0] == b"virsh"
            readonly = run(fleet, "libvirt_admin_client_info", {"match": {"readonly": True}}, backend=backend)
            for host in fleet:
                assert [record["readonly"] for record in readonly[host.name]["clients"]] == [True], host.name
        for name, records in records_by.items():  # the same clients, the same records
            assert records["library"] == records["protocol"], (name, records)
    finally:
        for process in started:
            os.killpg(process.pid, signal.SIGTERM)
        for process in started:
            process.wait(10)


# ---------------------------------------------------------------- persist, into each release's shipped file

PERSISTED = {
    "servers": {
        "libvirtd": {"min_workers": 7, "max_workers": 33, "max_clients": 300, "max_unauth_clients": 30},
        "admin": {"max_workers": 8},
    },
    "logging": {"filters": ["1:rpc", "3:util"]},
}
PERSISTED_LINES = sorted(
    [
        "min_workers = 7",
        "max_workers = 33",
        "max_clients = 300",
        "max_anonymous_clients = 30",
        "admin_max_workers = 8",
        'log_filters = "1:rpc 3:util"',
    ]
)


def shipped(host) -> str:
    """The release's shipped libvirtd.conf: its root's (bookworm: the packaged file of the machine's)."""
    if host.release.machine:
        text = shipped_config("libvirtd.conf")
        assert text, "no shipped libvirtd.conf of bookworm: run `make setup`"
        return text
    return host.release.path("/etc/libvirt/libvirtd.conf").read_text()


def restart_every_libvirtd(fleet) -> None:
    """Stop every host's libvirtd, then start them all and wait for them, from this thread: a daemon gets
    a parent-death signal when the thread that started it ends (so never from a thread pool)."""
    for host in fleet:
        host.stop_libvirtd()
    for host in fleet:
        host.daemon.launch()
    for host in fleet:
        host.daemon._wait_ready(15)


def settings_lines(text: str) -> list:
    """The lines that set something, spaced alike (the module keeps the style of the line it edits)."""
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return sorted(re.sub(r"\s*=\s*", " = ", line, count=1) for line in lines)


def test_persist_into_the_shipped_config_file_holds_after_restart(fleet):
    originals = {}
    for host in fleet:
        originals[host.name] = host.config_file.read_text()
        host.config_file.write_text(shipped(host))  # a release host has its copy already
        assert settings_lines(shipped(host)) == [], f"{host.release.suite}'s shipped file sets something"
    try:
        reset(fleet)
        texts = {host.name: host.config_file.read_text() for host in fleet}
        args = {**PERSISTED, "persist": True}
        check = run(fleet, "libvirt_admin_daemon", args, "--check")
        assert all(result.changed and not result.failed for result in check.values()), check
        assert {host.name: host.config_file.read_text() for host in fleet} == texts, "check mode wrote a file"
        apply = run(fleet, "libvirt_admin_daemon", args)
        for host in fleet:
            result = apply[host.name]
            assert result.changed and not result.failed, (host.name, result)
            assert result["config_file"] == "/etc/libvirt/libvirtd.conf"  # the default, inside the host
            edited = host.config_file.read_text()
            assert settings_lines(edited) == PERSISTED_LINES, (host.name, settings_lines(edited))
            # the commented-out examples became the settings, where they stood: no line added or removed
            assert len(edited.splitlines()) == len(texts[host.name].splitlines()), host.name
        again = run(fleet, "libvirt_admin_daemon", args)
        assert not any(result.changed or result.failed for result in again.values()), again

        restart_every_libvirtd(fleet)  # runtime settings are lost: what holds is the file's
        for host in fleet:
            state = snapshot(host)
            assert state["libvirtd"] == {
                "minWorkers": 7,
                "maxWorkers": 33,
                "prioWorkers": 5,
                "nclients_max": 300,
                "nclients_unauth_max": 30,
            }, host.name
            assert state["admin"]["maxWorkers"] == 8, host.name
            assert state["filters"] == "1:*rpc* 3:*util*", host.name
        # and the root's own file is untouched
        for host in fleet:
            if not host.release.machine:
                assert settings_lines(host.release.path("/etc/libvirt/libvirtd.conf").read_text()) == []
    finally:
        for host in fleet:
            host.config_file.write_text(originals[host.name])
        restart_every_libvirtd(fleet)
    reset(fleet)


# ---------------------------------------------------------------- TLS reload


def ports_of(fleet, ports: dict) -> list:
    return [(host.address, ports[host.name]) for host in fleet]


def test_tls_reload_on_every_release(fleet, tmp_path):
    """Each libvirtd listens for TLS on its host's address with the old CA's files in its own /etc/pki;
    after the files are replaced, the task (check mode first) makes it serve the new certificate: through
    the library, then, with the old files put back, through the protocol backend."""
    old, new = tls.Pki.create(tmp_path / "old", "Old"), tls.Pki.create(tmp_path / "new", "New")
    originals, ports = {}, {}
    for host in fleet:
        originals[host.name] = host.config_file.read_text()
        ports[host.name] = free_port(host.address)
        listen = {
            "listen_tls": "1",
            "listen_tcp": "0",
            "listen_addr": f'"{host.address}"',
            "tls_port": f'"{ports[host.name]}"',
            "auth_tls": '"none"',
        }
        host.config_file.write_text(originals[host.name] + "".join(f"{k} = {v}\n" for k, v in listen.items()))
        old.install_server(host.pki_dir)
        host.daemon.args = ("--listen",)
    try:
        restart_every_libvirtd(fleet)
        # the TLS listener opens a little after the admin socket
        wait_for(lambda: set(listening(fleet.addresses)) >= set(ports_of(fleet, ports)), what="the TLS listeners")

        def served(host) -> str:
            return tls.served_fingerprint(ports[host.name], host.address)

        assert on_every_host(fleet, served) == {host.name: old.fingerprint for host in fleet}
        # the admin server never has a TLS listener: each release's virt-admin says so, and the task fails
        for host in fleet:
            completed = host.own_virt_admin("server-update-tls", "admin")
            assert completed.returncode == 1 and NO_TLS in completed.stderr, (host.name, completed.stderr)
        for backend, (was, rotated) in zip(BACKENDS, [(old, new), (new, old)]):
            for host in fleet:
                rotated.install_server(host.pki_dir)  # rotated on disk: not served before the reload
            assert on_every_host(fleet, served) == {host.name: was.fingerprint for host in fleet}

            check = run(fleet, "libvirt_admin_tls", {}, "--check", backend=backend)
            for name, result in check.items():
                assert (result.changed, result.failed, result["reloaded"]) == (True, False, False), (name, result)
            assert on_every_host(fleet, served) == {host.name: was.fingerprint for host in fleet}, "check mode"

            apply = run(fleet, "libvirt_admin_tls", {}, backend=backend)
            for name, result in apply.items():
                assert (result.changed, result.failed, result["reloaded"]) == (True, False, True), (name, result)
                assert result["server"] == "libvirtd"
            assert on_every_host(fleet, served) == {host.name: rotated.fingerprint for host in fleet}, backend

            admin = run(fleet, "libvirt_admin_tls", {"server": "admin"}, backend=backend)
            for name, result in admin.items():
                assert result.failed and not result.changed, (name, result)
                assert "the admin server has no TLS listener" in result.msg, (name, result.msg)
            assert on_every_host(fleet, served) == {host.name: rotated.fingerprint for host in fleet}
    finally:
        for host in fleet:
            host.config_file.write_text(originals[host.name])
            host.daemon.args = ()
        restart_every_libvirtd(fleet)
    # without a listener, the clear failure naming what to set
    for backend in BACKENDS:
        no_listener = run(fleet, "libvirt_admin_tls", {}, backend=backend)
        for name, result in no_listener.items():
            assert result.failed and NO_TLS in result.msg and "set listen_tls = 1" in result.msg, (name, result.msg)


# ---------------------------------------------------------------- the daemon's idle timeout and shutdown

TIMEOUT_SINCE, SHUTDOWN_SINCE = "8.6.0", "11.2.0"


def has(host, version: str) -> bool:
    return tuple(map(int, host.libvirt_version.split("."))) >= tuple(map(int, version.split(".")))


def refused(result, feature: str, host, since: str) -> bool:
    """The task failed, changing nothing, naming the version the feature needs and the one the daemon runs."""
    return (
        result.failed
        and not result.changed
        and f"{feature} needs libvirt {since} or newer on the daemon" in result.msg
        and f"runs {host.libvirt_version}" in result.msg
    )


def own_virt_admin_answers(host) -> bool:
    return host.own_virt_admin("version").returncode == 0


def wait_for_exit(host, since: float, timeout: float = 10) -> float:
    """Seconds from since until the host's libvirtd exited by itself (with 0)."""
    host.daemon.process.wait(timeout)
    assert host.daemon.process.returncode == 0, host.log
    return time.monotonic() - since


def start_stopped_libvirtds(fleet) -> None:
    """Start again, from this thread (see restart_every_libvirtd), the daemons that have exited."""
    for host in fleet:
        if not host.libvirtd_running:
            host.start_libvirtd()
    assert all(host.libvirtd_running for host in fleet)


@pytest.mark.parametrize("backend", BACKENDS)
def test_daemon_timeout_on_every_release(fleet, backend):
    """7.0 refuses it naming 8.6.0; on 9.0, 11.3 and 12.8 a 2 s timeout makes the idle daemon exit, as its
    process shows, after check mode changed nothing."""
    module, feature = "libvirt_admin_daemon_timeout", "Setting the daemon's idle timeout"
    try:
        check = run(fleet, module, {"seconds": 2}, "--check", backend=backend)
        for host in fleet:
            result = check[host.name]
            if has(host, TIMEOUT_SINCE):
                assert (result.changed, result.failed, result["applied"]) == (True, False, False), (host.name, result)
            else:
                assert refused(result, feature, host, TIMEOUT_SINCE), (host.name, result)
        time.sleep(3.5)
        assert all(host.libvirtd_running for host in fleet), "check mode set a timeout"

        asked = time.monotonic()
        apply = run(fleet, module, {"seconds": 2}, backend=backend)
        returned = time.monotonic()
        for host in fleet:
            result = apply[host.name]
            if has(host, TIMEOUT_SINCE):
                assert (result.changed, result.failed, result["applied"]) == (True, False, True), (host.name, result)
            else:
                assert refused(result, feature, host, TIMEOUT_SINCE), (host.name, result)
        for host in fleet:
            if has(host, TIMEOUT_SINCE):
                # the countdown started when the task disconnected, between asked and returned
                assert 2.0 <= wait_for_exit(host, asked) <= returned - asked + 10, host.name
                assert not host.daemon.admin_socket.exists(), host.name
        time.sleep(1)
        for host in fleet:
            assert host.libvirtd_running == (not has(host, TIMEOUT_SINCE)), host.name
            if host.libvirtd_running:
                assert own_virt_admin_answers(host), host.name
    finally:
        start_stopped_libvirtds(fleet)


@pytest.mark.parametrize("backend", BACKENDS)
def test_daemon_shutdown_on_every_release(fleet, backend):
    """7.0 and 9.0 refuse it naming 11.2.0 and run on; 11.3 and 12.8 stop (the process exits, the socket
    is gone, the host's own virt-admin finds no daemon), after check mode left them running; again, there
    is nothing to do."""
    module, feature = "libvirt_admin_daemon_shutdown", "Shutting the daemon down through the admin API"
    try:
        check = run(fleet, module, {"preserve": True}, "--check", "--diff", backend=backend)
        for host in fleet:
            result = check[host.name]
            if has(host, SHUTDOWN_SINCE):
                assert (result.changed, result.failed, result["stopped"]) == (True, False, False), (host.name, result)
                assert result["diff"]["before"] == {"running": True}
            else:
                assert refused(result, feature, host, SHUTDOWN_SINCE), (host.name, result)
        assert all(host.libvirtd_running and own_virt_admin_answers(host) for host in fleet), "check mode"

        asked = time.monotonic()
        apply = run(fleet, module, {"preserve": True}, backend=backend)
        for host in fleet:
            result = apply[host.name]
            if has(host, SHUTDOWN_SINCE):
                assert (result.changed, result.failed, result["stopped"]) == (True, False, True), (host.name, result)
                assert 0 < result["stopped_after"] < 10, (host.name, result)
                assert wait_for_exit(host, asked) < 60, host.name
                assert not host.daemon.admin_socket.exists(), host.name
                completed = host.own_virt_admin("version")
                assert completed.returncode != 0 and "Failed to connect socket" in completed.stderr, host.name
            else:
                assert refused(result, feature, host, SHUTDOWN_SINCE), (host.name, result)
                assert host.libvirtd_running and own_virt_admin_answers(host), host.name

        # a stopped daemon: no connection, so no backend in the result
        stopped = {host.name: not has(host, SHUTDOWN_SINCE) for host in fleet}
        again = run(fleet, module, {"preserve": True}, backend=backend, connects=stopped)
        for host in fleet:
            result = again[host.name]
            if has(host, SHUTDOWN_SINCE):
                assert (result.changed, result.failed, result["already_stopped"]) == (False, False, True), result
                assert "/run/libvirt/libvirt-admin-sock': No such file or directory" in result["connection_error"]
            else:
                assert refused(result, feature, host, SHUTDOWN_SINCE), (host.name, result)
    finally:
        start_stopped_libvirtds(fleet)
    reset(fleet)


# ---------------------------------------------------------------- the enforce and report playbooks

RECAP = re.compile(
    r"^(?P<host>\S+)\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
    r"\s+failed=(?P<failed>\d+)",
    re.MULTILINE,
)


def recap(completed, fleet) -> dict:
    found = {
        match["host"]: {key: int(match[key]) for key in ("ok", "changed", "unreachable", "failed")}
        for match in RECAP.finditer(completed.stdout)
    }
    assert sorted(found) == sorted(host.name for host in fleet), completed.stdout + completed.stderr
    return found


def declared(host) -> dict:
    """The daemon entry a host declares: values of its own (30 + host number workers ...)."""
    return {
        "daemon": "libvirtd",
        "servers": {
            "libvirtd": {"min_workers": 3, "max_workers": 30 + host.index, "max_clients": 300 + host.index},
            "admin": {"max_workers": 7},
        },
        "logging": {"outputs": ["3:file:/var/log/libvirt/libvirtd.log"], "filters": ["3:remote", "1:rpc"]},
    }


def put_declared(host) -> None:
    """A host's daemon as declared(), set with its own virt-admin."""
    servers = declared(host)["servers"]
    witness.virt_admin(
        host,
        "; ".join(
            [
                f"srv-threadpool-set libvirtd --min-workers 3 --max-workers {servers['libvirtd']['max_workers']}",
                f"srv-clients-set libvirtd --max-clients {servers['libvirtd']['max_clients']}",
                "srv-threadpool-set admin --max-workers 7",
                "daemon-log-outputs --outputs 3:file:/var/log/libvirt/libvirtd.log",
                "daemon-log-filters --filters '3:remote 1:rpc'",
            ]
        ),
    )


def as_declared(host) -> dict:
    """snapshot()'s view of declared(host)."""
    servers = declared(host)["servers"]
    return {
        "libvirtd": {
            **BASELINE["libvirtd"],
            "minWorkers": 3,
            "maxWorkers": servers["libvirtd"]["max_workers"],
            "nclients_max": servers["libvirtd"]["max_clients"],
        },
        "admin": {**BASELINE["admin"], "maxWorkers": 7},
        "outputs": "3:file:/var/log/libvirt/libvirtd.log",
        "filters": "3:*remote* 1:*rpc*",
    }


def test_enforce_and_report_over_the_mixed_fleet(fleet, tmp_path):
    """Every host as declared but host04 (sid), drifted, and host02 (bullseye), whose libvirtd is stopped:
    enforce changes host04 only and fails on host02 alone; the report then shows host02 failed and the
    others as their own virt-admin reads them."""
    reset(fleet)
    inventory = tmp_path / "inventory"
    (inventory / "host_vars").mkdir(parents=True)
    shutil.copy(fleet.inventory_path, inventory / "hosts.yml")
    for host in fleet:
        variables = {"libvirt_admin_daemons": [declared(host)]}
        (inventory / "host_vars" / f"{host.name}.yml").write_text(yaml.safe_dump(variables, sort_keys=False))
    on_every_host(fleet, put_declared)
    drifted, down = fleet["host04"], fleet["host02"]
    witness.virt_admin(drifted, "srv-threadpool-set libvirtd --max-workers 64; daemon-log-filters --filters 1:qemu")
    assert witness.settings(drifted, "libvirtd")[1] == 64
    up = [host for host in fleet if host is not down]
    env = {"ANSIBLE_INVENTORY": str(inventory)}
    down.stop_libvirtd()
    try:
        assert not down.libvirtd_running
        enforce = fleet.playbook(f"{FQCN}.enforce", args=[*ENFORCE_ARGS, "--diff"], env=env)
        report_dir = tmp_path / "report"
        report_vars = {"libvirt_admin_hosts": "libvirt_hosts", "libvirt_admin_become": False}
        report = fleet.playbook(
            f"{FQCN}.report", extra_vars={**report_vars, "fleet_report_dir": str(report_dir)}, env=env
        )
        observed = {host.name: snapshot(host) for host in up}
    finally:
        down.start_libvirtd()

    assert enforce.returncode == 2, enforce.stdout + enforce.stderr
    rows = recap(enforce, fleet)
    assert {name: row["failed"] for name, row in rows.items()} == {"host01": 0, "host02": 1, "host03": 0, "host04": 0}
    assert {name: row["changed"] for name, row in rows.items()} == {"host01": 0, "host02": 0, "host03": 0, "host04": 1}
    assert '-            "max_workers": 64,' in enforce.stdout, enforce.stdout
    lines = [line for line in enforce.stdout.splitlines() if line.startswith(f"failed: [{down.name}]")]
    assert len(lines) == 1, enforce.stdout
    message = json.loads(lines[0].split(" => ", 1)[1])["msg"]
    assert "/run/libvirt/libvirt-admin-sock" in message, message
    assert observed == {host.name: as_declared(host) for host in up}

    assert report.returncode == 0, report.stdout + report.stderr
    assert all(row["failed"] == 0 and row["unreachable"] == 0 for row in recap(report, fleet).values())
    data = json.loads((report_dir / "report.json").read_text())
    servers = data["servers"]
    assert (servers[0]["host"], servers[0]["level"]) == (down.name, "failed"), servers[0]
    assert "/run/libvirt/libvirt-admin-sock" in servers[0]["error"], servers[0]
    by_key = {(row["host"], row["server"]): row for row in servers[1:]}
    assert sorted(by_key) == sorted((host.name, server) for host in up for server in ("admin", "libvirtd"))
    for host in up:
        row = by_key[(host.name, "libvirtd")]
        assert row["level"] == "ok", row
        assert row["threadpool"]["max_workers"] == observed[host.name]["libvirtd"]["maxWorkers"] == 30 + host.index
        assert row["clients"]["max_clients"] == observed[host.name]["libvirtd"]["nclients_max"]
        assert row["log_outputs"] == observed[host.name]["outputs"].split()
        assert by_key[(host.name, "admin")]["threadpool"]["max_workers"] == 7
    assert data["summary"]["hosts"] == len(fleet) and data["summary"]["failed"] == 1, data["summary"]
    assert sorted(witness.servers(down)) == ["admin", "libvirtd"]  # back for the other tests (in either order)


# ---------------------------------------------------------------- the cached roots


def test_the_cached_roots_are_never_written(fleet):
    """Everything the hosts wrote went to their own layers: no file of a built root is newer than its
    stamp, and the host's writes are in its upper layer."""
    for host in fleet:
        if host.release.machine:
            continue
        witness.virt_admin(host, "daemon-log-outputs --outputs '1:file:/var/log/libvirt/probe.log 3:stderr'")
        newer = host.release.written_since_built()
        assert newer == [], newer[:20]
        assert (host.root / "log" / "probe.log").exists()
        assert not host.release.path("/var/log/libvirt/probe.log").exists()
        assert not host.release.path("/root/.ssh/authorized_keys").exists()
        assert (host.root / "upper").is_dir()
    reset(fleet)


CRASHING = """
import json, os
from tests.harness.fleet import Fleet

fleet = Fleet(2, releases={"bullseye": [1], "sid": [2]}).start()
fleet.ansible("all", "ansible.builtin.ping")
print(json.dumps({"root": fleet.root.as_posix(), "hosts": [host.root.as_posix() for host in fleet],
                  "pids": fleet.pids(), "addresses": fleet.addresses,
                  "namespaces": [host.namespace for host in fleet]}))
os.kill(os.getpid(), 9)
"""


def test_release_hosts_of_a_fleet_whose_process_died_are_reaped():
    """SIGKILLed, the fleet's process runs no finaliser: the chrooted holders, libvirtds and sshds die with
    it (parent-death signal), reap_stale_fleet stops the rest by pid (their SSH sessions, found by the
    host's own /root, and the ssh masters) and removes the hosts' folders and upper layers."""
    done = subprocess.run(
        [sys.executable, "-c", CRASHING], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == -9, done.stderr
    left = json.loads(done.stdout)
    assert len(left["pids"]) > 6, left  # holders, libvirtds, sshds and more
    reap_stale_fleet(Path(left["root"]))
    assert [pid for pid in left["pids"] if alive(pid)] == []
    assert pids_in_namespaces(set(left["namespaces"])) == {}
    assert listening(left["addresses"]) == []
    assert not any(Path(folder).exists() for folder in [left["root"], *left["hosts"]])
