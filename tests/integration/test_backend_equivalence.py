"""The two backends are one API: the same calls through ProtocolConnection and through
_library.LibraryConnection (with libvirt-admin.so of each version at hand: 9.0 and 11.3), against
daemons of each version, give the same results and the same errors (code, domain and message).

Each backend gets a fresh daemon of its own with the same clients connected the same way, so that
the daemon's state (and its client ids) is the same for every run; tests/harness/backend_calls.py
runs the calls in a process of its own."""

from __future__ import annotations

import json

import pytest

from tests.harness.backend_calls import run_calls
from tests.harness.clients import Clients
from tests.harness.daemons import Daemon
from tests.harness.libvirt_versions import names

# Every libvirt version at hand is covered here already: `make integration-versions` need not repeat it.
pytestmark = pytest.mark.once

VERSIONS = names()
BACKENDS = [("protocol", None), *(("library", version) for version in VERSIONS)]

SERVER_CALLS = [
    ["uri"],
    ["daemon_version"],
    ["list_servers"],
    ["get_threadpool", "libvirtd"],
    ["get_threadpool", "admin"],
    ["get_client_limits", "libvirtd"],
    ["get_client_limits", "admin"],
    # prio raised (5 -> 6), not lowered: the daemon starts added priority threads before it answers, but
    # lets surplus ones exit after it, so a read right after a decrease may still count one that is leaving
    ["set_threadpool", "libvirtd", {"minWorkers": 6, "maxWorkers": 60, "prioWorkers": 6}],
    ["get_threadpool", "libvirtd"],
    ["set_client_limits", "libvirtd", {"nclients_max": 400, "nclients_unauth_max": 40}],
    ["get_client_limits", "libvirtd"],
    # what the daemon refuses
    ["get_threadpool", "nosuch"],
    ["set_threadpool", "nosuch", {"minWorkers": 1}],
    ["get_client_limits", "nosuch"],
    ["set_client_limits", "nosuch", {"nclients_max": 1}],
    ["update_tls_files", "nosuch"],
    ["clients", "nosuch"],
    ["set_threadpool", "libvirtd", {"minWorkers": 50, "maxWorkers": 10}],
    ["set_threadpool", "libvirtd", {"minWorkers": 70}],
    ["set_threadpool", "libvirtd", {"maxWorkers": 0}],
    ["set_threadpool", "libvirtd", {"nWorkers": 3}],
    ["set_threadpool", "libvirtd", {"bogus": 3}],
    ["set_client_limits", "libvirtd", {"nclients_unauth_max": 5000}],
    ["set_client_limits", "libvirtd", {"nclients": 5}],
    ["get_threadpool", "libvirtd"],
    ["update_tls_files", "libvirtd"],  # no TLS listener
    ["update_tls_files", "admin"],
    # logging
    ["get_logging_outputs"],
    ["get_logging_filters"],
    ["set_logging_filters", "1:qemu +3:util.object 4:*"],
    ["get_logging_filters"],
    ["set_logging_outputs", "1:file:/tmp/../var/log/libvirt/x.log 3:stderr"],
    ["get_logging_outputs"],
    ["set_logging_outputs", "foo:stderr"],
    ["set_logging_outputs", "1:bar"],
    ["set_logging_outputs", "1:stderr:foobar"],
    ["set_logging_filters", "5:foo"],
    ["set_logging_filters", "1:"],
    ["set_logging_filters", ":foo"],
    ["set_logging_filters", "1:+"],
    ["get_logging_outputs"],
    ["get_logging_filters"],
    ["set_logging_outputs", ""],
    ["set_logging_filters", ""],
    ["get_logging_outputs"],
    ["get_logging_filters"],
    # the daemon's life (shutdown is not there before 11.2; a later test shuts an 11.3 down)
    ["set_daemon_timeout", 0],
    # clients: two read-write, one read-only, then one disconnected
    ["clients", "libvirtd"],
    ["client_info", 0],
    ["client_info", 1],
    ["client_info", 2],
    ["close_client", 2],
    ["client_info_until_gone", 2],
    ["close_client", 2],
    ["clients", "libvirtd"],
    ["get_client_limits", "libvirtd"],
]


