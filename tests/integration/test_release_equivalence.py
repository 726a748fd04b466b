"""The equivalence test (test_backend_equivalence.py) on every release host: the same seam calls through
both backends inside each host, with that host's own python3 and libvirt-admin.so.0, against that host's
own daemon, give the same results and the same errors (code, domain and message).

One fleet (tests/harness/fleet.py) of four hosts, as test_releases.py has: host01 bookworm (the machine's
own root, libvirt 9.0.0, Python 3.11), host02 bullseye (7.0.0, 3.9), host03 trixie (11.3.0, 3.13), host04
sid (12.8.0, 3.14). Each host gets a copy of the collection's module_utils and of
tests/harness/backend_calls.py in its /tmp (install_in_host; host01, which sees the machine's /tmp, in its
own folder there), and runs them there (run_calls_in_host): a ReleaseHost chrooted in its release's root,
so the library backend loads that release's libvirt-admin.so.0 and the protocol backend runs on that
release's Python.

Each backend gets every host's daemon freshly started, with the same clients connected the same way
(libvirt-python from outside, on the host's main and read-only sockets), so that the daemon's state and
its client ids are the same for both runs.

Where the two cannot agree, they are checked apart, each for what it says: a call whose C function the
host's libvirt-admin.so.0 lacks (virAdmConnectSetDaemonTimeout, 8.6.0, on bullseye's 7.0;
virAdmConnectDaemonShutdown, 11.2.0, on bullseye's and bookworm's 9.0): the library names the version and
the function it needs, the daemon refuses the protocol's call as an unknown procedure. Shutting an 11.2 or
newer daemon down is no difference: it hangs up instead of answering, and both backends take that as the
call done (the library backend since libvirt_admin_daemon_shutdown came).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.harness.backend_calls import host_folder, host_python, install_in_host, run_calls_in_host
from tests.harness.clients import Clients
from tests.harness.fleet import Fleet, _pdeathsig
from tests.integration.test_backend_equivalence import (
    NO_SHUTDOWN_HERE,
    SERVER_CALLS,
    VIRTLOGD_CALLS,
    comparable,
    differences,
)
from tests.integration.test_releases import HOSTS, RELEASES

pytestmark = pytest.mark.once  # not repeated per libvirt version (see tests/conftest.py)
BACKENDS = ("library", "protocol")
URI = "libvirtd:///system"  # the host's own daemon, as any program inside the host reaches it

# The calls whose C function came after libvirt-admin.so's first release: call -> (the version that
# brought it, the function, the admin procedure's number).
LIBRARY_SINCE = {
    "set_daemon_timeout": ("8.6.0", "virAdmConnectSetDaemonTimeout", 19),
    "daemon_shutdown": ("11.2.0", "virAdmConnectDaemonShutdown", 20),
}
SHUTDOWN_SINCE = LIBRARY_SINCE["daemon_shutdown"][0]


def version(text: str) -> tuple:
    return tuple(int(part) for part in text.split("."))


def library_lacks(host, call: str) -> bool:
    """The host's libvirt-admin.so.0 (its release's, of the daemon's version) has no function for call."""
    return call in LIBRARY_SINCE and version(host.libvirt_version) < version(LIBRARY_SINCE[call][0])


def needs(call: str) -> dict:
    """The library backend's error for a call whose function the host's libvirt-admin.so.0 lacks."""
    since, function, _proc = LIBRARY_SINCE[call]
    message = NO_SHUTDOWN_HERE.replace("11.2.0", since).replace("virAdmConnectDaemonShutdown", function)
    return {"error": [None, None, message]}


def unknown_procedure(call: str) -> dict:
    """The daemon's answer to a procedure it does not know (VIR_ERR_NO_SUPPORT, from the RPC layer)."""
    return {"error": [3, 7, f"unknown procedure: {LIBRARY_SINCE[call][2]}"]}


@pytest.fixture(scope="module")
def fleet():
    running = Fleet(len(HOSTS), releases=RELEASES, drivers=("secret",)).start()
    try:
        for host in running:
            install_in_host(host)
        yield running
    finally:
        running.stop()


def on_every_host(fleet, function) -> dict:
    """{host name: function(host)}, the hosts at once."""
    with ThreadPoolExecutor(max_workers=len(fleet)) as pool:
        return dict(zip([host.name for host in fleet], pool.map(function, fleet)))


