"""What can be checked of the modular daemons (virtqemud, virtproxyd, ...) without running them (no
Debian release builds them): a real daemon's admin socket, hard-linked under a modular daemon's socket
name in its /run/libvirt, stands in for that daemon. Discovery finds it by that name, the modules reach
it by the modular daemon's name or URI, act on the server the daemon lists (not on a name they assume)
and persist into the modular daemon's own config file. Tasks run inside the daemon's mount namespace,
where /run/libvirt and /etc/libvirt are its own; the state is read with the system's virt-admin
through the daemon's own socket, and the config files from outside."""

from __future__ import annotations

import functools
import os

from tests.harness import witness
from tests.harness.ansible import run_module
from tests.harness.steps import four_steps

QEMUD_SOCKET = "virtqemud-admin-sock"
QEMUD_URI = f"virtqemud:///system?socket=/run/libvirt/{QEMUD_SOCKET}"


def link(daemon, name: str = QEMUD_SOCKET):
    """A hard link to the daemon's admin socket in its run folder; the path from outside."""
    path = daemon.run_dir / name
    os.link(daemon.admin_socket, path)
    return path


def inside(daemon):
    """run_module, inside the daemon's mount namespace (its /run/libvirt, /etc/libvirt)."""
    return functools.partial(run_module, prefix=daemon.nsenter([]))


def test_discovery_finds_a_socket_named_after_its_daemon_and_its_uri_works(daemon):
    link(daemon)
    result = inside(daemon)("libvirt_admin_server_info", {"discover": True})
    assert not result.failed and not result.changed, result
    found = {entry["daemon"]: entry for entry in result["daemons"]}
    assert sorted(found) == ["libvirtd", "virtqemud"]
    qemud = found["virtqemud"]
    assert qemud["uri"] == QEMUD_URI
    assert qemud["error"] is None
    assert qemud["version"] == witness.daemon_version(daemon.uri)
    assert [server["name"] for server in qemud["servers"]] == witness.servers(daemon.uri)
    # the socket libvirtd serves is named by its own server: libvirtd, not virtproxyd
    assert found["libvirtd"]["uri"] == "libvirtd:///system?socket=/run/libvirt/libvirt-admin-sock"

    again = inside(daemon)("libvirt_admin_server_info", {"uri": qemud["uri"]})
    assert not again.failed, again
    assert [server["name"] for server in again["servers"]] == witness.servers(daemon.uri)


def config_files(daemon) -> dict:
    """The daemon's /etc/libvirt, from outside: {name: text}."""
    folder = daemon.root / "etc"
    return {path.name: path.read_text() for path in sorted(folder.iterdir()) if path.is_file()}


def test_persist_writes_virtqemud_conf_for_its_daemon_name_and_its_uri(daemon):
    """daemon: virtqemud (the default /run/libvirt/virtqemud-admin-sock) and a virtqemud URI with
    ?socket= both reach the daemon through the link and write /etc/libvirt/virtqemud.conf, and only it;
    the server acted on is the one the daemon lists."""
    link(daemon)
    libvirtd_conf = config_files(daemon)["libvirtd.conf"]

    def state() -> tuple:
        return (
            witness.settings(daemon.uri, "libvirtd"),
            witness.client_limits(daemon.uri, "libvirtd")["nclients_max"],
            config_files(daemon).get("virtqemud.conf"),
        )

    by_name = {"daemon": "virtqemud", "max_workers": 40, "persist": True, "create": True}
    steps = four_steps("libvirt_admin_threadpool", by_name, state, run=inside(daemon))
    assert (steps.apply["server"], steps.apply["config_file"]) == ("libvirtd", "/etc/libvirt/virtqemud.conf")
    assert steps.after == ((5, 40, 5), 5000, "max_workers = 40\n")

    by_uri = {"uri": QEMUD_URI, "max_clients": 300, "persist": True}
    steps = four_steps("libvirt_admin_clients", by_uri, state, run=inside(daemon))
    assert (steps.apply["server"], steps.apply["config_file"]) == ("libvirtd", "/etc/libvirt/virtqemud.conf")
    assert steps.after == ((5, 40, 5), 300, "max_workers = 40\nmax_clients = 300\n")

    assert config_files(daemon) == {"libvirtd.conf": libvirtd_conf, "virtqemud.conf": steps.after[2]}


def test_the_server_acted_on_is_the_one_the_daemon_lists(make_daemon):
    """A virtlogd behind a virtqemud URI: the task acts on server virtlogd, the daemon's own, found by
    listing its servers."""
    virtlogd = make_daemon(binary="virtlogd")
    uri = f"virtqemud:///system?socket={link(virtlogd)}"
    steps = four_steps(
        "libvirt_admin_clients",
        {"uri": uri, "max_clients": 2048},
        lambda: witness.client_limits(virtlogd.uri, "virtlogd")["nclients_max"],
    )
    assert steps.apply["server"] == "virtlogd"
    assert (steps.before, steps.after) == (1024, 2048)


def test_daemon_virtproxyd_reaches_the_socket_virtproxyd_serves(daemon):
    """virtproxyd serves libvirt-admin-sock, the socket of the libvirtd it stands in for: daemon: virtproxyd
    reaches a daemon there (here a libvirtd), where libvirt's own virtproxyd:///system looks for
    virtproxyd-admin-sock and finds none."""
    result = inside(daemon)("libvirt_admin_server_info", {"daemon": "virtproxyd"})
    assert not result.failed, result
    assert result["uri"] == "virtproxyd:///system?socket=/run/libvirt/libvirt-admin-sock"
    assert [server["name"] for server in result["servers"]] == witness.servers(daemon.uri)
    plain = inside(daemon)("libvirt_admin_server_info", {"uri": "virtproxyd:///system"})
    assert plain.failed and "/run/libvirt/virtproxyd-admin-sock': No such file or directory" in plain.msg, plain.msg