def differences(runs: dict, steps: list) -> list:
    """Lines naming each step whose results differ between the backends."""
    lines = []
    first = next(iter(runs.values()))
    for backend, results in runs.items():
        assert len(results) == len(first), f"{backend}: {results}"
    for index, step in enumerate([["open"], *steps]):
        if len({json.dumps(results[index], sort_keys=True) for results in runs.values()}) > 1:
            lines.append(f"{step}: " + "; ".join(f"{backend}: {results[index]}" for backend, results in runs.items()))
    return lines


# What differs from run to run whoever asks: counters of a moment, and the order of the daemon's servers
# (its hash table's, which changes from one daemon start to the next).
MOMENTARY = ("freeWorkers", "jobQueueDepth")


def comparable(results: list, root: str) -> list:
    """The results with what differs between two daemons started alike taken out: the daemon's folder,
    momentary counters, the order of the servers."""
    found = json.loads(json.dumps(results).replace(root, "<daemon folder>"))
    for result in found:
        value = result.get("value")
        if isinstance(value, dict):
            result["value"] = {key: ("a moment's" if key in MOMENTARY else item) for key, item in value.items()}
        elif isinstance(value, list) and all(isinstance(item, str) for item in value):
            result["value"] = sorted(value)
    return found


def each_backend(version: str, steps: list, **daemon_args) -> dict:
    """{backend: results} of the steps, each backend against a fresh daemon of the version, with two
    read-write clients and a read-only one (when the daemon has a secret driver)."""
    runs = {}
    for backend, library in BACKENDS:
        with Daemon(version=version, **daemon_args) as daemon:
            specs = []
            if "secret" in daemon_args.get("drivers", ()):
                rw = {"uri": f"secret:///system?socket={daemon.socket}"}
                specs = [rw, rw, {"uri": f"secret:///system?socket={daemon.readonly_socket}", "readonly": True}]
            with Clients(specs) as held:
                assert all(held.opened), held.errors
                name = f"{backend} {library}" if library else backend
                runs[name] = comparable(run_calls(backend, library, daemon.uri, steps, held.pid), str(daemon.root))
    return runs


@pytest.mark.parametrize("version", VERSIONS)
def test_the_same_calls_give_the_same_results_and_errors(version):
    runs = each_backend(version, SERVER_CALLS, drivers=("secret",))
    assert not differences(runs, SERVER_CALLS), "\n".join(differences(runs, SERVER_CALLS))
    # and what they agree on is what the daemon does
    results = runs["protocol"]

    def result(*step):
        return results[SERVER_CALLS.index(list(step)) + 1]

    assert results[0] == {"value": "opened"}
    assert result("get_threadpool", "nosuch") == {"error": [95, 7, "Server not found: No server named 'nosuch'"]}
    assert result("set_threadpool", "libvirtd", {"minWorkers": 50, "maxWorkers": 10}) == {
        "error": [8, 0, "invalid argument: minWorkers cannot be larger than maxWorkers"]
    }
    no_tls = {"error": [1, 7, "internal error: no tls service found, unable to update tls files"]}
    assert result("update_tls_files", "libvirtd") == result("update_tls_files", "admin") == no_tls
    listed = result("clients", "libvirtd")["value"]
    assert len(listed) == 3
    assert result("client_info_until_gone", 2) == {
        "error": [96, 62, f"Client not found: no client with matching id '{listed[2][0]}' found"]
    }
    assert len(results[-2]["value"]) == 2


DAEMON_LIFE = [["daemon_version"], ["set_daemon_timeout", 3600], ["daemon_shutdown"], ["daemon_shutdown", True]]
# A libvirt-admin.so older than 11.2 has no virAdmConnectDaemonShutdown(): the library backend says so itself.
NO_SHUTDOWN_HERE = (
    "this needs libvirt 11.2.0 or newer: the libvirt library on this host has no virAdmConnectDaemonShutdown() "
    "(upgrade libvirt0 on Debian/Ubuntu, libvirt-libs on Fedora/RHEL/CentOS)"
)


def has_shutdown(version: str) -> bool:
    return tuple(int(part) for part in version.split(".")) >= (11, 2)