def running_daemons(fleet) -> None:
    """Start again, from this thread, the hosts' libvirtds that have exited."""
    for host in fleet:
        if not host.libvirtd_running:
            host.start_libvirtd()


def fresh_daemons(fleet) -> None:
    """Every host's libvirtd stopped (or found stopped) and started again, from this thread (a daemon gets a
    parent-death signal when the thread that started it ends)."""
    for host in fleet:
        host.stop_libvirtd()
    for host in fleet:
        host.daemon.launch()
    for host in fleet:
        host.daemon._wait_ready(15)


def client_specs(host) -> list:
    """Two read-write clients and a read-only one, on the host's sockets (from outside)."""
    rw = {"uri": f"secret:///system?socket={host.daemon.socket}"}
    return [rw, rw, {"uri": f"secret:///system?socket={host.daemon.readonly_socket}", "readonly": True}]


def each_backend(fleet, steps: list) -> dict:
    """{host name: {backend: results}}: each backend's run of the steps inside every host at once, against
    the hosts' daemons freshly started for it, with client_specs' clients connected first."""
    runs: dict = {host.name: {} for host in fleet}
    for backend in BACKENDS:
        fresh_daemons(fleet)
        held = {}
        try:
            for host in fleet:
                held[host.name] = Clients(client_specs(host))
                assert all(held[host.name].opened), (host.name, held[host.name].errors)

            pids = {name: opened.pid for name, opened in held.items()}

            def calls(host, backend=backend, pids=pids):
                return run_calls_in_host(host, backend, URI, steps, pids[host.name])

            for name, results in on_every_host(fleet, calls).items():
                runs[name][backend] = comparable(results, "/nonexistent-daemon-folder")
        finally:
            for opened in held.values():
                opened.close()
    return runs


def set_apart(host, runs: dict, steps: list) -> dict:
    """Check the steps whose C function the host's library lacks, each backend for what it says, and take
    them out of runs (both backends' results become the same note); returns {step: {backend: result}}
    of those."""
    apart = {}
    for index, step in enumerate([["open"], *steps]):
        call = step[0]
        if not library_lacks(host, call):
            continue
        results = {backend: runs[backend][index] for backend in BACKENDS}
        assert results["library"] == needs(call), (host.name, step, results)
        assert results["protocol"] == unknown_procedure(call), (host.name, step, results)
        apart[json.dumps(step)] = results
        for backend in BACKENDS:
            runs[backend][index] = {"apart": f"the library lacks {LIBRARY_SINCE[call][1]}, the daemon {call}"}
    return apart


# ---------------------------------------------------------------- what runs in each host


def test_each_host_runs_the_calls_with_its_own_python_and_library(fleet):
    """The copy in each host imports with the release's own python3, and the library backend there loads
    the release's own libvirt-admin.so.0 (the daemon's version)."""
    code = (
        "import ctypes, json, sys\n"
        "from ansible_collections.virtops.libvirt_admin.plugins.module_utils import _library, _protocol\n"
        "lib = ctypes.CDLL('libvirt-admin.so.0')\n"
        "number = ctypes.c_ulonglong()\n"
        "assert lib.virAdmGetVersion(ctypes.byref(number)) == 0\n"
        "print(json.dumps({'python': '%d.%d' % sys.version_info[:2], 'library': number.value,"
        " 'loads': _library.load_error() is None, 'file': _protocol.__file__}))\n"
    )
    found = on_every_host(fleet, lambda host: host_python(host, code))
    for host in fleet:
        release, libvirt, python = HOSTS[host.index]
        completed = found[host.name]
        assert completed.returncode == 0, (host.name, completed.stderr)
        seen = json.loads(completed.stdout)
        major, minor, micro = version(libvirt)
        assert seen["python"] == python and seen["loads"], (host.name, seen)
        assert seen["library"] == major * 1000000 + minor * 1000 + micro, (host.name, seen)
        assert seen["file"].startswith(host_folder(host) + "/"), seen
        assert host.release.suite == release


# ---------------------------------------------------------------- the calls