@pytest.mark.parametrize("version", [version for version in VERSIONS if not has_shutdown(version)])
def test_a_daemon_without_shutdown_refuses_it_alike(version):
    runs = each_backend(version, DAEMON_LIFE)
    for name, results in runs.items():
        library = name.split()[-1]
        if name.startswith("library") and not has_shutdown(library):
            assert results[3:] == [{"error": [None, None, NO_SHUTDOWN_HERE]}] * 2, name
            runs[name] = results[:3] + runs["protocol"][3:]
    assert not differences(runs, DAEMON_LIFE), "\n".join(differences(runs, DAEMON_LIFE))
    assert runs["protocol"][3:] == [{"error": [3, 7, "unknown procedure: 20"]}] * 2


VIRTLOGD_CALLS = [
    ["list_servers"],
    ["get_threadpool", "virtlogd"],
    ["set_threadpool", "virtlogd", {"maxWorkers": 5}],
    ["set_threadpool", "virtlogd", {"minWorkers": 1}],
    ["set_threadpool", "admin", {"maxWorkers": 0}],
    ["get_client_limits", "virtlogd"],
    ["set_client_limits", "virtlogd", {"nclients_max": 100}],
    ["get_client_limits", "virtlogd"],
    ["get_logging_outputs"],
]


@pytest.mark.parametrize("version", VERSIONS)
def test_a_daemon_with_no_worker_pool_refuses_alike(version):
    runs = each_backend(version, VIRTLOGD_CALLS, binary="virtlogd")
    assert not differences(runs, VIRTLOGD_CALLS), "\n".join(differences(runs, VIRTLOGD_CALLS))
    assert runs["protocol"][2]["value"]["maxWorkers"] == 0
    assert "error" in runs["protocol"][3]


@pytest.mark.parametrize("version", VERSIONS)
def test_sockets_that_are_no_admin_socket_are_refused_alike(version, tmp_path):
    (tmp_path / "file").write_text("")
    with Daemon(version=version) as daemon:
        uris = {
            "no daemon": f"libvirtd:///system?socket={tmp_path}/none",
            "the main socket": f"libvirtd:///system?socket={daemon.socket}",
            "the read-only socket": f"libvirtd:///system?socket={daemon.readonly_socket}",
            "a file": f"libvirtd:///system?socket={tmp_path}/file",
            "a folder": f"libvirtd:///system?socket={tmp_path}",
            "an unknown parameter": f"libvirtd:///system?socket={daemon.admin_socket}&mode=legacy",
            "a wrong path": "libvirtd:///sytem",
            "an unparsable URI": "libvirtd:///system?socket=a b",
        }
        found = {
            name: {(backend, library): run_calls(backend, library, uri, [["uri"]])[0] for backend, library in BACKENDS}
            for name, uri in uris.items()
        }
    for name, results in found.items():
        assert len({json.dumps(result) for result in results.values()}) == 1, f"{name}: {results}"
    protocol = {name: results[("protocol", None)] for name, results in found.items()}
    assert protocol["the main socket"] == {"error": [39, 7, "Cannot find program 110102160 version 1"]}
    assert protocol["no daemon"] == {
        "error": [38, 7, f"Failed to connect socket to '{tmp_path}/none': No such file or directory"]
    }


def test_shutting_down_an_11_daemon_stops_it_through_either_backend():
    """libvirt 11.3's daemon exits without answering DAEMON_SHUTDOWN: libvirt-admin.so 11.3 fails with "End
    of file while reading data" although the daemon did what was asked, and both backends take the
    hang-up as the call done (the library backend since libvirt_admin_daemon_shutdown came: it is no
    difference between them any more). (An older libvirt-admin.so has no call to make: the protocol
    backend shuts the daemon down all the same.)"""
    newer = [version for version in VERSIONS if has_shutdown(version)]
    if not newer:
        pytest.fail("no libvirt 11.2 or newer at hand: run `make setup`", pytrace=False)
    for backend, library in BACKENDS:
        with Daemon(version=newer[0]) as daemon:
            results = run_calls(backend, library, daemon.uri, [["daemon_shutdown"]])
            if backend == "library" and not has_shutdown(library):
                assert results[1] == {"error": [None, None, NO_SHUTDOWN_HERE]}
                assert daemon.process.poll() is None
                continue
            assert daemon.process.wait(15) == 0
        assert results[1] == {"value": None}, (backend, library)