def test_the_same_calls_give_the_same_results_and_errors_on_every_release(fleet):
    runs = each_backend(fleet, SERVER_CALLS)
    found = {}
    for host in fleet:
        apart = set_apart(host, runs[host.name], SERVER_CALLS)
        # only bullseye's library lacks a call here (set_daemon_timeout, 8.6.0)
        expected = ['["set_daemon_timeout", 0]'] if library_lacks(host, "set_daemon_timeout") else []
        assert sorted(apart) == expected, (host.name, apart)
        print(f"{host.name} {host.release.suite}: set apart {json.dumps(apart)}")  # shown with pytest -rP
        found[host.name] = differences(runs[host.name], SERVER_CALLS)
    assert found == {host.name: [] for host in fleet}, "\n".join(
        f"{name}: {line}" for name, lines in found.items() for line in lines
    )
    # and what they agree on is what each daemon does
    for host in fleet:
        results = runs[host.name]["protocol"]

        def result(*step, results=results):
            return results[SERVER_CALLS.index(list(step)) + 1]

        assert results[0] == {"value": "opened"}, host.name
        assert result("get_threadpool", "nosuch") == {"error": [95, 7, "Server not found: No server named 'nosuch'"]}
        assert result("set_threadpool", "libvirtd", {"minWorkers": 50, "maxWorkers": 10}) == {
            "error": [8, 0, "invalid argument: minWorkers cannot be larger than maxWorkers"]
        }, host.name
        no_tls = {"error": [1, 7, "internal error: no tls service found, unable to update tls files"]}
        assert result("update_tls_files", "libvirtd") == result("update_tls_files", "admin") == no_tls, host.name
        for bad in ("foo:stderr", "1:bar", "1:stderr:foobar"):
            assert "error" in result("set_logging_outputs", bad), (host.name, bad)
        for bad in ("5:foo", "1:", ":foo", "1:+"):
            assert "error" in result("set_logging_filters", bad), (host.name, bad)
        listed = result("clients", "libvirtd")["value"]
        assert len(listed) == 3, (host.name, listed)
        assert result("client_info", 0)["value"]["unix_process_id"] == "held", host.name
        assert result("client_info_until_gone", 2) == {
            "error": [96, 62, f"Client not found: no client with matching id '{listed[2][0]}' found"]
        }, host.name
        assert len(results[-2]["value"]) == 2, host.name


def test_a_daemon_without_a_call_refuses_it_through_either_backend(fleet):
    """The idle timeout (daemon 8.6.0) and shutdown (11.2.0) where the release has them not: the library of
    7.0 lacks both functions and says which version it needs, 9.0's lacks shutdown; the daemon refuses the
    protocol's call as an unknown procedure. Where the release has them, both backends agree, and shutdown
    stops the daemon (exit status 0) through either."""
    steps = [
        ["daemon_version"],
        ["set_daemon_timeout", 3600],
        ["set_daemon_timeout", 0],
        ["daemon_shutdown", True],
    ]
    runs: dict = {host.name: {} for host in fleet}
    exited: dict = {host.name: {} for host in fleet}
    try:
        for backend in BACKENDS:
            fresh_daemons(fleet)
            results = on_every_host(fleet, lambda host, backend=backend: run_calls_in_host(host, backend, URI, steps))
            for host in fleet:
                runs[host.name][backend] = results[host.name]
                if version(host.libvirt_version) >= version(SHUTDOWN_SINCE):
                    exited[host.name][backend] = host.daemon.process.wait(30)
                    assert not host.daemon.admin_socket.exists(), host.name
                else:
                    time.sleep(0.2)
                    exited[host.name][backend] = host.daemon.process.poll()
    finally:
        running_daemons(fleet)
    for host in fleet:
        apart = set_apart(host, runs[host.name], steps)  # each says something clear, or fails there
        print(f"{host.name} {host.release.suite}: set apart {json.dumps(apart)}")  # shown with pytest -rP
        expected = [json.dumps(step) for step in steps if library_lacks(host, step[0])]
        if version(host.libvirt_version) >= version(SHUTDOWN_SINCE):
            assert runs[host.name]["protocol"][4] == {"value": None}, host.name  # the hang-up is the call done
            assert exited[host.name] == {"library": 0, "protocol": 0}, (host.name, host.log)
        else:
            assert exited[host.name] == {"library": None, "protocol": None}, (host.name, host.log)
        assert sorted(apart) == sorted(expected), (host.name, apart)
        assert not differences(runs[host.name], steps), "\n".join(differences(runs[host.name], steps))
        major, minor, micro = version(host.libvirt_version)
        assert runs[host.name]["protocol"][1] == {"value": major * 1000000 + minor * 1000 + micro}


# ---------------------------------------------------------------- a daemon whose server has no worker pool

VIRTLOGD_ADMIN_SOCKET = "virtlogd-admin-sock"


def start_virtlogd(host) -> subprocess.Popen:
    """The release's own virtlogd inside the host (its /etc/libvirt/virtlogd.conf when there is one), from
    this thread; ready when its admin socket answers."""
    argv = ["/usr/sbin/virtlogd", "--pid-file", "/run/libvirt/virtlogd.pid"]
    with open(host.root / "virtlogd.out", "ab") as out:
        process = subprocess.Popen(
            _pdeathsig("TERM", host.nsenter(argv)),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    path = host.root / "run" / VIRTLOGD_ADMIN_SOCKET
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        assert process.poll() is None, (host.name, (host.root / "virtlogd.out").read_text(errors="replace"))
        with socket.socket(socket.AF_UNIX) as probe:
            try:
                probe.connect(str(path))
                return process
            except OSError:
                pass
        time.sleep(0.02)
    stop(process)
    raise AssertionError(f"{host.name}: virtlogd did not open {path}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_a_daemon_with_no_worker_pool_refuses_alike_on_every_release(fleet):
    """Each release's virtlogd, whose own server has no worker pool (maxWorkers 0), freshly started for
    each backend."""
    assert all(host.release.path("/usr/sbin/virtlogd").exists() for host in fleet)
    runs: dict = {host.name: {} for host in fleet}
    for backend in BACKENDS:
        started = []
        try:
            for host in fleet:
                started.append(start_virtlogd(host))
            results = on_every_host(
                fleet,
                lambda host, backend=backend: run_calls_in_host(host, backend, "virtlogd:///system", VIRTLOGD_CALLS),
            )
        finally:
            for process in started:
                stop(process)
        for name, found in results.items():
            runs[name][backend] = comparable(found, "/nonexistent-daemon-folder")
    found = {name: differences(by_backend, VIRTLOGD_CALLS) for name, by_backend in runs.items()}
    assert found == {host.name: [] for host in fleet}, found
    for host in fleet:
        results = runs[host.name]["protocol"]
        assert results[1]["value"] == ["admin", "virtlogd"], (host.name, results[1])
        assert results[2]["value"]["maxWorkers"] == 0, (host.name, results[2])
        assert "error" in results[3], (host.name, results[3])


# ---------------------------------------------------------------- sockets that are no admin socket


def test_sockets_that_are_no_admin_socket_are_refused_alike_on_every_release(fleet):
    running_daemons(fleet)

    def uris(host) -> dict:
        folder = host_folder(host)
        return {
            "no daemon": f"libvirtd:///system?socket={folder}/none",
            "the main socket": "libvirtd:///system?socket=/run/libvirt/libvirt-sock",
            "the read-only socket": "libvirtd:///system?socket=/run/libvirt/libvirt-sock-ro",
            "a file": f"libvirtd:///system?socket={folder}/file",
            "a folder": f"libvirtd:///system?socket={folder}",
            "an unknown parameter": "libvirtd:///system?socket=/run/libvirt/libvirt-admin-sock&mode=legacy",
            "a wrong path": "libvirtd:///sytem",
            "an unparsable URI": "libvirtd:///system?socket=a b",
        }

    def opened(host) -> dict:
        return {
            name: {backend: run_calls_in_host(host, backend, uri, [["uri"]])[0] for backend in BACKENDS}
            for name, uri in uris(host).items()
        }

    found = on_every_host(fleet, opened)
    unlike = {
        (host_name, name): results
        for host_name, by_uri in found.items()
        for name, results in by_uri.items()
        if results["library"] != results["protocol"]
    }
    assert unlike == {}, unlike
    for host in fleet:
        protocol = {name: results["protocol"] for name, results in found[host.name].items()}
        assert protocol["the main socket"] == {"error": [39, 7, "Cannot find program 110102160 version 1"]}, host.name
        none = f"{host_folder(host)}/none"
        assert protocol["no daemon"] == {
            "error": [38, 7, f"Failed to connect socket to '{none}': No such file or directory"]
        }, host.name
        assert all("error" in result for name, result in protocol.items()), (host.name, protocol)
